package e2e

import (
	"fmt"
	"net/http"
	"testing"

	"aistat"
	"aistat/internal/pgtest"
)

// TestLive_EditorTable keeps the admin page open as an editor while a user
// changes: the row follows the name, and what editors' events do not carry
// (the email) stays as the page drew it instead of turning into
// "undefined".
func TestLive_EditorTable(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	viewer := s.createUser(t, "viewer@example.com", "Vera Viewer", aistat.RoleViewer)
	tb := newBrowser(t, "browser").newTab("editor")
	tb.signIn(s, "editor@example.com", password)
	tb.open(s.URL + "/admin")
	s.waitStreams(t, 1)
	tb.markPage()
	row := fmt.Sprintf(`document.querySelector('tr[data-user-id="%d"]')`, viewer.ID)
	email := eval[string](tb, row+`.querySelector('.user-meta-email') ? `+row+`.querySelector('.user-meta-email').textContent : ''`)

	signIn(t, s, "viewer@example.com").send(http.MethodPut, "/api/profile", "application/json",
		`{"name": "Ivan Petrov", "avatarUrl": ""}`, http.StatusOK)
	tb.waitFor("the row shows the new name and initials", row+`.querySelector('.user-meta-name > span').textContent === 'Ivan Petrov' &&
		`+row+`.querySelector('.avatar-initials').textContent === 'IP'`, liveWithin)
	if got := eval[string](tb, row+`.querySelector('.user-meta-email') ? `+row+`.querySelector('.user-meta-email').textContent : ''`); got != email {
		t.Errorf("the row's email after the event: %q, want %q as the page drew it", got, email)
	}
	if !tb.hasMark() {
		t.Error("the admin page was loaded again")
	}
}
