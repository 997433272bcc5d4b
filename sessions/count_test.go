package sessions_test

import (
	"context"
	"testing"
	"time"

	"aistat/sessions"
)

func TestStore_CountActive(t *testing.T) {
	s := mustOpenSite(t, sessions.Config{Lifetime: time.Hour, MaxAge: 2 * time.Hour, Refresh: time.Hour})
	for _, q := range []string{
		`INSERT INTO sessions (token, data, expiry, user_id)
		 SELECT 'expired' || i, '\x00', now() - interval '1 minute', $1 FROM generate_series(1, 5) i`,
		`INSERT INTO sessions (token, data, expiry, user_id)
		 SELECT 'live' || i, '\x00', now() + interval '1 hour', $1 FROM generate_series(1, 3) i`,
	} {
		if _, err := s.db.Exec(q, s.user.ID); err != nil {
			t.Fatal(err)
		}
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
