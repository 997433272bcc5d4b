package e2e

import (
	"fmt"
	"github.com/chromedp/chromedp"
	"net/http"
	"net/url"
	"testing"
	"time"

	"aistat"
	"aistat/internal/pgtest"
	"aistat/internal/poll"
)

// TestLive_RenameWithoutReload saves the profile on /settings: the header
// follows at once, and the page is never loaded again.
func TestLive_RenameWithoutReload(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	tb := newBrowser(t, "browser").newTab("settings")
	tb.signIn(s, "editor@example.com", password)
	tb.open(s.URL + "/settings")

	navigations := tb.countNavigations()
	tb.markPage()
	avatar := s.storedAvatar(t)
	tb.fill("#name", "Ivan")
	tb.fill("#avatar_url", avatar)
	tb.click("#profile-form button[type=submit]")

	tb.waitFor("the status says the profile is saved",
		`document.getElementById('profile-status').textContent === 'Profile saved.'`, liveWithin)
	if got := tb.headerName(); got != "Ivan" {
		t.Errorf("header name = %q, want %q", got, "Ivan")
	}
	// The image loads from the site, so it must show, not the initials
	// behind it: the header's small circle takes the small picture.
	tb.waitFor("the header shows the new avatar", fmt.Sprintf(`(() => {
		const img = document.querySelector('header [data-user-avatar] img');
		return img && img.getAttribute('src') === %q && img.complete && img.naturalWidth > 0 && !img.hidden;
	})()`, avatar+"?size=64"), liveWithin)
	if got := eval[string](tb, `document.querySelector('header [data-user-initials]').textContent`); got != "I" {
		t.Errorf("header initials = %q, want %q", got, "I")
	}
	if !tb.hasMark() {
		t.Error("the page was loaded again: its window lost the mark")
	}
	if n := navigations.Load(); n != 0 {
		t.Errorf("page loads after Save = %d, want 0", n)
	}
}

// TestLive_EightTabsOneStream opens eight tabs of one browser: they share a
// single event stream (a stream per tab would use up the six connections a
// browser allows per host, and the seventh tab would not load), and a rename
// from another device shows in every one of them.
func TestLive_EightTabsOneStream(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	b := newBrowser(t, "browser")
	tabs := []*tab{b.newTab("tab1")}
	tabs[0].signIn(s, "editor@example.com", password)
	for i := 2; i <= 8; i++ {
		tb := b.newTab(fmt.Sprintf("tab%d", i))
		tb.open(s.URL + "/")
		tabs = append(tabs, tb)
	}
	for _, tb := range tabs {
		tb.waitFor("the header shows the user", `document.querySelector('header [data-user-name]') !== null`, actionTimeout)
	}
	last := tabs[len(tabs)-1]
	if got := eval[string](last, `document.readyState`); got != "complete" {
		t.Errorf("eighth tab: document.readyState = %q, want complete", got)
	}
	if got := last.headerName(); got != "Сара Чен" {
		t.Errorf("eighth tab: header name = %q, want %q", got, "Сара Чен")
	}
	s.waitStreams(t, 1)
	for _, tb := range tabs {
		tb.markPage()
	}

	other := signIn(t, s, "editor@example.com")
	other.send(http.MethodPut, "/api/profile", "application/json", `{"name": "Ivan Petrov", "avatarUrl": ""}`, http.StatusOK)
	deadline := time.Now().Add(liveWithin)
	for _, tb := range tabs {
		tb.waitFor("the header shows the new name", `document.querySelector('header [data-user-name]').textContent === 'Ivan Petrov'`,
			max(time.Until(deadline), 0))
	}
	for _, tb := range tabs {
		if !tb.hasMark() {
			t.Errorf("%s: the page was loaded again", tb.name)
		}
	}
	if got := s.streams.stats(); got.open != 1 || got.max != 1 {
		t.Errorf("event streams: %d open, at most %d at once; want 1 and 1", got.open, got.max)
	}
}

// TestLive_TwoInstances has two devices on two instances of the app that
// share a database: a rename on one device through one instance shows on
// the other device, served by the other instance, without a reload.
func TestLive_TwoInstances(t *testing.T) {
	dsn := pgtest.URL(t)
	siteA, siteB := startSite(t, dsn), startSite(t, dsn)
	siteA.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)

	laptop := newBrowser(t, "laptop").newTab("settings")
	laptop.signIn(siteA, "editor@example.com", password)
	laptop.open(siteA.URL + "/settings")
	phone := newBrowser(t, "phone").newTab("home")
	phone.signIn(siteB, "editor@example.com", password)
	siteA.waitStreams(t, 1)
	siteB.waitStreams(t, 1)
	phone.markPage()

	laptop.fill("#name", "Ivan")
	laptop.click("#profile-form button[type=submit]")
	start := time.Now()
	phone.waitFor("the other device shows the new name",
		`document.querySelector('header [data-user-name]').textContent === 'Ivan'`, liveWithin)
	t.Logf("the other instance's page showed the rename after %v", time.Since(start).Round(time.Millisecond))
	if got := phone.headerName(); got != "Ivan" {
		t.Errorf("phone header = %q, want Ivan", got)
	}
	if !phone.hasMark() {
		t.Error("phone: the page was loaded again")
	}
}

// TestLive_Promote: a viewer made editor gets, on the open page, the
// Admin link and the new role's badge, as the server names and shows
// them: the label and the staff flag come with the profile event, the
// link's name from the page.
func TestLive_Promote(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "admin@example.com", "Администратор", aistat.RoleAdmin)
	viewer := s.createUser(t, "viewer@example.com", "Vera Viewer", aistat.RoleViewer)
	tb := newBrowser(t, "browser").newTab("home")
	tb.signIn(s, "viewer@example.com", password)
	tb.open(s.URL + "/")
	if eval[bool](tb, `document.querySelector('[data-admin-link]') !== null`) {
		t.Fatal("a viewer's header has an Admin link")
	}
	s.waitStreams(t, 1)
	tb.markPage()

	signIn(t, s, "admin@example.com").postForm(userPath(viewer, "role"), url.Values{"role": {"editor"}})
	tb.waitFor("the header has an Admin link", `(() => {
		const a = document.querySelector('[data-admin-link]');
		return a && a.checkVisibility() && a.textContent === 'Admin' && a.getAttribute('href') === '/admin';
	})()`, liveWithin)
	if got := eval[string](tb, `(() => { const b = document.querySelector('header [data-user-role]'); return b.textContent + ' ' + b.dataset.userRole + ' ' + b.className; })()`); got != "Editor editor role role-editor" {
		t.Errorf("role badge = %q, want %q", got, "Editor editor role role-editor")
	}
	if got := eval[string](tb, `document.querySelector('[data-user-role-label]').textContent`); got != "Editor" {
		t.Errorf("home page's role = %q, want Editor", got)
	}
	if !tb.hasMark() {
		t.Error("the page was loaded again on the role change")
	}
}

// TestLive_DemoteAndRevoke: an admin demotes an editor, whose open page
// loses its Admin link, then signs them out everywhere, which sends the page
// to the sign-in form with a message.
func TestLive_DemoteAndRevoke(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "admin@example.com", "Администратор", aistat.RoleAdmin)
	editor := s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	tb := newBrowser(t, "browser").newTab("settings")
	tb.signIn(s, "editor@example.com", password)
	tb.open(s.URL + "/settings")
	tb.waitFor("the header has an Admin link", `document.querySelector('[data-admin-link]').checkVisibility()`, actionTimeout)
	s.waitStreams(t, 1)
	tb.markPage()

	admin := signIn(t, s, "admin@example.com")
	admin.postForm(userPath(editor, "role"), url.Values{"role": {"viewer"}})
	tb.waitFor("the Admin link is gone",
		`(() => { const a = document.querySelector('[data-admin-link]'); return !a || !a.checkVisibility(); })()`, liveWithin)
	if got := eval[string](tb, `document.querySelector('header [data-user-role]').textContent`); got != "Viewer" {
		t.Errorf("role badge = %q, want Viewer", got)
	}
	if !tb.hasMark() {
		t.Error("the page was loaded again on the role change")
	}

	admin.postForm(userPath(editor, "revoke"), url.Values{"confirm": {"yes"}})
	tb.waitFor("the page is the sign-in form saying why",
		`location.pathname === '/login' && location.search.includes('signed_out=revoked') && !!document.getElementById('login-notice')`, liveWithin)
	if got, want := eval[string](tb, `document.getElementById('login-notice').textContent`), aistat.EndRevoked.Message(); got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
}

// TestLive_ChangeBeforeStreamOpens: a change committed after a page was
// rendered and announced before its event stream was open reaches no stream
// of the browser; the page must still show it once the stream opens.
func TestLive_ChangeBeforeStreamOpens(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	tb := newBrowser(t, "browser").newTab("home")
	tb.signIn(s, "editor@example.com", password)

	waiting, open := s.browserStreams.close()
	defer open()
	tb.open(s.URL + "/")
	poll.Until(t, "the page asking for its event stream", actionTimeout, func() bool { return waiting() > 0 })
	other := signIn(t, s, "editor@example.com")
	events := other.stream()
	other.send(http.MethodPut, "/api/profile", "application/json", `{"name": "Ivan", "avatarUrl": ""}`, http.StatusOK)
	// The other device's stream heard it: the change was announced to the
	// streams open then, which the page's is not.
	events.waitFor(t, "profile", `"name":"Ivan"`)
	open()
	tb.waitFor("the header shows the change", `document.querySelector('header [data-user-name]').textContent === 'Ivan'`, liveWithin)
}

// TestLive_LeaveAndComeBack: a page left for another gives up its stream
// at once (whether the browser discards it or keeps it to come back to),
// and back on it, it follows changes again.
func TestLive_LeaveAndComeBack(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	tb := newBrowser(t, "browser").newTab("home")
	tb.signIn(s, "editor@example.com", password)
	s.waitStreams(t, 1)
	tb.open("about:blank")
	s.waitStreams(t, 0)

	tb.do("go back", chromedp.NavigateBack())
	tb.waitFor("the header shows the user", `document.querySelector('header [data-user-name]') !== null`, actionTimeout)
	s.waitStreams(t, 1)
	signIn(t, s, "editor@example.com").send(http.MethodPut, "/api/profile", "application/json",
		`{"name": "Ivan", "avatarUrl": ""}`, http.StatusOK)
	tb.waitFor("the page shows the change", `document.querySelector('header [data-user-name]').textContent === 'Ivan'`, liveWithin)
}

// leaderAndFollower signs a browser in as editor@example.com with two tabs
// on the home page: the leader holds the browser's event stream, the
// follower waits to take it over.
func leaderAndFollower(t *testing.T) (s *site, b *browser, leader, follower *tab) {
	t.Helper()
	s = startSite(t, pgtest.URL(t))
	s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	b = newBrowser(t, "browser")
	b.newTab("sign-in").signIn(s, "editor@example.com", password)
	// The browser's first tab cannot be closed alone: it steps aside, so
	// that the next tab leads. Whether its page had opened a stream before
	// it left depends on how quick the machine is: count from its leaving.
	b.tabs[0].open("about:blank")
	s.waitStreams(t, 0)
	before := s.streams.stats().total
	leader = b.newTab("leader")
	leader.open(s.URL + "/")
	s.waitStreamsFunc(t, "the leader's stream open alone", func(got streamStats) bool {
		return got.total == before+1 && got.open == 1
	})
	follower = b.newTab("follower")
	follower.open(s.URL + "/")
	follower.waitFor("the header shows the user", `document.querySelector('header [data-user-name]') !== null`, actionTimeout)
	return s, b, leader, follower
}

// TestLive_LeaderTabCloses closes the tab that holds the browser's event
// stream: another tab opens it again, and changes keep arriving.
func TestLive_LeaderTabCloses(t *testing.T) {
	s, b, leader, follower := leaderAndFollower(t)
	follower.markPage()

	before := s.streams.stats().total
	b.closeTab(leader)
	s.waitStreamsFunc(t, "a new stream replacing the closed one", func(got streamStats) bool {
		return got.total == before+1 && got.open == 1
	})
	other := signIn(t, s, "editor@example.com")
	other.send(http.MethodPut, "/api/profile", "application/json", `{"name": "Ivan", "avatarUrl": ""}`, http.StatusOK)
	follower.waitFor("the remaining tab shows the new name",
		`document.querySelector('header [data-user-name]').textContent === 'Ivan'`, liveWithin)
	if !follower.hasMark() {
		t.Error("the remaining tab was loaded again")
	}
}

// TestLive_ResyncKeepsNewerEvent: a tab that takes the stream over asks the
// server for the current user, and a change made while that answer is on
// its way arrives as an event first. The answer, read before the change,
// must not put the old name back.
func TestLive_ResyncKeepsNewerEvent(t *testing.T) {
	s, b, leader, follower := leaderAndFollower(t)
	waiting, release := s.sessionAnswers.close()
	defer release()
	b.closeTab(leader)
	poll.Until(t, "the new leader's resync asking for the user", actionTimeout, func() bool { return waiting() > 0 })
	other := signIn(t, s, "editor@example.com")
	other.send(http.MethodPut, "/api/profile", "application/json", `{"name": "Ivan", "avatarUrl": ""}`, http.StatusOK)
	follower.waitFor("the event shows the new name",
		`document.querySelector('header [data-user-name]').textContent === 'Ivan'`, liveWithin)
	release()
	follower.waitFor("the resync's answer arrived",
		`performance.getEntriesByType('resource').some((e) => e.name.endsWith('/api/session') && e.responseEnd > 0)`, liveWithin)
	// The answer is handled as soon as it arrives: for a while after, the
	// header must still show the new name.
	if poll.Within(300*time.Millisecond, func() bool { return follower.headerName() != "Ivan" }) {
		t.Fatalf("header after the resync's older answer = %q, want Ivan", follower.headerName())
	}
}

// TestLive_SettingsForm renames the user elsewhere while two tabs show the
// settings form: the untouched form follows, the one being edited keeps the
// draft, and both headers follow.
func TestLive_SettingsForm(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	b := newBrowser(t, "browser")
	clean := b.newTab("clean")
	clean.signIn(s, "editor@example.com", password)
	clean.open(s.URL + "/settings")
	draft := b.newTab("draft")
	draft.open(s.URL + "/settings")
	draft.fill("#name", "Draft")
	s.waitStreams(t, 1)

	avatar := s.storedAvatar(t)
	other := signIn(t, s, "editor@example.com")
	other.send(http.MethodPut, "/api/profile", "application/json", fmt.Sprintf(`{"name": "Ivan", "avatarUrl": %q}`, avatar), http.StatusOK)
	for _, tb := range []*tab{clean, draft} {
		tb.waitFor("the header shows the new name", `document.querySelector('header [data-user-name]').textContent === 'Ivan'`, liveWithin)
	}
	clean.waitFor("the untouched form shows the new profile", fmt.Sprintf(`document.getElementById('name').value === 'Ivan' &&
		document.getElementById('avatar_url').value === %q &&
		document.querySelector('[data-preview-name]').textContent === 'Ivan'`, avatar), liveWithin)
	if got := eval[string](draft, `document.getElementById('name').value`); got != "Draft" {
		t.Errorf("the form being edited: name = %q, want the draft kept", got)
	}
	if got := eval[string](draft, `document.querySelector('[data-preview-name]').textContent`); got != "Draft" {
		t.Errorf("the form being edited: preview = %q, want the draft kept", got)
	}
}

// TestLive_AdminTable keeps the admin page open while users change, appear
// and go: the table follows without a reload.
func TestLive_AdminTable(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "admin@example.com", "Администратор", aistat.RoleAdmin)
	editor := s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	tb := newBrowser(t, "browser").newTab("admin")
	tb.signIn(s, "admin@example.com", password)
	tb.open(s.URL + "/admin")
	s.waitStreams(t, 1)
	tb.markPage()
	row := fmt.Sprintf(`document.querySelector('tr[data-user-id="%d"]')`, editor.ID)

	signIn(t, s, "editor@example.com").send(http.MethodPut, "/api/profile", "application/json",
		`{"name": "Ivan Petrov", "avatarUrl": ""}`, http.StatusOK)
	tb.waitFor("the row shows the new name and initials", row+`.querySelector('.user-meta-name > span').textContent === 'Ivan Petrov' &&
		`+row+`.querySelector('.avatar-initials').textContent === 'IP' &&
		`+row+`.querySelector('.row-actions legend').textContent === 'Ivan Petrov'`, liveWithin)

	signIn(t, s, "admin@example.com").postForm(userPath(editor, "role"), url.Values{"role": {"viewer"}})
	tb.waitFor("the row shows the new role", row+`.querySelector('td .role').textContent === 'Viewer' &&
		`+row+`.querySelector('td .role').classList.contains('role-viewer') &&
		`+row+`.querySelector('select[name="role"]').value === 'viewer'`, liveWithin)

	admin := signIn(t, s, "admin@example.com")
	admin.postForm(userPath(editor, "disable"), url.Values{"confirm": {"yes"}})
	tb.waitFor("the row shows the account disabled", row+`.classList.contains('is-disabled') &&
		`+row+`.querySelector('.badge-muted') !== null &&
		`+row+`.querySelector('button[formaction$="/enable"]').textContent === 'Enable' &&
		`+row+`.querySelector('button[formaction$="/disable"]') === null`, liveWithin)
	admin.postForm(userPath(editor, "enable"), nil)
	tb.waitFor("the row shows the account enabled", `!`+row+`.classList.contains('is-disabled') &&
		`+row+`.querySelector('.badge-muted') === null &&
		`+row+`.querySelector('button[formaction$="/disable"]').textContent === 'Disable'`, liveWithin)

	added := s.createUser(t, "new@example.com", "New Person", aistat.RoleViewer)
	tb.waitFor("the new user has a row", fmt.Sprintf(`document.querySelector('tr[data-user-id="%d"]') !== null &&
		document.getElementById('users-caption').textContent === 'All users (3)'`, added.ID), liveWithin)

	if _, err := s.db.ExecContext(t.Context(), `DELETE FROM users WHERE id = $1`, added.ID); err != nil {
		t.Fatal(err)
	}
	tb.waitFor("the deleted user's row is gone", fmt.Sprintf(`document.querySelector('tr[data-user-id="%d"]') === null &&
		document.getElementById('users-caption').textContent === 'All users (2)'`, added.ID), liveWithin)
	if !tb.hasMark() {
		t.Error("the admin page was loaded again")
	}
}
