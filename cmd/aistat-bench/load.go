package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// benchPassword is the password of the accounts the benchmark signs in as.
const benchPassword = "benchmark passphrase"

// load fills the database: users of whom the benchmark signs in as two, and
// a tenth of the sessions, the unexpired ones. Triggers are off for the bulk
// insert: nobody listens yet.
func load(ctx context.Context, db *sql.DB, users, sessions int) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(benchPassword), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	start := time.Now()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	for _, q := range []string{
		`SET LOCAL session_replication_role = replica`,
		`INSERT INTO users (email, name, role, password_hash) VALUES
			('bench@example.com', 'Сара Чен', 'editor', '` + string(hash) + `'),
			('admin@example.com', 'Администратор', 'admin', '` + string(hash) + `')`,
		fmt.Sprintf(`INSERT INTO users (email, name, role, password_hash)
			SELECT 'user' || i || '@example.com', 'User ' || i || ' ' || md5(i::text),
			       (ARRAY['viewer', 'editor', 'admin'])[1 + i %% 3], 'x'
			FROM generate_series(1, %d) i`, users-2),
		insertSessions(users, sessions/10, "now() + interval '1 day'"),
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("load: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `VACUUM ANALYZE`); err != nil {
		return err
	}
	fmt.Printf("loaded %d users and %d live sessions in %s\n", users, sessions/10, time.Since(start).Round(time.Second))
	return nil
}

// loadExpired adds the other nine tenths of the sessions, expired, as a
// site that has run for a while has. It runs once the site has started,
// since the site's cleanup runs at start-up.
func loadExpired(ctx context.Context, db *sql.DB, users, sessions int) error {
	if _, err := db.ExecContext(ctx, insertSessions(users, sessions-sessions/10, "now() - interval '1 hour'")); err != nil {
		return fmt.Errorf("load expired sessions: %w", err)
	}
	_, err := db.ExecContext(ctx, `VACUUM ANALYZE sessions`)
	return err
}

// insertSessions is the statement adding n sessions spread over the loaded
// users, expiring at expiry.
func insertSessions(users, n int, expiry string) string {
	return fmt.Sprintf(`INSERT INTO sessions (token, data, expiry, user_id, created_at, last_active, user_agent, ip)
		SELECT md5(random()::text || i), '\x00', %s, 3 + i %% %d,
		       now() - interval '2 days', now() - interval '1 hour', 'Mozilla/5.0', '127.0.0.1'
		FROM generate_series(1, %d) i`, expiry, users-2, n)
}
