package aistat

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/lib/pq"
)

//go:embed schema.sql
var schema string

// schemaLockID is the advisory lock that serialises schema changes between
// instances starting at the same moment.
const schemaLockID = 7_316_240_101

// defaultConnectTimeout bounds opening a connection, the handshake
// included, when dsn sets no connect_timeout: a server that accepts
// connections but does not answer must not hold up a request for long.
const defaultConnectTimeout = 2 * time.Second

// DefaultMaxConns is the pool's size unless configured: four connections
// per core. Under the benchmark's load (BENCHMARKS.md) a pool this size
// served more requests than one with a connection per client, with a lower
// p99: more connections only make PostgreSQL's backends and the app take
// turns on the same cores.
var DefaultMaxConns = 4 * runtime.NumCPU()

// OpenDB opens a connection pool on dsn (a URL or a key/value string).
// binary_parameters is forced on: without it lib/pq sends every query with
// parameters in two network round trips, and the request path has a budget
// of one. Every connection gives up on a server that stops answering as soon
// as the context of the call using it ends. A nil dialer uses lib/pq's own.
func OpenDB(dsn string, d pq.Dialer) (*sql.DB, error) {
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	cfg.BinaryParameters = true
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	inner, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("database connector: %w", err)
	}
	if d == nil {
		d = &netDialer{}
	}
	inner.Dialer(dialer{inner: d})
	db := sql.OpenDB(&connector{inner: inner})
	db.SetMaxOpenConns(DefaultMaxConns)
	db.SetMaxIdleConns(DefaultMaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// Migrate applies schema.sql in one transaction under an advisory lock, so
// instances that start together apply it once and never half.
func Migrate(ctx context.Context, db *sql.DB) error {
	err := inTx(ctx, db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, schemaLockID); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if _, err := tx.ExecContext(ctx, schema); err != nil {
			return err
		}
		if err := backfillEmailSkeletons(ctx, tx); err != nil {
			return err
		}
		return ensureDeviceKey(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// inTx runs fn in a transaction, committing when fn returns nil.
func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// conflictOrErr turns a PostgreSQL unique violation into ECONFLICT with msg;
// this is the one place that knows the code 23505.
func conflictOrErr(err error, msg string) error {
	return conflictByIndex(err, map[string]string{"": msg})
}

// conflictByIndex turns a PostgreSQL unique violation into ECONFLICT with
// the message for the index it broke, or the one keyed "" for any other.
func conflictByIndex(err error, msgs map[string]string) error {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "23505" {
		msg, ok := msgs[pqErr.Constraint]
		if !ok {
			msg = msgs[""]
		}
		return Errorf(ECONFLICT, "%s", msg)
	}
	return err
}
