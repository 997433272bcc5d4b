package e2e

import (
	"regexp"
	"testing"
	"time"

	"aistat"
	"aistat/internal/pgtest"
	"aistat/internal/poll"
	assembly "aistat/internal/site"
	"aistat/internal/smtptest"
)

// TestMail_ForgotPassword: a person who forgot their password follows the
// sign-in page's link, gets the mail, sets a new password through its link
// and signs in with it, all in a browser.
func TestMail_ForgotPassword(t *testing.T) {
	srv := smtptest.Start(t)
	s := startSiteWith(t, pgtest.URL(t), func(c *assembly.Config) { c.SMTPURL, c.SMTPTLS = srv.URL(), srv.ClientTLS() })
	s.createUser(t, "forgetful@example.com", "Forgetful", aistat.RoleViewer)
	tb := newBrowser(t, "browser").newTab("forgot")
	tb.open(s.URL + "/login")
	tb.submit(`a[href="/password/forgot"]`)
	tb.fill("#email", "forgetful@example.com")
	tb.submit(`form[action="/password/forgot"] button[type="submit"]`)
	tb.waitFor("the page says a link is on its way", `document.getElementById('forgot-sent') !== null`, actionTimeout)

	poll.Until(t, "the mail", 15*time.Second, func() bool { return len(srv.To("forgetful@example.com")) == 1 })
	link := regexp.MustCompile(`/reset/[A-Za-z0-9_-]{43}`).FindString(srv.To("forgetful@example.com")[0].Text)
	if link == "" {
		t.Fatalf("no reset link in the mail:\n%s", srv.To("forgetful@example.com")[0].Text)
	}
	const fresh = "a fresh passphrase to remember"
	tb.open(s.URL + link)
	tb.fill("#password", fresh)
	tb.fill("#password_confirm", fresh)
	tb.submit(`form[action^="/reset/"] button[type="submit"]`)
	tb.waitFor("the sign-in page", `location.pathname === '/login'`, actionTimeout)
	tb.signIn(s, "forgetful@example.com", fresh)
}
