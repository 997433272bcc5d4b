package e2e

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"aistat"
	"aistat/internal/pgtest"
)

// axeSource is axe-core (testdata/axe, its version in the file's first
// line, its licence beside it), which the layout test runs in each page.
//
//go:embed testdata/axe/axe.min.js
var axeSource string

// layoutWidths are the widths every page must fit: the narrowest phones
// the site supports, a common phone, a desktop.
var layoutWidths = []int64{360, 390, 1280}

// colorSchemes are the themes every page is checked in.
var colorSchemes = []string{"light", "dark"}

// pageStates are the states each page is checked in, one after the
// other: enter puts the page in the state and says whether the page has
// it.
var pageStates = []struct{ name, enter string }{
	{"", `true`},
	{" with every disclosure open", `(() => { document.querySelectorAll('details').forEach((d) => { d.open = true; }); return true; })()`},
	// The admin page's dialog, asking to sign a user out everywhere.
	{" with the confirmation dialog", `(() => {
		const button = document.querySelector('#users-caption ~ tbody button[formaction$="/revoke"]');
		if (!button) { return false; }
		button.click();
		return document.getElementById('confirm-dialog').open;
	})()`},
}

// axeViolation is one rule axe-core found broken, with where.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// runAxe is the script that runs axe-core in the page and answers with its
// serious and critical violations.
const runAxe = `axe.run(document, {resultTypes: ['violations']}).then((r) => JSON.stringify(r.violations
  .filter((v) => v.impact === 'serious' || v.impact === 'critical')
  .map((v) => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5)}))))`

// TestLayout_EveryPage opens every page, anonymous and as each role, at
// each of layoutWidths in light and dark, in each of pageStates: as it
// loads, with every disclosure (a row's actions, the add-user form) open,
// and with the admin page's dialog open. It fails when
// a page is wider than the screen, so that it scrolls sideways, or when
// axe-core reports a serious or critical violation.
func TestLayout_EveryPage(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	admin := s.createUser(t, "admin@example.com", "Администратор Сайта", aistat.RoleAdmin)
	editor := s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	s.createUser(t, "viewer@example.com", "Viewer", aistat.RoleViewer)
	off := s.createUser(t, "a.very.long.address.of.someone@subdomain.example.com", "Константин Константинопольский", aistat.RoleViewer)
	if _, err := s.users.SetDisabled(t.Context(), admin.ID, off.ID, true); err != nil {
		t.Fatal(err)
	}
	_, token, err := s.users.IssueResetLink(t.Context(), admin.ID, editor.ID)
	if err != nil {
		t.Fatal(err)
	}
	common := []string{"/", "/settings", "/settings/sessions", "/settings/2fa", "/reauth?next=%2Fsettings", "/no-such-page"}
	for _, who := range []struct {
		name, email string
		pages       []string
	}{
		{"anonymous", "", []string{"/", "/login", "/reset/" + token, "/reset/not-a-token", "/password/forgot", "/no-such-page"}},
		{"admin", admin.Email, append(common, "/admin", "/admin/audit", fmt.Sprintf("/admin/users/%d/delete", editor.ID),
			// The confirmations a form gets without JavaScript (422).
			fmt.Sprintf("POST /admin/users/%d/revoke", editor.ID), fmt.Sprintf("POST /admin/users/%d/disable", editor.ID),
			fmt.Sprintf("POST /admin/users/%d/2fa/reset", editor.ID))},
		{"editor", editor.Email, append(common, "/admin", "/admin/audit")},
		{"viewer", "viewer@example.com", append(common, "/admin")},
	} {
		t.Run(who.name, func(t *testing.T) {
			tb := newBrowser(t, who.name).newTab("pages")
			if who.email != "" {
				tb.signIn(s, who.email, password)
			}
			for _, path := range who.pages {
				if action, ok := strings.CutPrefix(path, "POST "); ok {
					tb.postFrom(s.URL+"/admin", action)
					if !eval[bool](tb, `document.querySelector('main form input[name="confirm"][value="yes"]') !== null`) {
						t.Fatalf("POST %s: the answer is not the confirmation page", action)
					}
				} else {
					tb.open(s.URL + path)
				}
				tb.do("load axe-core", chromedp.Evaluate[chromedp.Void](axeSource))
				for _, state := range pageStates {
					if !eval[bool](tb, state.enter) {
						continue
					}
					for _, scheme := range colorSchemes {
						tb.emulateColorScheme(scheme)
						for _, width := range layoutWidths {
							tb.do("size the window", chromedp.EmulateViewport(width, 800))
							checkLayout(t, tb, fmt.Sprintf("%s%s at %d px, %s", path, state.name, width, scheme))
						}
					}
				}
			}
		})
	}
}

// checkLayout fails the test when the page in tb is wider than its window
// or axe-core finds a serious or critical violation in it.
func checkLayout(t *testing.T, tb *tab, where string) {
	t.Helper()
	if w := eval[[]int64](tb, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
		wide := eval[string](tb, `Array.from(document.querySelectorAll('body *')).filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5).slice(0, 5).map((el) => el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).replace(/ /g, '.') : '')).join(', ')`)
		t.Errorf("%s: the page is %d px wide in a %d px window (past its edge: %s)", where, w[0], w[1], wide)
	}
	ctx, cancel := context.WithTimeout(tb.ctx, 2*actionTimeout)
	defer cancel()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](runAxe, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: run axe-core: %v", where, err)
	}
	var violations []axeViolation
	if err := json.Unmarshal([]byte(out), &violations); err != nil {
		t.Fatalf("%s: axe-core's answer %q: %v", where, out, err)
	}
	for _, v := range violations {
		t.Errorf("%s: axe-core: %s (%s): %s; at %s", where, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, " | "))
	}
}

// postFrom opens the page at from and posts an empty form from it to
// action, as a form of that page without JavaScript would, and waits for
// the page that answers.
func (tb *tab) postFrom(from, action string) {
	tb.t.Helper()
	tb.open(from)
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	submit := fmt.Sprintf(`(() => { const f = document.createElement('form'); f.method = 'post'; f.action = %q; document.body.append(f); f.submit(); })()`, action)
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Evaluate[chromedp.Void](submit))); err != nil {
		tb.t.Fatalf("%s: post to %s: %v", tb.name, action, err)
	}
}

// emulateColorScheme makes the tab's pages prefer the light or the dark
// theme (prefers-color-scheme), whatever the machine's setting. They also
// prefer reduced motion, which turns the colours' transitions off: a page
// read in the middle of one has the colours of neither theme.
func (tb *tab) emulateColorScheme(scheme string) {
	tb.t.Helper()
	tb.do("prefer the "+scheme+" theme", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{
				{Name: "prefers-color-scheme", Value: scheme},
				{Name: "prefers-reduced-motion", Value: "reduce"},
			},
		})
		return err
	}))
}
