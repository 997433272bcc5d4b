package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"aistat"
)

// TestServer_SecurityHeaders checks the headers of every kind of response
// (pages, API, static files, errors, throttled sign-ins), on a plain site
// and on one with secure cookies behind HTTPS.
func TestServer_SecurityHeaders(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run("Secure="+strconv.FormatBool(secure), func(t *testing.T) {
			e := mustOpenEnvConfig(t, envConfig{secureCookies: secure, trustedProxies: localProxies})
			mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
			mustCreateUser(t, e, "locked@example.com", "Locked", aistat.RoleViewer)
			anonymous, admin := newClient(t, e), newClient(t, e)

			signIn := admin.postForm("/login", url.Values{"email": {"admin@example.com"}, "password": {testPassword}})
			wantStatus(t, signIn, http.StatusSeeOther)
			checkSessionCookie(t, signIn, secure)

			for range aistat.ThrottleAccountLimit {
				signInFrom(t, e, "198.51.100.77", "locked@example.com", "wrong password")
			}
			form := "application/x-www-form-urlencoded"
			tests := []struct {
				name        string
				c           *client
				method      string
				path        string
				contentType string
				body        string
				headers     []string
				status      int
				// personal is false for the static files, which caches may
				// keep; everything else must not be stored.
				personal bool
			}{
				{"Home", anonymous, "GET", "/", "", "", nil, 200, true},
				{"HomeSignedIn", admin, "GET", "/", "", "", nil, 200, true},
				{"Login", anonymous, "GET", "/login", "", "", nil, 200, true},
				{"LoginWrong", anonymous, "POST", "/login", form, "email=admin%40example.com&password=nope", nil, 401, true},
				{"LoginThrottled", anonymous, "POST", "/login", form, "email=locked%40example.com&password=x", []string{"X-Forwarded-For", "198.51.100.77"}, 429, true},
				{"LoginJSON", anonymous, "POST", "/login", "application/json", "{}", nil, 415, true},
				{"Settings", admin, "GET", "/settings", "", "", nil, 200, true},
				{"SettingsAnonymous", anonymous, "GET", "/settings", "", "", nil, 303, true},
				{"Sessions", admin, "GET", "/settings/sessions", "", "", nil, 200, true},
				{"SessionEndUnknown", admin, "POST", "/settings/sessions/end", form, "session=999999", nil, 404, true},
				{"PasswordWrong", admin, "POST", "/settings/password", form, "current_password=x&new_password=y", nil, 422, true},
				{"Admin", admin, "GET", "/admin", "", "", nil, 200, true},
				{"APISession", admin, "GET", "/api/session", "", "", nil, 200, true},
				{"APISessionAnonymous", anonymous, "GET", "/api/session", "", "", nil, 401, true},
				{"APIProfile", admin, "PUT", "/api/profile", "application/json", `{"name":"Admin","avatarUrl":""}`, nil, 200, true},
				{"APIProfileInvalid", admin, "PUT", "/api/profile", "application/json", `{"name":"","avatarUrl":""}`, nil, 422, true},
				{"APIProfileTooLarge", admin, "PUT", "/api/profile", "application/json", `{"name":"` + strings.Repeat("a", 70<<10) + `"}`, nil, 413, true},
				{"CrossOrigin", admin, "POST", "/settings", form, "name=x", []string{"Origin", "https://evil.example"}, 403, true},
				{"NotFound", anonymous, "GET", "/nowhere", "", "", nil, 404, true},
				{"MethodNotAllowed", admin, "DELETE", "/settings", "", "", nil, 405, true},
				{"Health", anonymous, "GET", "/healthz", "", "", nil, 200, true},
				{"Static", anonymous, "GET", "/static/app.css", "", "", nil, 200, false},
				{"StaticMissing", anonymous, "GET", "/static/missing.css", "", "", nil, 404, true},
				{"AvatarMissing", anonymous, "GET", "/avatars/" + strings.Repeat("0", 64) + ".jpg", "", "", nil, 404, true},
				{"AvatarMalformed", anonymous, "GET", "/avatars/x.jpg", "", "", nil, 404, true},
				{"AvatarUpload", admin, "POST", "/settings/avatar", "multipart/form-data; boundary=x", "--x--\r\n", nil, 422, true},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					res := tt.c.do(tt.method, tt.path, tt.contentType, tt.body, tt.headers...)
					wantStatus(t, res, tt.status)
					checkSecurityHeaders(t, res, secure)
					cache := res.Header.Get("Cache-Control")
					if tt.personal && cache != "no-store" {
						t.Errorf("Cache-Control = %q, want no-store", cache)
					}
					if !tt.personal && strings.Contains(cache, "no-store") {
						t.Errorf("Cache-Control = %q on a public file", cache)
					}
				})
			}
		})
	}
}

// checkSecurityHeaders checks what every response must carry.
func checkSecurityHeaders(tb testing.TB, res *response, secure bool) {
	tb.Helper()
	h := res.Header
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'",
		"img-src 'self' https:;", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			tb.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		tb.Errorf("Content-Security-Policy %q allows inline code", csp)
	}
	for name, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "same-origin",
	} {
		if got := h.Get(name); got != want {
			tb.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if pp := h.Get("Permissions-Policy"); !strings.Contains(pp, "camera=()") || !strings.Contains(pp, "geolocation=()") {
		tb.Errorf("Permissions-Policy = %q", pp)
	}
	hsts := h.Get("Strict-Transport-Security")
	switch {
	case secure && !strings.HasPrefix(hsts, "max-age=63072000"):
		tb.Errorf("Strict-Transport-Security = %q, want two years", hsts)
	case !secure && hsts != "":
		tb.Errorf("Strict-Transport-Security = %q on a site without HTTPS", hsts)
	}
}

// checkSessionCookie checks the cookie a sign-in sets.
func checkSessionCookie(tb testing.TB, res *response, secure bool) {
	tb.Helper()
	var ck *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "session" || c.Name == "__Host-session" {
			ck = c
		}
	}
	switch {
	case ck == nil:
		tb.Fatalf("no session cookie in %q", res.Header.Values("Set-Cookie"))
	case secure && (ck.Name != "__Host-session" || !ck.Secure):
		tb.Fatalf("cookie %s, Secure %v: want __Host-session, Secure", ck.Name, ck.Secure)
	case !secure && (ck.Name != "session" || ck.Secure):
		tb.Fatalf("cookie %s, Secure %v: want session, not Secure", ck.Name, ck.Secure)
	case !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "":
		tb.Fatalf("cookie %+v: want HttpOnly, SameSite=Lax, Path=/ and no Domain", ck)
	}
}

// TestPages_ContentLength: a page goes out with its length, not in chunks,
// however large: a signed-in page is larger than net/http's 2 KB buffer.
func TestPages_ContentLength(t *testing.T) {
	e := mustOpenEnv(t)
	u := mustCreateUser(t, e, "length@example.com", "Length", aistat.RoleAdmin)
	c := newClient(t, e)
	c.login(u.Email)
	for _, path := range []string{"/", "/settings", "/admin", "/no-such-page"} {
		res := c.get(path)
		if len(res.body) <= 2048 {
			t.Fatalf("%s: %d bytes, want a page past the 2 KB buffer", path, len(res.body))
		}
		if res.ContentLength != int64(len(res.body)) || len(res.TransferEncoding) != 0 {
			t.Errorf("%s: Content-Length %d, Transfer-Encoding %v for %d bytes", path, res.ContentLength, res.TransferEncoding, len(res.body))
		}
	}
}
