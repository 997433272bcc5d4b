package postgres_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
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
