package sessions_test

import (
	"context"
	"testing"
	"time"

	"aistat/sessions"
)

func TestStore_CountActive(t *testing.T) {
	s := mustOpenSite(t, sessions.Config{Lifetime: time.Hour, MaxAge: 2 * time.Hour, Refresh: time.Hour})
	// Three of eight sessions are unexpired.
	if _, err := s.db.Exec(`INSERT INTO sessions (token, data, expiry, user_id)
		SELECT 'session' || i, '\x00', now() + CASE WHEN i <= 3 THEN interval '1 hour' ELSE interval '-1 minute' END, $1
		FROM generate_series(1, 8) i`, s.user.ID); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if got, err := s.manager.Store().CountActive(ctx); err != nil || got != 3 {
		t.Fatalf("CountActive = %d, %v; want 3, nil", got, err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.manager.Store().CountActive(cancelled); err == nil {
		t.Fatal("a cancelled count reported success")
	}
}
