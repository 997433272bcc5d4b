package pglocal

import (
	"context"
	"sync"
	"testing"
	"time"

	"aistat/internal/poll"
)

func TestWatchRestartsKilledServer(t *testing.T) {
	c := startCluster(t, tempDir(t))
	db := open(t, c, "postgres")
	if _, err := db.ExecContext(t.Context(), `CREATE TABLE survivor (v text); INSERT INTO survivor VALUES ('kept')`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { c.Watch(ctx, 100*time.Millisecond) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})

	before := c.pid
	killPostmaster(t, c)
	// Orphaned backends get up to orphanWait to exit before the restart, and
	// serve the old connections until they notice their postmaster died.
	deadline := time.Now().Add(orphanWait + 20*time.Second)
	poll.Until(t, "the killed server to be started again", time.Until(deadline), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.pid != 0 && c.pid != before
	})
	var err error
	if !poll.Within(time.Until(deadline), func() bool {
		var v string
		pingCtx, cancelPing := context.WithTimeout(t.Context(), time.Second)
		err = db.QueryRowContext(pingCtx, `SELECT v FROM survivor`).Scan(&v)
		cancelPing()
		if err == nil && v != "kept" {
			t.Fatalf("survivor = %q, want kept", v)
		}
		return err == nil
	}) {
		t.Fatalf("the restarted server does not answer: %v", err)
	}
}
