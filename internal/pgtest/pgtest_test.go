package pgtest_test

import (
	"database/sql"
	"fmt"
	"testing"

	"aistat/internal/pgtest"

	_ "github.com/lib/pq"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestURLGivesSeparateDatabases(t *testing.T) {
	// Registered before URL so it runs after the drops, which must therefore
	// end connections that are still open.
	var dbs []*sql.DB
	t.Cleanup(func() {
		for _, db := range dbs {
			db.Close()
		}
	})
	first, second := pgtest.URL(t), pgtest.URL(t)
	if first == second {
		t.Fatalf("both tests got %q", first)
	}
	a, b := open(t, first), open(t, second)
	dbs = append(dbs, a, b)
	if _, err := a.ExecContext(t.Context(), "CREATE TABLE only_in_first (id int)"); err != nil {
		t.Fatal(err)
	}
	var names [2]string
	for i, db := range []*sql.DB{a, b} {
		if err := db.QueryRowContext(t.Context(), "SELECT current_database()").Scan(&names[i]); err != nil {
			t.Fatal(err)
		}
	}
	if names[0] == names[1] {
		t.Errorf("both connect to %s", names[0])
	}
	var tables int
	if err := b.QueryRowContext(t.Context(), "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_first'").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Error("table created in the first database shows up in the second")
	}
}

func TestURLInParallelTests(t *testing.T) {
	for i := range 4 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			db := open(t, pgtest.URL(t))
			t.Cleanup(func() { db.Close() })
			if _, err := db.ExecContext(t.Context(), "CREATE TABLE t (id int)"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}
