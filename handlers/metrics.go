package handlers

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/http/pprof"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// latencyBuckets are the upper bounds, in seconds, of the request latency
// histogram: from a page served from memory to a request at the database
// deadline. Event streams, which last minutes, land in +Inf.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// sessionsRefresh is how long the count of active sessions is reused before
// it is read again, so scraping often costs the database little.
const sessionsRefresh = 15 * time.Second

// requestKey names one series of the request metrics. route is a route
// pattern and status one the site sends, so their number stays bounded.
type requestKey struct {
	method, route string
	status        int
}

// requestStats is one series: the request count is the histogram's count.
type requestStats struct {
	buckets []uint64 // cumulative counts are computed when written
	sum     float64
	count   uint64
}

// requestMetrics counts the requests of one instance.
type requestMetrics struct {
	mu     sync.Mutex
	series map[requestKey]*requestStats
}

func newRequestMetrics() *requestMetrics {
	return &requestMetrics{series: make(map[requestKey]*requestStats)}
}

// observe counts one finished request.
func (m *requestMetrics) observe(method, route string, status int, d time.Duration) {
	if status == 0 {
		// The handler wrote nothing: net/http answers 200.
		status = http.StatusOK
	}
	k := requestKey{method: methodLabel(method), route: route, status: status}
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.series[k]
	if st == nil {
		st = &requestStats{buckets: make([]uint64, len(latencyBuckets))}
		m.series[k] = st
	}
	secs := d.Seconds()
	if i, _ := slices.BinarySearch(latencyBuckets, secs); i < len(latencyBuckets) {
		st.buckets[i]++
	}
	st.sum += secs
	st.count++
}

// knownMethods are the methods the site answers; any other is counted as
// "other", since clients may send any word.
var knownMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions}

func methodLabel(m string) string {
	if slices.Contains(knownMethods, m) {
		return m
	}
	return "other"
}

// activeSessions caches the number of unexpired sessions.
type activeSessions struct {
	mu   sync.Mutex
	n    int64
	read time.Time
	ok   bool
}

// count returns the number of unexpired sessions, read at most once per
// sessionsRefresh; false when it has never been read.
func (a *activeSessions) count(ctx context.Context, s *Server) (int64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if time.Since(a.read) < sessionsRefresh {
		return a.n, a.ok
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE expiry > now()`).Scan(&n); err != nil {
		s.logger.Warn("metrics: count sessions", "err", err)
		// Try again on the next scrape rather than after the whole
		// interval, but keep the last value meanwhile.
		return a.n, a.ok
	}
	a.n, a.ok, a.read = n, true, time.Now()
	return n, true
}

// MetricsHandler serves GET /metrics in Prometheus's text format: requests
// and their latency by route and status, active sessions, open event
// streams, the database pool and the Go runtime. It carries no personal data
// but should still be reachable only by the monitoring system, so the site
// serves it on a listener of its own (--metrics-addr).
//
// With Config.Profiles it also serves Go's profiles under /debug/pprof/ (go
// tool pprof http://ADDR/debug/pprof/profile). They are off by default: the
// listener asks for no login, and a profile shows the process's internals.
// The command line (pprof's cmdline) is never served, with or without
// profiles, because it holds whatever secret an operator passed as a flag.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", s.handleMetrics)
	if !s.profiles {
		return mux
	}
	// pprof.Index also serves every named runtime profile (heap,
	// goroutine, ...) below /debug/pprof/; cmdline is not one of them, so
	// without a route of its own it is a 404.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", http.NotFound)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	s.writeRequestMetrics(&b)

	if n, ok := s.sessionCount.count(r.Context(), s); ok {
		gauge(&b, "aistat_sessions_active", "Unexpired sessions in the database (refreshed at most every 15 s).", float64(n))
	}
	gauge(&b, "aistat_event_streams", "Open live-event streams on this instance.", float64(s.live.Len()))
	lookups, queries := s.sessions.Store().LookupStats()
	counter(&b, "aistat_session_lookups_total", "Sessions looked up for requests.", float64(lookups))
	counter(&b, "aistat_session_lookup_queries_total", "Queries those lookups took: under load one query serves several requests.", float64(queries))

	st := s.db.Stats()
	gauge(&b, "aistat_db_max_open_connections", "Maximum number of open database connections.", float64(st.MaxOpenConnections))
	gauge(&b, "aistat_db_open_connections", "Open database connections, in use or idle.", float64(st.OpenConnections))
	gauge(&b, "aistat_db_in_use_connections", "Database connections in use.", float64(st.InUse))
	gauge(&b, "aistat_db_idle_connections", "Idle database connections.", float64(st.Idle))
	counter(&b, "aistat_db_wait_count_total", "Times a request waited for a free database connection.", float64(st.WaitCount))
	counter(&b, "aistat_db_wait_duration_seconds_total", "Time spent waiting for a free database connection.", st.WaitDuration.Seconds())
	counter(&b, "aistat_db_closed_max_idle_time_total", "Connections closed for being idle too long.", float64(st.MaxIdleTimeClosed))

	gauge(&b, "go_goroutines", "Goroutines that currently exist.", float64(runtime.NumGoroutine()))
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	gauge(&b, "go_memstats_heap_alloc_bytes", "Bytes of allocated heap objects.", float64(sample[0].Value.Uint64()))
	gauge(&b, "go_memstats_sys_bytes", "Bytes of memory obtained from the operating system.", float64(sample[1].Value.Uint64()))
	gauge(&b, "go_gc_heap_live_bytes", "Bytes of heap objects the last collection found in use: allocated bytes without the garbage the collector lets accumulate.", float64(sample[2].Value.Uint64()))

	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes())
}

// writeRequestMetrics writes the request counter and latency histogram,
// series in a stable order.
func (s *Server) writeRequestMetrics(b *bytes.Buffer) {
	m := s.requests
	m.mu.Lock()
	keys := make([]requestKey, 0, len(m.series))
	for k := range m.series {
		keys = append(keys, k)
	}
	snapshot := make(map[requestKey]requestStats, len(keys))
	for _, k := range keys {
		st := *m.series[k]
		st.buckets = slices.Clone(st.buckets)
		snapshot[k] = st
	}
	m.mu.Unlock()
	slices.SortFunc(keys, func(a, b requestKey) int {
		return cmp.Or(strings.Compare(a.route, b.route), strings.Compare(a.method, b.method), cmp.Compare(a.status, b.status))
	})

	fmt.Fprintln(b, "# HELP aistat_http_requests_total HTTP requests answered, by route pattern, method and status.")
	fmt.Fprintln(b, "# TYPE aistat_http_requests_total counter")
	for _, k := range keys {
		fmt.Fprintf(b, "aistat_http_requests_total{%s} %d\n", k.labels(), snapshot[k].count)
	}
	fmt.Fprintln(b, "# HELP aistat_http_request_duration_seconds Time to answer HTTP requests, by route pattern, method and status.")
	fmt.Fprintln(b, "# TYPE aistat_http_request_duration_seconds histogram")
	for _, k := range keys {
		st := snapshot[k]
		labels := k.labels()
		var cumulative uint64
		for i, le := range latencyBuckets {
			cumulative += st.buckets[i]
			fmt.Fprintf(b, "aistat_http_request_duration_seconds_bucket{%s,le=%q} %d\n", labels, formatFloat(le), cumulative)
		}
		fmt.Fprintf(b, "aistat_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", labels, st.count)
		fmt.Fprintf(b, "aistat_http_request_duration_seconds_sum{%s} %s\n", labels, formatFloat(st.sum))
		fmt.Fprintf(b, "aistat_http_request_duration_seconds_count{%s} %d\n", labels, st.count)
	}
}

func (k requestKey) labels() string {
	return fmt.Sprintf("route=%s,method=%s,status=\"%d\"", quoteLabel(k.route), quoteLabel(k.method), k.status)
}

// quoteLabel quotes a label value as the text format wants: backslash,
// double quote and newline escaped.
func quoteLabel(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v) + `"`
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func gauge(b *bytes.Buffer, name, help string, v float64) { metric(b, "gauge", name, help, v) }

func counter(b *bytes.Buffer, name, help string, v float64) { metric(b, "counter", name, help, v) }

func metric(b *bytes.Buffer, kind, name, help string, v float64) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", name, help, name, kind, name, formatFloat(v))
}
