package sessions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"aistat"
	"aistat/internal/pgtest"
	"aistat/internal/poll"
)

// finderDB is a migrated database with n users, each with one session
// whose token is "token-<user id>".
func finderDB(t *testing.T, n int) (*sql.DB, []*aistat.User) {
	t.Helper()
	db := pgtest.DB(t, pgtest.URL(t))
	if err := aistat.Migrate(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	users := make([]*aistat.User, n)
	for i := range users {
		u := &aistat.User{Email: fmt.Sprintf("u%d@example.com", i), Name: fmt.Sprintf("User %d", i), Role: aistat.RoleViewer}
		if err := db.QueryRow(`INSERT INTO users (email, name, role, password_hash) VALUES ($1, $2, $3, 'x') RETURNING id`,
			u.Email, u.Name, u.Role).Scan(&u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO sessions (token, data, expiry, user_id) VALUES ($1, '\x00', now() + interval '1 hour', $2)`,
			token(u), u.ID); err != nil {
			t.Fatal(err)
		}
		users[i] = u
	}
	return db, users
}

func token(u *aistat.User) string { return fmt.Sprintf("token-%d", u.ID) }

// wantUser checks a lookup's result: u's session, or none when u is nil.
func wantUser(t *testing.T, row *storedSession, err error, u *aistat.User) {
	t.Helper()
	switch {
	case err != nil:
		t.Errorf("lookup for %v: %v", u, err)
	case u == nil && row != nil:
		t.Errorf("unknown token found user %d", row.user.ID)
	case u != nil && (row == nil || row.user.ID != u.ID || row.user.Name != u.Name || row.token != token(u)):
		t.Errorf("lookup for user %d: %+v", u.ID, row)
	}
}

// TestFinder_ConcurrentLookups: many requests at once, for many sessions
// and for none, each get their own answer, in fewer queries than lookups.
func TestFinder_ConcurrentLookups(t *testing.T) {
	db, users := finderDB(t, 50)
	f := newFinder(db)
	var wg sync.WaitGroup
	for i := range 600 {
		wg.Go(func() {
			var u *aistat.User
			tok := fmt.Sprintf("unknown-%d", i)
			if i%6 != 0 {
				u = users[i%len(users)]
				tok = token(u)
			}
			row, _, _, err := f.find(t.Context(), tok)
			wantUser(t, row, err, u)
		})
	}
	wg.Wait()
	if l, q := f.lookups.Load(), f.queries.Load(); l != 600 || q >= l {
		t.Errorf("%d lookups in %d queries, want 600 in fewer", l, q)
	}
}

// lockSessions holds an exclusive lock on the sessions table until the
// returned function is called, so lookups wait in PostgreSQL.
func lockSessions(t *testing.T, db *sql.DB) (unlock func()) {
	t.Helper()
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	unlock = func() { once.Do(func() { _ = tx.Rollback() }) }
	t.Cleanup(unlock)
	return unlock
}

// waitQueued waits until n lookups wait for the next query.
func waitQueued(t *testing.T, f *finder, n int) {
	t.Helper()
	poll.Until(t, fmt.Sprintf("%d lookups to queue", n), 5*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.queue) == n
	})
}

// waitQuerying waits until the finder has sent its first query.
func waitQuerying(t *testing.T, f *finder) {
	t.Helper()
	poll.Until(t, "the first query", 5*time.Second, func() bool { return f.queries.Load() == 1 })
}

// TestFinder_WaitersShareTheNextQuery: while a query runs, later lookups
// wait and then share one query; one that stops waiting returns at once
// with its context's cause and leaves the others theirs.
func TestFinder_WaitersShareTheNextQuery(t *testing.T) {
	db, users := finderDB(t, 21)
	f := newFinder(db)
	unlock := lockSessions(t, db)

	var wg sync.WaitGroup
	wg.Go(func() {
		row, _, _, err := f.find(t.Context(), token(users[0]))
		wantUser(t, row, err, users[0])
	})
	waitQuerying(t, f)
	// users[1] twice: two tabs of one browser in one batch.
	var mu sync.Mutex
	var twice []*storedSession
	for _, u := range append([]*aistat.User{users[1]}, users[1:20]...) {
		wg.Go(func() {
			row, _, _, err := f.find(t.Context(), token(u))
			wantUser(t, row, err, u)
			if u == users[1] {
				mu.Lock()
				twice = append(twice, row)
				mu.Unlock()
			}
		})
	}
	gone := errors.New("client went away")
	ctx, cancel := context.WithCancelCause(t.Context())
	left := make(chan error, 1)
	go func() {
		_, _, _, err := f.find(ctx, token(users[20]))
		left <- err
	}()
	waitQueued(t, f, 21)
	cancel(gone)
	select {
	case err := <-left:
		if !errors.Is(err, gone) {
			t.Errorf("abandoned lookup: %v, want its context's cause", err)
		}
	case <-time.After(time.Second):
		t.Fatal("an abandoned lookup kept waiting")
	}

	unlock()
	wg.Wait()
	if l, q := f.lookups.Load(), f.queries.Load(); l != 22 || q != 2 {
		t.Errorf("%d lookups in %d queries, want 22 in 2", l, q)
	}
	if len(twice) != 2 || twice[0] == twice[1] || twice[0].user == twice[1].user {
		t.Error("two requests of one session share their session's row")
	}
}

// TestFinder_LeaderGivesUp: a request whose own query outlives its
// deadline gets an error; the lookups queued behind it are still served.
func TestFinder_LeaderGivesUp(t *testing.T) {
	db, users := finderDB(t, 6)
	f := newFinder(db)
	unlock := lockSessions(t, db)

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	leader := make(chan error, 1)
	go func() {
		_, _, _, err := f.find(ctx, token(users[0]))
		leader <- err
	}()
	waitQuerying(t, f)
	var wg sync.WaitGroup
	for _, u := range users[1:] {
		wg.Go(func() {
			row, _, _, err := f.find(t.Context(), token(u))
			wantUser(t, row, err, u)
		})
	}
	waitQueued(t, f, 5)
	select {
	case err := <-leader:
		if err == nil {
			t.Error("the leader's lookup succeeded past its deadline")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the leader's lookup did not give up at its deadline")
	}
	unlock()
	wg.Wait()
}

// TestFinder_EndReasons: in one query, live tokens get their sessions and
// dead ones why they ended, when that is known.
func TestFinder_EndReasons(t *testing.T) {
	db, users := finderDB(t, 4)
	for _, q := range []string{
		// users[0] stays live. users[1] was revoked by an admin.
		`BEGIN; SELECT set_config('aistat.end_reason', 'revoked', true);
		 DELETE FROM sessions WHERE user_id = ` + itoa(users[1].ID) + `; COMMIT`,
		`UPDATE sessions SET expiry = now() - interval '1 second' WHERE user_id = ` + itoa(users[2].ID),
		`UPDATE users SET disabled = true WHERE id = ` + itoa(users[3].ID),
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	f := newFinder(db)
	results, err := f.query(t.Context(), []string{token(users[0]), token(users[1]), token(users[2]), token(users[3]), "unknown", token(users[0])})
	if err != nil {
		t.Fatal(err)
	}
	if r := results[token(users[0])]; r.row == nil || r.row.user.ID != users[0].ID || r.reason != "" {
		t.Errorf("live token: %+v", r)
	}
	for u, want := range map[*aistat.User]string{users[1]: "revoked", users[2]: "expired", users[3]: "disabled"} {
		if r := results[token(u)]; r.row != nil || r.reason != want {
			t.Errorf("token of user %d: row %v, reason %q, want none and %q", u.ID, r.row, r.reason, want)
		}
	}
	if r, ok := results["unknown"]; ok {
		t.Errorf("unknown token: %+v, want nothing", r)
	}
}

func itoa(id int64) string { return fmt.Sprint(id) }
