package e2e

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"aistat/internal/pgtest"
)

var screenshotDir = flag.String("screenshots", "", "write the README pictures into this folder (make screenshots)")

// TestScreenshots regenerates the README's pictures from the demo accounts:
// the header after a rename, on /settings, and the admin page as an admin.
func TestScreenshots(t *testing.T) {
	if *screenshotDir == "" {
		t.Skip("writes the README pictures only with -screenshots=<folder> (make screenshots)")
	}
	if err := os.MkdirAll(*screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := startSite(t, pgtest.URL(t))
	if _, err := s.users.SeedDemoUsers(t.Context()); err != nil {
		t.Fatal(err)
	}
	tb := newBrowser(t, "browser").newTab("demo")
	tb.do("size the window", chromedp.EmulateViewport(1100, 600))

	tb.signIn(s, "editor@ai-stat.ru", "editor123")
	tb.open(s.URL + "/settings")
	tb.fill("#name", "Ivan Petrov")
	tb.click("#profile-form button[type=submit]")
	tb.waitFor("the header shows the new name", `document.querySelector('header [data-user-name]').textContent === 'Ivan Petrov'`, liveWithin)
	// The picture starts at the header (the click scrolled to Save) and
	// shows no focus ring.
	tb.do("tidy the view", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur(); window.scrollTo(0, 0)`))
	save(t, tb, chromedp.CaptureScreenshot(), "header-after-rename.png")

	tb.submit(`[data-sign-out] button`)
	tb.signIn(s, "admin@ai-stat.ru", "admin123")
	tb.open(s.URL + "/admin")
	save(t, tb, chromedp.FullScreenshot(100), "admin.png")
}

// save writes the PNG that shot takes of the tab into the screenshot folder.
func save(t *testing.T, tb *tab, shot chromedp.Action[[]byte], name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	file := filepath.Join(*screenshotDir, name)
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", file)
}
