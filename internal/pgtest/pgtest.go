// Package pgtest gives each test its own empty PostgreSQL database, on a
// throwaway cluster started once per test binary or, when TEST_DATABASE_URL is
// set, on that server.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"aistat/internal/pglocal"
	"aistat/internal/postgres"

	"github.com/lib/pq"
)

// server is where the per-test databases are created.
type server struct {
	admin *sql.DB
	// dsn returns the connection string for a database on this server.
	dsn func(database string) (string, error)
	// prefix tells this binary's databases apart from those of concurrent or
	// crashed runs sharing a TEST_DATABASE_URL server.
	prefix string
}

var (
	// current is set by Main for the lifetime of the test binary.
	current *server
	seq     atomic.Uint64
)

// Main starts one throwaway cluster for the test binary (unless TEST_DATABASE_URL is set),
// runs the tests and stops the cluster; use it as `func TestMain(m *testing.M) { pgtest.Main(m) }`.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	prefix, err := namePrefix()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	if dsn := os.Getenv("TEST_DATABASE_URL"); dsn != "" {
		return runRemote(m, dsn, prefix)
	}
	return runLocal(m, prefix)
}

func runRemote(m *testing.M, dsn, prefix string) int {
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: parse TEST_DATABASE_URL: %v\n", err)
		return 1
	}
	connector, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: TEST_DATABASE_URL: %v\n", err)
		return 1
	}
	admin := sql.OpenDB(connector)
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: cannot connect to TEST_DATABASE_URL: %v\n", err)
		return 1
	}
	current = &server{
		admin:  admin,
		dsn:    func(database string) (string, error) { return withDatabase(dsn, database) },
		prefix: prefix,
	}
	return m.Run()
}

func runLocal(m *testing.M, prefix string) (code int) {
	for _, err := range sweepLeftovers(os.TempDir()) {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
	}
	// Not t.TempDir: it sits below 0700 folders that the postgres user, to
	// which root hands the cluster, cannot traverse; a short path also keeps
	// the socket next to the data.
	dir, err := os.MkdirTemp("", strings.TrimSuffix(folderPattern, "*"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: create cluster folder: %v\n", err)
		return 1
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: remove cluster folder: %v\n", err)
		}
	}()
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: open up cluster folder: %v\n", err)
		return 1
	}
	if err := claimOwnership(dir); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	cluster, err := pglocal.Start(ctx, dir, logger)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: cannot start a PostgreSQL cluster for the tests: %v\n"+
			"pgtest: set TEST_DATABASE_URL to run them against an existing server instead\n", err)
		return 1
	}
	defer func() {
		if err := cluster.Stop(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop cluster: %v\n", err)
			code = 1
		}
	}()
	admin, err := sql.Open("postgres", cluster.URL("postgres"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: open cluster: %v\n", err)
		return 1
	}
	defer admin.Close()
	current = &server{
		admin:  admin,
		dsn:    func(database string) (string, error) { return cluster.URL(database), nil },
		prefix: prefix,
	}
	return m.Run()
}

// URL creates a fresh, empty database for this test, drops it in tb.Cleanup, and returns its
// lib/pq connection string.
func URL(tb testing.TB) string {
	tb.Helper()
	srv := current
	if srv == nil {
		tb.Fatal("pgtest: no test database server; add `func TestMain(m *testing.M) { pgtest.Main(m) }` to this package's tests")
	}
	name := fmt.Sprintf("%s_%d", srv.prefix, seq.Add(1))
	dsn, err := srv.dsn(name)
	if err != nil {
		tb.Fatalf("pgtest: connection string for %s: %v", name, err)
	}
	quoted := pq.QuoteIdentifier(name)
	if _, err := srv.admin.ExecContext(tb.Context(), "CREATE DATABASE "+quoted); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE ends connections the test left open, which would block the drop.
		if _, err := srv.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoted+" WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return dsn
}

// namePrefix is t_<pid>_<random>; the random part keeps names unique when
// test binaries on different machines share one server and get the same pid.
func namePrefix() (string, error) {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random database prefix: %w", err)
	}
	return fmt.Sprintf("t_%d_%s", os.Getpid(), hex.EncodeToString(b)), nil
}

// withDatabase points dsn, in URL or key/value form, at another database and
// keeps every other setting.
func withDatabase(dsn, database string) (string, error) {
	var out string
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse url: %w", err)
		}
		u.Path, u.RawPath = "/"+database, ""
		q := u.Query()
		if q.Has("dbname") {
			q.Del("dbname")
			u.RawQuery = q.Encode()
		}
		out = u.String()
	} else {
		// A later keyword overrides an earlier one in a key/value string.
		quoted := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(database)
		out = dsn + " dbname='" + quoted + "'"
	}
	cfg, err := pq.NewConfig(out)
	if err != nil {
		return "", fmt.Errorf("parse new connection string: %w", err)
	}
	if cfg.Database != database {
		return "", errors.New("connection string does not select the new database")
	}
	return out, nil
}

// DB opens a pool on dsn the way the site does (postgres.Open), closed
// when the test ends.
func DB(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	db, err := postgres.Open(dsn, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
