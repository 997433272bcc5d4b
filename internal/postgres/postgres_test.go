package postgres_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"

	"aistat"
	"aistat/internal/pgtest"
	"aistat/internal/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestUnavailable(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"Nil", nil, false},
		{"BadConn", driver.ErrBadConn, true},
		{"WrappedBadConn", fmt.Errorf("find session: %w", driver.ErrBadConn), true},
		{"Deadline", fmt.Errorf("ping: %w", context.DeadlineExceeded), true},
		{"ClientGone", context.Canceled, false},
		{"Dial", &net.OpError{Op: "dial", Net: "unix", Err: errors.New("connect: no such file or directory")}, true},
		{"AdminShutdown", &pq.Error{Code: "57P01"}, true},
		{"CrashShutdown", &pq.Error{Code: "57P02"}, true},
		{"StartingUp", &pq.Error{Code: "57P03"}, true},
		{"ConnectionFailure", fmt.Errorf("update: %w", &pq.Error{Code: "08006"}), true},
		{"TooManyClients", &pq.Error{Code: "53300"}, true},
		{"Cancelled", &pq.Error{Code: "57014"}, true},
		{"ReadOnlyServer", fmt.Errorf("update user: %w", &pq.Error{Code: "25006"}), true},
		{"StandbyRuledOut", errors.New("server is in hot standby mode"), true},
		{"NoHostReadWrite", fmt.Errorf("pq: could not connect to any of the hosts:\n%w", errors.Join(
			fmt.Errorf("connecting to /a:5432: %w", &net.OpError{Op: "dial", Net: "unix", Err: errors.New("connection refused")}),
			fmt.Errorf("connecting to /b:5432: %w", errors.New("session is read-only")))), true},
		{"AuthFailed", &pq.Error{Code: "28P01"}, false},
		{"UniqueViolation", &pq.Error{Code: "23505"}, false},
		{"NoRows", sql.ErrNoRows, false},
		{"Domain", aistat.Errorf(aistat.ENOTFOUND, "User not found."), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := postgres.Unavailable(tt.err); got != tt.want {
				t.Fatalf("Unavailable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestOpen_SilentServer: a server that accepts connections and never
// answers holds a query no longer than its context.
func TestOpen_SilentServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	db := pgtest.DB(t, fmt.Sprintf("host=127.0.0.1 port=%d user=nobody dbname=nothing sslmode=disable", port))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = db.PingContext(ctx)
	if took := time.Since(start); took > time.Second {
		t.Fatalf("ping took %v, want about the context's 300ms", took)
	}
	if !postgres.Unavailable(err) {
		t.Fatalf("ping: %v, want an error that Unavailable recognises", err)
	}
}

// TestOpen_FrozenConnection: a pooled connection to a server that stops
// answering in the middle of a conversation gives up when the query's
// context ends, and the pool recovers by itself once the server answers
// again.
func TestOpen_FrozenConnection(t *testing.T) {
	proxy, dsn := pgtest.NewProxy(t, pgtest.URL(t))
	db := pgtest.DB(t, dsn)
	var one int
	if err := db.QueryRowContext(t.Context(), `SELECT 1`).Scan(&one); err != nil {
		t.Fatal(err)
	}

	proxy.Freeze()
	for range 2 { // the pooled connection, then a new one
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		start := time.Now()
		err := db.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
		cancel()
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Fatalf("a query on a frozen server took %v, want about its context's 500ms", took)
		}
		if !postgres.Unavailable(err) && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("query on a frozen server: %v, want an error that Unavailable recognises", err)
		}
	}

	proxy.Thaw()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		t.Fatalf("after the thaw: %v", err)
	}
}

// TestOpen_CallsAfterCancelledContext: a connection whose last caller's
// context ended is reused by the next caller without harm.
func TestOpen_CallsAfterCancelledContext(t *testing.T) {
	db := pgtest.DB(t, pgtest.URL(t))
	db.SetMaxOpenConns(1)
	for range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		var one int
		if err := db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
			t.Fatal(err)
		}
		cancel()
		time.Sleep(2 * time.Millisecond)
	}
	var one int
	if err := db.QueryRowContext(context.Background(), `SELECT pg_sleep(0.3), 1`).Scan(new(any), &one); err != nil {
		t.Fatalf("a query outlasting the previous caller's grace: %v", err)
	}
}

// TestHosts: both notations of several hosts reach lib/pq with each host on
// its own port; lib/pq alone reads a URL's host list as hosts named
// "a:5432" on the default port.
func TestHosts(t *testing.T) {
	type host struct {
		host string
		port uint16
	}
	for _, tt := range []struct {
		name, dsn string
		want      []host
	}{
		{"KeyValue", "host=a,b port=5432,5433 dbname=d target_session_attrs=read-write", []host{{"a", 5432}, {"b", 5433}}},
		{"KeyValueOnePort", "host=/run/a,/run/b port=5433 dbname=d", []host{{"/run/a", 5433}, {"/run/b", 5433}}},
		{"URL", "postgres://u:p@a:5432,b:5433/d?target_session_attrs=read-write", []host{{"a", 5432}, {"b", 5433}}},
		{"URLNoPorts", "postgresql://a,b/d", []host{{"a", 5432}, {"b", 5432}}},
		{"URLSomePorts", "postgres://a,b:6000/d", []host{{"a", 5432}, {"b", 6000}}},
		{"URLIPv6", "postgres://[::1]:5432,[fe80::1]/d", []host{{"::1", 5432}, {"fe80::1", 5432}}},
		{"URLSockets", "postgres://%2Frun%2Fa,%2Frun%2Fb:5433/d", []host{{"/run/a", 5432}, {"/run/b", 5433}}},
		{"URLOneHost", "postgres://a:6000/d", []host{{"a", 6000}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PGPORT", "")
			os.Unsetenv("PGPORT")
			dsn, err := postgres.Hosts(tt.dsn)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := pq.NewConfig(dsn)
			if err != nil {
				t.Fatalf("lib/pq cannot read %q: %v", dsn, err)
			}
			got := []host{{cfg.Host, cfg.Port}}
			for _, m := range cfg.Multi {
				got = append(got, host{m.Host, m.Port})
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("%q: hosts %v, want %v", dsn, got, tt.want)
			}
			if cfg.Database != "d" {
				t.Errorf("%q: database %q, want d", dsn, cfg.Database)
			}
			if strings.Contains(tt.dsn, "target_session_attrs") && cfg.TargetSessionAttrs != pq.TargetSessionAttrsReadWrite {
				t.Errorf("%q: target_session_attrs %q, want read-write", dsn, cfg.TargetSessionAttrs)
			}
			if strings.Contains(tt.dsn, "u:p@") && (cfg.User != "u" || cfg.Password != "p") {
				t.Errorf("%q: user %q password %q, want u and p", dsn, cfg.User, cfg.Password)
			}
		})
	}
	for _, bad := range []string{
		"postgres://a:1,b:2/d?port=3",
		"postgres://a,b/d?host=c",
		"postgres://a,,b/d",
	} {
		if dsn, err := postgres.Hosts(bad); err == nil {
			t.Errorf("Hosts(%q) = %q, want an error", bad, dsn)
		}
	}
}

// TestOpen_DropsReadOnlyConnection: a pooled connection whose server
// refuses a write as read-only is not reused: the next write gets a fresh
// connection (which, with target_session_attrs=read-write, finds the
// primary) instead of the same refusal.
func TestOpen_DropsReadOnlyConnection(t *testing.T) {
	db := pgtest.DB(t, pgtest.URL(t))
	db.SetMaxOpenConns(1)
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (n int)`); err != nil {
		t.Fatal(err)
	}
	// The session of the pool's one connection turns read-only, as a
	// fenced old primary's would.
	if _, err := db.ExecContext(ctx, `SET default_transaction_read_only = on`); err != nil {
		t.Fatal(err)
	}
	_, err := db.ExecContext(ctx, `INSERT INTO t VALUES ($1)`, 1)
	if !postgres.Unavailable(err) {
		t.Fatalf("a write on a read-only connection: %v, want an error that Unavailable recognises", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `INSERT INTO t VALUES ($1) RETURNING n`, 2).Scan(&n); err != nil {
		t.Fatalf("the next write: %v, want it on a new connection", err)
	}
}
