package e2e

import (
	"testing"

	"aistat"
	"aistat/internal/pgtest"
)

// TestNoJavaScript_Profile signs in and saves the profile with JavaScript
// off: the plain forms do everything, and no event stream is opened.
func TestNoJavaScript_Profile(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	tb := newBrowser(t, "browser").newTab("no-js")
	tb.disableScripts()

	tb.signIn(s, "editor@example.com", password)
	tb.open(s.URL + "/settings")
	tb.fill("#name", "Ivan")
	tb.submit("#profile-form button[type=submit]")

	if got := eval[string](tb, `location.pathname`); got != "/settings" {
		t.Errorf("after saving: page %q, want /settings", got)
	}
	if got := eval[string](tb, `(document.querySelector('.flash') || {}).textContent`); got != "Profile saved." {
		t.Errorf("flash = %q, want %q", got, "Profile saved.")
	}
	if got := tb.headerName(); got != "Ivan" {
		t.Errorf("header name = %q, want Ivan", got)
	}
	if eval[bool](tb, `'aistat' in window`) {
		t.Error("the page's script ran although JavaScript is off")
	}
	if got := s.streams.stats().total; got != 0 {
		t.Errorf("event streams opened = %d, want 0", got)
	}
}
