package aistat_test

import (
	"database/sql"
	"sync"
	"testing"

	"aistat"
	"aistat/internal/pgtest"
	"aistat/internal/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func mustOpenDB(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	db, err := postgres.Open(dsn, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// TestMigrate_Concurrent: instances that start at the same moment on one
// empty database apply the schema once, without errors, and all of them can
// use it.
func TestMigrate_Concurrent(t *testing.T) {
	dsn := pgtest.URL(t)
	const instances = 3
	dbs := make([]*sql.DB, instances)
	for i := range dbs {
		dbs[i] = mustOpenDB(t, dsn)
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
