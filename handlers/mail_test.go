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
		wantStatus(t, admin.postForm("/admin/users/"+itoa(u.ID)+"/reset", nil), http.StatusOK)
		m := mailWithSubject(t, e, "ar@example.com", "an administrator issued a password reset link")
		if strings.Contains(m.Text, "/reset/") {
			t.Fatalf("the notice carries the admin's link:\n%s", m.Text)
		}
	})

	t.Run("Disabled", func(t *testing.T) {
		u := mustCreateEnglishUser(t, e, "dis@example.com", "Dis", aistat.RoleViewer)
		wantStatus(t, admin.postForm("/admin/users/"+itoa(u.ID)+"/disable", nil), http.StatusSeeOther)
		mailWithSubject(t, e, "dis@example.com", "your account was disabled")
	})
}
