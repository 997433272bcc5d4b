package aistat

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"

	"github.com/lib/pq"
)

//go:embed schema.sql
var schema string

// schemaLockID is the advisory lock that serialises schema changes between
// instances starting at the same moment.
const schemaLockID = 7_316_240_101

// migrateAttempts is how many times Migrate tries before giving up on
// deadlocks.
const migrateAttempts = 5

// Migrate applies schema.sql in one transaction under an advisory lock, so
// instances that start together apply it once and never half. Its ALTER
// TABLE and CREATE TRIGGER statements lock the tables even when they change
// nothing, so work of the instances already running (a cleanup, a request)
// can deadlock with it; PostgreSQL then rolls one of the two back, and when
// that is the migration, it is tried again.
func Migrate(ctx context.Context, db *sql.DB) error {
	var err error
	for range migrateAttempts {
		if err = migrate(ctx, db); !isDeadlock(err) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// migrate is one attempt of Migrate.
func migrate(ctx context.Context, db *sql.DB) error {
	return inTx(ctx, db, func(tx *sql.Tx) error {
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
}

// isDeadlock reports whether PostgreSQL rolled err's transaction back to
// break a deadlock (40P01).
func isDeadlock(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "40P01"
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

// conflictByIndex turns a PostgreSQL unique violation into ECONFLICT with
// the message for the index it broke, or the one keyed "" for any other;
// this is the one place that knows the code 23505.
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
