// Command aistat-bench measures what a never-stale header costs: it starts a
// private PostgreSQL, loads 100,000 users and 1,000,000 sessions, runs the
// site as its own process and drives it with wrk next to pgbench doing the
// same work, then prints one table and writes it to BENCHMARKS.md.
//
//	go run ./cmd/aistat-bench [-runs 3] [-duration 10s] [-out BENCHMARKS.md] [-only NAME]
//
// With -ha it plays a failover instead (make ha): the site on a primary
// and a synchronous standby under load, the primary killed, the standby
// promoted; it prints how long writes were refused, how many requests
// failed and whether every acknowledged write is on the new primary, and
// exits non-zero if one is not.
//
//	go run ./cmd/aistat-bench -ha [-ha-promote-after 2s]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	var cfg config
	flag.IntVar(&cfg.runs, "runs", 3, "repetitions of each load measurement (the median is reported)")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "length of each load measurement")
	flag.StringVar(&cfg.out, "out", "BENCHMARKS.md", "file the table is written to")
	flag.IntVar(&cfg.users, "users", 100_000, "users loaded")
	flag.IntVar(&cfg.sessions, "sessions", 1_000_000, "sessions loaded, most of them expired")
	flag.IntVar(&cfg.streams, "streams", 10_000, "open event streams for the memory measurement")
	flag.StringVar(&cfg.only, "only", "", "run only the load measurements whose name contains this, print their table and write no file")
	ha := flag.Bool("ha", false, "play a failover instead of the benchmark (make ha)")
	var haCfg haConfig
	flag.DurationVar(&haCfg.before, "ha-before", 3*time.Second, "load before the primary is killed")
	flag.DurationVar(&haCfg.promoteAfter, "ha-promote-after", 2*time.Second, "time from the kill to the promotion, as a failover manager's detection takes")
	flag.DurationVar(&haCfg.after, "ha-after", 5*time.Second, "load after the promotion")
	flag.IntVar(&haCfg.readers, "ha-readers", 4, "clients reading GET / during the failover")
	flag.IntVar(&haCfg.writers, "ha-writers", 4, "clients signing in during the failover")
	flag.DurationVar(&haCfg.readDuration, "ha-read-duration", 5*time.Second, "length of each session-lookup measurement on the primary and the standby")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	work := func() error { return run(ctx, cfg, logger) }
	if *ha {
		work = func() error { return runHA(ctx, haCfg, logger) }
	}
	if err := work(); err != nil {
		fmt.Fprintln(os.Stderr, "aistat-bench:", err)
		os.Exit(1)
	}
}

// config is what one benchmark run measures and how long.
type config struct {
	runs     int
	duration time.Duration
	out      string
	users    int
	sessions int
	streams  int
	// only, when set, picks some of the load measurements by name.
	only string
}
