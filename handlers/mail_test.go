package handlers_test

import (
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"aistat"
	"aistat/internal/mail"
	"aistat/internal/poll"
	"aistat/internal/smtptest"
)

// localProxy lets a test choose its client address with X-Forwarded-For.
var localProxy = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

// mustOpenMailEnv is a site whose mail goes to a real SMTP server.
func mustOpenMailEnv(tb testing.TB) *env {
	tb.Helper()
	return mustOpenEnvConfig(tb, envConfig{smtp: smtptest.Start(tb), trustedProxies: localProxy})
}

// waitMail waits until n mails have reached to and returns them, oldest
// first.
func waitMail(tb testing.TB, e *env, to string, n int) []smtptest.Message {
	tb.Helper()
	poll.Until(tb, "mail to "+to, 15*time.Second, func() bool { return len(e.smtp.To(to)) >= n })
	return e.smtp.To(to)
}

// mailWithSubject is the only mail to to whose subject has s.
func mailWithSubject(tb testing.TB, e *env, to, s string) smtptest.Message {
	tb.Helper()
	var found []smtptest.Message
	poll.Until(tb, "mail to "+to+" about "+s, 15*time.Second, func() bool {
		found = slices.DeleteFunc(e.smtp.To(to), func(m smtptest.Message) bool { return !strings.Contains(m.Subject, s) })
		return len(found) > 0
	})
	if len(found) != 1 {
		tb.Fatalf("%d mails to %s about %q, want 1", len(found), to, s)
	}
	return found[0]
}

// linkIn is the path of the site's link in the mail's text, which must
// start with the site's base URL.
func linkIn(tb testing.TB, e *env, m smtptest.Message) string {
	tb.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(e.server.URL) + `(/[^\s]+)`)
	match := re.FindStringSubmatch(m.Text)
	if match == nil {
		tb.Fatalf("no link to %s in mail %q:\n%s", e.server.URL, m.Subject, m.Text)
	}
	if !strings.Contains(m.HTML, `href="`+e.server.URL+match[1]+`"`) {
		tb.Fatalf("the HTML part lacks the link %s:\n%s", match[1], m.HTML)
	}
	return match[1]
}

// forgotFrom asks for a reset link from the client address addr.
func forgotFrom(tb testing.TB, e *env, addr, email string) *response {
	tb.Helper()
	return newClient(tb, e).do(http.MethodPost, "/password/forgot", "application/x-www-form-urlencoded",
		url.Values{"email": {email}}.Encode(), "X-Forwarded-For", addr)
}

// mustCreateEnglishUser adds a user who reads English, as the tests' words
// are.
func mustCreateEnglishUser(tb testing.TB, e *env, email, name string, role aistat.Role) *aistat.User {
	tb.Helper()
	u := mustCreateUser(tb, e, email, name, role)
	if _, err := e.db.Exec(`UPDATE users SET locale = 'en' WHERE id = $1`, u.ID); err != nil {
		tb.Fatal(err)
	}
	u.Locale = aistat.LocaleEnglish
	return u
}

func countRows(tb testing.TB, e *env, query string, args ...any) int {
	tb.Helper()
	var n int
	if err := e.db.QueryRow(query, args...).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestServer_ForgotPassword(t *testing.T) {
	e := mustOpenMailEnv(t)
	anna := mustCreateEnglishUser(t, e, "anna@example.com", "Anna", aistat.RoleViewer)

	t.Run("Page", func(t *testing.T) {
		res := newClient(t, e).get("/login")
		wantBody(t, res, `href="/password/forgot"`, "Forgot your password?")
		res = newClient(t, e).get("/password/forgot")
		wantStatus(t, res, http.StatusOK)
		wantBody(t, res, `action="/password/forgot"`, `name="email"`)
	})

	t.Run("OK", func(t *testing.T) {
		signedIn := newClient(t, e)
		signedIn.login("anna@example.com")
		res := forgotFrom(t, e, "198.51.100.1", "ANNA@example.com ")
		wantStatus(t, res, http.StatusOK)
		wantBody(t, res, "If an account has this address")
		m := mailWithSubject(t, e, "anna@example.com", "reset your password")
		path := linkIn(t, e, m)
		if !strings.HasPrefix(path, "/reset/") {
			t.Fatalf("link %s, want /reset/…", path)
		}
		var minutes float64
		if err := e.db.QueryRow(`SELECT extract(epoch FROM expires_at - now()) / 60 FROM password_resets WHERE user_id = $1`, anna.ID).Scan(&minutes); err != nil {
			t.Fatal(err)
		}
		if minutes < 58 || minutes > 60 {
			t.Fatalf("link valid for %.1f minutes, want an hour", minutes)
		}
		c := newClient(t, e)
		wantStatus(t, c.get(path), http.StatusOK)
		res = c.postForm(path, url.Values{"password": {"a brand new passphrase"}, "password_confirm": {"a brand new passphrase"}})
		wantStatus(t, res, http.StatusSeeOther)
		if n := sessionCount(t, e, anna.ID); n != 0 {
			t.Fatalf("%d sessions after the reset, want none", n)
		}
		notice := mailWithSubject(t, e, "anna@example.com", "your password was changed")
		if strings.Contains(notice.Text, "/reset/") {
			t.Fatalf("the notice carries a link:\n%s", notice.Text)
		}
		wantStatus(t, newClient(t, e).get(path), http.StatusGone)
		var sent int
		poll.Until(t, "the link's path is dropped from the sent mail", 5*time.Second, func() bool {
			sent = countRows(t, e, `SELECT count(*) FROM mail_outbox WHERE kind = 'password_reset' AND data ? 'path'`)
			return sent == 0
		})
	})

	t.Run("BadInput", func(t *testing.T) {
		before := countRows(t, e, `SELECT count(*) FROM mail_outbox`)
		for _, bad := range []string{"", "   ", "anna", "anna@", "<anna@example.com>", "Anna <anna@example.com>",
			"an\x00na@example.com", "an\xffna@example.com", "anna\u202e@example.com", "anna@example.com\r\nBcc: x@example.com",
			strings.Repeat("a", 250) + "@example.com"} {
			res := forgotFrom(t, e, "198.51.100.2", bad)
			wantStatus(t, res, http.StatusUnprocessableEntity)
			wantBody(t, res, `id="email-error">Email`)
		}
		if after := countRows(t, e, `SELECT count(*) FROM mail_outbox`); after != before {
			t.Fatalf("bad input wrote %d mails", after-before)
		}
		if n := countRows(t, e, `SELECT count(*) FROM mail_throttle WHERE key = 'addr:198.51.100.2'`); n != 0 {
			t.Fatal("bad input was counted")
		}
		res := newClient(t, e).do(http.MethodPost, "/password/forgot", "application/json", `{"email":"anna@example.com"}`)
		if res.StatusCode < 400 || res.StatusCode >= 500 {
			t.Fatalf("JSON body: status %d, want 4xx", res.StatusCode)
		}
	})

	t.Run("DisabledAccountGetsNothing", func(t *testing.T) {
		u := mustCreateUser(t, e, "off@example.com", "Off", aistat.RoleViewer)
		if _, err := e.db.Exec(`UPDATE users SET disabled = true WHERE id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, forgotFrom(t, e, "198.51.100.3", "off@example.com"), http.StatusOK)
		if n := countRows(t, e, `SELECT count(*) FROM mail_outbox WHERE recipient = 'off@example.com'`); n != 0 {
			t.Fatalf("%d mails for a disabled account", n)
		}
	})

	t.Run("ThrottledPerEmail", func(t *testing.T) {
		mustCreateUser(t, e, "flood@example.com", "Flood", aistat.RoleViewer)
		var bodies []string
		for i := range aistat.ForgotPerEmail + 2 {
			res := forgotFrom(t, e, "203.0.113."+itoa(int64(i+1)), "flood@example.com")
			wantStatus(t, res, http.StatusOK)
			bodies = append(bodies, res.body)
		}
		if n := countRows(t, e, `SELECT count(*) FROM mail_outbox WHERE recipient = 'flood@example.com'`); n != aistat.ForgotPerEmail {
			t.Fatalf("%d mails queued, want %d", n, aistat.ForgotPerEmail)
		}
		if bodies[0] != bodies[len(bodies)-1] {
			t.Fatal("the answer past the email's limit differs")
		}
	})

	t.Run("ThrottledPerAddress", func(t *testing.T) {
		for i := range aistat.ForgotPerAddress {
			wantStatus(t, forgotFrom(t, e, "192.0.2.77", "ghost"+itoa(int64(i))+"@example.com"), http.StatusOK)
		}
		res := forgotFrom(t, e, "192.0.2.77", "anna@example.com")
		wantStatus(t, res, http.StatusTooManyRequests)
		wantBody(t, res, "Too many requests. Try again in 60 minutes.")
		if res.Header.Get("Retry-After") == "" {
			t.Fatal("no Retry-After")
		}
		wantStatus(t, forgotFrom(t, e, "192.0.2.78", "ghost@example.com"), http.StatusOK)
	})
}

// TestServer_ForgotPasswordEnumeration asks for links for known and unknown
// emails, interleaved, many times: status and body must be identical, the
// database work the same, and the times indistinguishable.
func TestServer_ForgotPasswordEnumeration(t *testing.T) {
	e := mustOpenMailEnv(t)
	const tries = 40
	for i := range tries {
		mustCreateUser(t, e, "known"+itoa(int64(i))+"@example.com", "Known", aistat.RoleViewer)
	}
	var known, unknown []time.Duration
	var body string
	var tripsKnown, tripsUnknown []int
	for i := range 2 * tries {
		email := "known" + itoa(int64(i/2)) + "@example.com"
		if i%2 == 1 {
			email = "unknown" + itoa(int64(i/2)) + "@example.com"
		}
		before := e.counter.Count()
		start := time.Now()
		res := forgotFrom(t, e, "198.18."+itoa(int64(i/200))+"."+itoa(int64(i%200+1)), email)
		d := time.Since(start)
		trips := len(e.counter.Since(before))
		wantStatus(t, res, http.StatusOK)
		if body == "" {
			body = res.body
		} else if res.body != body {
			t.Fatalf("%s: the body differs from the first answer's", email)
		}
		if i%2 == 0 {
			known, tripsKnown = append(known, d), append(tripsKnown, trips)
		} else {
			unknown, tripsUnknown = append(unknown, d), append(tripsUnknown, trips)
		}
	}
	if !slices.Equal(tripsKnown, tripsUnknown) {
		t.Fatalf("round trips: known %v, unknown %v, want the same", tripsKnown, tripsUnknown)
	}
	slices.Sort(known)
	slices.Sort(unknown)
	q := func(d []time.Duration, p float64) time.Duration { return d[int(p*float64(len(d)-1))] }
	t.Logf("known: p10 %v median %v p90 %v; unknown: p10 %v median %v p90 %v",
		q(known, .1), q(known, .5), q(known, .9), q(unknown, .1), q(unknown, .5), q(unknown, .9))
	// Each median within the other's middle 80 %: the two distributions
	// overlap, so one answer's time does not tell which it was.
	if m := q(known, .5); m < q(unknown, .1) || m > q(unknown, .9) {
		t.Errorf("known emails' median %v outside unknown ones' p10–p90 %v–%v", m, q(unknown, .1), q(unknown, .9))
	}
	if m := q(unknown, .5); m < q(known, .1) || m > q(known, .9) {
		t.Errorf("unknown emails' median %v outside known ones' p10–p90 %v–%v", m, q(known, .1), q(known, .9))
	}
	if n := countRows(t, e, `SELECT count(*) FROM mail_outbox WHERE kind = 'password_reset'`); n != tries {
		t.Fatalf("%d reset mails, want %d", n, tries)
	}
}

func TestServer_SecurityNotices(t *testing.T) {
	e := mustOpenMailEnv(t)
	mustCreateEnglishUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	admin := newClient(t, e)
	admin.login("admin@example.com")

	t.Run("NewBrowser", func(t *testing.T) {
		mustCreateEnglishUser(t, e, "nb@example.com", "Nb", aistat.RoleViewer)
		c := newClient(t, e)
		res := c.do(http.MethodPost, "/login", "application/x-www-form-urlencoded",
			url.Values{"email": {"nb@example.com"}, "password": {testPassword}}.Encode(),
			"X-Forwarded-For", "198.51.100.44", "User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
		wantStatus(t, res, http.StatusSeeOther)
		m := mailWithSubject(t, e, "nb@example.com", "a sign-in from a new browser")
		if !strings.Contains(m.Text, "198.51.100.44") || !strings.Contains(m.Text, "Firefox") {
			t.Fatalf("the notice does not say where from:\n%s", m.Text)
		}
		// The same browser again, with its device cookie: no mail.
		wantStatus(t, c.postForm("/logout", nil), http.StatusSeeOther)
		c.login("nb@example.com")
		other := newClient(t, e)
		other.login("nb@example.com")
		waitMail(t, e, "nb@example.com", 2)
		if n := countRows(t, e, `SELECT count(*) FROM mail_outbox WHERE recipient = 'nb@example.com'`); n != 2 {
			t.Fatalf("%d new-browser mails for two browsers, want 2", n)
		}
	})

	t.Run("PasswordChanged", func(t *testing.T) {
		mustCreateEnglishUser(t, e, "pc@example.com", "Pc", aistat.RoleViewer)
		c := newClient(t, e)
		c.login("pc@example.com")
		res := c.postForm("/settings/password", url.Values{"current_password": {testPassword}, "new_password": {"another fine passphrase"}})
		wantStatus(t, res, http.StatusSeeOther)
		mailWithSubject(t, e, "pc@example.com", "your password was changed")
	})

	t.Run("AdminResetLink", func(t *testing.T) {
		u := mustCreateEnglishUser(t, e, "ar@example.com", "Ar", aistat.RoleViewer)
		wantStatus(t, admin.postForm("/admin/users/"+itoa(u.ID)+"/reset", nil), http.StatusSeeOther)
		m := mailWithSubject(t, e, "ar@example.com", "an administrator issued a password reset link")
		if strings.Contains(m.Text, "/reset/") {
			t.Fatalf("the notice carries the admin's link:\n%s", m.Text)
		}
	})

	t.Run("Disabled", func(t *testing.T) {
		u := mustCreateEnglishUser(t, e, "dis@example.com", "Dis", aistat.RoleViewer)
		wantStatus(t, admin.postForm("/admin/users/"+itoa(u.ID)+"/disable", confirmed()), http.StatusSeeOther)
		mailWithSubject(t, e, "dis@example.com", "your account was disabled")
	})
}

func TestServer_Invitations(t *testing.T) {
	e := mustOpenMailEnv(t)
	mustCreateEnglishUser(t, e, "boss@example.com", "Boss", aistat.RoleAdmin)
	admin := newClient(t, e)
	admin.login("boss@example.com")
	invite := func(email, name, role string) *response {
		return admin.postForm("/admin/invitations", url.Values{"email": {email}, "name": {name}, "role": {role}})
	}
	invitedID := func(email string) int64 {
		var id int64
		if err := e.db.QueryRow(`SELECT id FROM users WHERE email = $1 AND password_hash = ''`, email).Scan(&id); err != nil {
			t.Fatalf("no pending account for %s: %v", email, err)
		}
		return id
	}

	t.Run("AcceptedThroughTheLink", func(t *testing.T) {
		res := invite("new@example.com", "New Person", "editor")
		wantStatus(t, res, http.StatusSeeOther)
		id := invitedID("new@example.com")
		page := admin.get("/admin")
		wantBody(t, page, `id="invitations"`, `data-invitation-id="`+itoa(id)+`"`, "new@example.com")
		// Nobody can sign in before a password is chosen, whatever they type.
		wantStatus(t, newClient(t, e).postForm("/login", url.Values{"email": {"new@example.com"}, "password": {""}}), http.StatusUnprocessableEntity)
		wantStatus(t, newClient(t, e).postForm("/login", url.Values{"email": {"new@example.com"}, "password": {"anything at all"}}), http.StatusUnauthorized)

		// The invitee has no language yet: the site's default, Russian.
		m := mailWithSubject(t, e, "new@example.com", "приглашение")
		if !strings.Contains(m.Text, "Boss") {
			t.Fatalf("the invitation does not name who invites:\n%s", m.Text)
		}
		path := linkIn(t, e, m)
		var days float64
		if err := e.db.QueryRow(`SELECT extract(epoch FROM expires_at - now()) / 86400 FROM password_resets WHERE user_id = $1`, id).Scan(&days); err != nil {
			t.Fatal(err)
		}
		if days < 6.9 || days > 7 {
			t.Fatalf("link valid for %.2f days, want 7", days)
		}
		c := newClient(t, e)
		res = c.get(path)
		wantStatus(t, res, http.StatusOK)
		wantBody(t, res, "Welcome: choose your password")
		wantStatus(t, c.postForm(path, url.Values{"password": {"my own fine passphrase"}, "password_confirm": {"my own fine passphrase"}}), http.StatusSeeOther)
		wantStatus(t, c.postForm("/login", url.Values{"email": {"new@example.com"}, "password": {"my own fine passphrase"}}), http.StatusSeeOther)
		wantNoBody(t, admin.get("/admin"), `data-invitation-id="`+itoa(id)+`"`)
		if n := countRows(t, e, `SELECT count(*) FROM mail_outbox WHERE recipient = 'new@example.com' AND kind = 'password_changed'`); n != 0 {
			t.Fatal("accepting an invitation mailed a password-changed notice")
		}
		res = admin.postForm("/admin/invitations/"+itoa(id)+"/resend", nil)
		wantStatus(t, res, http.StatusConflict)
		wantStatus(t, admin.postForm("/admin/invitations/"+itoa(id)+"/withdraw", nil), http.StatusConflict)
	})

	t.Run("Resend", func(t *testing.T) {
		wantStatus(t, invite("again@example.com", "Again", "viewer"), http.StatusSeeOther)
		id := invitedID("again@example.com")
		first := linkIn(t, e, waitMail(t, e, "again@example.com", 1)[0])
		wantStatus(t, admin.postForm("/admin/invitations/"+itoa(id)+"/resend", nil), http.StatusSeeOther)
		second := linkIn(t, e, waitMail(t, e, "again@example.com", 2)[1])
		if first == second {
			t.Fatal("the invitation was sent again with the same link")
		}
		wantStatus(t, newClient(t, e).get(first), http.StatusGone)
		wantStatus(t, newClient(t, e).get(second), http.StatusOK)
		wantAudit(t, e, auditRow{invitedByID(t, e, "boss@example.com"), "boss@example.com", "invite_resend", id, "again@example.com", ""})
	})

	t.Run("Withdraw", func(t *testing.T) {
		wantStatus(t, invite("gone@example.com", "Gone", "viewer"), http.StatusSeeOther)
		id := invitedID("gone@example.com")
		link := linkIn(t, e, waitMail(t, e, "gone@example.com", 1)[0])
		wantStatus(t, admin.postForm("/admin/invitations/"+itoa(id)+"/withdraw", nil), http.StatusSeeOther)
		if n := countRows(t, e, `SELECT count(*) FROM users WHERE id = $1`, id); n != 0 {
			t.Fatal("the withdrawn account is still there")
		}
		if res := newClient(t, e).get(link); res.StatusCode != http.StatusGone && res.StatusCode != http.StatusNotFound {
			t.Fatalf("withdrawn link: status %d, want 410 or 404", res.StatusCode)
		}
		// The email is free again.
		wantStatus(t, invite("gone@example.com", "Gone", "viewer"), http.StatusSeeOther)
	})

	t.Run("BadInput", func(t *testing.T) {
		users := countRows(t, e, `SELECT count(*) FROM users`)
		mails := countRows(t, e, `SELECT count(*) FROM mail_outbox`)
		for _, tt := range []struct {
			email, name, role, field string
			status                   int
		}{
			{"", "Name", "viewer", "email", http.StatusUnprocessableEntity},
			{"not-an-email", "Name", "viewer", "email", http.StatusUnprocessableEntity},
			{"bad\x00@example.com", "Name", "viewer", "email", http.StatusUnprocessableEntity},
			{"rtl\u202e@example.com", "Name", "viewer", "email", http.StatusUnprocessableEntity},
			{"ok1@example.com", "", "viewer", "name", http.StatusUnprocessableEntity},
			{"ok2@example.com", strings.Repeat("я", 81), "viewer", "name", http.StatusUnprocessableEntity},
			{"ok3@example.com", "Bad\u200bName", "viewer", "name", http.StatusUnprocessableEntity},
			{"ok4@example.com", "Name", "owner", "role", http.StatusUnprocessableEntity},
			{"ok5@example.com", "Name", "", "role", http.StatusUnprocessableEntity},
			{"BOSS@example.com", "Name", "viewer", "email", http.StatusConflict},
			{"b\u043ess@example.com", "Name", "viewer", "email", http.StatusConflict},
		} {
			res := invite(tt.email, tt.name, tt.role)
			wantStatus(t, res, tt.status)
			wantBody(t, res, `id="invite-`+tt.field+`-error">`)
			wantNoBody(t, res, `id="invite-`+tt.field+`-error" hidden`)
		}
		if n := countRows(t, e, `SELECT count(*) FROM users`); n != users {
			t.Fatalf("bad input added %d users", n-users)
		}
		if n := countRows(t, e, `SELECT count(*) FROM mail_outbox`); n != mails {
			t.Fatalf("bad input queued %d mails", n-mails)
		}
		for _, path := range []string{"/admin/invitations/0/resend", "/admin/invitations/x/withdraw", "/admin/invitations/999999/resend"} {
			wantStatus(t, admin.postForm(path, nil), http.StatusNotFound)
		}
	})

	t.Run("OnlyAdmins", func(t *testing.T) {
		mustCreateEnglishUser(t, e, "ed@example.com", "Ed", aistat.RoleEditor)
		ed := newClient(t, e)
		ed.login("ed@example.com")
		wantStatus(t, ed.postForm("/admin/invitations", url.Values{"email": {"x@example.com"}, "name": {"X"}, "role": {"viewer"}}), http.StatusForbidden)
		wantNoBody(t, ed.get("/admin"), `id="invitations"`, `action="/admin/invitations"`)
	})
}

func invitedByID(tb testing.TB, e *env, email string) int64 {
	tb.Helper()
	var id int64
	if err := e.db.QueryRow(`SELECT id FROM users WHERE email = $1`, email).Scan(&id); err != nil {
		tb.Fatal(err)
	}
	return id
}

func TestServer_MailOnAdminAndMetrics(t *testing.T) {
	e := mustOpenMailEnv(t)
	mustCreateEnglishUser(t, e, "boss@example.com", "Boss", aistat.RoleAdmin)
	admin := newClient(t, e)
	admin.login("boss@example.com")
	waitMail(t, e, "boss@example.com", 1) // the new browser's notice
	if _, err := e.db.Exec(`INSERT INTO mail_outbox (kind, recipient, status, attempts, last_error, done_at)
		VALUES ('invitation', 'lost@example.com', 'failed', 40, '<script>550 no such user</script>', now())`); err != nil {
		t.Fatal(err)
	}
	page := admin.get("/admin")
	wantBody(t, page, `id="failed-mail"`, "lost@example.com", "Invitation", "&lt;script&gt;550 no such user")
	samples := scrape(t, e)
	for state, want := range map[string]float64{"queued": 0, "sent": 1, "failed": 1} {
		if v := value(samples, "aistat_mail", "state", state); v != want {
			t.Errorf(`aistat_mail{state=%q} = %v, want %v`, state, v, want)
		}
	}
}

func TestServer_EmailChange(t *testing.T) {
	e := mustOpenMailEnv(t)
	change := func(c *client, email, password string) *response {
		return c.postForm("/settings/email", url.Values{"email": {email}, "password": {password}})
	}

	t.Run("Confirmed", func(t *testing.T) {
		u := mustCreateEnglishUser(t, e, "old@example.com", "Olga", aistat.RoleViewer)
		c := newClient(t, e)
		c.login("old@example.com")
		wantBody(t, c.get("/settings"), `action="/settings/email"`)
		res := change(c, " fresh@example.com", testPassword)
		wantStatus(t, res, http.StatusSeeOther)
		wantBody(t, c.get("/settings"), "A confirmation link was sent to fresh@example.com")
		// Until the link is used, the old address stays.
		if got, _ := e.users.ByID(t.Context(), u.ID); got.Email != "old@example.com" {
			t.Fatalf("email %q before the confirmation, want the old one", got.Email)
		}
		m := mailWithSubject(t, e, "fresh@example.com", "confirm your new address")
		path := linkIn(t, e, m)
		// Opening the link changes nothing: a mail scanner may open it.
		page := newClient(t, e).get(path)
		wantStatus(t, page, http.StatusOK)
		wantBody(t, page, "fresh@example.com", `action="`+path+`"`)
		if got, _ := e.users.ByID(t.Context(), u.ID); got.Email != "old@example.com" {
			t.Fatal("GET of the link changed the email")
		}
		res = newClient(t, e).postForm(path, nil)
		wantStatus(t, res, http.StatusOK)
		wantBody(t, res, "your address is now fresh@example.com")
		if got, _ := e.users.ByID(t.Context(), u.ID); got.Email != "fresh@example.com" {
			t.Fatalf("email %q after the confirmation, want the new one", got.Email)
		}
		notice := mailWithSubject(t, e, "old@example.com", "your email address was changed")
		if !strings.Contains(notice.Text, "fresh@example.com") {
			t.Fatalf("the old address's notice does not name the new one:\n%s", notice.Text)
		}
		wantStatus(t, newClient(t, e).postForm(path, nil), http.StatusGone)
		wantStatus(t, newClient(t, e).postForm("/login", url.Values{"email": {"fresh@example.com"}, "password": {testPassword}}), http.StatusSeeOther)
	})

	t.Run("TakenMeanwhile", func(t *testing.T) {
		mustCreateEnglishUser(t, e, "slow@example.com", "Slow", aistat.RoleViewer)
		c := newClient(t, e)
		c.login("slow@example.com")
		wantStatus(t, change(c, "race@example.com", testPassword), http.StatusSeeOther)
		path := linkIn(t, e, mailWithSubject(t, e, "race@example.com", "confirm your new address"))
		mustCreateEnglishUser(t, e, "race@example.com", "Fast", aistat.RoleViewer)
		res := newClient(t, e).postForm(path, nil)
		wantStatus(t, res, http.StatusConflict)
		if n := countRows(t, e, `SELECT count(*) FROM users WHERE email = 'slow@example.com'`); n != 1 {
			t.Fatal("the refused confirmation changed the email")
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		u := mustCreateEnglishUser(t, e, "stay@example.com", "Stay", aistat.RoleViewer)
		mustCreateEnglishUser(t, e, "admin@example.com", "Other", aistat.RoleViewer)
		c := newClient(t, e)
		c.login("stay@example.com")
		before := readUserRow(t, e, u.ID)
		mails := countRows(t, e, `SELECT count(*) FROM mail_outbox WHERE kind = 'email_confirm'`)
		for _, tt := range []struct {
			email, password, field string
			status                 int
		}{
			{"", testPassword, "new-address", http.StatusUnprocessableEntity},
			{"nope", testPassword, "new-address", http.StatusUnprocessableEntity},
			{"x\x00@example.com", testPassword, "new-address", http.StatusUnprocessableEntity},
			{"x\u200b@example.com", testPassword, "new-address", http.StatusUnprocessableEntity},
			{strings.Repeat("x", 250) + "@example.com", testPassword, "new-address", http.StatusUnprocessableEntity},
			{"STAY@example.com", testPassword, "new-address", http.StatusUnprocessableEntity},
			{"new@example.com", "", "email-password", http.StatusUnprocessableEntity},
			{"new@example.com", "not my password", "email-password", http.StatusUnprocessableEntity},
			{"Admin@example.com", testPassword, "new-address", http.StatusConflict},
			{"\u0430dmin@example.com", testPassword, "new-address", http.StatusConflict},
		} {
			res := change(c, tt.email, tt.password)
			wantStatus(t, res, tt.status)
			wantBody(t, res, `id="`+tt.field+`-error">`)
			wantNoBody(t, res, `id="`+tt.field+`-error" hidden`)
		}
		if after := readUserRow(t, e, u.ID); after != before {
			t.Fatalf("bad input changed the user: %+v, want %+v", after, before)
		}
		if n := countRows(t, e, `SELECT count(*) FROM mail_outbox WHERE kind = 'email_confirm'`); n != mails {
			t.Fatalf("bad input queued %d confirmations", n-mails)
		}
		if n := countRows(t, e, `SELECT count(*) FROM email_changes WHERE user_id = $1`, u.ID); n != 0 {
			t.Fatalf("bad input recorded %d email changes", n)
		}
		for _, path := range []string{"/email/short", "/email/" + strings.Repeat("A", 43)} {
			if res := newClient(t, e).get(path); res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusGone {
				t.Fatalf("GET %s: status %d, want 404 or 410", path, res.StatusCode)
			}
		}
		wantStatus(t, newClient(t, e).postForm("/settings/email", url.Values{"email": {"a@example.com"}, "password": {testPassword}}), http.StatusUnauthorized)
	})
}

// TestServer_MailDelivery runs the site's own workers: two instances on
// one database send each mail once, and an SMTP server that is down only
// delays a mail.
func TestServer_MailDelivery(t *testing.T) {
	a := mustOpenMailEnv(t)
	b := mustOpenEnvConfig(t, envConfig{dsn: a.dsn, smtp: a.smtp, trustedProxies: localProxy})
	const n = 12
	for i := range n {
		email := "twice" + itoa(int64(i)) + "@example.com"
		mustCreateEnglishUser(t, a, email, "Twice", aistat.RoleViewer)
		e := a
		if i%2 == 1 {
			e = b
		}
		wantStatus(t, forgotFrom(t, e, "198.51.100.99", email), http.StatusOK)
	}
	poll.Until(t, "every mail sent", 20*time.Second, func() bool {
		return countRows(t, a, `SELECT count(*) FROM mail_outbox WHERE status <> 'sent'`) == 0
	})
	ids := map[string]bool{}
	for _, m := range a.smtp.Messages() {
		ids[m.MessageID] = true
	}
	if got := len(a.smtp.Messages()); got != n || len(ids) != n {
		t.Fatalf("%d messages with %d Message-IDs, want %d of each", got, len(ids), n)
	}

	t.Run("SMTPDownThenUp", func(t *testing.T) {
		mustCreateEnglishUser(t, a, "patient@example.com", "Patient", aistat.RoleViewer)
		a.smtp.Stop()
		wantStatus(t, forgotFrom(t, b, "198.51.100.98", "patient@example.com"), http.StatusOK)
		poll.Until(t, "a failed attempt", 10*time.Second, func() bool {
			return countRows(t, a, `SELECT count(*) FROM mail_outbox WHERE recipient = 'patient@example.com' AND status = 'queued' AND last_error <> ''`) == 1
		})
		a.smtp.Restart()
		mailWithSubject(t, a, "patient@example.com", "reset your password")
	})
}

// TestServer_MailWakesWorker: a new mail reaches the SMTP server well
// before the worker's own poll would have found it, on the instance that
// wrote it and on another: the notification woke them.
func TestServer_MailWakesWorker(t *testing.T) {
	a := mustOpenMailEnv(t)
	b := mustOpenEnvConfig(t, envConfig{dsn: a.dsn, smtp: a.smtp, trustedProxies: localProxy})
	mustCreateEnglishUser(t, a, "quick@example.com", "Quick", aistat.RoleViewer)
	within := mail.DefaultPoll / 2
	for i, e := range []*env{a, b} {
		start := time.Now()
		wantStatus(t, forgotFrom(t, e, "198.51.100.7"+itoa(int64(i)), "quick@example.com"), http.StatusOK)
		poll.Until(t, "the mail, before any poll", within, func() bool { return len(a.smtp.To("quick@example.com")) == i+1 })
		t.Logf("instance %d: mail delivered in %v", i, time.Since(start))
	}
}
