package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// site is `aistat serve` running in-process.
type site struct {
	base   string
	cancel context.CancelFunc
	done   chan error
}

// startSite runs serve on dir until stop or the end of the test.
func startSite(t *testing.T, dir string) *site {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdoutR, stdoutW := io.Pipe()
	stderr := &syncBuffer{}
	logOnFailure(t, "serve log", stderr)
	s := &site{cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir}, strings.NewReader(""), stdoutW, stderr, noEnv)
		stdoutW.Close()
		s.done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	select {
	case s.base = <-watchAddress(stdoutR):
	case err := <-s.done:
		s.done <- err
		t.Fatalf("serve returned before listening: %v", err)
	case <-time.After(startTimeout):
		t.Fatal("serve printed no address")
	}
	return s
}

// stop cancels serve's context, as a signal does, and expects a clean
// return.
func (s *site) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	err := waitDone(t, s.done, 15*time.Second, "serve")
	s.done <- err
	if err != nil {
		t.Fatalf("serve returned %v", err)
	}
}

func TestServeLifecycle(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)

	s := startSite(t, dir)
	assertHealthy(t, s.base)
	editor := signIn(t, s.base, "editor@ai-stat.ru", "editor123")
	homeShows(t, editor, s.base, "Сара Чен", "")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, s.base+"/api/profile",
		strings.NewReader(`{"name":"Ivan","avatarUrl":""}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if code, body := do(t, editor, req); code != http.StatusOK || !strings.Contains(body, `"name":"Ivan"`) {
		t.Fatalf("PUT /api/profile = %d %s", code, body)
	}
	homeShows(t, editor, s.base, "Ivan", "Сара Чен")
	s.stop(t)
	assertNoPostgres(t, dir)

	// With the site stopped, the tool starts the cluster itself and stops it
	// again.
	if _, stderr, err := runCommand(t, "a-new-password\n", "user", "add", "--data-dir", dir,
		"--email", "new@example.com", "--name", "Newcomer", "--role", "admin"); err != nil {
		t.Fatalf("user add: %v\n%s", err, stderr)
	}
	assertNoPostgres(t, dir)

	s = startSite(t, dir)
	homeShows(t, signIn(t, s.base, "editor@ai-stat.ru", "editor123"), s.base, "Ivan", "Сара Чен")
	newcomer := signIn(t, s.base, "new@example.com", "a-new-password")
	homeShows(t, newcomer, s.base, "Newcomer", "")
	// Another admin deletes the demo admin, whose password is public.
	_, demoAdmin := sessionUser(t, signIn(t, s.base, "admin@ai-stat.ru", "admin123"), s.base)
	req, err = http.NewRequestWithContext(t.Context(), http.MethodPost, s.base+"/admin/users/"+strconv.FormatInt(demoAdmin.ID, 10)+"/delete",
		strings.NewReader("confirm=yes"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if code, body := do(t, newcomer, req); code != http.StatusSeeOther {
		t.Fatalf("delete the demo admin: %d\n%s", code, body)
	}
	s.stop(t)
	assertNoPostgres(t, dir)

	// The demo accounts were created once: the deleted one stays deleted.
	s = startSite(t, dir)
	if code := signInStatus(t, s.base, "admin@ai-stat.ru", "admin123"); code != http.StatusUnauthorized {
		t.Fatalf("sign in as the deleted demo admin after a restart: %d, want 401", code)
	}
	homeShows(t, signIn(t, s.base, "new@example.com", "a-new-password"), s.base, "Newcomer", "")
	s.stop(t)
	assertNoPostgres(t, dir)
}
