package handlers_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"aistat"
)

// User agents of the browsers the tests sign in with.
const (
	chromeWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	firefoxLinux  = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	safariIPhone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)

// loginAs signs c in with a browser's user agent from a client address.
func loginAs(tb testing.TB, c *client, email, userAgent, addr string) {
	tb.Helper()
	form := url.Values{"email": {email}, "password": {testPassword}}.Encode()
	res := c.do(http.MethodPost, "/login", "application/x-www-form-urlencoded", form, "User-Agent", userAgent, "X-Forwarded-For", addr)
	wantStatus(tb, res, http.StatusSeeOther)
}

// sessionIDOf is the id of the session behind c's cookie, 0 when there is
// none.
func sessionIDOf(tb testing.TB, c *client) int64 {
	tb.Helper()
	var id int64
	err := c.e.db.QueryRow(`SELECT coalesce(max(id), 0) FROM sessions WHERE token = $1`, storedToken(c)).Scan(&id)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// eventKinds lists the user's security events, newest first.
func eventKinds(tb testing.TB, e *env, userID int64) []string {
	tb.Helper()
	events, err := e.users.SecurityEvents(tb.Context(), userID, 100)
	if err != nil {
		tb.Fatal(err)
	}
	kinds := make([]string, len(events))
	for i, ev := range events {
		kinds[i] = string(ev.Kind)
	}
	return kinds
}

func signedIn(tb testing.TB, c *client) bool {
	tb.Helper()
	return c.get("/api/session").StatusCode == http.StatusOK
}

func endSession(c *client, which string) *response {
	return c.postForm("/settings/sessions/end", url.Values{"session": {which}})
}

func TestServer_SessionsPage(t *testing.T) {
	e := mustOpenEnvConfig(t, envConfig{trustedProxies: localProxies})
	u := mustCreateUser(t, e, "owner@example.com", "Owner", aistat.RoleEditor)
	other := mustCreateUser(t, e, "other@example.com", "Other", aistat.RoleViewer)
	laptop, desktop, phone, stranger := newClient(t, e), newClient(t, e), newClient(t, e), newClient(t, e)
	loginAs(t, laptop, "owner@example.com", firefoxLinux, "198.51.100.1")
	loginAs(t, desktop, "owner@example.com", chromeWindows, "198.51.100.2")
	loginAs(t, phone, "owner@example.com", safariIPhone, "2001:db8::7")
	loginAs(t, stranger, "other@example.com", chromeWindows, "203.0.113.9")

	t.Run("Anonymous", func(t *testing.T) {
		res := newClient(t, e).get("/settings/sessions")
		wantStatus(t, res, http.StatusSeeOther)
		if got := res.Header.Get("Location"); got != "/login?next=%2Fsettings%2Fsessions" {
			t.Fatalf("Location = %q", got)
		}
		wantStatus(t, newClient(t, e).postForm("/settings/sessions/end", url.Values{"session": {"others"}}), http.StatusUnauthorized)
	})

	t.Run("Lists", func(t *testing.T) {
		res := laptop.get("/settings/sessions")
		wantStatus(t, res, http.StatusOK)
		wantBody(t, res, "Signed in on 3 devices",
			"Firefox 128 on Linux", "198.51.100.1",
			"Chrome 120 on Windows", "198.51.100.2",
			"Safari 17 on iOS", "2001:db8::7",
			`<time datetime="`, `value="`+itoa(sessionIDOf(t, desktop))+`"`,
			"Sign out all other sessions", `action="/settings/password"`)
		wantNoBody(t, res, "203.0.113.9", storedToken(laptop))
		if n := strings.Count(res.body, "This device"); n != 1 {
			t.Fatalf(`"This device" %d times, want once`, n)
		}
		// The current session's row is the one marked.
		row := res.body[strings.Index(res.body, `data-session-id="`+itoa(sessionIDOf(t, laptop))+`"`):]
		row = row[:strings.Index(row, "</tr>")]
		if !strings.Contains(row, "This device") || !strings.Contains(row, "Firefox 128 on Linux") {
			t.Fatalf("current row: %s", row)
		}
		wantBody(t, res, "Recent security activity", "Signed in")
		if got := res.Header.Get("Cache-Control"); got != "no-store" {
			t.Fatalf("Cache-Control = %q", got)
		}
		wantBody(t, laptop.get("/settings"), `href="/settings/sessions"`)
	})

	t.Run("RefusedIDs", func(t *testing.T) {
		for _, which := range []string{"abc", "", "0", "-1", "1.0", " 1", "1 ", "0x1", "999999", "99999999999999999999",
			itoa(sessionIDOf(t, stranger)), "others;1", "\x00", "1\r\nX-Evil: 1"} {
			before, strangerBefore := sessionCount(t, e, u.ID), sessionCount(t, e, other.ID)
			res := endSession(laptop, which)
			wantStatus(t, res, http.StatusNotFound)
			wantBody(t, res, "Session not found.")
			if got, gotStranger := sessionCount(t, e, u.ID), sessionCount(t, e, other.ID); got != before || gotStranger != strangerBefore {
				t.Fatalf("session=%q: sessions %d, %d -> %d, %d", which, before, strangerBefore, got, gotStranger)
			}
		}
		if !signedIn(t, stranger) {
			t.Fatal("someone else's session ended")
		}
	})

	t.Run("EndOne", func(t *testing.T) {
		res := endSession(laptop, itoa(sessionIDOf(t, desktop)))
		wantStatus(t, res, http.StatusSeeOther)
		if got := res.Header.Get("Location"); got != "/settings/sessions" {
			t.Fatalf("Location = %q", got)
		}
		if signedIn(t, desktop) {
			t.Fatal("the ended session still works")
		}
		page := laptop.get("/settings/sessions")
		wantBody(t, page, "Session ended.", "Signed in on 2 devices")
		wantNoBody(t, page, "Chrome 120 on Windows</span>")
		if kinds := eventKinds(t, e, u.ID); kinds[0] != string(aistat.EventSessionEnded) {
			t.Fatalf("events %v, want session_ended first", kinds)
		}
	})

	t.Run("EndOthers", func(t *testing.T) {
		loginAs(t, desktop, "owner@example.com", chromeWindows, "198.51.100.2")
		res := endSession(laptop, "others")
		wantStatus(t, res, http.StatusSeeOther)
		if signedIn(t, desktop) || signedIn(t, phone) {
			t.Fatal("another session still works")
		}
		if !signedIn(t, laptop) || !signedIn(t, stranger) {
			t.Fatal("the current session, or someone else's, ended")
		}
		wantBody(t, laptop.get("/settings/sessions"), "Signed out 2 other sessions.", "Signed in on 1 device")
		if kinds := eventKinds(t, e, u.ID); kinds[0] != string(aistat.EventOtherSessionsEnded) {
			t.Fatalf("events %v, want other_sessions_ended first", kinds)
		}
		wantStatus(t, endSession(laptop, "others"), http.StatusSeeOther)
		wantBody(t, laptop.get("/settings/sessions"), "Signed out 0 other sessions.")
	})

	t.Run("EndCurrentSignsOut", func(t *testing.T) {
		id := sessionIDOf(t, laptop)
		res := endSession(laptop, itoa(id))
		wantStatus(t, res, http.StatusSeeOther)
		if got := res.Header.Get("Location"); got != "/login" {
			t.Fatalf("Location = %q, want /login", got)
		}
		if laptop.cookie() != "" || signedIn(t, laptop) {
			t.Fatal("still signed in")
		}
		if n := sessionCount(t, e, u.ID); n != 0 {
			t.Fatalf("%d sessions left, want 0", n)
		}
	})
}

// storedToken is c's token as the sessions table stores it, which no page
// may show.
func storedToken(c *client) string { return hashToken(c.cookie()) }

func TestServer_PasswordChange(t *testing.T) {
	e := mustOpenEnvConfig(t, envConfig{trustedProxies: localProxies})
	u := mustCreateUser(t, e, "pw@example.com", "Password Person", aistat.RoleViewer)
	bystander := mustCreateUser(t, e, "bystander@example.com", "Bystander", aistat.RoleViewer)
	c, other, theirs := newClient(t, e), newClient(t, e), newClient(t, e)
	loginAs(t, c, "pw@example.com", firefoxLinux, "198.51.100.40")
	loginAs(t, other, "pw@example.com", chromeWindows, "198.51.100.41")
	loginAs(t, theirs, "bystander@example.com", chromeWindows, "198.51.100.42")
	const newPassword = "a much better passphrase"
	change := func(c *client, current, next string, headers ...string) *response {
		form := url.Values{"current_password": {current}, "new_password": {next}}.Encode()
		return c.do(http.MethodPost, "/settings/password", "application/x-www-form-urlencoded", form, headers...)
	}
	hash := func() string {
		var h string
		if err := e.db.QueryRow(`SELECT password_hash FROM users WHERE id = $1`, u.ID).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}

	tests := []struct {
		name, current, next string
		headers             []string
		status              int
		want                []string
	}{
		{"WrongCurrent", "not my password", newPassword, nil, 422, []string{"This is not your current password.", `aria-invalid="true"`}},
		{"NoCurrent", "", newPassword, nil, 422, []string{"Enter your current password."}},
		{"TooShort", testPassword, "short pw", nil, 422, []string{"Password must be at least 10 characters."}},
		{"TooLong", testPassword, strings.Repeat("x", 257), nil, 422, []string{"Password must be at most 256 characters."}},
		{"Common", testPassword, "Password1234", nil, 422, []string{"Password is too common; choose another."}},
		{"CommonFromShippedList", testPassword, "1qaz2wsx3edc4rfv", nil, 422, []string{"Password is too common"}},
		{"BothWrong", "nope", "short", nil, 422, []string{"This is not your current password.", "at least 10 characters"}},
		{"CrossSite", testPassword, newPassword, []string{"Sec-Fetch-Site", "cross-site"}, 403, []string{"Cross-origin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, hashBefore, sessionsBefore := readUserRow(t, e, u.ID), hash(), sessionCount(t, e, u.ID)
			res := change(c, tt.current, tt.next, tt.headers...)
			wantStatus(t, res, tt.status)
			wantBody(t, res, tt.want...)
			wantNoBody(t, res, `value="`+testPassword, tt.next+`"`)
			if after := readUserRow(t, e, u.ID); after != before || hash() != hashBefore || sessionCount(t, e, u.ID) != sessionsBefore {
				t.Fatal("a refused change wrote something")
			}
		})
	}
	if kinds := eventKinds(t, e, u.ID); !slices.Contains(kinds, string(aistat.EventPasswordChangeFailed)) {
		t.Fatalf("events %v, want a failed password change", kinds)
	}

	t.Run("Anonymous", func(t *testing.T) {
		wantStatus(t, change(newClient(t, e), testPassword, newPassword), http.StatusUnauthorized)
	})

	t.Run("OK", func(t *testing.T) {
		oldCookie, id := c.cookie(), sessionIDOf(t, c)
		res := change(c, testPassword, newPassword)
		wantStatus(t, res, http.StatusSeeOther)
		if got := res.Header.Get("Location"); got != "/settings/sessions" {
			t.Fatalf("Location = %q", got)
		}
		if c.cookie() == oldCookie || c.cookie() == "" {
			t.Fatal("the token was not renewed")
		}
		if got := sessionIDOf(t, c); got != id {
			t.Fatalf("session id %d after the change, want the same row %d", got, id)
		}
		wantBody(t, c.get("/settings/sessions"), "Password changed. Other devices were signed out.", "Signed in on 1 device")
		if signedIn(t, other) {
			t.Fatal("the other device is still signed in")
		}
		if !signedIn(t, theirs) || sessionCount(t, e, bystander.ID) != 1 {
			t.Fatal("another user's session ended")
		}
		stolen := newClient(t, e)
		srv, _ := url.Parse(e.server.URL)
		stolen.http.Jar.SetCookies(srv, []*http.Cookie{{Name: e.manager.CookieName(), Value: oldCookie, Path: "/"}})
		if signedIn(t, stolen) {
			t.Fatal("the old cookie still works")
		}
		wantStatus(t, signInFrom(t, e, "198.51.100.43", "pw@example.com", testPassword), http.StatusUnauthorized)
		wantStatus(t, signInFrom(t, e, "198.51.100.43", "pw@example.com", newPassword), http.StatusSeeOther)
		if kinds := eventKinds(t, e, u.ID); !slices.Contains(kinds, string(aistat.EventPasswordChanged)) || slices.Contains(kinds, "") {
			t.Fatalf("events %v, want password_changed and no event without a kind", kinds)
		}
	})
}

func TestServer_SecurityEvents(t *testing.T) {
	e := mustOpenEnvConfig(t, envConfig{trustedProxies: localProxies})
	mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	u := mustCreateUser(t, e, "events@example.com", "Events", aistat.RoleViewer)
	admin, c := newClient(t, e), newClient(t, e)
	admin.login("admin@example.com")

	wantStatus(t, signInFrom(t, e, "203.0.113.50", "EVENTS@example.com", "wrong password"), http.StatusUnauthorized)
	wantStatus(t, signInFrom(t, e, "203.0.113.51", "nobody@example.com", "wrong password"), http.StatusUnauthorized)
	loginAs(t, c, "events@example.com", firefoxLinux, "198.51.100.60")
	wantStatus(t, admin.postForm("/admin/users/"+itoa(u.ID)+"/revoke", confirmed()), http.StatusSeeOther)
	wantStatus(t, admin.postForm("/admin/users/"+itoa(u.ID)+"/disable", confirmed()), http.StatusSeeOther)
	wantStatus(t, admin.postForm("/admin/users/"+itoa(u.ID)+"/enable", nil), http.StatusSeeOther)
	loginAs(t, c, "events@example.com", safariIPhone, "2001:db8::60")

	want := []string{"sign_in", "account_enabled", "account_disabled", "sessions_revoked", "sign_in", "sign_in_failed"}
	if got := eventKinds(t, e, u.ID); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	page := c.get("/settings/sessions")
	wantStatus(t, page, http.StatusOK)
	wantBody(t, page, "Failed sign-in attempt", "203.0.113.50", "Signed in", "198.51.100.60", "Firefox 128 on Linux",
		"Signed out everywhere by an admin", "Account disabled by an admin", "Account enabled again by an admin", "Safari 17 on iOS")
	wantNoBody(t, page, "203.0.113.51")

	t.Run("Latest20", func(t *testing.T) {
		if _, err := e.db.Exec(`INSERT INTO security_events (user_id, kind, ip, user_agent)
			SELECT $1, 'sign_in', '192.0.2.1', '' FROM generate_series(1, 30)`, u.ID); err != nil {
			t.Fatal(err)
		}
		page := c.get("/settings/sessions")
		if n := strings.Count(page.body, `data-event-kind=`); n != aistat.MaxSecurityEvents {
			t.Fatalf("%d events shown, want %d", n, aistat.MaxSecurityEvents)
		}
	})

	t.Run("Cleanup", func(t *testing.T) {
		_, err := e.db.Exec(`INSERT INTO security_events (user_id, kind, created_at) VALUES ($1, 'sign_in', now() - interval '91 days')`, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.db.Exec(`INSERT INTO sign_in_throttle (addr, email, failures, forget_at) VALUES ('192.0.2.99', 'old@example.com', 3, now() - interval '1 minute')`)
		if err != nil {
			t.Fatal(err)
		}
		var events, throttle int
		count := func() {
			err := e.db.QueryRow(`SELECT (SELECT count(*) FROM security_events), (SELECT count(*) FROM sign_in_throttle)`).Scan(&events, &throttle)
			if err != nil {
				t.Fatal(err)
			}
		}
		count()
		eventsBefore, throttleBefore := events, throttle
		n, err := e.users.DeleteExpired(t.Context(), 1)
		if err != nil {
			t.Fatal(err)
		}
		count()
		if n != 2 || events != eventsBefore-1 || throttle != throttleBefore-1 {
			t.Fatalf("deleted %d; events %d -> %d, throttle rows %d -> %d", n, eventsBefore, events, throttleBefore, throttle)
		}
	})
}
