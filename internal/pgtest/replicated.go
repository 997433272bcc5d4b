package pgtest

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"aistat/internal/pglocal"
)

// Pair is a throwaway primary and its synchronous hot standby, each a
// cluster of its own on its own Unix socket, for tests of a failover.
type Pair struct {
	Primary, Standby *pglocal.Cluster
}

// Replicated starts a primary with a synchronous standby (commits wait
// until the standby applied them) and stops both at the end of the test,
// whatever state the test left them in. Each gets a folder of its own that
// the next test binary sweeps if this one dies.
//
// It needs PostgreSQL's server programs even where TEST_DATABASE_URL lets
// the other tests do without: without them it skips, except with CI=true.
func Replicated(tb testing.TB) *Pair {
	tb.Helper()
	if err := pglocal.Installed(); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("pgtest: a primary and a standby: %v", err)
		}
		tb.Skipf("pgtest: skipping, a primary and a standby need the server programs: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := func(role string, start func(dir string) (*pglocal.Cluster, error)) *pglocal.Cluster {
		dir, err := os.MkdirTemp("", strings.TrimSuffix(folderPattern, "*"))
		if err != nil {
			tb.Fatalf("pgtest: %s folder: %v", role, err)
		}
		tb.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := pglocal.Kill(ctx, dir, logger); err != nil {
				tb.Errorf("pgtest: stop %s: %v", role, err)
			}
			if err := os.RemoveAll(dir); err != nil {
				tb.Errorf("pgtest: remove %s folder: %v", role, err)
			}
		})
		if err := os.Chmod(dir, 0o755); err != nil {
			tb.Fatalf("pgtest: open up %s folder: %v", role, err)
		}
		if err := claimOwnership(dir); err != nil {
			tb.Fatalf("pgtest: %v", err)
		}
		c, err := start(dir)
		if err != nil {
			tb.Fatalf("pgtest: start %s: %v", role, err)
		}
		return c
	}
	p := &Pair{}
	p.Primary = start("primary", func(dir string) (*pglocal.Cluster, error) { return pglocal.Start(ctx, dir, logger) })
	p.Standby = start("standby", func(dir string) (*pglocal.Cluster, error) {
		return pglocal.StartStandby(ctx, dir, p.Primary, logger)
	})
	if err := p.Primary.Synchronous(ctx, time.Minute); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return p
}

// DSN is the key/value connection string for database on whichever of the
// two is the primary: both hosts, target_session_attrs=read-write.
func (p *Pair) DSN(database string) string {
	return pglocal.PrimaryURL(database, p.Primary, p.Standby)
}

// Kill ends the primary at once, as a crash would (an immediate shutdown:
// no checkpoint, every client cut off), leaving the standby without one.
func (p *Pair) Kill(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pglocal.Kill(ctx, p.Primary.Dir(), nil); err != nil {
		tb.Fatalf("pgtest: kill the primary: %v", err)
	}
}

// Promote makes the standby the primary and returns once it takes writes.
func (p *Pair) Promote(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.Standby.Promote(ctx); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
}
