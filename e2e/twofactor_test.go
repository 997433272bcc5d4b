package e2e

import (
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"aistat"
	"aistat/internal/pgtest"
)

// totpCode is the authenticator's code for secret at t, as an app computes
// it from the key it scanned.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// TestTwoFactor_SignInWithCode enrols an authenticator app through its
// page, signs out, and signs in again with the password and then a code.
func TestTwoFactor_SignInWithCode(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "two@example.com", "Two Step", aistat.RoleViewer)
	tb := newBrowser(t, "browser").newTab("two-step")
	tb.signIn(s, "two@example.com", password)

	tb.open(s.URL + "/settings/2fa")
	tb.waitFor("the QR code is shown", `(() => { const img = document.querySelector('img.totp-qr'); return img.complete && img.naturalWidth > 0; })()`, actionTimeout)
	if uri := eval[string](tb, `document.getElementById('totp-uri').textContent`); len(uri) < 16 || uri[:15] != "otpauth://totp/" {
		t.Fatalf("the page's URI is %q", uri)
	}
	secret := eval[string](tb, `document.getElementById('totp-secret').textContent`)
	tb.fill("#code", totpCode(t, secret, time.Now()))
	tb.submit(`form[action="/settings/2fa/totp"] button[type="submit"]`)
	if n := eval[int](tb, `document.querySelectorAll('#recovery-codes li').length`); n != aistat.RecoveryCodeCount {
		t.Fatalf("%d recovery codes shown, want %d", n, aistat.RecoveryCodeCount)
	}

	tb.submit(`form[action="/logout"] button[type="submit"]`)
	tb.open(s.URL + "/login")
	tb.fill("#email", "two@example.com")
	tb.fill("#password", password)
	tb.submit(`form[action="/login"] button[type="submit"]`)
	if got := eval[string](tb, `location.pathname`); got != "/login/2fa" {
		t.Fatalf("after the password the page is %q, want /login/2fa", got)
	}
	if eval[bool](tb, `document.querySelector('header [data-user-name]') !== null`) {
		t.Fatal("the password alone signed in")
	}
	// The code of the next step: the one enrolment used is spent.
	tb.fill("#code", totpCode(t, secret, time.Now().Add(30*time.Second)))
	tb.submit(`form[action="/login/2fa"] button[type="submit"]`)
	tb.waitFor("the header shows a signed-in user", `document.querySelector('header [data-user-name]') !== null`, actionTimeout)
}
