package main

import (
	"database/sql"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"aistat/internal/pgtest"
	"aistat/internal/poll"
)

// buildBinary builds the command once for the test, as `make build` does.
func buildBinary(t *testing.T) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "aistat")
	build := exec.Command("go", "build", "-o", bin, "./cmd/aistat")
	build.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// processEnv is the test's environment without the settings the command
// reads, so only the flags given configure it.
func processEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "DATABASE_URL" && !strings.HasPrefix(k, "AISTAT_") {
			env = append(env, kv)
		}
	}
	return env
}

// process is `aistat serve` running as its own process.
type process struct {
	cmd  *exec.Cmd
	base string
	done chan error // receives Wait's result once
}

// startProcess runs the binary's serve on dir and waits until it listens;
// the process is killed at the end of the test if it still runs.
func startProcess(t *testing.T, bin, dir string) *process {
	t.Helper()
	return startProcessArgs(t, bin, "--data-dir", dir)
}

// startProcessArgs runs the binary's serve with args and waits until it
// listens, as startProcess does.
func startProcessArgs(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = processEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	logOnFailure(t, "serve log", stderr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan error, 1)}
	addr := watchAddress(stdout)
	// Wait may only run once the pipe's reader is done, which watchAddress
	// guarantees by reading to the end.
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case err := <-p.done:
			p.done <- err
		case <-time.After(10 * time.Second):
			t.Errorf("process %d did not exit after SIGKILL", cmd.Process.Pid)
		}
	})
	select {
	case p.base = <-addr:
	case err := <-p.done:
		p.done <- err
		t.Fatalf("serve exited before listening: %v", err)
	case <-time.After(startTimeout):
		t.Fatal("serve printed no address")
	}
	return p
}

// signal sends sig and returns how the process ended.
func (p *process) signal(t *testing.T, sig syscall.Signal, within time.Duration) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	err := waitDone(t, p.done, within, "serve after "+sig.String())
	p.done <- err
	return err
}

func TestProcess(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)

	t.Run("stop signals", func(t *testing.T) {
		t.Parallel()
		dir := dataDir(t)
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
			p := startProcess(t, bin, dir)
			assertHealthy(t, p.base)
			if err := p.signal(t, sig, 20*time.Second); err != nil {
				t.Fatalf("after %s: %v, want exit status 0", sig, err)
			}
			assertNoPostgres(t, dir)
		}
	})

	t.Run("SIGTERM with 100 open event streams", func(t *testing.T) {
		t.Parallel()
		dir := dataDir(t)
		p := startProcess(t, bin, dir)
		editor := signIn(t, p.base, "editor@ai-stat.ru", "editor123")
		for range 100 {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, p.base+"/api/events", nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := editor.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { res.Body.Close() })
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET /api/events = %d", res.StatusCode)
			}
		}
		if err := p.signal(t, syscall.SIGTERM, 5*time.Second); err != nil {
			t.Fatalf("after SIGTERM with open streams: %v, want exit status 0", err)
		}
		assertNoPostgres(t, dir)
	})

	// A LISTEN connection whose server stops answering, with nothing
	// closed (a partition, a hung host), must not hold the exit up.
	t.Run("SIGTERM with a stuck listener", func(t *testing.T) {
		t.Parallel()
		dsn := pgtest.URL(t)

		t.Run("server never answers", func(t *testing.T) {
			// A server that accepts the connection and never says a word:
			// the listener's connection attempt hangs.
			silent := pgtest.NewSilentServer(t)
			p := startProcessArgs(t, bin, "--database-url", dsn, "--listen-database-url", silent.DSN())
			silent.WaitConnected(t, "the listener", 10*time.Second)
			assertHealthy(t, p.base)
			if err := p.signal(t, syscall.SIGTERM, 10*time.Second); err != nil {
				t.Fatalf("after SIGTERM: %v, want exit status 0", err)
			}
		})

		t.Run("server freezes", func(t *testing.T) {
			proxy, proxied := pgtest.NewProxy(t, dsn)
			p := startProcessArgs(t, bin, "--database-url", dsn, "--listen-database-url", proxied)
			db, err := sql.Open("postgres", dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			poll.Until(t, "the listener's LISTEN", 10*time.Second, func() bool {
				var n int
				err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity
					WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(&n)
				return err == nil && n > 0
			})
			proxy.Freeze()
			if err := p.signal(t, syscall.SIGTERM, 10*time.Second); err != nil {
				t.Fatalf("after SIGTERM: %v, want exit status 0", err)
			}
		})
	})

	t.Run("crash and tools", func(t *testing.T) {
		t.Parallel()
		dir := dataDir(t)
		p := startProcess(t, bin, dir)
		leftover := postmasterPID(t, dir)
		err := p.signal(t, syscall.SIGKILL, 10*time.Second)
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("after SIGKILL: %v", err)
		}
		if len(postgresOf(t, dir)) == 0 {
			t.Fatal("postgres died with the app; the take-over is not tested")
		}

		p = startProcess(t, bin, dir)
		assertHealthy(t, p.base)
		sitePID := postmasterPID(t, dir)
		if sitePID == leftover {
			t.Errorf("the leftover postmaster %d still runs; want a new one", leftover)
		}

		// The tools borrow the site's server and leave it running.
		add := exec.Command(bin, "user", "add", "--data-dir", dir, "--email", "tool@example.com", "--name", "Tool User", "--role", "editor")
		add.Env = processEnv()
		add.Stdin = strings.NewReader("a-tool-password\n")
		if out, err := add.CombinedOutput(); err != nil {
			t.Fatalf("user add while the site runs: %v\n%s", err, out)
		}
		migrate := exec.Command(bin, "migrate", "--data-dir", dir)
		migrate.Env = processEnv()
		if out, err := migrate.CombinedOutput(); err != nil {
			t.Fatalf("migrate while the site runs: %v\n%s", err, out)
		}
		if pid := postmasterPID(t, dir); pid != sitePID {
			t.Fatalf("postmaster %d after the tools, want the site's %d", pid, sitePID)
		}
		assertHealthy(t, p.base)
		homeShows(t, signIn(t, p.base, "tool@example.com", "a-tool-password"), p.base, "Tool User", "")

		if err := p.signal(t, syscall.SIGTERM, 20*time.Second); err != nil {
			t.Fatalf("after SIGTERM: %v, want exit status 0", err)
		}
		assertNoPostgres(t, dir)
	})
}
