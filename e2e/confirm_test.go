package e2e

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"aistat"
	"aistat/internal/pgtest"
	"aistat/internal/poll"
)

// account is what an unconfirmed action must leave as it was: the row's
// last change and its sessions.
type account struct {
	updatedAt time.Time
	sessions  int
	disabled  bool
}

func (s *site) account(t *testing.T, u *aistat.User) account {
	t.Helper()
	var a account
	err := s.db.QueryRowContext(t.Context(), `
		SELECT updated_at, disabled, (SELECT count(*) FROM sessions WHERE user_id = u.id)
		FROM users u WHERE id = $1`, u.ID).Scan(&a.updatedAt, &a.disabled, &a.sessions)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// confirmedActions are the admin actions that ask first, as the admin page
// and its answers say them in English: the question, the button that
// answers yes in the dialog, and the flash once done.
var confirmedActions = []struct {
	action, heading, submit, flash string
}{
	{"revoke", "Sign this user out everywhere?", "Sign out everywhere", "Сара Чен is signed out everywhere (3 sessions ended)."},
	{"disable", "Disable this user?", "Disable", "Сара Чен is disabled and signed out everywhere."},
}

// withSession signs u in once more, so that the action has a session to
// end, and returns u's account as it is then.
func (s *site) withSession(t *testing.T, u *aistat.User) account {
	t.Helper()
	signIn(t, s, u.Email)
	return s.account(t, u)
}

// adminWithTarget starts a site with an admin signed in to a tab at /admin
// and an editor signed in on two other devices, whom the tab acts on.
func adminWithTarget(t *testing.T, scripts bool) (*site, *tab, *aistat.User, string) {
	t.Helper()
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "admin@example.com", "Администратор", aistat.RoleAdmin)
	editor := s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	signIn(t, s, editor.Email)
	signIn(t, s, editor.Email)
	tb := newBrowser(t, "browser").newTab("admin")
	if !scripts {
		tb.disableScripts()
	}
	tb.signIn(s, "admin@example.com", password)
	tb.open(s.URL + "/admin?q=%D0%A1%D0%B0%D1%80%D0%B0")
	return s, tb, editor, fmt.Sprintf(`tr[data-user-id="%d"]`, editor.ID)
}

// openMenu opens a row's menu of actions from the keyboard, as a person
// without a mouse would: focus on its button, then Enter. A menu open
// already stays so.
func openMenu(tb *tab, row string) {
	tb.t.Helper()
	if eval[bool](tb, `document.querySelector('`+row+` details').open`) {
		return
	}
	// Focused from the page itself: the table may be loaded again at any
	// time (when the event stream opens), and a node found beforehand
	// would be gone. Loaded again, it keeps the focus in the row.
	tb.do("open the row's menu",
		chromedp.Evaluate[chromedp.Void](`document.querySelector('`+row+` summary').focus()`),
		chromedp.KeyEvent(kb.Enter))
	tb.waitFor("the menu is open", `document.querySelector('`+row+` details').open`, actionTimeout)
}

// press clicks the button sel from the page itself, for a button in the
// admin table, which may be loaded again at any time.
func press(tb *tab, sel string) {
	tb.t.Helper()
	tb.do("press "+sel, chromedp.Evaluate[chromedp.Void](`document.querySelector('`+sel+`').click()`))
}

// TestConfirmations_NoJavaScript signs a user out everywhere and disables
// them from the admin page with JavaScript off: each action's button leads
// to the confirmation page, which changes nothing until its own button is
// pressed, and Cancel as well as the action come back to the row.
func TestConfirmations_NoJavaScript(t *testing.T) {
	s, tb, editor, row := adminWithTarget(t, false)
	rowHash := "#user-" + strconv.FormatInt(editor.ID, 10)
	flash := func() string { return eval[string](tb, `(document.querySelector('.flash') || {}).textContent`) }

	for _, tt := range confirmedActions {
		before := s.withSession(t, editor)
		openMenu(tb, row)
		tb.submit(row + ` button[formaction$="/` + tt.action + `"]`)
		if got, want := eval[string](tb, `location.pathname`), userPath(editor, tt.action); got != want {
			t.Fatalf("%s: page %q, want the confirmation at %q", tt.action, got, want)
		}
		if got := eval[string](tb, `document.querySelector('h1').textContent`); got != tt.heading {
			t.Errorf("%s: heading %q, want %q", tt.action, got, tt.heading)
		}
		if after := s.account(t, editor); after != before {
			t.Fatalf("%s: the confirmation page changed the account: %+v to %+v", tt.action, before, after)
		}

		tb.submit(`main a.button-secondary`)
		if got := eval[string](tb, `location.pathname + location.search + location.hash`); got != "/admin?q=%D0%A1%D0%B0%D1%80%D0%B0"+rowHash {
			t.Errorf("%s: Cancel leads to %q, want the row on the page the admin was on", tt.action, got)
		}
		if after := s.account(t, editor); after != before {
			t.Fatalf("%s: Cancel changed the account: %+v to %+v", tt.action, before, after)
		}

		openMenu(tb, row)
		tb.submit(row + ` button[formaction$="/` + tt.action + `"]`)
		tb.submit(`main form button[type=submit]`)
		if got := eval[string](tb, `location.pathname + location.search + location.hash`); got != "/admin?q=%D0%A1%D0%B0%D1%80%D0%B0"+rowHash {
			t.Errorf("%s: confirmed, the page is %q, want the row on the page the admin was on", tt.action, got)
		}
		if got := flash(); got != tt.flash {
			t.Errorf("%s: flash %q, want %q", tt.action, got, tt.flash)
		}
		if after := s.account(t, editor); after.sessions != 0 {
			t.Errorf("%s: confirmed, the user keeps %d sessions", tt.action, after.sessions)
		}
	}
	if !s.account(t, editor).disabled {
		t.Error("a confirmed Disable left the account enabled")
	}
}

// TestConfirmations_Dialog signs a user out everywhere and disables them
// with JavaScript: a dialog in the page's words asks first, and cancelling
// it, by its button or by Escape, sends nothing.
func TestConfirmations_Dialog(t *testing.T) {
	s, tb, editor, row := adminWithTarget(t, true)
	rowHash := "#user-" + strconv.FormatInt(editor.ID, 10)
	const dialog = `document.getElementById('confirm-dialog')`

	for _, tt := range confirmedActions {
		before := s.withSession(t, editor)
		tb.markPage()
		openMenu(tb, row)
		press(tb, row+` button[formaction$="/`+tt.action+`"]`)
		tb.waitFor("the dialog opens", dialog+`.open`, actionTimeout)
		words := eval[[]string](tb, `['[data-confirm-heading]', '[data-confirm-name]', '[data-confirm-submit]'].map((s) => `+dialog+`.querySelector(s).textContent)`)
		if want := []string{tt.heading, "Сара Чен", tt.submit}; fmt.Sprint(words) != fmt.Sprint(want) {
			t.Errorf("%s: the dialog says %q, want %q", tt.action, words, want)
		}
		if !eval[bool](tb, dialog+`.contains(document.activeElement)`) {
			t.Errorf("%s: the focus is not in the dialog", tt.action)
		}

		tb.click(`#confirm-dialog button[value="no"]`)
		tb.waitFor("the dialog closes", `!`+dialog+`.open`, actionTimeout)
		openMenu(tb, row)
		press(tb, row+` button[formaction$="/`+tt.action+`"]`)
		tb.waitFor("the dialog opens again", dialog+`.open`, actionTimeout)
		tb.do("press Escape", chromedp.KeyEvent(kb.Escape))
		tb.waitFor("Escape closes the dialog", `!`+dialog+`.open`, actionTimeout)
		if !tb.hasMark() {
			t.Fatalf("%s: a cancelled dialog loaded a page", tt.action)
		}
		if after := s.account(t, editor); after != before {
			t.Fatalf("%s: a cancelled dialog changed the account: %+v to %+v", tt.action, before, after)
		}

		openMenu(tb, row)
		press(tb, row+` button[formaction$="/`+tt.action+`"]`)
		tb.waitFor("the dialog opens", dialog+`.open`, actionTimeout)
		tb.submit(`#confirm-dialog button[value="yes"]`)
		if got := eval[string](tb, `location.pathname + location.hash`); got != "/admin"+rowHash {
			t.Errorf("%s: confirmed, the page is %q, want the row, /admin%s", tt.action, got, rowHash)
		}
		if after := s.account(t, editor); after.sessions != 0 {
			t.Errorf("%s: confirmed, the user keeps %d sessions", tt.action, after.sessions)
		}
	}
	if !s.account(t, editor).disabled {
		t.Error("a confirmed Disable left the account enabled")
	}
}

// TestConfirmations_TableReloaded: the admin table may be loaded again
// while the dialog asks (an event stream opening resyncs it), which puts
// new rows in place of the one whose button opened it; confirming still
// sends the action, through the row as it is now.
func TestConfirmations_TableReloaded(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "admin@example.com", "Администратор", aistat.RoleAdmin)
	editor := s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	signIn(t, s, editor.Email)
	tb := newBrowser(t, "browser").newTab("admin")
	tb.signIn(s, "admin@example.com", password)
	row := fmt.Sprintf(`tr[data-user-id="%d"]`, editor.ID)

	waiting, open := s.browserStreams.close()
	defer open()
	tb.open(s.URL + "/admin")
	poll.Until(t, "the page asking for its event stream", actionTimeout, func() bool { return waiting() > 0 })
	openMenu(tb, row)
	press(tb, row+` button[formaction$="/revoke"]`)
	tb.waitFor("the dialog opens", `document.getElementById('confirm-dialog').open`, actionTimeout)
	tb.do("mark the row", chromedp.Evaluate[chromedp.Void](`window.__row = document.querySelector('`+row+`')`))
	open()
	tb.waitFor("the table is loaded again", `document.querySelector('`+row+`') !== window.__row`, liveWithin)

	tb.submit(`#confirm-dialog button[value="yes"]`)
	if got, want := eval[string](tb, `location.pathname + location.hash`), "/admin#user-"+strconv.FormatInt(editor.ID, 10); got != want {
		t.Errorf("confirmed, the page is %q, want %q", got, want)
	}
	if n := s.account(t, editor).sessions; n != 0 {
		t.Errorf("confirmed, the user keeps %d sessions", n)
	}
}
