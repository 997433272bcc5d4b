package site

import (
	"testing"

	"aistat"
	"aistat/internal/pgtest"
)

// TestSite_Cleanup: one pass of the cleanup deletes what has expired of
// the sessions, the old security records and the pictures no user has
// shown for a while, and nothing else.
func TestSite_Cleanup(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, Config{DSN: pgtest.URL(t), HashParams: aistat.MinHashParams, NoCleanup: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := s.Users.Create(ctx, aistat.NewUser{Email: "c@example.com", Name: "C", Role: aistat.RoleViewer, Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO sessions (token, data, expiry, user_id) VALUES
			('expired', '\x00', now() - interval '1 hour', $1),
			('live', '\x00', now() + interval '1 hour', $1)`,
		`INSERT INTO security_events (user_id, kind, created_at) VALUES
			($1, 'old', now() - interval '91 days'),
			($1, 'recent', now())`,
		// Pictures: one nobody shows, one the user shows, one nobody shows
		// yet, all but the last older than the grace.
		`INSERT INTO avatars (hash, large, small, used_at)
			SELECT repeat(h, 64), '\x00', '\x00', now() - make_interval(hours => age)
			  FROM (VALUES ('a', 2), ('b', 2), ('c', 0)) AS v (h, age)
			 WHERE $1::bigint IS NOT NULL`,
		`UPDATE users SET avatar_url = '/avatars/' || repeat('b', 64) || '.jpg' WHERE id = $1`,
	} {
		if _, err := s.DB.ExecContext(ctx, q, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	s.cleanup(ctx)
	for _, tt := range []struct {
		query string
		want  int
	}{
		{`SELECT count(*) FROM sessions WHERE token = 'expired'`, 0},
		{`SELECT count(*) FROM sessions WHERE token = 'live'`, 1},
		{`SELECT count(*) FROM security_events WHERE kind = 'old'`, 0},
		{`SELECT count(*) FROM security_events WHERE kind = 'recent'`, 1},
		{`SELECT count(*) FROM avatars WHERE hash = repeat('a', 64)`, 0},
		{`SELECT count(*) FROM avatars WHERE hash = repeat('b', 64)`, 1},
		{`SELECT count(*) FROM avatars WHERE hash = repeat('c', 64)`, 1},
	} {
		var got int
		if err := s.DB.QueryRowContext(ctx, tt.query).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%s = %d, want %d", tt.query, got, tt.want)
		}
	}
}
