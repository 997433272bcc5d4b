// Package pgbouncer runs a PgBouncer in transaction pooling mode in front
// of one PostgreSQL database, for the tests and make ha: the way the site is
// meant to be run behind one.
package pgbouncer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Bouncer is a running PgBouncer.
type Bouncer struct {
	// Addr is the host:port it listens on, on loopback.
	Addr string

	database, user, ini, auth string
	port                      int
	cmd                       *exec.Cmd
	// exited is closed once the process ended, with its error in err.
	exited chan struct{}
	err    error
}

// Find returns the path of the pgbouncer program.
func Find() (string, error) {
	for _, candidate := range []string{"pgbouncer", "/usr/sbin/pgbouncer"} {
		if p, err := exec.LookPath(candidate); err == nil {
			return p, nil
		}
	}
	return "", errors.New("pgbouncer is not installed (Debian package pgbouncer)")
}

// Start runs PgBouncer with its files in dir, serving database as user
// (trusted, no password asked) from server, a lib/pq key/value connection
// string of the database behind it. It writes its log to out, runs as the
// postgres user when started by root (PgBouncer refuses to run as root),
// and returns once it listens. Stop ends it.
func Start(ctx context.Context, dir, database, user, server string, out io.Writer) (*Bouncer, error) {
	bin, err := Find()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &Bouncer{
		Addr:     ln.Addr().String(),
		port:     ln.Addr().(*net.TCPAddr).Port,
		database: database,
		user:     user,
		ini:      filepath.Join(dir, "pgbouncer.ini"),
		auth:     filepath.Join(dir, "pgbouncer-users.txt"),
		exited:   make(chan struct{}),
	}
	ln.Close()
	if err := os.WriteFile(b.auth, fmt.Appendf(nil, "%q \"\"\n", user), 0o644); err != nil {
		return nil, err
	}
	if err := b.configure(server); err != nil {
		return nil, err
	}
	b.cmd = exec.CommandContext(ctx, bin, b.ini)
	if os.Geteuid() == 0 {
		cred, err := serverCredential()
		if err != nil {
			return nil, err
		}
		b.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	b.cmd.Stdout, b.cmd.Stderr = out, out
	if err := b.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		b.err = b.cmd.Wait()
		close(b.exited)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", b.Addr, 100*time.Millisecond)
		if err == nil {
			conn.Close()
			return b, nil
		}
		select {
		case <-b.exited:
			return nil, fmt.Errorf("pgbouncer exited: %v", b.err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.Stop()
			return nil, errors.New("pgbouncer does not listen")
		}
	}
}

// URL is a URL of the database through PgBouncer.
func (b *Bouncer) URL() string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", b.user, b.Addr, b.database)
}

// configure writes the configuration that serves the database from server.
// server_login_retry is a second instead of 15: once its server died,
// PgBouncer refuses every client for that long before it tries a server
// again, a new primary it was just pointed at included.
func (b *Bouncer) configure(server string) error {
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
server_login_retry = 1
ignore_startup_parameters = extra_float_digits
`, b.database, server, b.port, b.auth)
	return os.WriteFile(b.ini, []byte(conf), 0o644)
}

// Point serves the database from server from now on, as a failover
// manager does on a promotion: the configuration is rewritten and
// PgBouncer rereads it on SIGHUP.
func (b *Bouncer) Point(server string) error {
	if err := b.configure(server); err != nil {
		return err
	}
	return b.cmd.Process.Signal(syscall.SIGHUP)
}

// Stop ends PgBouncer and waits for it, killing it if it does not stop
// within 10 s.
func (b *Bouncer) Stop() {
	_ = b.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-b.exited:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
}

// serverCredential runs a child as the postgres system user.
func serverCredential() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgbouncer refuses to run as root and there is no postgres user: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
