package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"aistat/internal/poll"
)

// actionTimeout bounds one step in a tab: a page load, a click, a read.
const actionTimeout = 15 * time.Second

// liveWithin is how soon a change must show on every open page.
const liveWithin = 5 * time.Second

// chromePath finds Chromium: CHROME_PATH, else the usual names on PATH.
// Without one the test is skipped, except on CI (CI=true), where it fails:
// there a missing browser is a broken setup, not a choice.
func chromePath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "browser tests skipped: Chromium not installed (Debian package chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true requires them to run")
	}
	t.Skip(msg)
	return ""
}

// browser is one headless Chromium process: one device, with its own
// cookies, storage and connections.
type browser struct {
	t    *testing.T
	name string
	// ctx is the chromedp context of the browser's first tab.
	ctx     context.Context
	tabs    []*tab
	cancels []context.CancelFunc
}

// newBrowser starts Chromium with a fresh profile and stops it when the test
// ends, after saving screenshots of its tabs if the test failed. It asks
// for English pages: the tests read the pages' English words, whatever the
// machine's language.
func newBrowser(t *testing.T, name string) *browser {
	t.Helper()
	return newBrowserIn(t, name, "en-US")
}

// newBrowserIn is newBrowser in the language lang (--lang, which sets the
// Accept-Language the browser sends).
func newBrowserIn(t *testing.T, name, lang string) *browser {
	t.Helper()
	path := chromePath(t)
	// The exec allocator gives each browser a fresh user-data-dir and
	// removes it when the browser stops. Its defaults include headless,
	// no-first-run, disable-sync and disable-background-networking.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1200, 800),
		chromedp.Flag("lang", lang),
		chromedp.Flag("accept-lang", lang),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &browser{t: t, name: name, ctx: ctx, cancels: []context.CancelFunc{cancel, cancelAlloc}}
	t.Cleanup(b.close)
	// The first run starts the process and binds it to ctx, so it gets no
	// timeout of its own.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	t.Cleanup(b.saveScreenshots)
	return b
}

func (b *browser) close() {
	for _, cancel := range b.cancels {
		cancel()
	}
}

// newTab opens a tab, in a window of its own so that it is never a hidden
// background tab. The first call returns the tab the browser started with.
func (b *browser) newTab(name string) *tab {
	b.t.Helper()
	tb := &tab{t: b.t, name: b.name + "/" + name, ctx: b.ctx}
	if len(b.tabs) > 0 {
		tb.ctx, tb.cancel = chromedp.NewContext(b.ctx)
		// Tabs close before the browser.
		b.cancels = append([]context.CancelFunc{tb.cancel}, b.cancels...)
		if err := chromedp.Do(tb.ctx); err != nil {
			b.t.Fatalf("%s: open tab %s: %v", b.name, name, err)
		}
	}
	b.tabs = append(b.tabs, tb)
	return tb
}

// closeTab closes a tab other than the first, as a person closing it would.
func (b *browser) closeTab(tb *tab) {
	b.t.Helper()
	if tb.cancel == nil {
		b.t.Fatalf("%s: the first tab closes only with the browser", tb.name)
	}
	tb.cancel()
	b.tabs = slices.DeleteFunc(b.tabs, func(other *tab) bool { return other == tb })
}

// saveScreenshots saves a PNG of every tab of a failed test into a new
// temporary folder, never into the source tree.
func (b *browser) saveScreenshots() {
	if !b.t.Failed() || len(b.tabs) == 0 {
		return
	}
	dir, err := os.MkdirTemp("", "aistat-e2e-")
	if err != nil {
		b.t.Logf("screenshots: %v", err)
		return
	}
	prefix := strings.NewReplacer("/", "-", " ", "_").Replace(b.t.Name())
	for i, tb := range b.tabs {
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		cancel()
		if err != nil {
			b.t.Logf("screenshot of %s: %v", tb.name, err)
			continue
		}
		file := filepath.Join(dir, fmt.Sprintf("%s-%s-%d.png", prefix, b.name, i+1))
		if err := os.WriteFile(file, shot, 0o644); err != nil {
			b.t.Logf("screenshot of %s: %v", tb.name, err)
		}
	}
	b.t.Logf("screenshots of the tabs of %s: %s", b.name, dir)
}

// tab is one browser tab. Its methods fail the test when a step fails.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
	// cancel closes the tab; nil for the browser's first tab.
	cancel context.CancelFunc
}

// do runs the steps within actionTimeout.
func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.name, what, err)
	}
}

// open loads the page at url and waits for its load event.
func (tb *tab) open(url string) {
	tb.t.Helper()
	tb.do("open "+url, chromedp.Navigate(url))
}

// submit clicks the button sel of a form and waits for the page the form
// leads to.
func (tb *tab) submit(sel string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
		tb.t.Fatalf("%s: submit with %s: %v", tb.name, sel, err)
	}
}

// click clicks the element sel, for a click that loads no page.
func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// fill replaces the text of the input sel by typing value into it.
func (tb *tab) fill(sel, value string) {
	tb.t.Helper()
	// chromedp.Clear would only reset the value attribute, which a field
	// whose value a script or a person changed no longer follows.
	tb.do("fill "+sel,
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).value = ''`, sel)),
		chromedp.SendKeys(chromedp.CSS(sel), value))
}

// signIn signs email in through the sign-in form, as a person would.
func (tb *tab) signIn(s *site, email, password string) {
	tb.t.Helper()
	tb.open(s.URL + "/login")
	tb.fill("#email", email)
	tb.fill("#password", password)
	tb.submit(`form[action="/login"] button[type="submit"]`)
	tb.waitFor("the header shows a signed-in user", `document.querySelector('header [data-user-name]') !== null`, actionTimeout)
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](tb *tab, expr string, opts ...chromedp.EvaluateOption) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		tb.t.Fatalf("%s: evaluate %s: %v", tb.name, expr, err)
	}
	return v
}

// waitFor polls the JavaScript condition cond until it holds, for at most
// within. Polling from here rather than in the page survives the page
// navigating, and works in a tab the browser throttles.
func (tb *tab) waitFor(what, cond string, within time.Duration) {
	tb.t.Helper()
	var last error
	if !poll.Within(within, func() bool {
		ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { try { return !!(`+cond+`); } catch { return false; } })()`))
		cancel()
		if err != nil {
			last = err
		}
		return err == nil && ok
	}) {
		loc, _ := tb.location()
		tb.t.Fatalf("%s: %s: not within %v (page %s, last error: %v)", tb.name, what, within, loc, last)
	}
}

// location is the tab's current URL.
func (tb *tab) location() (string, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Location())
}

// headerName is the name the page's header shows.
func (tb *tab) headerName() string {
	tb.t.Helper()
	return eval[string](tb, `document.querySelector('header [data-user-name]').textContent`)
}

// markPage leaves a mark in the page's window object; hasMark tells whether
// it is still there, that is, whether no page load replaced the window.
func (tb *tab) markPage() {
	tb.t.Helper()
	tb.do("mark the page", chromedp.Evaluate[chromedp.Void](`window.__marker = 1`))
}

func (tb *tab) hasMark() bool {
	tb.t.Helper()
	return eval[bool](tb, `window.__marker === 1`)
}

// countNavigations counts the page loads of the tab's main frame from now on.
func (tb *tab) countNavigations() *atomic.Int64 {
	tb.t.Helper()
	var n atomic.Int64
	err := chromedp.Listen(tb.ctx, func(ev any) {
		if nav, ok := ev.(*page.EventFrameNavigated); ok && nav.Frame.ParentID == "" {
			n.Add(1)
		}
	})
	if err != nil {
		tb.t.Fatalf("%s: listen for navigations: %v", tb.name, err)
	}
	return &n
}

// disableScripts turns JavaScript off in the tab for every page it loads.
func (tb *tab) disableScripts() {
	tb.t.Helper()
	tb.do("disable JavaScript", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
}
