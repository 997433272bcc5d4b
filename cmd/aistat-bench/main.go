// Command aistat-bench measures what a never-stale header costs: it starts a
// private PostgreSQL, loads 100,000 users and 1,000,000 sessions, runs the
// site as its own process and drives it with wrk next to pgbench doing the
// same work, then prints one table and writes it to BENCHMARKS.md.
//
//	go run ./cmd/aistat-bench [-runs 3] [-duration 10s] [-out BENCHMARKS.md] [-only NAME]
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
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := run(ctx, cfg, logger); err != nil {
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
