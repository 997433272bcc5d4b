package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"aistat"
)

var (
	secretPattern   = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)
	recoveryPattern = regexp.MustCompile(`<li><code>([^<]*)</code></li>`)
)

// totpAt is the authenticator's code for secret at t, computed as an app
// computes it.
func totpAt(tb testing.TB, secret string, t time.Time) string {
	tb.Helper()
	code, err := totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		tb.Fatal(err)
	}
	return code
}

// pendingSecret is the key /settings/2fa shows the signed-in client.
func pendingSecret(tb testing.TB, c *client) string {
	tb.Helper()
	res := c.get("/settings/2fa")
	wantStatus(tb, res, http.StatusOK)
	m := secretPattern.FindStringSubmatch(res.body)
	if m == nil {
		tb.Fatalf("no key on /settings/2fa: %.2000s", res.body)
	}
	return m[1]
}

// mustEnrolTOTP turns on the authenticator app of the signed-in client with
// the current code and returns its key and the recovery codes shown.
func mustEnrolTOTP(tb testing.TB, c *client) (string, []string) {
	tb.Helper()
	secret := pendingSecret(tb, c)
	res := c.postForm("/settings/2fa/totp", url.Values{"code": {totpAt(tb, secret, time.Now())}})
	wantStatus(tb, res, http.StatusOK)
	var codes []string
	for _, m := range recoveryPattern.FindAllStringSubmatch(res.body, -1) {
		codes = append(codes, m[1])
	}
	return secret, codes
}

// secondFactor is the user's users.second_factor.
func secondFactor(tb testing.TB, e *env, id int64) bool {
	tb.Helper()
	var b bool
	if err := e.db.QueryRow(`SELECT second_factor FROM users WHERE id = $1`, id).Scan(&b); err != nil {
		tb.Fatal(err)
	}
	return b
}

// mails counts the outbox's mails of kind to email.
func mails(tb testing.TB, e *env, kind aistat.MailKind, email string) int {
	tb.Helper()
	return countRows(tb, e, `SELECT count(*) FROM mail_outbox WHERE kind = $1 AND recipient = $2`, kind, email)
}

// events counts the user's security events of kind.
func events(tb testing.TB, e *env, kind aistat.EventKind, id int64) int {
	tb.Helper()
	return countRows(tb, e, `SELECT count(*) FROM security_events WHERE kind = $1 AND user_id = $2`, kind, id)
}

// wantFieldError checks that a refused form's page names field with an
// error shown beside it.
func wantFieldError(tb testing.TB, res *response, field string) {
	tb.Helper()
	wantBody(tb, res, `id="`+field+`-error">`, `href="#`+field+`"`)
}

// wantPasswordSignsIn checks that the password alone signs email in: the
// account has no second factor left.
func wantPasswordSignsIn(tb testing.TB, e *env, email string) {
	tb.Helper()
	c := newClient(tb, e)
	c.login(email)
	if !signedIn(tb, c) {
		tb.Fatalf("the password alone does not sign %s in", email)
	}
}

func TestServer_TOTPEnrol(t *testing.T) {
	e := mustOpenEnv(t)

	t.Run("Page", func(t *testing.T) {
		mustCreateUser(t, e, "page@example.com", "Page", aistat.RoleViewer)
		c := newClient(t, e)
		c.login("page@example.com")
		res := c.get("/settings/2fa")
		wantStatus(t, res, http.StatusOK)
		wantBody(t, res, "otpauth://totp/", "issuer=", `src="/settings/2fa/qr.png?k=`, `id="totp-secret"`)
		if got, again := pendingSecret(t, c), pendingSecret(t, c); got != again {
			t.Fatalf("a reload shows another key: %s, then %s", got, again)
		}
		qr := c.get("/settings/2fa/qr.png")
		wantStatus(t, qr, http.StatusOK)
		if ct, cc := qr.Header.Get("Content-Type"), qr.Header.Get("Cache-Control"); ct != "image/png" || cc != "no-store" || !strings.HasPrefix(qr.body, "\x89PNG") {
			t.Fatalf("QR code: Content-Type %q, Cache-Control %q, starts %q", ct, cc, qr.body[:min(8, len(qr.body))])
		}
		if res := newClient(t, e).get("/settings/2fa"); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("anonymous GET /settings/2fa: status %d, want 303", res.StatusCode)
		}
	})

	t.Run("BadCodes", func(t *testing.T) {
		u := mustCreateUser(t, e, "bad@example.com", "Bad", aistat.RoleViewer)
		c := newClient(t, e)
		c.login("bad@example.com")
		secret := pendingSecret(t, c)
		wrong := "000000"
		for _, at := range []time.Time{time.Now(), time.Now().Add(30 * time.Second), time.Now().Add(-30 * time.Second)} {
			if totpAt(t, secret, at) == wrong {
				wrong = "111111"
			}
		}
		before := readUserRow(t, e, u.ID)
		for _, code := range []string{"", "12345", "1234567", "abcdef", wrong, totpAt(t, secret, time.Now().Add(-2*time.Minute)), strings.Repeat("9", 5000), "12\x0034"} {
			res := c.postForm("/settings/2fa/totp", url.Values{"code": {code}})
			wantStatus(t, res, http.StatusUnprocessableEntity)
			wantFieldError(t, res, "code")
		}
		if secondFactor(t, e, u.ID) || countRows(t, e, `SELECT count(*) FROM totp_secrets WHERE user_id = $1 AND confirmed_at IS NOT NULL`, u.ID) != 0 ||
			countRows(t, e, `SELECT count(*) FROM recovery_codes WHERE user_id = $1`, u.ID) != 0 || mails(t, e, aistat.MailTOTPEnabled, u.Email) != 0 {
			t.Fatal("a refused code enabled something")
		}
		if after := readUserRow(t, e, u.ID); after != before {
			t.Fatalf("a refused code wrote the user: %+v, then %+v", before, after)
		}
	})

	t.Run("OK", func(t *testing.T) {
		u := mustCreateUser(t, e, "ok@example.com", "OK", aistat.RoleViewer)
		c := newClient(t, e)
		c.login("ok@example.com")
		_, codes := mustEnrolTOTP(t, c)
		if len(codes) != aistat.RecoveryCodeCount {
			t.Fatalf("%d recovery codes shown, want %d", len(codes), aistat.RecoveryCodeCount)
		}
		seen := map[string]bool{}
		for _, code := range codes {
			if !regexp.MustCompile(`^[a-z0-9]{5}-[a-z0-9]{5}$`).MatchString(code) || seen[code] {
				t.Fatalf("recovery code %q: want xxxxx-xxxxx of lowercase letters and digits, each once", code)
			}
			seen[code] = true
			if n := countRows(t, e, `SELECT count(*) FROM recovery_codes WHERE code_hash = sha256(convert_to($1, 'UTF8')) AND position(convert_to($1, 'UTF8') IN code_hash) = 0`, code); n != 1 {
				t.Fatalf("recovery code %q: %d rows of its SHA-256, want 1 (and not in clear)", code, n)
			}
		}
		if n := countRows(t, e, `SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`, u.ID); n != aistat.RecoveryCodeCount {
			t.Fatalf("%d recovery codes stored, want %d", n, aistat.RecoveryCodeCount)
		}
		if !secondFactor(t, e, u.ID) || mails(t, e, aistat.MailTOTPEnabled, u.Email) != 1 || events(t, e, aistat.EventTOTPEnabled, u.ID) != 1 {
			t.Fatal("enabling the app did not set second_factor, mail and record it")
		}
		// The codes are shown once: the page does not show them again.
		res := c.get("/settings/2fa")
		wantBody(t, res, `id="totp-enabled"`)
		wantNoBody(t, res, codes[0], `id="totp-secret"`)
		if res := c.get("/settings/2fa/qr.png"); res.StatusCode != http.StatusNotFound {
			t.Fatalf("QR code of an enabled app: status %d, want 404", res.StatusCode)
		}
	})
}

func TestServer_LoginSecondStep(t *testing.T) {
	e := mustOpenEnv(t)
	enrolled := func(t *testing.T, email string) (*aistat.User, string, []string) {
		u := mustCreateUser(t, e, email, "Two Step", aistat.RoleEditor)
		c := newClient(t, e)
		c.login(email)
		secret, codes := mustEnrolTOTP(t, c)
		return u, secret, codes
	}
	// passwordStep signs a new browser in with the password alone.
	passwordStep := func(t *testing.T, email string) *client {
		t.Helper()
		c := newClient(t, e)
		res := c.postForm("/login", url.Values{"email": {email}, "password": {testPassword}, "next": {"/settings"}})
		wantStatus(t, res, http.StatusSeeOther)
		if loc := res.Header.Get("Location"); loc != "/login/2fa" {
			t.Fatalf("right password: Location %q, want /login/2fa", loc)
		}
		if c.cookie() != "" || signedIn(t, c) {
			t.Fatal("the password alone signed in")
		}
		return c
	}

	t.Run("OK", func(t *testing.T) {
		u, secret, _ := enrolled(t, "ok@example.com")
		sessionsBefore := sessionCount(t, e, u.ID)
		c := passwordStep(t, u.Email)
		if n := sessionCount(t, e, u.ID); n != sessionsBefore {
			t.Fatalf("the password alone made a session: %d, want %d", n, sessionsBefore)
		}
		wantBody(t, c.get("/login/2fa"), `name="code"`)

		res := c.postForm("/login/2fa", url.Values{"code": {""}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantFieldError(t, res, "code")
		for _, code := range []string{"abc", "99999-99999", strings.Repeat("x", 3000), totpAt(t, secret, time.Now().Add(2*time.Minute))} {
			res := c.postForm("/login/2fa", url.Values{"code": {code}})
			wantStatus(t, res, http.StatusUnauthorized)
			wantFieldError(t, res, "code")
		}
		if signedIn(t, c) || sessionCount(t, e, u.ID) != sessionsBefore {
			t.Fatal("a wrong code signed in")
		}
		if n := events(t, e, aistat.EventSecondFactorFailed, u.ID); n != 4 {
			t.Fatalf("%d failed second steps recorded, want 4", n)
		}

		// One step of drift ahead: the code enrolment used is spent.
		res = c.postForm("/login/2fa", url.Values{"code": {totpAt(t, secret, time.Now().Add(30*time.Second))}})
		wantStatus(t, res, http.StatusSeeOther)
		if loc := res.Header.Get("Location"); loc != "/settings" {
			t.Fatalf("second step: Location %q, want the sign-in's next, /settings", loc)
		}
		if !signedIn(t, c) || sessionCount(t, e, u.ID) != sessionsBefore+1 {
			t.Fatal("the right code did not sign in")
		}
		if n := countRows(t, e, `SELECT count(*) FROM login_challenges WHERE user_id = $1`, u.ID); n != 0 {
			t.Fatalf("%d login challenges left after the sign-in, want 0", n)
		}
		if n := events(t, e, aistat.EventSignIn, u.ID); n != 2 {
			t.Fatalf("%d sign-ins recorded, want 2 (enrolment's, this one)", n)
		}

		// The same code again, from another browser: refused.
		other := passwordStep(t, u.Email)
		res = other.postForm("/login/2fa", url.Values{"code": {totpAt(t, secret, time.Now().Add(30*time.Second))}})
		wantStatus(t, res, http.StatusUnauthorized)
		if signedIn(t, other) {
			t.Fatal("a used code signed in again")
		}
	})

	t.Run("DriftBehind", func(t *testing.T) {
		u, secret, _ := enrolled(t, "behind@example.com")
		// As if enrolment were long ago.
		if _, err := e.db.Exec(`UPDATE totp_secrets SET last_step = 0 WHERE user_id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
		c := passwordStep(t, u.Email)
		wantStatus(t, c.postForm("/login/2fa", url.Values{"code": {totpAt(t, secret, time.Now().Add(-30*time.Second))}}), http.StatusSeeOther)
	})

	t.Run("RecoveryCode", func(t *testing.T) {
		u, _, codes := enrolled(t, "recovery@example.com")
		c := passwordStep(t, u.Email)
		// As typed from paper: capitals, no dash.
		typed := strings.ToUpper(strings.Replace(codes[3], "-", "", 1))
		wantStatus(t, c.postForm("/login/2fa", url.Values{"code": {typed}}), http.StatusSeeOther)
		if !signedIn(t, c) {
			t.Fatal("a recovery code did not sign in")
		}
		if mails(t, e, aistat.MailRecoveryCodeUsed, u.Email) != 1 || events(t, e, aistat.EventRecoveryCodeUsed, u.ID) != 1 {
			t.Fatal("the recovery code's use was not mailed and recorded")
		}
		again := passwordStep(t, u.Email)
		wantStatus(t, again.postForm("/login/2fa", url.Values{"code": {codes[3]}}), http.StatusUnauthorized)
		if signedIn(t, again) {
			t.Fatal("a recovery code signed in twice")
		}
	})

	t.Run("Expired", func(t *testing.T) {
		u, secret, _ := enrolled(t, "expired@example.com")
		c := passwordStep(t, u.Email)
		if _, err := e.db.Exec(`UPDATE login_challenges SET expires_at = now() - interval '1 second' WHERE user_id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
		if res := c.get("/login/2fa"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
			t.Fatalf("expired second step: status %d to %q, want 303 to /login", res.StatusCode, res.Header.Get("Location"))
		}
		res := c.postForm("/login/2fa", url.Values{"code": {totpAt(t, secret, time.Now().Add(30*time.Second))}})
		wantStatus(t, res, http.StatusUnauthorized)
		wantBody(t, res, "This sign-in has expired.")
		if signedIn(t, c) {
			t.Fatal("an expired second step signed in")
		}
		// Without any sign-in at all.
		wantStatus(t, newClient(t, e).postForm("/login/2fa", url.Values{"code": {"123456"}}), http.StatusUnauthorized)
	})

	t.Run("Throttled", func(t *testing.T) {
		u, secret, _ := enrolled(t, "throttled@example.com")
		c := passwordStep(t, u.Email)
		var status int
		for range aistat.ThrottleAccountLimit + 1 {
			status = c.postForm("/login/2fa", url.Values{"code": {"00000-00000"}}).StatusCode
		}
		if status != http.StatusTooManyRequests {
			t.Fatalf("after %d wrong codes: status %d, want 429", aistat.ThrottleAccountLimit+1, status)
		}
		res := c.postForm("/login/2fa", url.Values{"code": {totpAt(t, secret, time.Now().Add(30*time.Second))}})
		wantStatus(t, res, http.StatusTooManyRequests)
		if signedIn(t, c) {
			t.Fatal("a throttled second step signed in")
		}
	})

	t.Run("WithoutSecondFactor", func(t *testing.T) {
		mustCreateUser(t, e, "plain@example.com", "Plain", aistat.RoleViewer)
		c := newClient(t, e)
		res := c.postForm("/login", url.Values{"email": {"plain@example.com"}, "password": {testPassword}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" || !signedIn(t, c) {
			t.Fatalf("password sign-in without a second factor: status %d to %q", res.StatusCode, res.Header.Get("Location"))
		}
	})
}

func TestServer_TOTPManage(t *testing.T) {
	e := mustOpenEnv(t)
	u := mustCreateUser(t, e, "manage@example.com", "Manage", aistat.RoleViewer)
	c := newClient(t, e)
	c.login(u.Email)
	_, old := mustEnrolTOTP(t, c)

	res := c.postForm("/settings/2fa/recovery", nil)
	wantStatus(t, res, http.StatusOK)
	fresh := recoveryPattern.FindAllStringSubmatch(res.body, -1)
	if len(fresh) != aistat.RecoveryCodeCount || fresh[0][1] == old[0] {
		t.Fatalf("renewal showed %d codes, want %d new ones", len(fresh), aistat.RecoveryCodeCount)
	}
	if mails(t, e, aistat.MailRecoveryCodesRenewed, u.Email) != 1 || events(t, e, aistat.EventRecoveryCodesRenewed, u.ID) != 1 {
		t.Fatal("the renewal was not mailed and recorded")
	}
	// An old code no longer signs in; a new one does.
	login := func(code string) int {
		b := newClient(t, e)
		wantStatus(t, b.postForm("/login", url.Values{"email": {u.Email}, "password": {testPassword}}), http.StatusSeeOther)
		return b.postForm("/login/2fa", url.Values{"code": {code}}).StatusCode
	}
	if got := login(old[0]); got != http.StatusUnauthorized {
		t.Fatalf("an old recovery code: status %d, want 401", got)
	}
	if got := login(fresh[1][1]); got != http.StatusSeeOther {
		t.Fatalf("a new recovery code: status %d, want 303", got)
	}

	wantStatus(t, c.postForm("/settings/2fa/totp/disable", nil), http.StatusSeeOther)
	if secondFactor(t, e, u.ID) || countRows(t, e, `SELECT count(*) FROM recovery_codes WHERE user_id = $1`, u.ID) != 0 {
		t.Fatal("disabling left a second factor")
	}
	if mails(t, e, aistat.MailTOTPDisabled, u.Email) != 1 || events(t, e, aistat.EventTOTPDisabled, u.ID) != 1 {
		t.Fatal("disabling was not mailed and recorded")
	}
	if res := c.postForm("/settings/2fa/totp/disable", nil); res.StatusCode != http.StatusConflict {
		t.Fatalf("disabling twice: status %d, want 409", res.StatusCode)
	}
	if res := c.postForm("/settings/2fa/recovery", nil); res.StatusCode != http.StatusConflict {
		t.Fatalf("recovery codes without an app: status %d, want 409", res.StatusCode)
	}
	wantPasswordSignsIn(t, e, u.Email)
}

func TestServer_Reauth(t *testing.T) {
	// Every sign-in is older than the window at once.
	e := mustOpenEnvConfig(t, envConfig{reauthWindow: time.Nanosecond})
	admin := mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	target := mustCreateUser(t, e, "target@example.com", "Target", aistat.RoleViewer)
	c := newClient(t, e)
	c.login(admin.Email)
	rolePath := "/admin/users/" + itoa(target.ID) + "/role"

	t.Run("Page", func(t *testing.T) {
		res := c.get("/settings/2fa")
		wantStatus(t, res, http.StatusSeeOther)
		if loc := res.Header.Get("Location"); loc != "/reauth?next=%2Fsettings%2F2fa" {
			t.Fatalf("stale GET /settings/2fa: Location %q", loc)
		}
		wantBody(t, c.get("/reauth?next=%2Fsettings%2F2fa"), `name="password"`)
		res = c.postForm("/reauth", url.Values{"password": {testPassword}, "next": {"/settings/2fa"}})
		wantStatus(t, res, http.StatusSeeOther)
		if loc := res.Header.Get("Location"); loc != "/settings/2fa" {
			t.Fatalf("re-authenticated: Location %q, want /settings/2fa", loc)
		}
		res = c.postForm("/reauth", url.Values{"password": {testPassword}, "next": {"//evil.example/"}})
		if loc := res.Header.Get("Location"); loc != "/" {
			t.Fatalf("re-authenticated with a foreign next: Location %q, want /", loc)
		}
	})

	t.Run("Form", func(t *testing.T) {
		before := readUserRow(t, e, target.ID)
		form := url.Values{"role": {"editor"}, "back": {"/admin"}}
		res := c.postForm(rolePath, form)
		wantStatus(t, res, http.StatusUnauthorized)
		wantBody(t, res, `action="/reauth"`, `name="replay" value="yes"`, `value="`+rolePath+`"`)
		if after := readUserRow(t, e, target.ID); after != before {
			t.Fatal("a stale admin action changed the user")
		}
		for _, tt := range []struct {
			password string
			status   int
		}{{"", http.StatusUnprocessableEntity}, {"wrong password", http.StatusUnprocessableEntity}, {strings.Repeat("x", 10000), http.StatusUnprocessableEntity}} {
			res := c.postForm("/reauth", url.Values{"password": {tt.password}, "next": {rolePath}, "form": {form.Encode()}, "replay": {"yes"}})
			wantStatus(t, res, tt.status)
			wantFieldError(t, res, "password")
			wantBody(t, res, `name="replay" value="yes"`)
		}
		if after := readUserRow(t, e, target.ID); after != before {
			t.Fatal("a wrong password carried on with the action")
		}
		if n := events(t, e, aistat.EventReauthFailed, admin.ID); n != 2 {
			t.Fatalf("%d failed re-authentications recorded, want 2", n)
		}
		res = c.postForm("/reauth", url.Values{"password": {testPassword}, "next": {rolePath}, "form": {"%zz"}, "replay": {"yes"}})
		wantStatus(t, res, http.StatusUnprocessableEntity)

		res = c.postForm("/reauth", url.Values{"password": {testPassword}, "next": {rolePath}, "form": {form.Encode()}, "replay": {"yes"}})
		wantStatus(t, res, http.StatusSeeOther)
		if loc := res.Header.Get("Location"); loc != "/admin#user-"+itoa(target.ID) {
			t.Fatalf("carried on: Location %q, want the admin page's row", loc)
		}
		if got := readUserRow(t, e, target.ID).Role; got != "editor" {
			t.Fatalf("role after re-authentication = %q, want editor", got)
		}
	})

	// The replay keeps the route's access rules: a viewer's password does
	// not make an admin's form of theirs go through.
	t.Run("ReplayKeepsAccess", func(t *testing.T) {
		viewer := mustCreateUser(t, e, "viewer@example.com", "Viewer", aistat.RoleViewer)
		v := newClient(t, e)
		v.login(viewer.Email)
		before := readUserRow(t, e, target.ID)
		form := url.Values{"role": {"admin"}}
		res := v.postForm("/reauth", url.Values{"password": {testPassword}, "next": {rolePath}, "form": {form.Encode()}, "replay": {"yes"}})
		wantStatus(t, res, http.StatusForbidden)
		if after := readUserRow(t, e, target.ID); after != before {
			t.Fatal("a viewer's replayed admin form changed the user")
		}
	})

	t.Run("OwnAccount", func(t *testing.T) {
		u := mustCreateUser(t, e, "own@example.com", "Own", aistat.RoleViewer)
		own := newClient(t, e)
		own.login(u.Email)
		var hash string
		readHash := func() string {
			if err := e.db.QueryRow(`SELECT password_hash FROM users WHERE id = $1`, u.ID).Scan(&hash); err != nil {
				t.Fatal(err)
			}
			return hash
		}
		before := readHash()
		for path, form := range map[string]url.Values{
			"/settings/password": {"current_password": {testPassword}, "new_password": {"another fine passphrase"}},
			"/settings/email":    {"email": {"new@example.com"}, "password": {testPassword}},
			"/settings/delete":   {"current_password": {testPassword}, "confirm": {"yes"}},
			"/settings/2fa/totp": {"code": {"123456"}},
		} {
			wantStatus(t, own.postForm(path, form), http.StatusUnauthorized)
		}
		if readHash() != before || countRows(t, e, `SELECT count(*) FROM users WHERE id = $1`, u.ID) != 1 ||
			countRows(t, e, `SELECT count(*) FROM email_changes WHERE user_id = $1`, u.ID) != 0 {
			t.Fatal("a stale change of one's own account went through")
		}
	})

	t.Run("WithSecondFactor", func(t *testing.T) {
		fresh := mustOpenEnv(t)
		u := mustCreateUser(t, fresh, "factor@example.com", "Factor", aistat.RoleViewer)
		enrol := newClient(t, fresh)
		enrol.login(u.Email)
		secret, _ := mustEnrolTOTP(t, enrol)

		// The same database, seen by an instance whose window is over.
		stale := mustOpenEnvConfig(t, envConfig{dsn: fresh.dsn, reauthWindow: time.Nanosecond})
		b := newClient(t, stale)
		wantStatus(t, b.postForm("/login", url.Values{"email": {u.Email}, "password": {testPassword}}), http.StatusSeeOther)
		wantStatus(t, b.postForm("/login/2fa", url.Values{"code": {totpAt(t, secret, time.Now().Add(30*time.Second))}}), http.StatusSeeOther)
		wantBody(t, b.get("/reauth?next=%2Fsettings%2F2fa"), `name="code"`)
		res := b.postForm("/reauth", url.Values{"password": {testPassword}, "next": {"/settings/2fa"}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantFieldError(t, res, "code")
		res = b.postForm("/reauth", url.Values{"password": {testPassword}, "code": {"000000"}, "next": {"/settings/2fa"}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantFieldError(t, res, "code")
		if _, err := fresh.db.Exec(`UPDATE totp_secrets SET last_step = 0 WHERE user_id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
		res = b.postForm("/reauth", url.Values{"password": {testPassword}, "code": {totpAt(t, secret, time.Now())}, "next": {"/settings/2fa"}})
		wantStatus(t, res, http.StatusSeeOther)
	})
}

// TestServer_ReauthFresh checks that a fresh sign-in counts: an admin
// action right after it needs no password again.
func TestServer_ReauthFresh(t *testing.T) {
	e := mustOpenEnv(t)
	mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	target := mustCreateUser(t, e, "target@example.com", "Target", aistat.RoleViewer)
	c := newClient(t, e)
	c.login("admin@example.com")
	wantStatus(t, c.postForm("/admin/users/"+itoa(target.ID)+"/role", url.Values{"role": {"editor"}}), http.StatusSeeOther)
	wantStatus(t, c.get("/settings/2fa"), http.StatusOK)
}

func TestServer_RequireSecondFactorForAdmins(t *testing.T) {
	e := mustOpenEnvConfig(t, envConfig{requireFactor: true})
	admin := mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	target := mustCreateUser(t, e, "target@example.com", "Target", aistat.RoleViewer)
	mustCreateUser(t, e, "editor@example.com", "Editor", aistat.RoleEditor)
	c := newClient(t, e)
	c.login(admin.Email)
	res := c.get("/admin")
	wantStatus(t, res, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/settings/2fa" {
		t.Fatalf("admin without a second factor: Location %q, want /settings/2fa", loc)
	}
	rolePath := "/admin/users/" + itoa(target.ID) + "/role"
	wantStatus(t, c.postForm(rolePath, url.Values{"role": {"editor"}}), http.StatusForbidden)
	// Nor through the password asked again, whose replay keeps the route's
	// rules.
	wantStatus(t, c.postForm("/reauth", url.Values{"password": {testPassword}, "next": {rolePath}, "form": {"role=editor"}, "replay": {"yes"}}), http.StatusForbidden)
	if got := readUserRow(t, e, target.ID).Role; got != "viewer" {
		t.Fatalf("role = %q after a refused action, want viewer", got)
	}
	editor := newClient(t, e)
	editor.login("editor@example.com")
	wantStatus(t, editor.get("/admin"), http.StatusOK)

	mustEnrolTOTP(t, c)
	wantStatus(t, c.get("/admin"), http.StatusOK)
}

func TestServer_SecondFactorsReset(t *testing.T) {
	e := mustOpenEnv(t)
	admin := mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	u := mustCreateUser(t, e, "lost@example.com", "Lost", aistat.RoleViewer)
	own := newClient(t, e)
	own.login(u.Email)
	mustEnrolTOTP(t, own)
	c := newClient(t, e)
	c.login(admin.Email)
	path := "/admin/users/" + itoa(u.ID) + "/2fa/reset"

	res := c.postForm(path, url.Values{"back": {"/admin"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, `action="`+path+`"`, `name="confirm" value="yes"`)
	for _, bad := range []string{"/admin/users/0/2fa/reset", "/admin/users/abc/2fa/reset", "/admin/users/" + itoa(admin.ID) + "/2fa/reset"} {
		if res := c.postForm(bad, confirmed()); res.StatusCode < 400 || res.StatusCode >= 500 {
			t.Fatalf("POST %s: status %d, want 4xx", bad, res.StatusCode)
		}
	}
	if !secondFactor(t, e, u.ID) || countRows(t, e, `SELECT count(*) FROM audit_log WHERE action = 'second_factors_reset'`) != 0 {
		t.Fatal("an unconfirmed reset removed the second factor")
	}

	wantStatus(t, c.postForm(path, confirmed()), http.StatusSeeOther)
	if secondFactor(t, e, u.ID) || countRows(t, e, `SELECT count(*) FROM totp_secrets WHERE user_id = $1`, u.ID) != 0 ||
		countRows(t, e, `SELECT count(*) FROM recovery_codes WHERE user_id = $1`, u.ID) != 0 {
		t.Fatal("the reset left a second factor")
	}
	if n := countRows(t, e, `SELECT count(*) FROM audit_log WHERE action = 'second_factors_reset' AND actor_id = $1 AND target_id = $2`, admin.ID, u.ID); n != 1 {
		t.Fatalf("%d audit entries of the reset, want 1", n)
	}
	if mails(t, e, aistat.MailSecondFactorsReset, u.Email) != 1 || events(t, e, aistat.EventSecondFactorsReset, u.ID) != 1 {
		t.Fatal("the reset was not mailed and recorded")
	}
	if res := c.postForm(path, confirmed()); res.StatusCode != http.StatusConflict {
		t.Fatalf("resetting a user without a second factor: status %d, want 409", res.StatusCode)
	}
	wantPasswordSignsIn(t, e, u.Email)
}

// TestServer_BudgetSecondFactor checks that a session signed in in two
// steps reads as any other: one round trip, no write. What the
// re-authentication and the admins' policy need came with that read.
func TestServer_BudgetSecondFactor(t *testing.T) {
	e := mustOpenEnvConfig(t, envConfig{requireFactor: true})
	u := mustCreateUser(t, e, "budget@example.com", "Budget", aistat.RoleAdmin)
	enrol := newClient(t, e)
	enrol.login(u.Email)
	secret, _ := mustEnrolTOTP(t, enrol)
	c := newClient(t, e)
	wantStatus(t, c.postForm("/login", url.Values{"email": {u.Email}, "password": {testPassword}, "remember": {"yes"}}), http.StatusSeeOther)
	wantStatus(t, c.postForm("/login/2fa", url.Values{"code": {totpAt(t, secret, time.Now().Add(30*time.Second))}}), http.StatusSeeOther)
	wantStatus(t, c.get("/"), http.StatusOK)
	for _, path := range []string{"/", "/api/session", "/settings"} {
		before := e.counter.Count()
		res := c.get(path)
		trips := e.counter.Since(before)
		wantStatus(t, res, http.StatusOK)
		if len(trips) != 1 || res.Header.Get("Set-Cookie") != "" {
			t.Fatalf("GET %s: %d round trips, Set-Cookie %q; want 1 and none:\n%s", path, len(trips), res.Header.Get("Set-Cookie"), strings.Join(trips, "\n"))
		}
	}
}
