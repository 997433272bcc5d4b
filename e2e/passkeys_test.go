package e2e

import (
	"context"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"aistat"
	"aistat/internal/pgtest"
	assembly "aistat/internal/site"
)

// addVirtualAuthenticator gives the tab Chromium's virtual authenticator
// (the DevTools WebAuthn domain): a platform authenticator holding
// discoverable passkeys, whose user is present and verified at once.
func (tb *tab) addVirtualAuthenticator() {
	tb.t.Helper()
	tb.do("add a virtual authenticator", chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		if _, err := cdp.Call(ctx, target, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, target, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol:                    webauthn.AuthenticatorProtocolCtap2,
				Transport:                   webauthn.AuthenticatorTransportInternal,
				HasResidentKey:              true,
				HasUserVerification:         true,
				IsUserVerified:              true,
				AutomaticPresenceSimulation: true,
			},
		})
		return err
	}))
}

// signOut signs the tab out with the header's button and opens url. The
// signed-out page's live stream may still send it to the sign-in page
// (the logout event) while url loads, which aborts that load: it is
// opened again then, once the stray page has replaced the one that sent
// it.
func (tb *tab) signOut(url string) {
	tb.t.Helper()
	tb.submit(`form[action="/logout"] button`)
	var err error
	for range 3 {
		ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
		err = chromedp.Do(ctx, chromedp.Navigate(url))
		cancel()
		if err == nil || !strings.Contains(err.Error(), "ERR_ABORTED") {
			break
		}
	}
	if err != nil {
		tb.t.Fatalf("%s: open %s after signing out: %v", tb.name, url, err)
	}
}

// TestBrowser_Passkeys: a person adds a passkey on the two-step page,
// signs out, signs in with the passkey alone, and removes it, in Chromium
// with its virtual authenticator.
func TestBrowser_Passkeys(t *testing.T) {
	// Passkeys need the site named by a domain: localhost, not 127.0.0.1.
	ts := httptest.NewUnstartedServer(nil)
	origin := "http://localhost:" + strconv.Itoa(ts.Listener.Addr().(*net.TCPAddr).Port)
	s := startSiteOn(t, ts, pgtest.URL(t), func(c *assembly.Config) { c.BaseURL = origin })
	s.URL = origin
	u := s.createUser(t, "passkey@example.com", "Passkey Person", aistat.RoleViewer)
	tb := newBrowser(t, "passkeys").newTab("main")
	tb.addVirtualAuthenticator()

	tb.signIn(s, u.Email, password)
	tb.open(origin + "/settings/2fa")
	tb.waitFor("the add form shows", `!document.querySelector('#passkey-add').hidden`, actionTimeout)
	tb.fill("#passkey-name", "Test laptop")
	tb.click(`#passkey-add button[type="submit"]`)
	tb.waitFor("the passkey is listed", `document.querySelector('#passkeys .device-name')?.textContent === 'Test laptop'`, actionTimeout)

	tb.signOut(origin + "/login")
	// Chromium's virtual authenticator answers the autofill's request by
	// itself, as a person picking the passkey from the email field's list.
	tb.waitFor("signed in with the passkey from the autofill", `document.querySelector('header [data-user-name]') !== null`, actionTimeout)
	if got := tb.headerName(); got != u.Name {
		t.Fatalf("header shows %q, want %q", got, u.Name)
	}

	// The button, in a browser without the autofill's passkeys.
	tb.do("hide the autofill's passkeys", chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		_, err := cdp.Call(ctx, target, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `PublicKeyCredential.isConditionalMediationAvailable = async () => false;`,
		})
		return err
	}))
	tb.signOut(origin + "/login?next=/settings")
	tb.waitFor("the passkey button shows", `!document.querySelector('#passkey-sign-in').hidden`, actionTimeout)
	if got := eval[string](tb, `document.querySelector('#email').autocomplete`); got != "username webauthn" {
		t.Errorf("email field's autocomplete %q, want the passkeys' autofill", got)
	}
	tb.click("#passkey-sign-in")
	tb.waitFor("signed in with the passkey's button", `location.pathname === '/settings' && document.querySelector('header [data-user-name]') !== null`, actionTimeout)

	tb.open(origin + "/settings/2fa")
	if eval[bool](tb, `document.querySelector('#passkeys').textContent.includes('Never')`) {
		t.Error("the passkey just used is listed as never used")
	}
	tb.submit(`#passkeys form[action="/settings/2fa/passkeys/remove"] button`)
	tb.waitFor("the passkey is gone", `document.querySelector('#passkeys-none') !== null`, actionTimeout)
	var left int
	if err := s.db.QueryRow(`SELECT count(*) FROM passkeys WHERE user_id = $1`, u.ID).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d passkeys stored after removal (%v), want 0", left, err)
	}
}
