package handlers_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"aistat"
	"aistat/sessions"
)

// sessionCookieOf is the session cookie a response set, nil when none.
func sessionCookieOf(e *env, res *response) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == e.manager.CookieName() {
			return c
		}
	}
	return nil
}

// idle makes the session of cookie last active d earlier than it was, as
// if it had not been used for d; its stored expiry stays.
func idle(tb testing.TB, e *env, cookie *http.Cookie, d time.Duration) {
	tb.Helper()
	res, err := e.db.Exec(`UPDATE sessions SET last_active = last_active - make_interval(secs => $2) WHERE token = $1`,
		hashToken(cookie.Value), d.Seconds())
	if err != nil {
		tb.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		tb.Fatalf("idle: %d sessions of the cookie, want 1", n)
	}
}

// TestServer_KeepMeSignedIn: unticked, the sign-in's cookie ends with the
// browser and the session with the short idle timeout; ticked, a
// persistent cookie and today's lifetimes. A value that is neither is 422
// naming remember, and signs no one in.
func TestServer_KeepMeSignedIn(t *testing.T) {
	e := mustOpenEnvConfig(t, envConfig{sessions: sessions.Config{
		Lifetime: time.Hour, MaxAge: 2 * time.Hour, Refresh: time.Minute, ShortLifetime: 30 * time.Minute,
	}})
	u := mustCreateUser(t, e, "remember@example.com", "Remember Me", aistat.RoleViewer)
	form := func(remember ...string) url.Values {
		f := url.Values{"email": {u.Email}, "password": {testPassword}}
		if len(remember) > 0 {
			f["remember"] = remember
		}
		return f
	}

	t.Run("Unticked", func(t *testing.T) {
		c := newClient(t, e)
		res := c.postForm("/login", form())
		wantStatus(t, res, http.StatusSeeOther)
		cookie := sessionCookieOf(e, res)
		if cookie == nil || !cookie.Expires.IsZero() || cookie.MaxAge != 0 {
			t.Fatalf("cookie %v: want a session cookie, without Expires or Max-Age", cookie)
		}
		wantBody(t, c.get("/"), "Remember Me")
		// Left alone past the short idle timeout, though not its stored
		// expiry, the session ends.
		idle(t, e, cookie, 31*time.Minute)
		wantNoBody(t, c.get("/"), "Remember Me")
	})

	for _, value := range []string{"yes", "on"} {
		t.Run("Ticked/"+value, func(t *testing.T) {
			c := newClient(t, e)
			res := c.postForm("/login", form(value))
			wantStatus(t, res, http.StatusSeeOther)
			cookie := sessionCookieOf(e, res)
			if cookie == nil || cookie.Expires.IsZero() || cookie.MaxAge <= 0 {
				t.Fatalf("cookie %v: want a persistent cookie", cookie)
			}
			var expiry time.Time
			if err := e.db.QueryRow(`SELECT expiry FROM sessions WHERE token = $1`, hashToken(cookie.Value)).Scan(&expiry); err != nil {
				t.Fatal(err)
			}
			if left := time.Until(expiry); left < 50*time.Minute {
				t.Fatalf("session expires in %v, want the long idle timeout", left)
			}
			idle(t, e, cookie, 31*time.Minute)
			wantBody(t, c.get("/"), "Remember Me")
		})
	}

	t.Run("BadValues", func(t *testing.T) {
		for _, remember := range [][]string{{""}, {"no"}, {"true"}, {"yes", "yes"}, {"YES"}} {
			before := sessionCount(t, e, u.ID)
			c := newClient(t, e)
			res := c.postForm("/login", form(remember...))
			wantStatus(t, res, http.StatusUnprocessableEntity)
			wantBody(t, res, `id="remember-error">`+"\u201cKeep me signed in\u201d can only be ticked or not.", `href="#remember"`)
			if c.cookie() != "" || sessionCount(t, e, u.ID) != before {
				t.Fatalf("remember=%q signed in", remember)
			}
		}
	})
}
