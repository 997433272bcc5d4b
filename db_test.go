package aistat_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"aistat"
	"aistat/internal/pgtest"
	"aistat/internal/poll"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestMigrate_Concurrent: instances that start at the same moment on one
// empty database apply the schema once, without errors, and all of them can
// use it.
func TestMigrate_Concurrent(t *testing.T) {
	dsn := pgtest.URL(t)
	const instances = 3
	dbs := make([]*sql.DB, instances)
	for i := range dbs {
		dbs[i] = pgtest.DB(t, dsn)
	}
	start := make(chan struct{})
	errs := make([]error, instances)
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() {
			<-start
			errs[i] = aistat.Migrate(t.Context(), db)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	for i, db := range dbs {
		users := aistat.NewUsers(db)
		if _, err := users.SeedDemoUsers(t.Context()); err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	var n int
	if err := dbs[0].QueryRow(`SELECT count(*) FROM users`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(aistat.DemoUsers) {
		t.Fatalf("%d users, want %d", n, len(aistat.DemoUsers))
	}
}

// TestMigrate_Deadlock: a migration that deadlocks with the work of an
// instance already running, and is the one PostgreSQL rolls back, is tried
// again and succeeds once that work is done. The work here holds
// security_events and then reads users, which the migration altered and
// holds; the migration is the one to see the deadlock because the work
// waits a minute before looking for one, and a third session holds the
// migration on sessions until the work waits.
func TestMigrate_Deadlock(t *testing.T) {
	ctx := t.Context()
	db := pgtest.DB(t, pgtest.URL(t))
	if err := aistat.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	begin := func(stmts ...string) *sql.Tx {
		t.Helper()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tx.Rollback() })
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		return tx
	}
	waiting := func(want int) {
		t.Helper()
		poll.Until(t, fmt.Sprintf("%d sessions waiting for a lock", want), 10*time.Second, func() bool {
			var n int
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n == want
		})
	}
	work := begin(`SET LOCAL deadlock_timeout = '1min'`, `DELETE FROM security_events WHERE false`)
	hold := begin(`LOCK TABLE sessions IN ROW EXCLUSIVE MODE`)
	migrated := make(chan error, 1)
	go func() { migrated <- aistat.Migrate(ctx, db) }()
	waiting(1) // the migration, on sessions, holding users
	read := make(chan error, 1)
	go func() {
		var n int
		read <- work.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	}()
	waiting(2) // and the work, on users
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-read; err != nil {
		t.Fatalf("the running instance's read: %v, want the migration to be the one rolled back", err)
	}
	if err := work.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-migrated; err != nil {
		t.Fatalf("Migrate: %v, want it tried again after the deadlock", err)
	}
}

// TestMigrate_FindSessionsGainsColumns: a database whose session lookup
// function is of the version before the profile's language (its result
// ends at end_reason) gets the new one, which returns the user's locale,
// time zone and whether they have a second factor.
func TestMigrate_FindSessionsGainsColumns(t *testing.T) {
	db := pgtest.DB(t, pgtest.URL(t))
	ctx := context.Background()
	if err := aistat.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DROP FUNCTION aistat_find_sessions(text[]);
		CREATE FUNCTION aistat_find_sessions(session_tokens text[])
		RETURNS TABLE (token text, data bytea, session_id bigint, expiry timestamptz, last_active timestamptz,
		               user_id bigint, email text, name text, role text, avatar_url text,
		               created_at timestamptz, updated_at timestamptz, end_reason text)
		LANGUAGE sql AS $$ SELECT NULL::text, NULL::bytea, 0::bigint, now(), now(), 0::bigint, '', '', '', '', now(), now(), NULL::text WHERE false $$`); err != nil {
		t.Fatal(err)
	}
	if err := aistat.Migrate(ctx, db); err != nil {
		t.Fatalf("migrate over the older function: %v", err)
	}
	rows, err := db.Query(`SELECT * FROM aistat_find_sessions(ARRAY['x'])`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cols); n != 16 || cols[13] != "locale" || cols[14] != "time_zone" || cols[15] != "second_factor" {
		t.Errorf("columns %v, want the older 13 and locale, time_zone, second_factor", cols)
	}
}

// TestMigrate_AvatarURLsBecomeHTTPS: an avatar URL stored when http was
// allowed is upgraded to https, which the pages may load and the profile
// form accepts; the others stay as they are.
func TestMigrate_AvatarURLsBecomeHTTPS(t *testing.T) {
	db := pgtest.DB(t, pgtest.URL(t))
	if err := aistat.Migrate(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	stored := "/avatars/" + strings.Repeat("ab", 32) + ".jpg"
	if _, err := db.Exec(`INSERT INTO users (email, name, avatar_url, password_hash) VALUES
		('a@example.com', 'A', 'http://example.com/a.png?x=1', ''),
		('b@example.com', 'B', 'HTTP://EXAMPLE.COM/b.png', ''),
		('c@example.com', 'C', 'https://example.com/c.png', ''),
		('d@example.com', 'D', $1, ''),
		('e@example.com', 'E', '', '')`, stored); err != nil {
		t.Fatal(err)
	}
	if err := aistat.Migrate(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	for email, want := range map[string]string{
		"a@example.com": "https://example.com/a.png?x=1",
		"b@example.com": "https://EXAMPLE.COM/b.png",
		"c@example.com": "https://example.com/c.png",
		"d@example.com": stored,
		"e@example.com": "",
	} {
		var got string
		if err := db.QueryRow(`SELECT avatar_url FROM users WHERE email = $1`, email).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: avatar_url %q, want %q", email, got, want)
		}
	}
}
