package e2e

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

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
	if eval[bool](tb, `document.documentElement.hasAttribute('data-enhanced')`) {
		t.Error("the page's script ran although JavaScript is off")
	}
	if got := s.streams.stats().total; got != 0 {
		t.Errorf("event streams opened = %d, want 0", got)
	}
}

// TestNoJavaScript_AdminActions acts on a user from the admin table with
// JavaScript off: each row's menu is one form whose buttons post to their
// own action (formaction), so the browser itself must send each to its
// place; Disable asks on a page of its own first.
func TestNoJavaScript_AdminActions(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "admin@example.com", "Администратор", aistat.RoleAdmin)
	editor := s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	tb := newBrowser(t, "browser").newTab("no-js")
	tb.disableScripts()
	tb.signIn(s, "admin@example.com", password)
	tb.open(s.URL + "/admin")
	row := fmt.Sprintf(`tr[data-user-id="%d"]`, editor.ID)
	flash := func() string { return eval[string](tb, `(document.querySelector('.flash') || {}).textContent`) }

	openMenu(tb, row)
	tb.do("choose viewer", chromedp.SetValue(chromedp.CSS(row+` select[name="role"]`), "viewer"))
	tb.submit(row + ` button[type=submit]:not([formaction])`)
	if got, want := flash(), "Сара Чен is now Viewer."; got != want {
		t.Errorf("after Change role: flash %q, want %q", got, want)
	}
	openMenu(tb, row)
	tb.submit(row + ` button[formaction$="/disable"]`)
	tb.submit(`main form button[type=submit]`)
	if got, want := flash(), "Сара Чен is disabled and signed out everywhere."; got != want {
		t.Errorf("after Disable: flash %q, want %q", got, want)
	}
	if !eval[bool](tb, `document.querySelector('`+row+`').classList.contains('is-disabled')`) {
		t.Error("the row does not show the user disabled")
	}
	openMenu(tb, row)
	tb.submit(row + ` button[formaction$="/enable"]`)
	u, err := s.users.ByID(t.Context(), editor.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != aistat.RoleViewer || u.Disabled {
		t.Errorf("user after the actions: role %s, disabled %v; want viewer, enabled", u.Role, u.Disabled)
	}
	if got := eval[string](tb, `location.pathname`); got != "/admin" {
		t.Errorf("after the actions: page %q, want /admin", got)
	}
}
