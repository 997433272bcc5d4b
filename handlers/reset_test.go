package handlers_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"aistat"
)

var resetURLPattern = regexp.MustCompile(`value="(http://[^"/]+/reset/([A-Za-z0-9_-]+))"`)

// issueReset has the admin client issue a reset link for the user and
// returns its token.
func issueReset(tb testing.TB, admin *client, userID int64) string {
	tb.Helper()
	return linkOf(tb, admin, showReset(tb, admin, userID))
}

// showReset has the admin client issue a reset link for the user and
// follow the redirect to the page that shows it.
func showReset(tb testing.TB, admin *client, userID int64) *response {
	tb.Helper()
	res := admin.postForm("/admin/users/"+itoa(userID)+"/reset", nil)
	wantStatus(tb, res, http.StatusSeeOther)
	if want := "/admin/users/" + itoa(userID) + "/reset?back=%2Fadmin"; res.Header.Get("Location") != want {
		tb.Fatalf("Location %q, want %q", res.Header.Get("Location"), want)
	}
	res = admin.get(res.Header.Get("Location"))
	wantStatus(tb, res, http.StatusOK)
	return res
}

// linkOf is the token of the reset link a page shows.
func linkOf(tb testing.TB, admin *client, res *response) string {
	tb.Helper()
	m := resetURLPattern.FindStringSubmatch(res.body)
	if m == nil {
		tb.Fatalf("no reset link on the page: %.2000s", res.body)
	}
	if want := admin.e.server.URL + "/reset/" + m[2]; m[1] != want {
		tb.Fatalf("link %q, want %q", m[1], want)
	}
	return m[2]
}

func resetForm(password, confirm string) url.Values {
	return url.Values{"password": {password}, "password_confirm": {confirm}}
}

// canSignIn reports whether email signs in with password.
func canSignIn(tb testing.TB, e *env, email, password string) bool {
	tb.Helper()
	res := newClient(tb, e).postForm("/login", url.Values{"email": {email}, "password": {password}})
	return res.StatusCode == http.StatusSeeOther
}

// lockedBuffer collects log lines written by the server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// resetSite is a site of one subtest of TestServer_ResetLinks, with an
// admin signed in and the server's log kept, so that every subtest sets up
// what it needs and runs alone or in any order.
type resetSite struct {
	env       *env
	adminUser *aistat.User
	admin     *client
	logs      *lockedBuffer
	// tokens are the reset tokens the subtest handed out: none may reach
	// the log.
	tokens []string
}

// mustOpenResetSite starts a resetSite; at the subtest's end it fails when
// the log holds any token of rs.tokens.
func mustOpenResetSite(t *testing.T) *resetSite {
	t.Helper()
	rs := &resetSite{logs: &lockedBuffer{}}
	rs.env = mustOpenEnvConfig(t, envConfig{logs: rs.logs})
	rs.adminUser = mustCreateUser(t, rs.env, "admin@example.com", "Admin", aistat.RoleAdmin)
	rs.admin = newClient(t, rs.env)
	rs.admin.login("admin@example.com")
	t.Cleanup(func() {
		out := rs.logs.String()
		for _, tok := range rs.tokens {
			if strings.Contains(out, tok) {
				t.Errorf("a reset token is in the log: %s", out)
			}
		}
	})
	return rs
}

func TestServer_ResetLinks(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		rs := mustOpenResetSite(t)
		e, a, admin := rs.env, rs.admin, rs.adminUser
		u := mustCreateUser(t, e, "forgot@example.com", "Forgetful", aistat.RoleEditor)
		phone, laptop := newClient(t, e), newClient(t, e)
		phone.login(u.Email)
		laptop.login(u.Email)
		res := showReset(t, a, u.ID)
		if got := res.Header.Get("Cache-Control"); got != "no-store" {
			t.Fatalf("link page Cache-Control %q, want no-store", got)
		}
		wantBody(t, res, "Forgetful", "forgot@example.com", `<time datetime="`)
		token := resetURLPattern.FindStringSubmatch(res.body)[2]
		rs.tokens = append(rs.tokens, token)
		wantAudit(t, e, auditRow{admin.ID, admin.Email, "reset_link", u.ID, u.Email, "valid for 60 minutes"})

		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(raw) != 32 {
			t.Fatalf("token %q is not 32 bytes of base64url (%v)", token, err)
		}
		sum := sha256.Sum256(raw)
		var stored []byte
		var lifetime float64
		if err := e.db.QueryRow(`SELECT token_hash, extract(epoch FROM expires_at - created_at) FROM password_resets WHERE user_id = $1`, u.ID).Scan(&stored, &lifetime); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(stored, sum[:]) || lifetime != 3600 {
			t.Fatalf("stored hash %x (want %x), lifetime %vs", stored, sum, lifetime)
		}

		anon := newClient(t, e)
		form := anon.get("/reset/" + token)
		wantStatus(t, form, http.StatusOK)
		wantBody(t, form, "Choose a new password", "forgot@example.com", `action="/reset/`+token+`"`)
		if got := form.Header.Get("Referrer-Policy"); got != "no-referrer" {
			t.Fatalf("Referrer-Policy %q", got)
		}
		wantNoBody(t, form, "next=%2Freset")

		res = anon.postForm("/reset/"+token, resetForm("a new passphrase", "another passphrase"))
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantBody(t, res, "The two passwords do not match.")
		res = anon.postForm("/reset/"+token, resetForm("short", "short"))
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantBody(t, res, "Password must be at least 10 characters.")
		res = anon.postForm("/reset/"+token, resetForm("password1234", "password1234"))
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantBody(t, res, "Password is too common; choose another.")
		wantNoBody(t, res, "password1234")
		if sessionCount(t, e, u.ID) != 2 || !canSignIn(t, e, u.Email, testPassword) {
			t.Fatal("a refused reset changed the password or ended sessions")
		}

		res = anon.postForm("/reset/"+token, resetForm("a new passphrase", "a new passphrase"))
		wantStatus(t, res, http.StatusSeeOther)
		if got := res.Header.Get("Location"); got != "/login?reset=1" {
			t.Fatalf("Location %q", got)
		}
		wantBody(t, anon.get("/login?reset=1"), "Your password is changed")
		if n := sessionCount(t, e, u.ID); n != 0 {
			t.Fatalf("sessions left after a reset: %d", n)
		}
		for _, c := range []*client{phone, laptop} {
			wantStatus(t, c.get("/api/session"), http.StatusUnauthorized)
		}
		if canSignIn(t, e, u.Email, testPassword) || !canSignIn(t, e, u.Email, "a new passphrase") {
			t.Fatal("the old password works or the new one does not")
		}
		var changes int
		if err := e.db.QueryRow(`SELECT count(*) FROM security_events WHERE user_id = $1 AND kind = 'password_changed'`, u.ID).Scan(&changes); err != nil || changes != 1 {
			t.Fatalf("password_changed events: %d (%v), want 1", changes, err)
		}

		t.Run("Reused", func(t *testing.T) {
			res := newClient(t, e).get("/reset/" + token)
			wantStatus(t, res, http.StatusGone)
			wantBody(t, res, "This link was already used to set a password", "ask for a new link with")
			ru := newClient(t, e).do(http.MethodGet, "/reset/"+token, "", "", "Accept-Language", "ru")
			wantStatus(t, ru, http.StatusGone)
			wantBody(t, ru, `<html lang="ru">`, "По этой ссылке уже задали пароль", "запросите новую ссылку через «Забыли пароль?»")
			res = newClient(t, e).postForm("/reset/"+token, resetForm("third passphrase", "third passphrase"))
			wantStatus(t, res, http.StatusGone)
			if !canSignIn(t, e, u.Email, "a new passphrase") {
				t.Fatal("a used link changed the password again")
			}
		})
	})

	t.Run("Expired", func(t *testing.T) {
		rs := mustOpenResetSite(t)
		e, a := rs.env, rs.admin
		u := mustCreateUser(t, e, "late@example.com", "Late", aistat.RoleViewer)
		token := issueReset(t, a, u.ID)
		rs.tokens = append(rs.tokens, token)
		if _, err := e.db.Exec(`UPDATE password_resets SET expires_at = now() - interval '1 second' WHERE user_id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
		before := readAccount(t, e, u.ID)
		res := newClient(t, e).get("/reset/" + token)
		wantStatus(t, res, http.StatusGone)
		wantBody(t, res, "This link has expired.", "Forgot your password?")
		wantStatus(t, newClient(t, e).postForm("/reset/"+token, resetForm("late passphrase", "late passphrase")), http.StatusGone)
		if after := readAccount(t, e, u.ID); after != before {
			t.Fatalf("an expired link changed %+v to %+v", before, after)
		}
	})

	t.Run("WrongOrGarbled", func(t *testing.T) {
		e := mustOpenResetSite(t).env
		valid := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
		tests := []struct {
			name, token string
			status      int
			want        string
		}{
			{"Unknown", valid, http.StatusGone, "This link no longer works: it has expired, was already used, or a newer one was made. Ask for a new one with “Forgot your password?” on the sign-in page, or ask an admin."},
			{"Short", valid[:20], http.StatusNotFound, "incomplete or mistyped"},
			{"Long", valid + "A", http.StatusNotFound, "incomplete or mistyped"},
			{"WrongAlphabet", strings.Repeat("!", 43), http.StatusNotFound, "incomplete or mistyped"},
			{"PaddedBase64", strings.Repeat("A", 42) + "=", http.StatusNotFound, "incomplete or mistyped"},
			{"NonCanonical", strings.Repeat("A", 42) + "B", http.StatusNotFound, "incomplete or mistyped"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := newClient(t, e).get("/reset/" + tt.token)
				wantStatus(t, res, tt.status)
				wantBody(t, res, tt.want)
				res = newClient(t, e).postForm("/reset/"+tt.token, resetForm("some passphrase", "some passphrase"))
				wantStatus(t, res, tt.status)
			})
		}
	})

	t.Run("NewLinkInvalidatesOld", func(t *testing.T) {
		rs := mustOpenResetSite(t)
		e, a := rs.env, rs.admin
		u := mustCreateUser(t, e, "twice@example.com", "Twice", aistat.RoleViewer)
		first := issueReset(t, a, u.ID)
		second := issueReset(t, a, u.ID)
		rs.tokens = append(rs.tokens, first, second)
		wantStatus(t, newClient(t, e).get("/reset/"+first), http.StatusGone)
		wantStatus(t, newClient(t, e).postForm("/reset/"+first, resetForm("first passphrase", "first passphrase")), http.StatusGone)
		wantStatus(t, newClient(t, e).get("/reset/"+second), http.StatusOK)
		wantStatus(t, newClient(t, e).postForm("/reset/"+second, resetForm("second passphrase", "second passphrase")), http.StatusSeeOther)
		if !canSignIn(t, e, u.Email, "second passphrase") {
			t.Fatal("the newer link did not set the password")
		}
	})

	t.Run("ConcurrentUsesOneWins", func(t *testing.T) {
		rs := mustOpenResetSite(t)
		e, a := rs.env, rs.admin
		u := mustCreateUser(t, e, "race@example.com", "Race", aistat.RoleViewer)
		for round := range 5 {
			token := issueReset(t, a, u.ID)
			rs.tokens = append(rs.tokens, token)
			// New in each round: a password equal to the current one is refused.
			passwords := []string{"racing passphrase one " + itoa(int64(round)), "racing passphrase two " + itoa(int64(round))}
			statuses := make([]int, 2)
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Go(func() {
					statuses[i] = newClient(t, e).postForm("/reset/"+token, resetForm(passwords[i], passwords[i])).StatusCode
				})
			}
			wg.Wait()
			won := -1
			for i, status := range statuses {
				if status == http.StatusSeeOther {
					won = i
				}
			}
			if won < 0 || statuses[1-won] != http.StatusGone {
				t.Fatalf("round %d: statuses %v, want one 303 and one 410", round, statuses)
			}
			if !canSignIn(t, e, u.Email, passwords[won]) || canSignIn(t, e, u.Email, passwords[1-won]) {
				t.Fatalf("round %d: the winner's password is not the one set", round)
			}
		}
	})

	t.Run("SignedInAsSomeoneElse", func(t *testing.T) {
		rs := mustOpenResetSite(t)
		e, a := rs.env, rs.admin
		u := mustCreateUser(t, e, "other@example.com", "Other", aistat.RoleViewer)
		mustCreateUser(t, e, "helper@example.com", "Helper", aistat.RoleViewer)
		helper := newClient(t, e)
		helper.login("helper@example.com")
		token := issueReset(t, a, u.ID)
		rs.tokens = append(rs.tokens, token)
		page := helper.get("/reset/" + token)
		wantStatus(t, page, http.StatusOK)
		wantBody(t, page, "You are signed in as helper@example.com: this changes the password of other@example.com, not yours.")
		wantStatus(t, helper.postForm("/reset/"+token, resetForm("helped passphrase", "helped passphrase")), http.StatusSeeOther)
		if !canSignIn(t, e, u.Email, "helped passphrase") {
			t.Fatal("the link's user did not get the new password")
		}
		home := helper.get("/")
		wantBody(t, home, "Helper", "The password of other@example.com is changed.")
	})

	t.Run("SignedInAsThatUser", func(t *testing.T) {
		rs := mustOpenResetSite(t)
		e, a := rs.env, rs.admin
		u := mustCreateUser(t, e, "self@example.com", "Self", aistat.RoleViewer)
		c := newClient(t, e)
		c.login(u.Email)
		token := issueReset(t, a, u.ID)
		rs.tokens = append(rs.tokens, token)
		wantStatus(t, c.get("/reset/"+token), http.StatusOK)
		wantStatus(t, c.postForm("/reset/"+token, resetForm("my own passphrase", "my own passphrase")), http.StatusSeeOther)
		login := c.get("/login?reset=1")
		wantStatus(t, login, http.StatusOK)
		wantBody(t, login, "Your password is changed")
		if n := sessionCount(t, e, u.ID); n != 0 {
			t.Fatalf("sessions left: %d", n)
		}
	})

	t.Run("PasswordChangeEndsLinks", func(t *testing.T) {
		rs := mustOpenResetSite(t)
		e, a := rs.env, rs.admin
		u := mustCreateUser(t, e, "changer@example.com", "Changer", aistat.RoleViewer)
		c := newClient(t, e)
		c.login(u.Email)
		token := issueReset(t, a, u.ID)
		rs.tokens = append(rs.tokens, token)
		res := c.postForm("/settings/password", url.Values{"current_password": {testPassword}, "new_password": {"a changed passphrase"}})
		wantStatus(t, res, http.StatusSeeOther)
		wantStatus(t, newClient(t, e).get("/reset/"+token), http.StatusGone)
		wantStatus(t, newClient(t, e).postForm("/reset/"+token, resetForm("taken over passphrase", "taken over passphrase")), http.StatusGone)
		if !canSignIn(t, e, u.Email, "a changed passphrase") {
			t.Fatal("a link issued before the password change undid it")
		}
	})

	// Disabling an account and signing it out everywhere are what an admin
	// does about an account in the wrong hands: a link sent out before must
	// die with the sessions, and enabling the account again brings none
	// back.
	for _, tt := range []struct {
		name    string
		actions []string
		detail  string
	}{
		{"DisableEndsLinks", []string{"disable", "enable"}, "1 session ended, reset link cancelled"},
		{"RevokeEndsLinks", []string{"revoke"}, "1 session ended, reset link cancelled"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rs := mustOpenResetSite(t)
			e, a, admin := rs.env, rs.admin, rs.adminUser
			u := mustCreateUser(t, e, strings.ToLower(tt.name)+"@example.com", tt.name, aistat.RoleViewer)
			newClient(t, e).login(u.Email)
			token := issueReset(t, a, u.ID)
			rs.tokens = append(rs.tokens, token)
			wantStatus(t, newClient(t, e).get("/reset/"+token), http.StatusOK)
			for i, action := range tt.actions {
				wantStatus(t, a.postForm("/admin/users/"+itoa(u.ID)+"/"+action, confirmed()), http.StatusSeeOther)
				if i == 0 {
					wantAudit(t, e, auditRow{admin.ID, admin.Email, action, u.ID, u.Email, tt.detail})
				}
			}
			before := readAccount(t, e, u.ID)
			if before.Disabled || before.ResetLinks != 0 {
				t.Fatalf("account after %v: %+v, want enabled with no reset link", tt.actions, before)
			}
			res := newClient(t, e).get("/reset/" + token)
			wantStatus(t, res, http.StatusGone)
			wantBody(t, res, "This link no longer works", "Ask for a new one with")
			wantStatus(t, newClient(t, e).postForm("/reset/"+token, resetForm("taken over passphrase", "taken over passphrase")), http.StatusGone)
			if after := readAccount(t, e, u.ID); after != before || !canSignIn(t, e, u.Email, testPassword) {
				t.Fatalf("a link issued before %v changed the account: %+v to %+v", tt.actions, before, after)
			}
			// Without a link to cancel, the audit log says nothing of links
			// (canSignIn above left one session).
			wantStatus(t, a.postForm("/admin/users/"+itoa(u.ID)+"/"+tt.actions[0], confirmed()), http.StatusSeeOther)
			wantAudit(t, e, auditRow{admin.ID, admin.Email, tt.actions[0], u.ID, u.Email, "1 session ended"})
		})
	}

	t.Run("DeletedUsersLinkIsGone", func(t *testing.T) {
		rs := mustOpenResetSite(t)
		e, a := rs.env, rs.admin
		u := mustCreateUser(t, e, "leaving@example.com", "Leaving", aistat.RoleViewer)
		token := issueReset(t, a, u.ID)
		rs.tokens = append(rs.tokens, token)
		wantStatus(t, a.postForm("/admin/users/"+itoa(u.ID)+"/delete", url.Values{"confirm": {"yes"}}), http.StatusSeeOther)
		wantStatus(t, newClient(t, e).get("/reset/"+token), http.StatusGone)
	})

	t.Run("TokenNeverLogged", func(t *testing.T) {
		rs := mustOpenResetSite(t)
		e, a, logs := rs.env, rs.admin, rs.logs
		u := mustCreateUser(t, e, "logged@example.com", "Logged", aistat.RoleViewer)
		token := issueReset(t, a, u.ID)
		rs.tokens = append(rs.tokens, token)
		c := newClient(t, e)
		// Other spellings of the path reach the route through the router's
		// redirects; they are logged too.
		for _, path := range []string{"/RESET/" + token, "/reset/" + token + "/", "//reset//" + token} {
			c.get(path)
		}
		wantStatus(t, c.get("/reset/"+token), http.StatusOK)
		wantStatus(t, c.postForm("/reset/"+token, resetForm("logged passphrase", "logged passphrase")), http.StatusSeeOther)
		wantStatus(t, c.get("/reset/"+token), http.StatusGone)
		// mustOpenResetSite checks that no token reached the log, in this
		// subtest as in every other.
		if out := logs.String(); !strings.Contains(out, "path=/reset/[redacted]") {
			t.Fatalf("the log has no redacted reset paths:\n%s", out)
		}
	})
}

// TestServer_ResetLinkHost: a reset link is built from the site's base URL
// alone. A forged Host or X-Forwarded-Host, even through a trusted proxy,
// would otherwise hand the admin a link to a site of the attacker's, which
// receives the token when the link is opened.
func TestServer_ResetLinkHost(t *testing.T) {
	e := mustOpenEnvConfig(t, envConfig{
		baseURL:        "https://aistat.example",
		trustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	})
	mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	u := mustCreateUser(t, e, "target@example.com", "Target", aistat.RoleViewer)
	a := newClient(t, e)
	a.login("admin@example.com")
	link := regexp.MustCompile(`value="([^"]*/reset/[A-Za-z0-9_-]+)"`)
	for _, tt := range []struct {
		name    string
		host    string
		headers []string
	}{
		{"AsServed", "", nil},
		{"ForgedHost", "evil.test", nil},
		{"ForgedForwardedHost", "", []string{"X-Forwarded-Host", "evil.test", "X-Forwarded-Proto", "http"}},
		{"Both", "evil.test:8443", []string{"X-Forwarded-Host", "evil.test", "Forwarded", "host=evil.test;proto=http"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			send := func(method, path string) (*http.Response, []byte) {
				t.Helper()
				req, err := http.NewRequest(method, e.server.URL+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				// net/http picks the cookies by the Host sent, so the
				// session goes along by hand.
				req.AddCookie(&http.Cookie{Name: e.manager.CookieName(), Value: a.cookie()})
				if tt.host != "" {
					req.Host = tt.host
				}
				for i := 0; i+1 < len(tt.headers); i += 2 {
					req.Header.Set(tt.headers[i], tt.headers[i+1])
				}
				client := &http.Client{
					Transport:     e.server.Client().Transport,
					CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
				}
				res, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				return res, body
			}
			res, _ := send(http.MethodPost, "/admin/users/"+itoa(u.ID)+"/reset")
			if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin/users/") {
				t.Fatalf("status %d, Location %q: want 303 to the link's page on this site", res.StatusCode, loc)
			}
			res, body := send(http.MethodGet, res.Header.Get("Location"))
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d; body: %.500s", res.StatusCode, body)
			}
			m := link.FindStringSubmatch(string(body))
			if m == nil {
				t.Fatalf("no reset link on the page: %.2000s", body)
			}
			if !strings.HasPrefix(m[1], "https://aistat.example/reset/") || strings.Contains(string(body), "evil.test") {
				t.Fatalf("reset link %q, want it on https://aistat.example", m[1])
			}
		})
	}
}

// TestServer_ResetLinkShownOnce: the link is issued by the POST and shown
// by the page it redirects to, once. Reloading that page issues nothing:
// it says the link was shown and offers a new one, and the link shown
// still works.
func TestServer_ResetLinkShownOnce(t *testing.T) {
	rs := mustOpenResetSite(t)
	e, a := rs.env, rs.admin
	u := mustCreateUser(t, e, "once@example.com", "Once", aistat.RoleViewer)
	other := mustCreateUser(t, e, "other@example.com", "Other", aistat.RoleViewer)
	links := func() (n int) {
		t.Helper()
		if err := e.db.QueryRow(`SELECT count(*) FROM password_resets`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	page := showReset(t, a, u.ID)
	token := linkOf(t, a, page)
	rs.tokens = append(rs.tokens, token)
	wantBody(t, page, `data-copy="reset-url"`, ">Copy</button>", `data-text-copied="Link copied."`)
	if got := page.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy %q, want no-referrer", got)
	}

	t.Run("Reload", func(t *testing.T) {
		before := links()
		res := a.get("/admin/users/" + itoa(u.ID) + "/reset?back=%2Fadmin%3Fq%3Donce")
		wantStatus(t, res, http.StatusOK)
		wantNoBody(t, res, token, `id="reset-url"`)
		wantBody(t, res, "The link for Once was shown already", `action="/admin/users/`+itoa(u.ID)+`/reset"`,
			`name="back" value="/admin?q=once"`, "Issue a new link")
		if links() != before {
			t.Fatal("reloading the page issued a link")
		}
		wantStatus(t, newClient(t, e).get("/reset/"+token), http.StatusOK)
	})

	t.Run("AnotherUsersPageKeepsIt", func(t *testing.T) {
		res := a.postForm("/admin/users/"+itoa(other.ID)+"/reset", nil)
		wantStatus(t, res, http.StatusSeeOther)
		wantNoBody(t, a.get("/admin/users/"+itoa(u.ID)+"/reset"), `id="reset-url"`)
		shown := a.get(res.Header.Get("Location"))
		rs.tokens = append(rs.tokens, linkOf(t, a, shown))
	})

	t.Run("BadValues", func(t *testing.T) {
		for _, tt := range []struct {
			path   string
			status int
		}{
			{"/admin/users/abc/reset", http.StatusNotFound},
			{"/admin/users/0/reset", http.StatusNotFound},
			{"/admin/users/999999/reset", http.StatusNotFound},
			{"/admin/users/" + itoa(rs.adminUser.ID) + "/reset", http.StatusForbidden},
		} {
			wantStatus(t, a.get(tt.path), tt.status)
		}
		// Back goes nowhere but the admin page.
		res := a.get("/admin/users/" + itoa(u.ID) + "/reset?back=https%3A%2F%2Fevil.example%2F")
		wantStatus(t, res, http.StatusOK)
		wantNoBody(t, res, "evil.example")
	})

	t.Run("NotAdmin", func(t *testing.T) {
		viewer := newClient(t, e)
		viewer.login(other.Email)
		wantStatus(t, viewer.get("/admin/users/"+itoa(u.ID)+"/reset"), http.StatusForbidden)
		wantStatus(t, newClient(t, e).get("/admin/users/"+itoa(u.ID)+"/reset"), http.StatusSeeOther)
	})
}
