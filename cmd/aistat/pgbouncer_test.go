package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"
	"golang.org/x/crypto/bcrypt"

	"aistat/internal/pgtest"
	"aistat/internal/poll"
)

// pgbouncerBinary finds PgBouncer. It skips the test when it is missing,
// except on CI, where .ci/run installs it and its absence is a failure.
func pgbouncerBinary(t *testing.T) string {
	t.Helper()
	for _, candidate := range []string{"pgbouncer", "/usr/sbin/pgbouncer"} {
		if bin, err := exec.LookPath(candidate); err == nil {
			return bin
		}
	}
	const msg = "pgbouncer is not installed (Debian package pgbouncer)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + ": .ci/run installs it")
	}
	t.Skip(msg + ": skipping the PgBouncer tests")
	return ""
}

// startPgBouncer runs PgBouncer in transaction pooling mode in front of the
// database dsn names, until the end of the test, and returns a URL that goes
// through it.
func startPgBouncer(t *testing.T, dsn string) string {
	t.Helper()
	bin := pgbouncerBinary(t)
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	auth := filepath.Join(dir, "users.txt")
	if err := os.WriteFile(auth, fmt.Appendf(nil, "%q \"\"\n", cfg.User), 0o644); err != nil {
		t.Fatal(err)
	}
	ini := filepath.Join(dir, "pgbouncer.ini")
	server := fmt.Sprintf("host=%s port=%d dbname=%s user=%s", cfg.Host, cfg.Port, cfg.Database, cfg.User)
	if cfg.Password != "" {
		server += " password=" + cfg.Password
	}
	conf := fmt.Sprintf(`[databases]
%s = %s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
ignore_startup_parameters = extra_float_digits
`, cfg.Database, server, port, auth)
	if err := os.WriteFile(ini, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, ini)
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: postgresCredential(t)}
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	logOnFailure(t, "pgbouncer log", out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	poll.Until(t, "pgbouncer to listen", 10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
		select {
		case err := <-exited:
			t.Fatalf("pgbouncer exited: %v", err)
		default:
		}
		return false
	})
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", cfg.User, addr, cfg.Database)
}

// postgresCredential runs a child as the postgres system user.
func postgresCredential(t *testing.T) *syscall.Credential {
	t.Helper()
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("pgbouncer refuses to run as root and there is no postgres user: %v", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
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
