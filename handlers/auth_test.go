package handlers_test

import (
	"net/http"
	"net/url"
	"testing"

	"aistat"
)

func TestServer_Login(t *testing.T) {
	e := mustOpenEnv(t)
	editor := mustCreateUser(t, e, "editor@example.com", "Сара Чен", aistat.RoleEditor)

	t.Run("OK", func(t *testing.T) {
		c := newClient(t, e)
		res := c.postForm("/login", url.Values{"email": {"editor@example.com"}, "password": {testPassword}})
		wantStatus(t, res, http.StatusSeeOther)
		if got := res.Header.Get("Location"); got != "/" {
			t.Fatalf("Location = %q, want /", got)
		}
		if c.cookie() == "" {
			t.Fatal("no session cookie after sign-in")
		}
		home := c.get("/")
		wantStatus(t, home, http.StatusOK)
		wantBody(t, home, "Сара Чен", "Editor", "СЧ")
		if got := home.Header.Get("Cache-Control"); got != "no-store" {
			t.Fatalf("Cache-Control = %q, want no-store", got)
		}
	})

	t.Run("CaseInsensitiveEmail", func(t *testing.T) {
		c := newClient(t, e)
		c.login("  EDITOR@Example.COM ")
		wantBody(t, c.get("/"), "Сара Чен")
	})

	t.Run("WrongPasswordAndUnknownEmail", func(t *testing.T) {
		wrong := newClient(t, e).postForm("/login", url.Values{"email": {"editor@example.com"}, "password": {"not the password"}})
		unknown := newClient(t, e).postForm("/login", url.Values{"email": {"nobody@example.com"}, "password": {"not the password"}})
		for _, res := range []*response{wrong, unknown} {
			wantStatus(t, res, http.StatusUnauthorized)
			wantBody(t, res, "Wrong email or password.")
		}
		wantBody(t, wrong, `value="editor@example.com"`)
		wantBody(t, unknown, `value="nobody@example.com"`)
	})

	t.Run("BlankFields", func(t *testing.T) {
		res := newClient(t, e).postForm("/login", url.Values{"email": {""}, "password": {""}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantBody(t, res, "Enter your email and password.")
	})

	t.Run("DisabledUser", func(t *testing.T) {
		admin := mustCreateUser(t, e, "admin-login@example.com", "Admin", aistat.RoleAdmin)
		gone := mustCreateUser(t, e, "gone@example.com", "Gone", aistat.RoleViewer)
		if _, err := e.users.SetDisabled(t.Context(), admin.ID, gone.ID, true); err != nil {
			t.Fatal(err)
		}
		c := newClient(t, e)
		res := c.postForm("/login", url.Values{"email": {"gone@example.com"}, "password": {testPassword}})
		wantStatus(t, res, http.StatusForbidden)
		wantBody(t, res, "This account is disabled. Ask an administrator to enable it again.", `value="gone@example.com"`, `action="/login"`)
		if c.cookie() != "" || sessionCount(t, e, gone.ID) != 0 {
			t.Fatal("a disabled account got a session")
		}
		// A wrong password tells nothing, as for an account that does not
		// exist.
		wrong := newClient(t, e).postForm("/login", url.Values{"email": {"gone@example.com"}, "password": {"not the password"}})
		unknown := newClient(t, e).postForm("/login", url.Values{"email": {"never@example.com"}, "password": {"not the password"}})
		for _, res := range []*response{wrong, unknown} {
			wantStatus(t, res, http.StatusUnauthorized)
			wantBody(t, res, "Wrong email or password.")
			wantNoBody(t, res, "disabled")
		}
	})

	t.Run("PlantedCookieIsNotKept", func(t *testing.T) {
		c := newClient(t, e)
		u, _ := url.Parse(e.server.URL)
		const planted = "planted-token-chosen-by-an-attacker-0123456789"
		c.http.Jar.SetCookies(u, []*http.Cookie{{Name: e.manager.CookieName(), Value: planted, Path: "/"}})
		c.login("editor@example.com")
		if got := c.cookie(); got == planted || got == "" {
			t.Fatalf("cookie after sign-in = %q, want a new token", got)
		}
		var n int
		if err := e.db.QueryRow(`SELECT count(*) FROM sessions WHERE token = $1`, hashToken(planted)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("sessions with the planted token: %d, want 0", n)
		}
	})

	t.Run("TokenIsStoredHashed", func(t *testing.T) {
		c := newClient(t, e)
		c.login("editor@example.com")
		var clear, hashed int
		if err := e.db.QueryRow(`SELECT count(*) FILTER (WHERE token = $1), count(*) FILTER (WHERE token = $2) FROM sessions`,
			c.cookie(), hashToken(c.cookie())).Scan(&clear, &hashed); err != nil {
			t.Fatal(err)
		}
		if clear != 0 || hashed != 1 {
			t.Fatalf("rows with the token in clear: %d, hashed: %d; want 0 and 1", clear, hashed)
		}
	})

	t.Run("LogoutDeletesTheRow", func(t *testing.T) {
		c := newClient(t, e)
		before := sessionCount(t, e, editor.ID)
		c.login("editor@example.com")
		if got := sessionCount(t, e, editor.ID); got != before+1 {
			t.Fatalf("sessions after sign-in = %d, want %d", got, before+1)
		}
		res := c.postForm("/logout", nil)
		wantStatus(t, res, http.StatusSeeOther)
		if got := sessionCount(t, e, editor.ID); got != before {
			t.Fatalf("sessions after sign-out = %d, want %d", got, before)
		}
		wantBody(t, c.get("/"), "Sign in")
	})

	t.Run("LogoutAnonymous", func(t *testing.T) {
		wantStatus(t, newClient(t, e).postForm("/logout", nil), http.StatusUnauthorized)
	})

	t.Run("Next", func(t *testing.T) {
		tests := []struct{ next, want string }{
			{"/settings", "/settings"},
			{"/admin?x=1", "/admin?x=1"},
			{"https://x", "/"},
			{"//x", "/"},
			{`/\x`, "/"},
			{"javascript:x", "/"},
			{"", "/"},
			{"settings", "/"},
			{"/\t/x", "/"},
		}
		for _, tt := range tests {
			res := newClient(t, e).postForm("/login", url.Values{"email": {"editor@example.com"}, "password": {testPassword}, "next": {tt.next}})
			wantStatus(t, res, http.StatusSeeOther)
			if got := res.Header.Get("Location"); got != tt.want {
				t.Errorf("next=%q: Location = %q, want %q", tt.next, got, tt.want)
			}
		}
	})

	t.Run("LoginPageKeepsNext", func(t *testing.T) {
		res := newClient(t, e).get("/settings")
		wantStatus(t, res, http.StatusSeeOther)
		if got := res.Header.Get("Location"); got != "/login?next=%2Fsettings" {
			t.Fatalf("Location = %q", got)
		}
		page := newClient(t, e).get("/login?next=%2Fsettings")
		wantStatus(t, page, http.StatusOK)
		wantBody(t, page, `name="next" value="/settings"`)
	})
}
