package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"aistat/internal/pgtest"
	"aistat/internal/poll"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// noEnv is an empty environment, so the machine's DATABASE_URL or AISTAT_*
// settings cannot leak into a test.
func noEnv(string) string { return "" }

// syncBuffer collects output written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logOnFailure shows a command's log only when the test fails, so passing
// runs stay quiet.
func logOnFailure(t *testing.T, name string, b *syncBuffer) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s:\n%s", name, b.String())
		}
	})
}

// dataDir is an empty folder for an embedded cluster. Not t.TempDir: its
// parents are 0700, and root hands the cluster to the postgres user.
func dataDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "aistat-cmd-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		killPostgres(t, dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	})
	return dir
}

// postgresOf lists the live postgres processes working in dir's cluster:
// every server process runs from its data folder.
func postgresOf(t *testing.T, dir string) []int {
	t.Helper()
	cluster, err := filepath.EvalSymlinks(filepath.Join(dir, "postgres"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || filepath.Base(strings.TrimSuffix(exe, " (deleted)")) != "postgres" {
			continue
		}
		if cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); err == nil && cwd == cluster {
			pids = append(pids, pid)
		}
	}
	return pids
}

// postmasterPID is the pid in dir's postmaster.pid, 0 when there is none.
func postmasterPID(t *testing.T, dir string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "postgres", "postmaster.pid"))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	} else if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("postmaster.pid: %v", err)
	}
	return pid
}

// assertNoPostgres checks that the cluster in dir was shut down and left
// nothing running.
func assertNoPostgres(t *testing.T, dir string) {
	t.Helper()
	if pid := postmasterPID(t, dir); pid != 0 {
		t.Errorf("postmaster.pid still names %d", pid)
	}
	if !poll.Within(5*time.Second, func() bool { return len(postgresOf(t, dir)) == 0 }) {
		t.Errorf("postgres processes still running for %s: %v", dir, postgresOf(t, dir))
	}
}

// killPostgres ends a server a failed test left running in dir: an
// immediate shutdown first, which releases the server's shared memory, then
// SIGKILL for whatever remains.
func killPostgres(t *testing.T, dir string) {
	if pid := postmasterPID(t, dir); pid != 0 && len(postgresOf(t, dir)) > 0 {
		_ = syscall.Kill(pid, syscall.SIGQUIT)
		poll.Within(10*time.Second, func() bool { return len(postgresOf(t, dir)) == 0 })
	}
	for _, pid := range postgresOf(t, dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// addressPrefix starts the line serve prints once it listens.
const addressPrefix = "aistat is running at "

// watchAddress reads a command's standard output to its end and sends the
// site's base URL once serve prints it.
func watchAddress(r io.Reader) <-chan string {
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), addressPrefix); ok {
				select {
				case found <- addr:
				default:
				}
			}
		}
		// Keep draining after a scanner error so the writer never blocks.
		_, _ = io.Copy(io.Discard, r)
	}()
	return found
}

// startTimeout covers initdb and the first start of a cluster on a slow,
// busy machine.
const startTimeout = 60 * time.Second

// client signs in and keeps its session cookie; it reports redirects
// instead of following them.
func newClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func do(t *testing.T, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return resp.StatusCode, string(body)
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, c, req)
}

func assertHealthy(t *testing.T, base string) {
	t.Helper()
	if code, body := get(t, newClient(t), base+"/healthz"); code != http.StatusOK || body != "ok" {
		t.Fatalf("GET /healthz = %d %q, want 200 ok", code, body)
	}
}

// signIn posts the login form and expects the redirect of a success.
func signIn(t *testing.T, base, email, password string) *http.Client {
	t.Helper()
	c := newClient(t)
	if code, body := postLogin(t, c, base, email, password); code != http.StatusSeeOther {
		t.Fatalf("sign in as %s: %d, want 303\n%s", email, code, body)
	}
	return c
}

// signInStatus is the status a sign-in gets.
func signInStatus(t *testing.T, base, email, password string) int {
	t.Helper()
	code, _ := postLogin(t, newClient(t), base, email, password)
	return code
}

func postLogin(t *testing.T, c *http.Client, base, email, password string) (int, string) {
	t.Helper()
	form := url.Values{"email": {email}, "password": {password}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, c, req)
}

// homeShows signs in and checks that the home page names the user as want
// and does not show unwanted.
func homeShows(t *testing.T, c *http.Client, base, want, unwanted string) {
	t.Helper()
	code, body := get(t, c, base+"/")
	if code != http.StatusOK || !strings.Contains(body, want) {
		t.Fatalf("GET / = %d without %q", code, want)
	}
	if unwanted != "" && strings.Contains(body, unwanted) {
		t.Errorf("GET / still shows %q", unwanted)
	}
}

// waitDone waits for a command that was told to stop.
func waitDone(t *testing.T, done <-chan error, within time.Duration, what string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(within):
		t.Fatalf("%s did not return within %s", what, within)
		return nil
	}
}

// withTimeout is a context for commands that must not hang a failing test.
func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
