package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"aistat"
	"aistat/internal/pgtest"
)

// TestForms_FocusAfterFailedForm refuses forms, with and without
// JavaScript, and checks that the focus lands on the error summary at the
// top of the form, whose links lead to the fields in error.
func TestForms_FocusAfterFailedForm(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	b := newBrowser(t, "browser")

	t.Run("SignIn", func(t *testing.T) {
		tb := b.newTab("sign-in")
		tb.t = t
		tb.open(s.URL + "/login")
		tb.fill("#email", "editor@example.com")
		tb.fill("#password", "wrong password")
		tb.submit(`form[action="/login"] button[type="submit"]`)
		tb.waitFor("the summary has the focus", `document.activeElement.id === 'login-errors'`, actionTimeout)
		if got := eval[string](tb, `document.querySelector('#login-errors a').getAttribute('href')`); got != "#email" {
			t.Errorf("the summary's link goes to %q, want #email", got)
		}
		tb.click("#login-errors a")
		if got := eval[string](tb, `document.activeElement.id`); got != "email" {
			t.Errorf("after the summary's link the focus is on %q, want email", got)
		}
		if got := eval[string](tb, `document.getElementById('email').getAttribute('aria-describedby')`); got != "email-error" {
			t.Errorf("the email field is described by %q, want email-error", got)
		}
	})

	tb := b.newTab("signed-in")
	tb.t = t
	tb.signIn(s, "editor@example.com", password)

	t.Run("SettingsWithFetch", func(t *testing.T) {
		tb.t = t
		tb.open(s.URL + "/settings")
		tb.fill("#avatar_url", "javascript:alert(1)")
		tb.click("#profile-form button[type=submit]")
		tb.waitFor("the summary has the focus", `document.activeElement.id === 'profile-errors'`, actionTimeout)
		if !eval[bool](tb, `location.pathname === '/settings' && document.querySelector('#profile-errors a[href="#avatar_url"]') !== null`) {
			t.Error("the summary built from the answer does not link the avatar's field")
		}
		if got := eval[string](tb, `document.getElementById('avatar_url').getAttribute('aria-invalid')`); got != "true" {
			t.Errorf("avatar field aria-invalid = %q, want true", got)
		}
		// Each message once: in the summary and at the field, not beside
		// Save.
		if got := eval[string](tb, `document.getElementById('profile-status').textContent`); got != "" {
			t.Errorf("beside Save: %q, want nothing", got)
		}
		tb.click(`#profile-errors a[href="#avatar_url"]`)
		if got := eval[string](tb, `document.activeElement.id`); got != "avatar_url" {
			t.Errorf("after the summary's link the focus is on %q, want avatar_url", got)
		}
	})

	t.Run("PasswordChange", func(t *testing.T) {
		tb.t = t
		tb.open(s.URL + "/settings/sessions")
		tb.fill("#current_password", "not the password")
		tb.fill("#new_password", "a new password of mine")
		tb.submit(`form[action="/settings/password"] button[type="submit"]`)
		tb.waitFor("the summary has the focus", `document.activeElement.id === 'password-errors'`, actionTimeout)
		if !eval[bool](tb, `document.querySelector('#password-errors a[href="#current_password"]') !== null`) {
			t.Error("the summary does not link the current password's field")
		}
	})

	t.Run("WithoutJavaScript", func(t *testing.T) {
		nojs := newBrowser(t, "no-js").newTab("settings")
		nojs.disableScripts()
		nojs.signIn(s, "editor@example.com", password)
		nojs.open(s.URL + "/settings")
		nojs.fill("#avatar_url", "javascript:alert(1)")
		nojs.submit("#profile-form button[type=submit]")
		// autofocus alone, no script, puts the focus there.
		nojs.waitFor("the summary has the focus", `document.activeElement.id === 'profile-errors'`, actionTimeout)
	})
}

// TestForms_PasswordToggle shows and hides a password with the button the
// script adds beside the field, reached and pressed with the keyboard.
func TestForms_PasswordToggle(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	tb := newBrowser(t, "browser").newTab("login")
	tb.open(s.URL + "/login")
	tb.fill("#password", "secret words")
	toggle := `document.querySelector('#password + [data-password-toggle]')`
	if got := eval[string](tb, toggle+`.getAttribute('aria-pressed') + ' ' + `+toggle+`.getAttribute('aria-controls') + ' ' + `+toggle+`.textContent`); got != "false password Show" {
		t.Fatalf("toggle: %q, want %q", got, "false password Show")
	}
	tb.do("tab to the toggle and press it", chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(" "))
	if !eval[bool](tb, `document.activeElement.matches('[data-password-toggle]')`) {
		t.Fatal("Tab from the password field does not reach the toggle")
	}
	if got := eval[string](tb, `document.getElementById('password').type + ' ' + `+toggle+`.getAttribute('aria-pressed')`); got != "text true" {
		t.Errorf("after pressing: %q, want %q", got, "text true")
	}
	tb.do("press it again", chromedp.KeyEvent(kb.Enter))
	if got := eval[string](tb, `document.getElementById('password').type + ' ' + `+toggle+`.getAttribute('aria-pressed')`); got != "password false" {
		t.Errorf("after pressing again: %q, want %q", got, "password false")
	}
	if got := eval[string](tb, `document.getElementById('password').value`); got != "secret words" {
		t.Errorf("the password field holds %q after toggling, want what was typed", got)
	}
}

// TestForms_ProfileMessages saves a profile: "saved" goes after a while,
// and an avatar address whose picture does not load says so instead.
func TestForms_ProfileMessages(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	tb := newBrowser(t, "browser").newTab("settings")
	tb.signIn(s, "editor@example.com", password)
	tb.open(s.URL + "/settings")

	tb.fill("#name", "Ivan")
	tb.click("#profile-form button[type=submit]")
	tb.waitFor("saved", `document.getElementById('profile-status').textContent === 'Profile saved.'`, liveWithin)
	tb.waitFor("the message goes", `document.getElementById('profile-status').textContent === ''`, 10*time.Second)
	if got := eval[string](tb, `document.getElementById('profile-status').getAttribute('aria-live')`); got != "polite" {
		t.Errorf("status aria-live = %q, want polite", got)
	}

	// An https address (the only kind accepted) where nothing answers.
	tb.fill("#avatar_url", "https://127.0.0.1:9/missing.png")
	tb.click("#profile-form button[type=submit]")
	tb.waitFor("the warning", `!document.getElementById('avatar_url-warning').hidden`, 2*liveWithin)
	if got := eval[string](tb, `document.getElementById('avatar_url-warning').textContent`); got != "The picture at this address could not be loaded: your initials are shown instead." {
		t.Errorf("warning = %q", got)
	}
	if got := eval[string](tb, `document.getElementById('profile-status').textContent`); got == "Profile saved." {
		t.Error("a picture that does not load is announced as saved")
	}
}

// sessionCookie is the browser's session cookie of the site, as Chromium
// keeps it.
func (tb *tab) sessionCookie(s *site) *network.Cookie {
	tb.t.Helper()
	var cookies []*network.Cookie
	tb.do("read the cookies", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		res, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{s.URL}})
		if err == nil {
			cookies = res.Cookies
		}
		return err
	}))
	for _, c := range cookies {
		if c.Name == "session" {
			return c
		}
	}
	tb.t.Fatalf("%s: no session cookie", tb.name)
	return nil
}

// TestForms_KeepMeSignedIn signs in with and without "Keep me signed in":
// the browser keeps the cookie past its session only when it is ticked.
func TestForms_KeepMeSignedIn(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)

	unticked := newBrowser(t, "unticked").newTab("login")
	unticked.signIn(s, "editor@example.com", password)
	if c := unticked.sessionCookie(s); !c.Session {
		t.Errorf("unticked: cookie kept until %v, want a session cookie", time.Unix(int64(c.Expires), 0))
	}

	ticked := newBrowser(t, "ticked").newTab("login")
	ticked.open(s.URL + "/login")
	ticked.fill("#email", "editor@example.com")
	ticked.fill("#password", password)
	ticked.click("#remember")
	ticked.submit(`form[action="/login"] button[type="submit"]`)
	ticked.waitFor("signed in", `document.querySelector('header [data-user-name]') !== null`, actionTimeout)
	c := ticked.sessionCookie(s)
	if c.Session || time.Until(time.Unix(int64(c.Expires), 0)) < 24*time.Hour {
		t.Errorf("ticked: cookie session=%v until %v, want a persistent cookie for the long lifetime", c.Session, time.Unix(int64(c.Expires), 0))
	}
}

// TestForms_ResetLinkReload issues a reset link from the page that offers
// one, copies it with the Copy button and reloads the page: the reload
// issues nothing, says the link was shown, and the copied link works.
func TestForms_ResetLinkReload(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "admin@example.com", "Admin", aistat.RoleAdmin)
	u := s.createUser(t, "forgot@example.com", "Forgetful", aistat.RoleViewer)
	tb := newBrowser(t, "admin").newTab("reset")
	tb.do("let the page write the clipboard", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, name := range []string{"clipboard-write", "clipboard-read"} {
			if _, err := cdp.Call(ctx, t, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
				Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted,
			}); err != nil {
				return err
			}
		}
		return nil
	}))
	tb.signIn(s, "admin@example.com", password)

	tb.open(fmt.Sprintf("%s/admin/users/%d/reset", s.URL, u.ID))
	if eval[bool](tb, `document.getElementById('reset-url') !== null`) {
		t.Fatal("the page shows a link before one was issued")
	}
	tb.submit(fmt.Sprintf(`form[action="/admin/users/%d/reset"] button[type="submit"]`, u.ID))
	link := eval[string](tb, `document.getElementById('reset-url').value`)
	if !strings.HasPrefix(link, "http://") || !strings.Contains(link, "/reset/") {
		t.Fatalf("link %q", link)
	}
	tb.click("[data-copy]")
	tb.waitFor("copied", `document.getElementById('reset-url-status').textContent === 'Link copied.'`, actionTimeout)
	copied := eval[string](tb, `navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)
	if copied != link {
		t.Errorf("clipboard %q, want the link %q", copied, link)
	}

	tb.do("reload", chromedp.Reload())
	if eval[bool](tb, `document.getElementById('reset-url') !== null || document.body.textContent.includes(`+fmt.Sprintf("%q", link)+`)`) {
		t.Fatal("the reload shows a link again")
	}
	if got := eval[string](tb, `document.querySelector('main p').textContent`); !strings.Contains(got, "was shown already") {
		t.Errorf("after the reload the page says %q", got)
	}

	// The test site's base URL is not where it listens: the link's path
	// goes to the site.
	anon := newBrowser(t, "anonymous").newTab("link")
	anon.open(s.URL + link[strings.Index(link, "/reset/"):])
	if got := eval[string](anon, `document.querySelector('h1').textContent`); got != "Choose a new password" {
		t.Errorf("the copied link opens %q, want the reset form", got)
	}
}

// TestForms_SessionsOnPhone opens the sessions page of an account signed
// in on several devices, one of them named, on a 360 px wide phone: the
// page is no wider than the screen and each session's buttons are on it.
func TestForms_SessionsOnPhone(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	for range 2 {
		signIn(t, s, "editor@example.com")
	}
	tb := newBrowser(t, "phone").newTab("sessions")
	tb.do("a phone's screen", chromedp.EmulateViewport(360, 740, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	tb.signIn(s, "editor@example.com", password)
	tb.open(s.URL + "/settings/sessions")
	tb.fill(`tr.is-current input[name="name"]`, "Телефон с очень длинным названием тут")
	tb.submit(`tr.is-current .session-name-form button[type="submit"]`)
	if got := eval[string](tb, `document.querySelector('tr.is-current .device-name').textContent`); got != "Телефон с очень длинным названием тут" {
		t.Fatalf("named device shows %q", got)
	}
	if got := eval[int](tb, `document.documentElement.scrollWidth`); got > 360 {
		t.Errorf("the page is %d px wide on a 360 px screen", got)
	}
	offscreen := eval[int](tb, `Array.from(document.querySelectorAll('.table-cards button')).filter((b) => {
		const r = b.getBoundingClientRect();
		return r.left < 0 || r.right > window.innerWidth;
	}).length`)
	if n := eval[int](tb, `document.querySelectorAll('.table-cards tbody tr').length`); n != 3 || offscreen != 0 {
		t.Errorf("%d sessions, %d buttons off the screen: want 3 and none", n, offscreen)
	}
}

// TestForms_DeleteOwnAccount deletes an account from its settings page in
// a browser: a wrong password leaves it, with the focus on the summary;
// the right one signs the browser out, to the sign-in page that says so,
// and another device of the account is signed out too.
func TestForms_DeleteOwnAccount(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	u := s.createUser(t, "leaving@example.com", "Leaving", aistat.RoleViewer)
	other := signIn(t, s, "leaving@example.com")
	tb := newBrowser(t, "browser").newTab("settings")
	tb.signIn(s, "leaving@example.com", password)
	tb.open(s.URL + "/settings")

	tb.fill("#delete-password", "not the password")
	tb.click("#delete-confirm")
	tb.submit(`#delete-form button[type="submit"]`)
	tb.waitFor("the summary has the focus", `document.activeElement.id === 'delete-errors'`, actionTimeout)
	if _, err := s.users.ByID(t.Context(), u.ID); err != nil {
		t.Fatalf("a wrong password deleted the account: %v", err)
	}

	tb.fill("#delete-password", password)
	if !eval[bool](tb, `document.getElementById('delete-confirm').checked`) {
		tb.click("#delete-confirm")
	}
	tb.submit(`#delete-form button[type="submit"]`)
	if got := eval[string](tb, `location.pathname + location.search`); got != "/login?signed_out=deleted" {
		t.Fatalf("after the deletion the page is %q, want the sign-in page", got)
	}
	if got := eval[string](tb, `document.getElementById('login-notice').textContent`); got != "Your account was deleted." {
		t.Errorf("the sign-in page says %q", got)
	}
	if eval[bool](tb, `document.querySelector('header [data-user-name]') !== null`) {
		t.Error("the header still shows a signed-in user")
	}
	if _, err := s.users.ByID(t.Context(), u.ID); aistat.ErrorCode(err) != aistat.ENOTFOUND {
		t.Fatalf("the account is still there: %v", err)
	}
	other.send(http.MethodGet, "/api/session", "", "", http.StatusUnauthorized)
}
