package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lib/pq"
	"golang.org/x/crypto/bcrypt"

	"aistat/internal/pgbouncer"
	"aistat/internal/pgtest"
)

// requirePgBouncer skips the test when PgBouncer is missing, except on CI,
// where .ci/run installs it and its absence is a failure.
func requirePgBouncer(t *testing.T) {
	t.Helper()
	_, err := pgbouncer.Find()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(err.Error() + ": .ci/run installs it")
	}
	t.Skip(err.Error() + ": skipping the PgBouncer tests")
}

// startPgBouncer runs PgBouncer in transaction pooling mode in front of the
// database dsn names, until the end of the test, and returns a URL that goes
// through it.
func startPgBouncer(t *testing.T, dsn string) string {
	t.Helper()
	requirePgBouncer(t)
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: PgBouncer refuses to run as root, and the postgres
	// user cannot traverse the parents of t.TempDir.
	dir, err := os.MkdirTemp("", "aistat-pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	server := fmt.Sprintf("host=%s port=%d dbname=%s user=%s", cfg.Host, cfg.Port, cfg.Database, cfg.User)
	if cfg.Password != "" {
		server += " password=" + cfg.Password
	}
	out := &syncBuffer{}
	logOnFailure(t, "pgbouncer log", out)
	b, err := pgbouncer.Start(context.Background(), dir, cfg.Database, cfg.User, server, out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	return b.URL()
}

// TestServe_PgBouncer runs the site behind PgBouncer in transaction pooling
// mode, with the live-events listener on a direct connection: 32 clients
// reading pages and saving their profiles at full speed get no error, and
// open pages still hear of the changes.
func TestServe_PgBouncer(t *testing.T) {
	// Not parallel: its load would slow down the sign-ins of the tests
	// running beside it.
	dsn := pgtest.URL(t)
	bouncer := startPgBouncer(t, dsn)
	s := launchServe(t, "--database-url", bouncer, "--listen-database-url", dsn, "--addr", "127.0.0.1:0")
	s.await(t)

	const clients = 32
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// bcrypt's lowest cost keeps 32 sign-ins quick.
	hash, err := bcrypt.GenerateFromPassword([]byte("load-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.ExecContext(t.Context(), `
		INSERT INTO users (email, name, role, password_hash)
		SELECT 'load' || i || '@example.com', 'Load ' || i, 'viewer', $1 FROM generate_series(0, $2 - 1) i`,
		string(hash), clients)
	if err != nil {
		t.Fatal(err)
	}
	cs := make([]*http.Client, clients)
	for i := range cs {
		cs[i] = signIn(t, s.base, fmt.Sprintf("load%d@example.com", i), "load-password")
	}

	// A page of client 0 follows its profile through the direct listener.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/api/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := cs[0].Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	heard := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stream.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				heard <- data
			}
		}
	}()

	var requests, failures atomic.Int64
	stop := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			name := fmt.Sprintf("Load %d", i)
			for n := 0; time.Now().Before(stop); n++ {
				code, body := get(t, c, s.base+"/")
				requests.Add(1)
				if code != http.StatusOK || !strings.Contains(body, name) {
					failures.Add(1)
					t.Errorf("client %d: GET / = %d, want 200 naming %q", i, code, name)
				}
				name = fmt.Sprintf("Load %d-%d", i, n)
				code, body = putProfile(t, c, s.base, name)
				requests.Add(1)
				if code != http.StatusOK || !strings.Contains(body, name) {
					failures.Add(1)
					t.Errorf("client %d: PUT /api/profile = %d %s", i, code, body)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d requests through PgBouncer, %d failed", requests.Load(), failures.Load())

	deadline := time.After(5 * time.Second)
	for {
		select {
		case data := <-heard:
			if strings.Contains(data, `"name":"Load 0-`) {
				return
			}
		case <-deadline:
			t.Fatal("the event stream heard no profile change")
		}
	}
}
