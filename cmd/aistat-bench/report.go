package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report is everything one benchmark run found.
type report struct {
	scenarios        []*scenario
	statements       []statementCount
	costs            []handlerCost
	rss              int64
	streams          int
	rssBeforeStreams int64
	streamsRSS       int64
	delivery         []time.Duration
	expired          int64
	cleanupDeleted   int64
	cleanupTook      time.Duration
	duringCleanup    []result
	afterCleanup     result
	facts            []string
}

// stat is the median of values and their spread.
type stat struct{ median, low, high float64 }

func statOf(values []float64) stat {
	v := slices.Clone(values)
	slices.Sort(v)
	return stat{median: v[len(v)/2], low: v[0], high: v[len(v)-1]}
}

func (s stat) String() string {
	if s.low == s.high {
		return fmt.Sprintf("%.0f", s.median)
	}
	return fmt.Sprintf("%.0f (%.0f–%.0f)", s.median, s.low, s.high)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func msStat(rs []result, pick func(result) time.Duration) string {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = float64(pick(r).Microseconds()) / 1000
	}
	s := statOf(v)
	if s.low == s.high {
		return fmt.Sprintf("%.2f", s.median)
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f)", s.median, s.low, s.high)
}

func (r *report) find(name string, conns int) *scenario {
	for _, sc := range r.scenarios {
		if sc.name == name && sc.conns == conns {
			return sc
		}
	}
	return nil
}

func rates(sc *scenario) []float64 {
	v := make([]float64, len(sc.results))
	for i, res := range sc.results {
		v[i] = res.rate
	}
	return v
}

// markdown renders the report as the BENCHMARKS.md page.
func (r *report) markdown(cfg config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `make bench` on %s. ", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "%d users and %d sessions (90%% expired) in the database; the site runs as its own process "+
		"with its access log on; load from wrk, %s per measurement, each repeated %d times alternating with the others: "+
		"the median, with the lowest and highest run in brackets.\n\n", cfg.users, cfg.sessions, cfg.duration, cfg.runs)
	b.WriteString("## Machine\n\n")
	for _, f := range r.facts {
		fmt.Fprintf(&b, "- %s\n", f)
	}
	r.throughput(&b)
	app, prepared := r.find("GET / authenticated", 32), r.find("pgbench session query, prepared", 32)
	if app != nil && prepared != nil {
		fmt.Fprintf(&b, "\nAuthenticated `GET /` at 32 connections serves %.2f× the rate of pgbench running the same session query, prepared, in the same run (target ≥ 0.3×).\n",
			statOf(rates(app)).median/statOf(rates(prepared)).median)
	}

	b.WriteString("\n## Cost of one request\n\n| request | round trips to PostgreSQL | µs in the handler | allocations | bytes allocated |\n|---|---:|---:|---:|---:|\n")
	for _, c := range r.costs {
		fmt.Fprintf(&b, "| %s | %d | %.1f | %d | %d |\n", c.name, c.roundTrips, float64(c.nsPerOp)/1000, c.allocs, c.bytes)
	}
	b.WriteString("\nRound trips are counted at the connection (a wrapped dialer), allocations with `testing.Benchmark` on the real router in one process.\n")
	for _, st := range r.statements {
		fmt.Fprintf(&b, "Over %d authenticated `GET /` requests at %d connections, PostgreSQL's pg_stat_statements counted %.3f statements and %.3f writes per request.\n",
			st.reqs, st.conns, st.perRequest, st.writesPerReq)
	}
	b.WriteString("At one connection each request's session lookup is a query of its own; under load, lookups that arrive while a query runs share the next one.\n")

	b.WriteString("\n## Memory and live events\n\n")
	fmt.Fprintf(&b, "- Site process after the load runs: %.0f MiB resident.\n", float64(r.rss)/(1<<20))
	perStream := float64(r.streamsRSS-r.rssBeforeStreams) / float64(r.streams)
	fmt.Fprintf(&b, "- %d open event streams on an instance started for them: %.0f MiB resident in all (%.0f MiB before they opened), %.1f KiB per stream (target: 10,000 under 400 MB).\n",
		r.streams, float64(r.streamsRSS)/(1<<20), float64(r.rssBeforeStreams)/(1<<20), perStream/1024)
	if n := len(r.delivery); n > 0 {
		fmt.Fprintf(&b, "- A profile change reaching 100 open streams of its user, over 100 changes (%d deliveries), from the PUT's start: p50 %s, p99 %s, max %s (target p99 < 50 ms).\n",
			n, ms(r.delivery[n/2]), ms(r.delivery[n*99/100]), ms(r.delivery[n-1]))
	}

	b.WriteString("\n## Cleanup of expired sessions under load\n\n")
	var worst time.Duration
	var during []float64
	for _, res := range r.duringCleanup {
		worst = max(worst, res.p99)
		during = append(during, res.rate)
	}
	fmt.Fprintf(&b, "- The cleanup deleted %d of %d expired sessions in %s, in statements of at most 5,000 rows.\n", r.cleanupDeleted, r.expired, r.cleanupTook.Round(time.Millisecond))
	if len(during) > 0 {
		fmt.Fprintf(&b, "- Authenticated `GET /` at 32 connections meanwhile (%d slices of 5 s): %s requests/s, worst p99 %s (target < 20 ms).\n", len(during), statOf(during), ms(worst))
	}
	fmt.Fprintf(&b, "- The same once they were gone: %.0f requests/s, p99 %s.\n", r.afterCleanup.rate, ms(r.afterCleanup.p99))
	return b.String()
}

// throughput writes the table of the load measurements.
func (r *report) throughput(b *strings.Builder) {
	b.WriteString("\n## Throughput and latency\n\n| measurement | connections | requests/s | p50 ms | p95 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, sc := range r.scenarios {
		var errs int64
		for _, res := range sc.results {
			errs += res.errors
		}
		if strings.HasPrefix(sc.name, "pgbench") {
			fmt.Fprintf(b, "| %s | %d | %s | | | | |\n", sc.name, sc.conns, statOf(rates(sc)))
			continue
		}
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s | %d |\n", sc.name, sc.conns, statOf(rates(sc)),
			msStat(sc.results, func(x result) time.Duration { return x.p50 }),
			msStat(sc.results, func(x result) time.Duration { return x.p95 }),
			msStat(sc.results, func(x result) time.Duration { return x.p99 }), errs)
	}
}

// machineFacts describes where the numbers come from.
func machineFacts(ctx context.Context, db *sql.DB) ([]string, error) {
	var pgVersion string
	if err := db.QueryRowContext(ctx, `SHOW server_version`).Scan(&pgVersion); err != nil {
		return nil, err
	}
	facts := []string{
		fmt.Sprintf("CPU: %s, %d cores", cpuModel(), runtime.NumCPU()),
		fmt.Sprintf("Memory: %s", memTotal()),
		fmt.Sprintf("Go %s, %s/%s; PostgreSQL %s (private cluster on a Unix socket)", runtime.Version(), runtime.GOOS, runtime.GOARCH, pgVersion),
		"Load generator, site and PostgreSQL share the machine: their CPU use competes.",
	}
	return facts, nil
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
