package sessions_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"
	"time"

	"aistat"
	"aistat/internal/pgtest"
	"aistat/sessions"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// site is a Manager on a fresh database behind a minimal set of handlers,
// with triggers that count every write to the sessions table.
type site struct {
	db      *sql.DB
	manager *sessions.Manager
	server  *httptest.Server
	user    *aistat.User
	// beforeCommit runs inside /flash between the store's find and its
	// commit.
	beforeCommit func(ctx context.Context)
}

func mustOpenSite(tb testing.TB, cfg sessions.Config) *site {
	tb.Helper()
	db := pgtest.DB(tb, pgtest.URL(tb))
	ctx := context.Background()
	if err := aistat.Migrate(ctx, db); err != nil {
		tb.Fatal(err)
	}
	_, err := db.Exec(`
		CREATE TABLE session_writes (op text NOT NULL);
		CREATE FUNCTION count_session_write() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			-- site.age's writes stand for time passing, not for the app's.
			IF current_setting('test.aging', true) IS DISTINCT FROM 'on' THEN
				INSERT INTO session_writes VALUES (TG_OP);
			END IF;
			RETURN NULL;
		END $$;
		CREATE TRIGGER session_writes AFTER INSERT OR UPDATE ON sessions
		FOR EACH ROW EXECUTE FUNCTION count_session_write();`)
	if err != nil {
		tb.Fatal(err)
	}
	users := aistat.NewUsers(db)
	users.SetHashParams(aistat.MinHashParams)
	u, err := users.Create(ctx, aistat.NewUser{Email: "s@example.com", Name: "Session User", Role: aistat.RoleViewer, Password: "long enough password"})
	if err != nil {
		tb.Fatal(err)
	}
	s := &site{db: db, manager: sessions.New(db, cfg), user: u}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if err := s.manager.Login(r.Context(), u, r.URL.Query().Get("remember") == "yes"); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		if u := sessions.User(r.Context()); u != nil {
			fmt.Fprint(w, u.Name)
		}
	})
	mux.HandleFunc("POST /flash", func(w http.ResponseWriter, r *http.Request) {
		if s.beforeCommit != nil {
			s.beforeCommit(r.Context())
		}
		s.manager.PutFlash(r.Context(), "hello")
	})
	s.server = httptest.NewServer(s.manager.Handler(mux))
	tb.Cleanup(s.server.Close)
	return s
}

func (s *site) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// do sends a request and returns the body and whether the session cookie
// was sent back.
func (s *site) do(tb testing.TB, c *http.Client, method, path string) (string, bool) {
	tb.Helper()
	req, _ := http.NewRequest(method, s.server.URL+path, nil)
	res, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		tb.Fatalf("%s %s: status %d: %s", method, path, res.StatusCode, b)
	}
	return string(b), res.Header.Get("Set-Cookie") != ""
}

// writes is how many INSERTs and UPDATEs the sessions table has seen.
func (s *site) writes(tb testing.TB) (inserts, updates int) {
	tb.Helper()
	err := s.db.QueryRow(`SELECT count(*) FILTER (WHERE op = 'INSERT'), count(*) FILTER (WHERE op = 'UPDATE') FROM session_writes`).Scan(&inserts, &updates)
	if err != nil {
		tb.Fatal(err)
	}
	return inserts, updates
}

type row struct {
	expiry, created, lastActive time.Time
}

func (s *site) row(tb testing.TB) (row, bool) {
	tb.Helper()
	var r row
	err := s.db.QueryRow(`SELECT expiry, created_at, last_active FROM sessions WHERE user_id = $1`, s.user.ID).Scan(&r.expiry, &r.created, &r.lastActive)
	if err == sql.ErrNoRows {
		return r, false
	} else if err != nil {
		tb.Fatal(err)
	}
	return r, true
}

// age moves every time the user's session holds back by d, which is what
// waiting d does to it on both the app's clock and PostgreSQL's: the row's
// expiry, creation and last activity, and the deadline, creation time and
// re-authentication time in its data (codec.go's layout). Tests of lifetimes then take no time, and
// the limits they test can be minutes long, far above the creation time's
// one-second grain. d is whole seconds. writes does not count it.
func (s *site) age(tb testing.TB, d time.Duration) {
	tb.Helper()
	if d%time.Second != 0 {
		tb.Fatalf("age by %v: want whole seconds, as the data keeps the creation time", d)
	}
	tx, err := s.db.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	var data []byte
	if err := tx.QueryRow(`SELECT data FROM sessions WHERE user_id = $1 FOR UPDATE`, s.user.ID).Scan(&data); err != nil {
		tb.Fatal(err)
	}
	const marker, header = 0xA3, 1 + 4*8
	if len(data) < header || data[0] != marker {
		tb.Fatalf("session data %x is not in the codec's layout", data)
	}
	shift := func(at int, by int64) {
		binary.BigEndian.PutUint64(data[at:], uint64(int64(binary.BigEndian.Uint64(data[at:]))-by))
	}
	shift(1, d.Nanoseconds())
	shift(17, int64(d/time.Second))
	if binary.BigEndian.Uint64(data[25:]) != 0 {
		shift(25, int64(d/time.Second))
	}
	if _, err := tx.Exec(`SELECT set_config('test.aging', 'on', true)`); err != nil {
		tb.Fatal(err)
	}
	if _, err := tx.Exec(`
		UPDATE sessions SET data = $2,
			expiry = expiry - make_interval(secs => $3),
			created_at = created_at - make_interval(secs => $3),
			last_active = last_active - make_interval(secs => $3)
		WHERE user_id = $1`, s.user.ID, data, d.Seconds()); err != nil {
		tb.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

func TestStore_RevokedSessionStaysRevoked(t *testing.T) {
	s := mustOpenSite(t, sessions.Config{Lifetime: time.Hour, MaxAge: 2 * time.Hour, Refresh: time.Hour})
	c := s.client()
	s.do(t, c, "POST", "/login")
	if got, _ := s.do(t, c, "GET", "/"); got != "Session User" {
		t.Fatalf("signed in as %q", got)
	}
	// A revoke lands between this request's find and its commit of a
	// modified session.
	s.beforeCommit = func(ctx context.Context) {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, s.user.ID); err != nil {
			t.Error(err)
		}
	}
	s.do(t, c, "POST", "/flash")
	if _, ok := s.row(t); ok {
		t.Fatal("the revoked session was written back")
	}
	if got, _ := s.do(t, c, "GET", "/"); got != "" {
		t.Fatalf("revoked session still signed in as %q", got)
	}
}

func TestManager_RefreshWritesOncePerInterval(t *testing.T) {
	s := mustOpenSite(t, sessions.Config{Lifetime: time.Hour, MaxAge: 2 * time.Hour, Refresh: 2 * time.Minute})
	c := s.client()
	s.do(t, c, "POST", "/login")
	if ins, upd := s.writes(t); ins != 1 || upd != 0 {
		t.Fatalf("after sign-in: %d inserts, %d updates, want 1, 0", ins, upd)
	}
	if _, cookie := s.do(t, c, "GET", "/"); cookie {
		t.Fatal("a read within the refresh interval re-sent the cookie")
	}
	if _, upd := s.writes(t); upd != 0 {
		t.Fatalf("a read within the refresh interval wrote %d updates", upd)
	}

	s.age(t, 2*time.Minute+6*time.Second)
	first, _ := s.row(t)
	if _, cookie := s.do(t, c, "GET", "/"); !cookie {
		t.Fatal("the refreshing request did not re-send the cookie with the new expiry")
	}
	if _, upd := s.writes(t); upd != 1 {
		t.Fatalf("the request after the interval wrote %d updates, want 1", upd)
	}
	second, _ := s.row(t)
	if !second.expiry.After(first.expiry) || !second.lastActive.After(first.lastActive) {
		t.Fatalf("expiry %v -> %v, last active %v -> %v: want both later", first.expiry, second.expiry, first.lastActive, second.lastActive)
	}

	if _, cookie := s.do(t, c, "GET", "/"); cookie {
		t.Fatal("the next read re-sent the cookie")
	}
	if _, upd := s.writes(t); upd != 1 {
		t.Fatalf("the next read wrote: %d updates in all, want 1", upd)
	}
}

func TestManager_MaxAge(t *testing.T) {
	const maxAge = 30 * time.Minute
	s := mustOpenSite(t, sessions.Config{Lifetime: 10 * time.Hour, MaxAge: maxAge, Refresh: 10 * time.Minute})
	c := s.client()
	s.do(t, c, "POST", "/login")
	const step = 6 * time.Minute
	for i := range 4 { // 0, 6, 12 and 18 minutes after sign-in
		if i > 0 {
			s.age(t, step)
		}
		// Each request past the refresh interval slides the expiry, but
		// never past creation + max age.
		if got, _ := s.do(t, c, "GET", "/"); got != "Session User" {
			t.Fatalf("signed out %v after sign-in, before the max age", time.Duration(i)*step)
		}
		r, _ := s.row(t)
		if limit := r.created.Add(maxAge); r.expiry.After(limit) {
			t.Fatalf("expiry %v passes creation %v + max age", r.expiry, r.created)
		}
	}
	// 32 minutes after sign-in: far from the idle timeout, past the max age.
	s.age(t, 14*time.Minute)
	if got, _ := s.do(t, c, "GET", "/"); got != "" {
		t.Fatalf("still signed in as %q after the max age", got)
	}
}

func TestManager_IdleTimeout(t *testing.T) {
	s := mustOpenSite(t, sessions.Config{Lifetime: 20 * time.Minute, MaxAge: 10 * time.Hour, Refresh: 10 * time.Minute})
	c := s.client()
	s.do(t, c, "POST", "/login")
	s.age(t, 12*time.Minute)
	if got, _ := s.do(t, c, "GET", "/"); got != "Session User" {
		t.Fatalf("signed out within the idle timeout: %q", got)
	}
	// 27 minutes after sign-in, 15 after the last request.
	s.age(t, 15*time.Minute)
	if got, _ := s.do(t, c, "GET", "/"); got != "Session User" {
		t.Fatal("an active session expired: the expiry did not slide")
	}
	s.age(t, 25*time.Minute)
	if got, _ := s.do(t, c, "GET", "/"); got != "" {
		t.Fatalf("still signed in as %q after the idle timeout", got)
	}
}

// TestManager_KeepSignedIn: a session kept signed in has a cookie that
// outlives the browser and the long idle timeout; any other a cookie that
// ends with the browser's session and the short idle timeout.
func TestManager_KeepSignedIn(t *testing.T) {
	cfg := sessions.Config{Lifetime: 10 * time.Hour, MaxAge: 20 * time.Hour, Refresh: 5 * time.Minute, ShortLifetime: 30 * time.Minute}
	signIn := func(t *testing.T, s *site, path string) (*http.Client, *http.Cookie) {
		t.Helper()
		c := s.client()
		req, _ := http.NewRequest("POST", s.server.URL+path, nil)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		cookies := res.Cookies()
		if len(cookies) != 1 {
			t.Fatalf("sign-in set %d cookies, want 1", len(cookies))
		}
		return c, cookies[0]
	}

	t.Run("Unchecked", func(t *testing.T) {
		s := mustOpenSite(t, cfg)
		c, cookie := signIn(t, s, "/login")
		if !cookie.Expires.IsZero() || cookie.MaxAge != 0 {
			t.Errorf("cookie Expires %v, Max-Age %d: want a session cookie, with neither", cookie.Expires, cookie.MaxAge)
		}
		r, _ := s.row(t)
		if got := r.expiry.Sub(r.created); got > cfg.ShortLifetime+time.Minute {
			t.Errorf("stored expiry %v after sign-in, want the short lifetime %v", got, cfg.ShortLifetime)
		}
		s.age(t, 20*time.Minute)
		// Within the short idle timeout; the refresh re-sends a session
		// cookie again.
		req, _ := http.NewRequest("GET", s.server.URL+"/", nil)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(body) != "Session User" {
			t.Fatalf("signed out within the short idle timeout: %q", body)
		}
		if cookies := res.Cookies(); len(cookies) != 1 || !cookies[0].Expires.IsZero() || cookies[0].MaxAge != 0 {
			t.Errorf("refreshed cookie %v: want one session cookie", cookies)
		}
		s.age(t, 35*time.Minute)
		if got, _ := s.do(t, c, "GET", "/"); got != "" {
			t.Fatalf("still signed in as %q after the short idle timeout", got)
		}
	})

	t.Run("Checked", func(t *testing.T) {
		s := mustOpenSite(t, cfg)
		c, cookie := signIn(t, s, "/login?remember=yes")
		if cookie.MaxAge <= 0 || cookie.Expires.IsZero() {
			t.Errorf("cookie Expires %v, Max-Age %d: want a persistent cookie", cookie.Expires, cookie.MaxAge)
		}
		s.age(t, 2*time.Hour)
		if got, _ := s.do(t, c, "GET", "/"); got != "Session User" {
			t.Fatalf("a session kept signed in ended after 2h idle: %q", got)
		}
		// Its refresh keeps the cookie persistent.
		s.age(t, time.Hour)
		req, _ := http.NewRequest("GET", s.server.URL+"/", nil)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if cookies := res.Cookies(); len(cookies) != 1 || cookies[0].MaxAge <= 0 {
			t.Errorf("refreshed cookie %v: want one persistent cookie", cookies)
		}
	})
}

func TestManager_AnonymousFlashStoresNothing(t *testing.T) {
	s := mustOpenSite(t, sessions.Config{Lifetime: time.Hour, MaxAge: 2 * time.Hour, Refresh: time.Hour})
	if _, cookie := s.do(t, s.client(), "POST", "/flash"); cookie {
		t.Fatal("an anonymous request got a session cookie")
	}
	if ins, upd := s.writes(t); ins+upd != 0 {
		t.Fatalf("an anonymous request wrote %d sessions", ins+upd)
	}
}

func TestStore_DeleteExpired(t *testing.T) {
	s := mustOpenSite(t, sessions.Config{Lifetime: time.Hour, MaxAge: 2 * time.Hour, Refresh: time.Hour})
	for _, q := range []string{
		`INSERT INTO sessions (token, data, expiry, user_id)
		 SELECT 'expired' || i, '\x00', now() - interval '1 minute', $1 FROM generate_series(1, 12345) i`,
		`INSERT INTO sessions (token, data, expiry, user_id)
		 SELECT 'live' || i, '\x00', now() + interval '1 hour', $1 FROM generate_series(1, 10) i`,
	} {
		if _, err := s.db.Exec(q, s.user.ID); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.manager.Store().DeleteExpired(context.Background(), 5000)
	if err != nil {
		t.Fatal(err)
	}
	if n != 12345 {
		t.Fatalf("deleted %d, want 12345", n)
	}
	var left int
	if err := s.db.QueryRow(`SELECT count(*) FROM sessions`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 10 {
		t.Fatalf("%d sessions left, want the 10 live ones", left)
	}

	// Why a session ended is kept a day.
	if _, err := s.db.Exec(`INSERT INTO ended_sessions (token, reason, ended_at)
		SELECT 'old' || i, 'revoked', now() - interval '25 hours' FROM generate_series(1, 7000) i
		UNION ALL SELECT 'recent', 'revoked', now() - interval '23 hours'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.manager.Store().DeleteExpired(context.Background(), 5000); err != nil {
		t.Fatal(err)
	}
	var reasons []string
	rows, err := s.db.Query(`SELECT token FROM ended_sessions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var tok string
		if err := rows.Scan(&tok); err != nil {
			t.Fatal(err)
		}
		reasons = append(reasons, tok)
	}
	if len(reasons) != 1 || reasons[0] != "recent" {
		t.Fatalf("ended sessions left: %v, want only the recent one", reasons)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.manager.Store().DeleteExpired(ctx, 5000); err == nil {
		t.Fatal("a cancelled cleanup reported success")
	}
}

// setRole gives the site's user a role, as an admin would.
func (s *site) setRole(tb testing.TB, role aistat.Role) {
	tb.Helper()
	if _, err := s.db.Exec(`UPDATE users SET role = $2 WHERE id = $1`, s.user.ID, role); err != nil {
		tb.Fatal(err)
	}
	// The user /login signs in, as a sign-in would read it.
	s.user.Role = role
}

func TestManager_AdminLimits(t *testing.T) {
	const adminLifetime, adminMaxAge = 15 * time.Minute, 30 * time.Minute
	cfg := sessions.Config{Lifetime: 10 * time.Hour, MaxAge: 20 * time.Hour, Refresh: 4 * time.Minute,
		AdminLifetime: adminLifetime, AdminMaxAge: adminMaxAge}

	t.Run("PromotionShortensAtOnce", func(t *testing.T) {
		s := mustOpenSite(t, cfg)
		c := s.client()
		s.do(t, c, "POST", "/login")
		s.setRole(t, aistat.RoleAdmin)
		// No request writes meanwhile: the stored expiry is still hours
		// away, the admin idle timeout is not.
		s.age(t, adminLifetime+2*time.Minute)
		if got, _ := s.do(t, c, "GET", "/"); got != "" {
			t.Fatalf("promoted session idle past the admin lifetime still signed in as %q", got)
		}
		if r, _ := s.row(t); time.Until(r.expiry) < 9*time.Hour {
			t.Fatalf("the read that found the session over wrote its expiry %v", r.expiry)
		}
	})

	t.Run("PromotedCappedAtAdminMaxAge", func(t *testing.T) {
		s := mustOpenSite(t, cfg)
		c := s.client()
		s.do(t, c, "POST", "/login")
		s.setRole(t, aistat.RoleAdmin)
		// Requests every 5 minutes: each refreshes, none is idle for long.
		const step = 5 * time.Minute
		for age := time.Duration(0); age < adminMaxAge; age += step {
			if age > 0 {
				s.age(t, step)
			}
			if got, _ := s.do(t, c, "GET", "/"); got != "Session User" {
				t.Fatalf("signed out %v after sign-in, within the admin limits", age)
			}
			// Once a refresh wrote it, the stored expiry is capped too.
			if r, _ := s.row(t); age > 0 && r.expiry.After(r.created.Add(adminMaxAge)) {
				t.Fatalf("expiry %v passes creation %v + admin max age", r.expiry, r.created)
			}
		}
		// 31 minutes after sign-in, 6 after the last request.
		s.age(t, step+time.Minute)
		if got, _ := s.do(t, c, "GET", "/"); got != "" {
			t.Fatalf("still signed in as %q past the admin max age", got)
		}
	})

	t.Run("DemotionWaitsForRefresh", func(t *testing.T) {
		s := mustOpenSite(t, cfg)
		s.setRole(t, aistat.RoleAdmin)
		c := s.client()
		s.do(t, c, "POST", "/login")
		first, _ := s.row(t)
		if d := time.Until(first.expiry); d > adminLifetime+time.Minute {
			t.Fatalf("admin session expires in %v, want the admin lifetime", d)
		}
		s.setRole(t, aistat.RoleViewer)
		s.do(t, c, "GET", "/")
		if r, _ := s.row(t); !r.expiry.Equal(first.expiry) {
			t.Fatalf("a read within the refresh interval moved the expiry %v -> %v", first.expiry, r.expiry)
		}
		s.age(t, 5*time.Minute)
		if got, _ := s.do(t, c, "GET", "/"); got != "Session User" {
			t.Fatalf("demoted session signed out: %q", got)
		}
		if r, _ := s.row(t); time.Until(r.expiry) < 9*time.Hour {
			t.Fatalf("after the refresh the demoted session expires %v, want the viewer lifetime", r.expiry)
		}
	})
}
