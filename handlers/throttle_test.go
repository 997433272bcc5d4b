package handlers_test

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"aistat"
)

// localProxies trusts the test's own peer address, so that a test names
// its client address in X-Forwarded-For.
var localProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// signInFrom posts the sign-in form from client address addr with a new
// browser.
func signInFrom(tb testing.TB, e *env, addr, email, password string) *response {
	tb.Helper()
	form := url.Values{"email": {email}, "password": {password}}.Encode()
	return newClient(tb, e).do(http.MethodPost, "/login", "application/x-www-form-urlencoded", form, "X-Forwarded-For", addr)
}

// wantThrottled checks a 429 sign-in page: the wait in Retry-After (at most
// maxSeconds), the message in minutes, the email kept, no session.
func wantThrottled(tb testing.TB, res *response, email string, maxSeconds int, minutes string) {
	tb.Helper()
	wantStatus(tb, res, http.StatusTooManyRequests)
	wantBody(tb, res, "Too many failed attempts. Try again in "+minutes+".", `value="`+email+`"`)
	retry, err := strconv.Atoi(res.Header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > maxSeconds {
		tb.Fatalf("Retry-After = %q, want 1 to %d seconds", res.Header.Get("Retry-After"), maxSeconds)
	}
	if res.Header.Get("Set-Cookie") != "" {
		tb.Fatal("a refused sign-in set a cookie")
	}
}

// throttleRow reads a throttle counter: email "" is the address's own.
func throttleRow(tb testing.TB, e *env, addr, email string) (failures, inFlight int) {
	tb.Helper()
	err := e.db.QueryRow(`SELECT failures, in_flight FROM sign_in_throttle WHERE addr = $1 AND email = $2`, addr, email).
		Scan(&failures, &inFlight)
	if err != nil {
		tb.Fatalf("throttle row %s %q: %v", addr, email, err)
	}
	return failures, inFlight
}

// endDelay makes the current delay of a counter run out now.
func endDelay(tb testing.TB, e *env, addr, email string) {
	tb.Helper()
	_, err := e.db.Exec(`UPDATE sign_in_throttle SET blocked_until = now() - interval '1 second' WHERE addr = $1 AND email = $2`, addr, email)
	if err != nil {
		tb.Fatal(err)
	}
}

// TestServer_Throttle holds sign-in throttling to its rules through the
// real router on two instances sharing one database.
func TestServer_Throttle(t *testing.T) {
	a := mustOpenEnvConfig(t, envConfig{trustedProxies: localProxies})
	b := mustOpenEnvConfig(t, envConfig{dsn: a.dsn, trustedProxies: localProxies})
	mustCreateUser(t, a, "victim@example.com", "Victim", aistat.RoleViewer)
	const wrong = "not the password at all"

	t.Run("AcrossInstances", func(t *testing.T) {
		const addr = "198.51.100.1"
		for i := range aistat.ThrottleAccountLimit {
			res := signInFrom(t, a, addr, "victim@example.com", wrong)
			wantStatus(t, res, http.StatusUnauthorized)
			if i == 0 {
				wantBody(t, res, "Wrong email or password.")
			}
		}
		// Instance B refuses the right password: the delay is in the database.
		wantThrottled(t, signInFrom(t, b, addr, "VICTIM@example.com", testPassword), "VICTIM@example.com", 60, "1 minute")
		wantThrottled(t, signInFrom(t, a, addr, "victim@example.com", testPassword), "victim@example.com", 60, "1 minute")
		if failures, _ := throttleRow(t, a, addr, "victim@example.com"); failures != aistat.ThrottleAccountLimit {
			t.Fatalf("failures = %d, want %d: refused attempts must not count", failures, aistat.ThrottleAccountLimit)
		}
		// The address's own row let the refused attempts in; they left.
		if failures, inFlight := throttleRow(t, a, addr, ""); failures != aistat.ThrottleAccountLimit || inFlight != 0 {
			t.Fatalf("address row: failures %d, in flight %d, want %d, 0", failures, inFlight, aistat.ThrottleAccountLimit)
		}

		t.Run("OtherAddressUnaffected", func(t *testing.T) {
			wantStatus(t, signInFrom(t, b, "198.51.100.2", "victim@example.com", testPassword), http.StatusSeeOther)
		})

		t.Run("DelayDoubles", func(t *testing.T) {
			endDelay(t, a, addr, "victim@example.com")
			wantStatus(t, signInFrom(t, b, addr, "victim@example.com", wrong), http.StatusUnauthorized)
			wantThrottled(t, signInFrom(t, a, addr, "victim@example.com", testPassword), "victim@example.com", 120, "2 minutes")
			for range 5 {
				endDelay(t, a, addr, "victim@example.com")
				wantStatus(t, signInFrom(t, a, addr, "victim@example.com", wrong), http.StatusUnauthorized)
			}
			// 1, 2, 4, 8, 16 minutes: capped at 15.
			res := signInFrom(t, b, addr, "victim@example.com", wrong)
			wantThrottled(t, res, "victim@example.com", 900, "15 minutes")
			if retry, _ := strconv.Atoi(res.Header.Get("Retry-After")); retry < 890 {
				t.Fatalf("Retry-After = %d, want the 15-minute cap", retry)
			}
		})

		t.Run("SuccessResets", func(t *testing.T) {
			endDelay(t, a, addr, "victim@example.com")
			wantStatus(t, signInFrom(t, a, addr, "victim@example.com", testPassword), http.StatusSeeOther)
			if failures, inFlight := throttleRow(t, a, addr, "victim@example.com"); failures != 0 || inFlight != 0 {
				t.Fatalf("after a sign-in: failures %d, in flight %d, want 0, 0", failures, inFlight)
			}
			for range aistat.ThrottleAccountLimit - 1 {
				wantStatus(t, signInFrom(t, b, addr, "victim@example.com", wrong), http.StatusUnauthorized)
			}
			wantStatus(t, signInFrom(t, b, addr, "victim@example.com", testPassword), http.StatusSeeOther)
		})
	})

	t.Run("UnknownEmailSameBookkeeping", func(t *testing.T) {
		attempt := func(addr, email string) ([]string, *response) {
			before := a.counter.Count()
			res := signInFrom(t, a, addr, email, wrong)
			return a.counter.Since(before), res
		}
		knownTrips, known := attempt("198.51.100.10", "victim@example.com")
		unknownTrips, unknown := attempt("198.51.100.11", "ghost@example.com")
		wantStatus(t, known, http.StatusUnauthorized)
		wantStatus(t, unknown, http.StatusUnauthorized)
		if len(knownTrips) != len(unknownTrips) {
			t.Fatalf("round trips: known email %d, unknown email %d, want the same\nknown:\n%s\nunknown:\n%s",
				len(knownTrips), len(unknownTrips), strings.Join(knownTrips, "\n"), strings.Join(unknownTrips, "\n"))
		}
		for _, k := range []struct{ addr, email string }{{"198.51.100.10", "victim@example.com"}, {"198.51.100.11", "ghost@example.com"}} {
			if failures, inFlight := throttleRow(t, a, k.addr, k.email); failures != 1 || inFlight != 0 {
				t.Fatalf("%s: failures %d, in flight %d, want 1, 0", k.email, failures, inFlight)
			}
		}
		for range aistat.ThrottleAccountLimit - 1 {
			wantStatus(t, signInFrom(t, b, "198.51.100.11", "ghost@example.com", wrong), http.StatusUnauthorized)
		}
		wantThrottled(t, signInFrom(t, b, "198.51.100.11", "Ghost@Example.com", wrong), "Ghost@Example.com", 60, "1 minute")
	})

	t.Run("AddressLimit", func(t *testing.T) {
		const addr = "203.0.113.7"
		for i := range aistat.ThrottleAddressLimit {
			e := a
			if i%2 == 1 {
				e = b
			}
			wantStatus(t, signInFrom(t, e, addr, "spray"+strconv.Itoa(i)+"@example.com", wrong), http.StatusUnauthorized)
		}
		wantThrottled(t, signInFrom(t, b, addr, "victim@example.com", testPassword), "victim@example.com", 60, "1 minute")
		if failures, inFlight := throttleRow(t, a, addr, "victim@example.com"); failures != 0 || inFlight != 0 {
			t.Fatalf("account row: failures %d, in flight %d, want 0, 0", failures, inFlight)
		}
		wantStatus(t, signInFrom(t, a, "203.0.113.8", "victim@example.com", testPassword), http.StatusSeeOther)
	})

	t.Run("IPv6ByBlock", func(t *testing.T) {
		for i := range aistat.ThrottleAccountLimit {
			addr := "2001:db8:1:2::" + strconv.Itoa(i+1)
			wantStatus(t, signInFrom(t, a, addr, "victim@example.com", wrong), http.StatusUnauthorized)
		}
		wantThrottled(t, signInFrom(t, b, "2001:db8:1:2:ffff::9", "victim@example.com", testPassword), "victim@example.com", 60, "1 minute")
		wantStatus(t, signInFrom(t, b, "2001:db8:1:3::1", "victim@example.com", testPassword), http.StatusSeeOther)
	})

	t.Run("ParallelAttemptsCannotSlipPast", func(t *testing.T) {
		const addr, tries = "198.51.100.20", 16
		statuses := make(chan int, tries)
		var wg sync.WaitGroup
		for i := range tries {
			e := a
			if i%2 == 1 {
				e = b
			}
			wg.Go(func() {
				form := url.Values{"email": {"victim@example.com"}, "password": {wrong}}.Encode()
				req, err := http.NewRequest(http.MethodPost, e.server.URL+"/login", strings.NewReader(form))
				if err != nil {
					t.Error(err)
					return
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Forwarded-For", addr)
				res, err := e.server.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				statuses <- res.StatusCode
			})
		}
		wg.Wait()
		close(statuses)
		checked := 0
		for status := range statuses {
			switch status {
			case http.StatusUnauthorized:
				checked++
			case http.StatusTooManyRequests:
			default:
				t.Errorf("status %d, want 401 or 429", status)
			}
		}
		if checked != aistat.ThrottleAccountLimit {
			t.Fatalf("%d of %d parallel attempts had their password checked, want %d", checked, tries, aistat.ThrottleAccountLimit)
		}
		if failures, inFlight := throttleRow(t, a, addr, "victim@example.com"); failures != checked || inFlight != 0 {
			t.Fatalf("failures %d, in flight %d, want %d, 0", failures, inFlight, checked)
		}
	})

	t.Run("PasswordChangeCounts", func(t *testing.T) {
		const addr = "198.51.100.30"
		u := mustCreateUser(t, a, "changer@example.com", "Changer", aistat.RoleViewer)
		c := newClient(t, a)
		wantStatus(t, c.do(http.MethodPost, "/login", "application/x-www-form-urlencoded",
			url.Values{"email": {"changer@example.com"}, "password": {testPassword}}.Encode(), "X-Forwarded-For", addr), http.StatusSeeOther)
		change := func(current string) *response {
			form := url.Values{"current_password": {current}, "new_password": {"a brand new passphrase"}}.Encode()
			return c.do(http.MethodPost, "/settings/password", "application/x-www-form-urlencoded", form, "X-Forwarded-For", addr)
		}
		before := readUserRow(t, a, u.ID)
		for range aistat.ThrottleAccountLimit {
			res := change(wrong)
			wantStatus(t, res, http.StatusUnprocessableEntity)
			wantBody(t, res, "This is not your current password.")
		}
		res := change(testPassword)
		wantStatus(t, res, http.StatusTooManyRequests)
		wantBody(t, res, "Too many failed attempts. Try again in 1 minute.")
		if res.Header.Get("Retry-After") == "" {
			t.Fatal("no Retry-After")
		}
		wantThrottled(t, signInFrom(t, b, addr, "changer@example.com", testPassword), "changer@example.com", 60, "1 minute")
		if after := readUserRow(t, a, u.ID); after != before {
			t.Fatalf("row changed: %+v -> %+v", before, after)
		}
	})
}

// deviceCookie is the client's device cookie value, "" when none.
func (c *client) deviceCookie() string {
	u, _ := url.Parse(c.e.server.URL)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == "device" || ck.Name == "__Host-device" {
			return ck.Value
		}
	}
	return ""
}

// signInWithDevice posts the sign-in form from addr with a new browser
// that presents device as its device cookie ("" for none).
func signInWithDevice(tb testing.TB, e *env, addr, device, email, password string) *response {
	tb.Helper()
	form := url.Values{"email": {email}, "password": {password}}.Encode()
	headers := []string{"X-Forwarded-For", addr}
	if device != "" {
		headers = append(headers, "Cookie", "device="+device)
	}
	return newClient(tb, e).do(http.MethodPost, "/login", "application/x-www-form-urlencoded", form, headers...)
}

// TestServer_DeviceCookies: a flood of failures from one address locks out
// the browsers there that have never signed in, but not one that holds a
// valid device cookie for its account; a cookie that is not valid for the
// account counts as none, and a cookie holder's own failures still delay
// it.
func TestServer_DeviceCookies(t *testing.T) {
	e := mustOpenEnvConfig(t, envConfig{trustedProxies: localProxies})
	mustCreateUser(t, e, "office@example.com", "Office Worker", aistat.RoleViewer)
	mustCreateUser(t, e, "colleague@example.com", "Colleague", aistat.RoleViewer)
	mustCreateUser(t, e, "changer@example.com", "Changer", aistat.RoleViewer)
	const addr, home, wrong = "192.0.2.50", "192.0.2.99", "not the password at all"

	// deviceOf signs a new browser in from an address other than the
	// office's and returns the device cookie it got.
	deviceOf := func(t *testing.T, email, password string) string {
		t.Helper()
		res := signInWithDevice(t, e, home, "", email, password)
		wantStatus(t, res, http.StatusSeeOther)
		var device *http.Cookie
		for _, ck := range res.Cookies() {
			if ck.Name == "device" {
				device = ck
			}
		}
		if device == nil || !device.HttpOnly || device.SameSite != http.SameSiteLaxMode || device.MaxAge < 30*24*3600 || device.Path != "/" {
			t.Fatalf("device cookie %+v: want a long-lived HttpOnly SameSite=Lax cookie for the whole site", device)
		}
		if strings.Contains(device.Value, email) {
			t.Fatalf("device cookie %q names the account", device.Value)
		}
		return device.Value
	}
	device := deviceOf(t, "office@example.com", testPassword)
	colleagueDevice := deviceOf(t, "colleague@example.com", testPassword)
	changerDevice := deviceOf(t, "changer@example.com", testPassword)

	// A guesser behind the office's address sprays other accounts.
	for i := range aistat.ThrottleAddressLimit + 2 {
		res := signInFrom(t, e, addr, "spray"+strconv.Itoa(i)+"@example.com", wrong)
		if res.StatusCode != http.StatusUnauthorized && res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("spray %d: status %d", i, res.StatusCode)
		}
	}

	t.Run("NoCookieLockedOut", func(t *testing.T) {
		wantThrottled(t, signInWithDevice(t, e, addr, "", "office@example.com", testPassword), "office@example.com", 60, "1 minute")
	})

	t.Run("ValidCookieSignsIn", func(t *testing.T) {
		before, _ := throttleRow(t, e, addr, "")
		res := signInWithDevice(t, e, addr, device, "OFFICE@example.com", testPassword)
		wantStatus(t, res, http.StatusSeeOther)
		if failures, inFlight := throttleRow(t, e, addr, ""); failures != before || inFlight != 0 {
			t.Fatalf("address row: failures %d -> %d, in flight %d: a device's attempt must leave it alone", before, failures, inFlight)
		}
	})

	t.Run("NotValidCountsAsNone", func(t *testing.T) {
		last := device[len(device)-1:]
		flipped := "A"
		if last == "A" {
			flipped = "B"
		}
		for _, tc := range []struct{ name, value, email string }{
			{"Garbled", device[:len(device)-1] + flipped, "office@example.com"},
			{"Truncated", device[:len(device)-5], "office@example.com"},
			{"Forged", "d1." + strings.Repeat("A", len(device)-3), "office@example.com"},
			{"Nonsense", "hello", "office@example.com"},
			{"AnotherAccounts", colleagueDevice, "office@example.com"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantThrottled(t, signInWithDevice(t, e, addr, tc.value, tc.email, testPassword), tc.email, 60, "1 minute")
			})
		}
	})

	t.Run("BeforePasswordChange", func(t *testing.T) {
		c := newClient(t, e)
		wantStatus(t, c.do(http.MethodPost, "/login", "application/x-www-form-urlencoded",
			url.Values{"email": {"changer@example.com"}, "password": {testPassword}}.Encode(), "X-Forwarded-For", home), http.StatusSeeOther)
		signedIn := c.deviceCookie()
		const newPassword = "a brand new passphrase"
		res := c.do(http.MethodPost, "/settings/password", "application/x-www-form-urlencoded",
			url.Values{"current_password": {testPassword}, "new_password": {newPassword}}.Encode(), "X-Forwarded-For", home)
		wantStatus(t, res, http.StatusSeeOther)
		wantThrottled(t, signInWithDevice(t, e, addr, changerDevice, "changer@example.com", newPassword), "changer@example.com", 60, "1 minute")
		// The browser that changed it got a new one with the change.
		if c.deviceCookie() == "" || c.deviceCookie() == signedIn {
			t.Fatal("the password change gave its browser no new device cookie")
		}
		wantStatus(t, signInWithDevice(t, e, addr, c.deviceCookie(), "changer@example.com", newPassword), http.StatusSeeOther)
		// A cookie issued after the change works.
		fresh := deviceOf(t, "changer@example.com", newPassword)
		wantStatus(t, signInWithDevice(t, e, addr, fresh, "changer@example.com", newPassword), http.StatusSeeOther)
	})

	t.Run("OwnFailuresDelay", func(t *testing.T) {
		mine := deviceOf(t, "colleague@example.com", testPassword)
		for range aistat.ThrottleDeviceLimit {
			wantStatus(t, signInWithDevice(t, e, addr, mine, "colleague@example.com", wrong), http.StatusUnauthorized)
		}
		wantThrottled(t, signInWithDevice(t, e, addr, mine, "colleague@example.com", testPassword), "colleague@example.com", 60, "1 minute")
		// Another browser of the same account is a device of its own.
		wantStatus(t, signInWithDevice(t, e, addr, colleagueDevice, "colleague@example.com", testPassword), http.StatusSeeOther)
	})
}

// TestServer_DeviceCookieSecure: behind HTTPS the device cookie is
// Secure and __Host- prefixed, and is honoured under that name.
func TestServer_DeviceCookieSecure(t *testing.T) {
	e := mustOpenEnvConfig(t, envConfig{secureCookies: true, trustedProxies: localProxies})
	mustCreateUser(t, e, "https@example.com", "Https", aistat.RoleViewer)
	c := newClient(t, e)
	res := c.do(http.MethodPost, "/login", "application/x-www-form-urlencoded",
		url.Values{"email": {"https@example.com"}, "password": {testPassword}}.Encode(), "X-Forwarded-For", "192.0.2.70")
	wantStatus(t, res, http.StatusSeeOther)
	var device *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == "__Host-device" {
			device = ck
		}
	}
	if device == nil || !device.Secure || !device.HttpOnly || device.Path != "/" || device.Domain != "" {
		t.Fatalf("device cookie %+v: want a Secure, HttpOnly __Host-device cookie for the whole site", device)
	}
	const addr = "192.0.2.71"
	for i := range aistat.ThrottleAddressLimit {
		wantStatus(t, signInFrom(t, e, addr, "spray"+strconv.Itoa(i)+"@example.com", "wrong password here"), http.StatusUnauthorized)
	}
	form := url.Values{"email": {"https@example.com"}, "password": {testPassword}}.Encode()
	wantStatus(t, newClient(t, e).do(http.MethodPost, "/login", "application/x-www-form-urlencoded", form,
		"X-Forwarded-For", addr, "Cookie", "__Host-device="+device.Value), http.StatusSeeOther)
	wantThrottled(t, newClient(t, e).do(http.MethodPost, "/login", "application/x-www-form-urlencoded", form,
		"X-Forwarded-For", addr, "Cookie", "device="+device.Value), "https@example.com", 60, "1 minute")
}
