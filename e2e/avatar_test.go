package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/chromedp/chromedp"

	"aistat"
	"aistat/internal/pgtest"
)

// TestAvatar_Upload picks a picture through the settings page's real file
// input: the preview shows it at once, Upload puts it in the header of this
// tab and of a second one without a reload of either, and Remove brings the
// initials back in both.
func TestAvatar_Upload(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	b := newBrowser(t, "browser")
	settings := b.newTab("settings")
	settings.signIn(s, "editor@example.com", password)
	settings.open(s.URL + "/settings")
	home := b.newTab("home")
	home.open(s.URL + "/")
	s.waitStreams(t, 1)
	navigations := settings.countNavigations()
	settings.markPage()
	home.markPage()

	chooseAvatar(t, settings)
	settings.waitFor("the preview shows the chosen picture",
		`document.querySelector('[data-preview-avatar] canvas') !== null`, actionTimeout)
	settings.click("#avatar-form button[type=submit]:not([data-avatar-remove])")
	settings.waitFor("the status says the picture is saved",
		`document.getElementById('avatar-status').textContent === 'Picture saved.'`, liveWithin)

	path := eval[string](settings, `document.getElementById('avatar_url').value`)
	if !regexp.MustCompile(`^/avatars/[0-9a-f]{64}\.jpg$`).MatchString(path) {
		t.Fatalf("the profile form's avatar field = %q, want the stored picture", path)
	}
	shown := `(() => {
		const img = document.querySelector('header [data-user-avatar] img');
		return img !== null && img.getAttribute('src') === '` + path + `?size=64' && img.complete && img.naturalWidth === 64 && !img.hidden;
	})()`
	settings.waitFor("the header shows the new picture", shown, liveWithin)
	home.waitFor("the second tab's header follows", shown, liveWithin)
	settings.waitFor("the preview shows the saved picture", `(() => {
		const img = document.querySelector('[data-preview-avatar] img');
		return img !== null && img.getAttribute('src') === '`+path+`' && img.naturalWidth === 256 &&
			document.querySelector('[data-preview-avatar] canvas') === null;
	})()`, liveWithin)

	settings.click("#avatar-form [data-avatar-remove]")
	initials := `document.querySelector('header [data-user-avatar] img') === null &&
		document.querySelector('header [data-user-initials]').textContent === 'СЧ'`
	settings.waitFor("the header shows initials again", initials, liveWithin)
	home.waitFor("the second tab shows initials again", initials, liveWithin)
	settings.waitFor("Remove hides itself", `document.querySelector('[data-avatar-remove]').hidden`, liveWithin)

	for _, tb := range []*tab{settings, home} {
		if !tb.hasMark() {
			t.Errorf("%s: the page was loaded again", tb.name)
		}
	}
	if n := navigations.Load(); n != 0 {
		t.Errorf("page loads on the settings tab = %d, want 0", n)
	}
}

// TestAvatar_UploadWithoutJavaScript: with scripts off the picture form
// posts the file itself and comes back with a flash (Post/Redirect/Get),
// and its Remove button posts to its own action.
func TestAvatar_UploadWithoutJavaScript(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	tb := newBrowser(t, "browser").newTab("no-js")
	tb.disableScripts()
	tb.signIn(s, "editor@example.com", password)
	tb.open(s.URL + "/settings")
	flash := func() string { return eval[string](tb, `(document.querySelector('.flash') || {}).textContent`) }

	chooseAvatar(t, tb)
	tb.submit("#avatar-form button[type=submit]:not([data-avatar-remove])")
	if got := flash(); got != "Picture saved." {
		t.Errorf("after Upload: flash %q, want %q", got, "Picture saved.")
	}
	if !eval[bool](tb, `(() => {
		const img = document.querySelector('header [data-user-avatar] img');
		return img !== null && /^\/avatars\/[0-9a-f]{64}\.jpg\?size=64$/.test(img.getAttribute('src')) && img.naturalWidth === 64;
	})()`) {
		t.Error("the header does not show the uploaded picture")
	}

	tb.submit("#avatar-form [data-avatar-remove]")
	if got, want := flash(), "Picture removed: your initials are shown instead."; got != want {
		t.Errorf("after Remove: flash %q, want %q", got, want)
	}
	if eval[bool](tb, `document.querySelector('header [data-user-avatar] img') !== null`) {
		t.Error("the header still shows a picture after Remove")
	}
}

// chooseAvatar picks the test picture in the settings page's file input,
// as a person does in the browser's file dialog.
func chooseAvatar(t *testing.T, tb *tab) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "me.png")
	if err := os.WriteFile(file, avatarPNG(), 0o644); err != nil {
		t.Fatal(err)
	}
	tb.do("choose the picture", chromedp.SetUploadFiles(chromedp.CSS("#avatar"), []string{file}))
}
