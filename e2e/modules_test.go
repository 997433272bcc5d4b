package e2e

import (
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"aistat"
	"aistat/internal/pgtest"
)

// moduleURL is the path of a script as the pages load it: from the folder
// named by the scripts' version.
var moduleURL = regexp.MustCompile(`^/static/[0-9a-f]{10}/[a-z]+\.js$`)

// TestModules_OneReleaseLoadedOnce: the page's scripts are ES modules that
// run with the Content-Security-Policy's 'self' (no inline script), share
// no global, and load from one versioned folder, each once: live.js's
// import of app.js is the very module the page's own tag loaded.
func TestModules_OneReleaseLoadedOnce(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	tb := newBrowser(t, "browser").newTab("modules")
	tb.signIn(s, "editor@example.com", password)
	tb.open(s.URL + "/settings")
	tb.waitFor("the page's scripts ran", `document.documentElement.hasAttribute('data-enhanced')`, actionTimeout)
	s.waitStreams(t, 1)

	if eval[bool](tb, `'aistat' in window`) {
		t.Error("the scripts share a global window.aistat")
	}
	tags := eval[[]string](tb, `Array.from(document.scripts, (s) => s.type + ' ' + new URL(s.src).pathname)`)
	if len(tags) == 0 {
		t.Fatal("the page has no script")
	}
	for _, tag := range tags {
		if typ, p, _ := strings.Cut(tag, " "); typ != "module" || !moduleURL.MatchString(p) {
			t.Errorf("script tag %q, want a module from the versioned folder", tag)
		}
	}
	loaded := eval[[]string](tb, `performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname).filter((p) => p.endsWith('.js'))`)
	slices.Sort(loaded)
	for i, p := range loaded {
		if !moduleURL.MatchString(p) {
			t.Errorf("script loaded from %q, want the versioned folder", p)
		}
		if i > 0 && loaded[i-1] == p {
			t.Errorf("%s loaded twice", p)
		}
	}
	var names []string
	for _, p := range loaded {
		names = append(names, path.Base(p))
	}
	if !slices.Equal(names, []string{"app.js", "live.js"}) {
		t.Errorf("scripts loaded %q, want app.js and live.js once each", loaded)
	} else if path.Dir(loaded[0]) != path.Dir(loaded[1]) {
		t.Errorf("scripts loaded %q, want them from one folder", loaded)
	}
}
