package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// result is one load measurement.
type result struct {
	requests      int64
	rate          float64 // requests (or transactions) per second
	p50, p95, p99 time.Duration
	errors        int64
}

// wrkScript makes wrk print its summary in a form that is easy to read
// back, p95 included (wrk's own report has no p95).
const wrkScript = `
done = function(summary, latency, requests)
  io.write(string.format("AISTAT requests=%d errors=%d p50=%d p95=%d p99=%d duration=%d\n",
    summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), summary.duration))
end
`

var wrkLine = regexp.MustCompile(`AISTAT requests=(\d+) errors=(\d+) p50=(\d+) p95=(\d+) p99=(\d+) duration=(\d+)`)

// wrk loads url with conns connections for d; cookie, when set, is the
// session cookie's value.
func wrk(ctx context.Context, dir, url, cookie string, conns int, d time.Duration) (result, error) {
	return wrkRequest(ctx, dir, url, cookie, conns, d, "")
}

// wrkRequest is wrk whose requests request, a wrk script, makes: another
// method, a body, headers.
func wrkRequest(ctx context.Context, dir, url, cookie string, conns int, d time.Duration, request string) (result, error) {
	script := filepath.Join(dir, "report.lua")
	if err := os.WriteFile(script, []byte(request+wrkScript), 0o644); err != nil {
		return result{}, err
	}
	args := []string{"-t", strconv.Itoa(min(conns, 2)), "-c", strconv.Itoa(conns), "-d", fmt.Sprintf("%ds", int(d.Seconds())), "-s", script}
	if cookie != "" {
		args = append(args, "-H", "Cookie: session="+cookie)
	}
	if request != "" {
		// A request with a body here is an upload, slow work by design:
		// wrk's default of 2 s would count the queue of 32 as errors.
		args = append(args, "--timeout", "30s")
	}
	out, err := exec.CommandContext(ctx, "wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	m := wrkLine.FindStringSubmatch(string(out))
	if m == nil {
		return result{}, fmt.Errorf("wrk printed no summary: %s", out)
	}
	n := make([]int64, len(m))
	for i := 1; i < len(m); i++ {
		n[i], _ = strconv.ParseInt(m[i], 10, 64)
	}
	return result{
		requests: n[1],
		rate:     float64(n[1]) / (float64(n[6]) / 1e6),
		errors:   n[2],
		p50:      time.Duration(n[3]) * time.Microsecond,
		p95:      time.Duration(n[4]) * time.Microsecond,
		p99:      time.Duration(n[5]) * time.Microsecond,
	}, nil
}

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbench runs pgbench against the cluster with args and returns its rate.
func pgbench(ctx context.Context, pgbenchPath string, conn connInfo, conns int, d time.Duration, args ...string) (result, error) {
	all := append([]string{"-h", conn.host, "-p", conn.port, "-U", conn.user,
		"-c", strconv.Itoa(conns), "-j", strconv.Itoa(min(conns, 2)), "-T", strconv.Itoa(int(d.Seconds())), "-n"}, args...)
	all = append(all, conn.database)
	out, err := exec.CommandContext(ctx, pgbenchPath, all...).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("pgbench %s: %w: %s", strings.Join(args, " "), err, out)
	}
	m := tpsLine.FindStringSubmatch(string(out))
	if m == nil {
		return result{}, fmt.Errorf("pgbench printed no rate: %s", out)
	}
	rate, _ := strconv.ParseFloat(m[1], 64)
	return result{rate: rate}, nil
}

// connInfo is how command-line PostgreSQL tools reach the cluster.
type connInfo struct {
	host, port, user, database string
}
