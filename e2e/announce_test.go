package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"aistat"
	"aistat/internal/pgtest"
)

// recordAnnouncements keeps, in the page's window.__said, every sentence
// its live region is given from now on.
func (tb *tab) recordAnnouncements() {
	tb.t.Helper()
	if !eval[bool](tb, `(() => {
		const region = document.querySelector('[aria-live="polite"]#live-region');
		if (!region) { return false; }
		window.__said = [];
		new MutationObserver(() => { if (region.textContent) { window.__said.push(region.textContent); } })
			.observe(region, { childList: true, characterData: true, subtree: true });
		return true;
	})()`) {
		tb.t.Fatalf("%s: the page has no polite live region", tb.name)
	}
}

// said is what the page's live region said since recordAnnouncements.
func (tb *tab) said() []string {
	tb.t.Helper()
	return eval[[]string](tb, `window.__said`)
}

// TestLive_Announcements: a change of the profile made elsewhere is said in
// the live region of every open page, in the page's words; a tab's own
// save is not said there again (its form says "saved"), though its other
// tabs say it.
func TestLive_Announcements(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "admin@example.com", "Администратор", aistat.RoleAdmin)
	editor := s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	b := newBrowser(t, "browser")
	settings := b.newTab("settings")
	settings.signIn(s, editor.Email, password)
	settings.open(s.URL + "/settings")
	home := b.newTab("home")
	home.open(s.URL + "/")
	s.waitStreams(t, 1)
	settings.recordAnnouncements()
	home.recordAnnouncements()
	const (
		renamed = "Your name was changed in another tab or on another device."
		viewer  = "Your role is now Viewer."
	)
	hasSaid := func(sentence string, times int) string {
		return fmt.Sprintf(`window.__said.filter((s) => s === %q).length === %d`, sentence, times)
	}

	signIn(t, s, editor.Email).send(http.MethodPut, "/api/profile", "application/json", `{"name": "Ivan", "avatarUrl": ""}`, http.StatusOK)
	for _, tb := range []*tab{settings, home} {
		tb.waitFor("the rename from another device is said", hasSaid(renamed, 1), liveWithin)
	}

	settings.fill("#name", "Пётр")
	settings.click("#profile-form button[type=submit]")
	settings.waitFor("the form says the profile is saved", `document.getElementById('profile-status').textContent === 'Profile saved.'`, liveWithin)
	home.waitFor("the other tab says the rename", hasSaid(renamed, 2), liveWithin)

	// The role's change comes after the save's event: once a page said
	// it, it had the save's event too.
	signIn(t, s, "admin@example.com").postForm(userPath(editor, "role"), url.Values{"role": {"viewer"}})
	for _, tb := range []*tab{settings, home} {
		tb.waitFor("the role's change is said", hasSaid(viewer, 1), liveWithin)
	}
	if got, want := strings.Join(settings.said(), " | "), renamed+" | "+viewer; got != want {
		t.Errorf("the saving tab said %q, want %q: its own save is not a change from elsewhere", got, want)
	}
	if got, want := strings.Join(home.said(), " | "), renamed+" | "+renamed+" | "+viewer; got != want {
		t.Errorf("the other tab said %q, want %q", got, want)
	}
}
