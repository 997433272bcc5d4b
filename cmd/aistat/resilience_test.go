package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"aistat/internal/pgtest"
	"aistat/internal/poll"
)

// launched is a site that may not listen yet.
type launched struct {
	*site
	// ready is closed once the site listens.
	ready chan struct{}
	// metricsURL is where it serves /metrics, "" when it does not.
	metricsURL string
}

// launchServe runs serve with args in-process until the site is stopped or
// the test ends; await waits until it listens.
func launchServe(t *testing.T, args ...string) *launched {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdoutR, stdoutW := io.Pipe()
	stderr := &syncBuffer{}
	logOnFailure(t, "serve log", stderr)
	s := &site{cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := run(ctx, append([]string{"serve"}, args...), strings.NewReader(""), stdoutW, stderr, noEnv)
		stdoutW.Close()
		s.done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-s.done:
			s.done <- err
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	l := &launched{site: s, ready: make(chan struct{})}
	go func() {
		// serve prints the metrics address, if any, before the site's.
		sc := bufio.NewScanner(stdoutR)
		for sc.Scan() {
			if m, ok := strings.CutPrefix(sc.Text(), "Metrics at "); ok {
				l.metricsURL = m
			}
			if base, ok := strings.CutPrefix(sc.Text(), addressPrefix); ok {
				s.base = base
				close(l.ready)
			}
		}
		_, _ = io.Copy(io.Discard, stdoutR)
	}()
	return l
}

// await waits until the site listens.
func (s *launched) await(t *testing.T) {
	t.Helper()
	select {
	case <-s.ready:
	case err := <-s.done:
		s.done <- err
		t.Fatalf("serve returned before listening: %v", err)
	case <-time.After(startTimeout):
		t.Fatal("serve printed no address")
	}
}

// userOf is the signed-in user as GET /api/session shows it.
type userOf struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

func sessionUser(t *testing.T, c *http.Client, base string) (int, userOf) {
	t.Helper()
	code, body := get(t, c, base+"/api/session")
	var b struct{ User userOf }
	if code == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &b); err != nil {
			t.Fatalf("GET /api/session: %v: %s", err, body)
		}
	}
	return code, b.User
}

func putProfile(t *testing.T, c *http.Client, base, name string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, base+"/api/profile",
		strings.NewReader(fmt.Sprintf(`{"name":%q,"avatarUrl":""}`, name)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return do(t, c, req)
}

// TestServe_ThreeInstances starts three instances at the same moment on one
// empty database: the schema and the demo users are created once, all three
// serve, and a change made through one is seen by the others on their next
// request.
func TestServe_ThreeInstances(t *testing.T) {
	t.Parallel()
	dsn := pgtest.URL(t)
	sites := make([]*launched, 3)
	for i := range sites {
		sites[i] = launchServe(t, "--database-url", dsn, "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--demo")
	}
	for _, s := range sites {
		s.await(t)
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var users int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM users`).Scan(&users); err != nil {
		t.Fatal(err)
	}
	if users != 3 {
		t.Fatalf("%d users after three instances started, want the 3 demo users", users)
	}

	// Cookies belong to the host, whatever the port: one browser behind a
	// load balancer that sends each request to another instance.
	editor := signIn(t, sites[0].base, "editor@ai-stat.ru", "editor123")
	homeShows(t, editor, sites[1].base, "Сара Чен", "")
	if code, body := putProfile(t, editor, sites[1].base, "Renamed Everywhere"); code != http.StatusOK {
		t.Fatalf("PUT /api/profile on instance 1: %d %s", code, body)
	}
	homeShows(t, editor, sites[2].base, "Renamed Everywhere", "Сара Чен")
	homeShows(t, signIn(t, sites[2].base, "editor@ai-stat.ru", "editor123"), sites[0].base, "Renamed Everywhere", "Сара Чен")

	_, u := sessionUser(t, editor, sites[0].base)
	if code, _ := get(t, editor, sites[0].base+"/admin"); code != http.StatusOK {
		t.Fatalf("GET /admin as editor: %d", code)
	}
	admin := signIn(t, sites[2].base, "admin@ai-stat.ru", "admin123")
	form := url.Values{"role": {"viewer"}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, sites[2].base+fmt.Sprintf("/admin/users/%d/role", u.ID), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if code, body := do(t, admin, req); code != http.StatusSeeOther {
		t.Fatalf("demote on instance 2: %d %s", code, body)
	}
	for i, s := range sites {
		if code, _ := get(t, editor, s.base+"/admin"); code != http.StatusForbidden {
			t.Errorf("GET /admin on instance %d after the demotion: %d, want 403", i, code)
		}
	}

	// Metrics are served on their own listener, never on the site.
	for i, s := range sites {
		code, body := get(t, newClient(t), s.metricsURL)
		if code != http.StatusOK {
			t.Errorf("instance %d: GET %s = %d", i, s.metricsURL, code)
		}
		if saved := `aistat_http_requests_total{method="PUT",route="/api/profile",status="200"} 1`; i == 1 && !strings.Contains(body, saved) {
			t.Errorf("instance 1 saved the profile, but its metrics lack %s", saved)
		}
		if code, _ := get(t, newClient(t), s.base+"/metrics"); code != http.StatusNotFound {
			t.Errorf("instance %d: GET /metrics on the site = %d, want 404", i, code)
		}
	}
}

// TestServe_ShutdownFinishesInFlight stops the site while a request waits on
// the database: no new connection is accepted, the request still gets its
// answer, open event streams end with a retry hint, and serve returns
// cleanly.
func TestServe_ShutdownFinishesInFlight(t *testing.T) {
	t.Parallel()
	dsn := pgtest.URL(t)
	s := launchServe(t, "--database-url", dsn, "--addr", "127.0.0.1:0", "--demo")
	s.await(t)
	editor := signIn(t, s.base, "editor@ai-stat.ru", "editor123")

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.base+"/api/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := editor.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()

	// Hold the editor's row so that a profile save waits for it.
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(t.Context(), `SELECT 1 FROM users WHERE email = 'editor@ai-stat.ru' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	type result struct {
		code int
		body string
	}
	saved := make(chan result, 1)
	go func() {
		code, body := putProfile(t, editor, s.base, "Saved While Stopping")
		saved <- result{code, body}
	}()
	poll.Until(t, "the save to wait for the row lock", 10*time.Second, func() bool {
		var waiting bool
		err := db.QueryRowContext(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted)`).Scan(&waiting)
		return err == nil && waiting
	})

	s.cancel()
	host := strings.TrimPrefix(s.base, "http://")
	poll.Until(t, "the listener to close", 10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", host, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	// Shutting down, serve waits for the save however long it is held.
	select {
	case err := <-s.done:
		t.Fatalf("serve returned %v with a save in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if r := <-saved; r.code != http.StatusOK || !strings.Contains(r.body, "Saved While Stopping") {
		t.Fatalf("the in-flight save: %d %s", r.code, r.body)
	}

	rest, err := io.ReadAll(bufio.NewReader(stream.Body))
	if err != nil {
		t.Fatalf("read the stream to its end: %v", err)
	}
	if !strings.HasSuffix(string(rest), "retry: 2000\n\n") {
		t.Fatalf("the stream ended with %q, want a retry hint", rest)
	}
	if err := waitDone(t, s.done, 10*time.Second, "serve"); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	s.done <- nil
}

// TestServe_PostgresKilled kills the embedded PostgreSQL under the running
// site: requests are answered 503 in time meanwhile, the site starts the
// server again by itself and carries on with the same sessions, stops
// cleanly, and the next start works.
func TestServe_PostgresKilled(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	s := startSite(t, dir)
	editor := signIn(t, s.base, "editor@ai-stat.ru", "editor123")
	killed := postmasterPID(t, dir)
	if err := syscall.Kill(killed, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	unavailable := 0
	poll.Until(t, "the site to get its database back", 30*time.Second, func() bool {
		before := time.Now()
		code, u := sessionUser(t, editor, s.base)
		if took := time.Since(before); took > 3*time.Second {
			t.Errorf("GET /api/session answered after %v", took)
		}
		if code == http.StatusOK {
			if u.Name != "Сара Чен" {
				t.Fatalf("signed in as %q", u.Name)
			}
			// Backends serve on until they notice their postmaster died.
			if pid := postmasterPID(t, dir); pid != killed && pid != 0 {
				t.Logf("back %v after the kill, %d answers 503 meanwhile", time.Since(start), unavailable)
				return true
			}
		} else if code != http.StatusServiceUnavailable {
			t.Fatalf("GET /api/session with the database killed: %d", code)
		}
		if code == http.StatusServiceUnavailable {
			unavailable++
		}
		return false
	})
	assertHealthy(t, s.base)
	s.stop(t)
	assertNoPostgres(t, dir)

	s = startSite(t, dir)
	homeShows(t, signIn(t, s.base, "editor@ai-stat.ru", "editor123"), s.base, "Сара Чен", "")
	s.stop(t)
	assertNoPostgres(t, dir)
}
