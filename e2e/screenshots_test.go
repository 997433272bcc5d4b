package e2e

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"

	"aistat/internal/pgtest"
)

var screenshotDir = flag.String("screenshots", "", "write the README pictures into this folder (make screenshots)")

// TestScreenshots regenerates the README's pictures from the demo accounts,
// in each language of the site (name.ru.png, name.en.png): on a desktop,
// the header after a rename, on /settings, and the admin page as an
// admin; on a 390 px phone, the admin page's cards with a row's menu open
// and the dialog that confirms signing a user out everywhere.
func TestScreenshots(t *testing.T) {
	if *screenshotDir == "" {
		t.Skip("writes the README pictures only with -screenshots=<folder> (make screenshots)")
	}
	if err := os.MkdirAll(*screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, shots := range []struct {
		lang, rename string
	}{{"ru", "Иван Петров"}, {"en", "Ivan Petrov"}} {
		t.Run(shots.lang, func(t *testing.T) {
			s := startSite(t, pgtest.URL(t))
			if _, err := s.users.SeedDemoUsers(t.Context()); err != nil {
				t.Fatal(err)
			}
			tb := newBrowserIn(t, shots.lang, shots.lang).newTab("demo")
			tb.do("size the window", chromedp.EmulateViewport(1100, 600))

			tb.signIn(s, "editor@ai-stat.ru", "editor123")
			tb.open(s.URL + "/settings")
			if got := eval[string](tb, `document.documentElement.lang`); got != shots.lang {
				t.Fatalf("the settings page is in %q, want %q", got, shots.lang)
			}
			tb.fill("#name", shots.rename)
			tb.click("#profile-form button[type=submit]")
			tb.waitFor("the header shows the new name", `document.querySelector('header [data-user-name]').textContent === `+strconv.Quote(shots.rename), liveWithin)
			// The picture starts at the header (the click scrolled to Save)
			// and shows no focus ring.
			tb.do("tidy the view", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur(); window.scrollTo(0, 0)`))
			save(t, tb, chromedp.CaptureScreenshot(), "header-after-rename."+shots.lang+".png")

			tb.submit(`[data-sign-out] button`)
			tb.signIn(s, "admin@ai-stat.ru", "admin123")
			tb.open(s.URL + "/admin")
			save(t, tb, chromedp.FullScreenshot(100), "admin."+shots.lang+".png")

			// A phone: the users as cards, the editor's menu of actions
			// open, and the dialog that asks before signing them out.
			tb.do("size the window as a phone", chromedp.EmulateViewport(390, 844))
			tb.open(s.URL + "/admin")
			row := `tbody tr[data-user-id]:has(.role-editor)`
			tb.do("open the editor's menu", chromedp.Evaluate[chromedp.Void](`(() => {
				const menu = document.querySelector('`+row+` details');
				menu.open = true;
				menu.closest('tr').scrollIntoView({block: 'start'});
			})()`))
			save(t, tb, chromedp.CaptureScreenshot(), "admin-phone."+shots.lang+".png")
			tb.do("ask to sign the editor out", chromedp.Evaluate[chromedp.Void](`document.querySelector('`+row+` button[formaction$="/revoke"]').click()`))
			tb.waitFor("the dialog asks", `document.getElementById('confirm-dialog').open`, actionTimeout)
			save(t, tb, chromedp.CaptureScreenshot(), "confirm-phone."+shots.lang+".png")
		})
	}
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
