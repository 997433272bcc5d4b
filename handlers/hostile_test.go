package handlers_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"aistat"
)

// TestServer_HostileInput sends every handler what an attacker would:
// header injection, very long values, invalid UTF-8 and NUL bytes, thousands
// of form fields, path traversal, ids that are not numbers or are nobody's,
// wrong methods. Each gets the answer in the table, never a 5xx, nothing
// injected into the headers, and the rows read back unchanged.
func TestServer_HostileInput(t *testing.T) {
	e := mustOpenEnvConfig(t, envConfig{trustedProxies: localProxies})
	mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	u := mustCreateUser(t, e, "hostile@example.com", "Hostile Target", aistat.RoleEditor)
	other := mustCreateUser(t, e, "other@example.com", "Other", aistat.RoleViewer)
	mustCreateUser(t, e, "visitor@example.com", "Visitor", aistat.RoleViewer)
	admin, user, stranger, anonymous := newClient(t, e), newClient(t, e), newClient(t, e), newClient(t, e)
	admin.login("admin@example.com")
	user.login("hostile@example.com")
	stranger.login("other@example.com")
	strangerSession := itoa(sessionIDOf(t, stranger))
	uid, nobody := itoa(u.ID), "999999"

	const form, jsonType = "application/x-www-form-urlencoded", "application/json"
	megabyte := strings.Repeat("a", 1<<20)
	manyFields := strings.Repeat("a=1&", 20000)
	someFields := strings.Repeat("a=&", 12000)
	long := func(n int) string { return strings.Repeat("я", n/2) }
	login := func(email, password, next string) string {
		return url.Values{"email": {email}, "password": {password}, "next": {next}}.Encode()
	}
	profile := func(name, avatar string) string {
		return url.Values{"name": {name}, "avatar_url": {avatar}}.Encode()
	}
	password := func(current, next string) string {
		return url.Values{"current_password": {current}, "new_password": {next}}.Encode()
	}

	type request struct {
		name string
		// c sends the request; nil for a new browser.
		c           *client
		method      string
		target      string
		contentType string
		body        string
		headers     []string
		status      int
		// location is the redirect a 3xx must name.
		location string
	}
	tests := []request{
		// Header injection: nothing a request says becomes a header line.
		{"NextCRLFLoginPage", anonymous, "GET", "/login?next=%2F%0d%0aSet-Cookie:%20evil=1", "", "", nil, 200, ""},
		{"NextCRLFSignIn", nil, "POST", "/login", form, login("visitor@example.com", testPassword, "/\r\nX-Evil: 1"), nil, 303, "/"},
		{"NextCRLFEncoded", nil, "POST", "/login", form, login("visitor@example.com", testPassword, "/%0d%0aX-Evil:%201"), nil, 303, "/%0d%0aX-Evil:%201"},
		{"NextControl", nil, "POST", "/login", form, login("visitor@example.com", testPassword, "/a\x01b"), nil, 303, "/"},
		{"NextAbsolute", nil, "POST", "/login", form, login("visitor@example.com", testPassword, "https://evil.example/"), nil, 303, "/"},
		{"NextBackslash", nil, "POST", "/login", form, login("visitor@example.com", testPassword, `/\evil.example`), nil, 303, "/"},
		{"RedirectCRLF", anonymous, "GET", "/settings?x=%0d%0aX-Evil:%201", "", "", nil, 303, "/login?next=%2Fsettings%3Fx%3D%250d%250aX-Evil%3A%25201"},
		{"NameCRLF", user, "POST", "/settings", form, profile("Evil\r\nX-Evil: 1", ""), nil, 422, ""},
		{"NameCRLFJSON", user, "PUT", "/api/profile", jsonType, `{"name":"Evil\r\nX-Evil: 1","avatarUrl":""}`, nil, 422, ""},
		{"AvatarCRLF", user, "POST", "/settings", form, profile("Ok", "https://example.com/\r\nX-Evil: 1"), nil, 422, ""},

		// Very long values.
		{"QueryMegabyteLogin", anonymous, "GET", "/login?next=%2F" + megabyte, "", "", nil, 200, ""},
		{"QueryMegabyteRedirect", anonymous, "GET", "/settings?q=" + megabyte, "", "", nil, 303, "/login?next=%2F"},
		{"QueryMegabyteSignedIn", user, "GET", "/settings/sessions?q=" + megabyte, "", "", nil, 200, ""},
		{"QueryMegabyteAPI", user, "PUT", "/api/profile?q=" + megabyte, jsonType, `{"name":1}`, nil, 400, ""},
		{"QueryOverHeaderLimit", anonymous, "GET", "/?q=" + megabyte + megabyte, "", "", nil, 431, ""},
		{"Name10KB", user, "POST", "/settings", form, profile(long(10<<10), ""), nil, 422, ""},
		{"Name10KBJSON", user, "PUT", "/api/profile", jsonType, `{"name":"` + long(10<<10) + `","avatarUrl":""}`, nil, 422, ""},
		{"Avatar10KB", user, "POST", "/settings", form, profile("Ok", "https://example.com/"+strings.Repeat("a", 10<<10)), nil, 422, ""},
		{"Email10KB", anonymous, "POST", "/login", form, login(strings.Repeat("a", 10<<10)+"@example.com", "x", ""), nil, 401, ""},
		{"Password10KB", user, "POST", "/settings/password", form, password(strings.Repeat("p", 10<<10), strings.Repeat("n", 10<<10)), nil, 422, ""},
		{"Role10KB", admin, "POST", "/admin/users/" + uid + "/role", form, "role=" + strings.Repeat("r", 10<<10), nil, 422, ""},
		{"Cookie100KB", anonymous, "GET", "/", "", "", []string{"Cookie", "session=" + strings.Repeat("c", 100<<10)}, 200, ""},
		{"Cookie100KBPost", anonymous, "POST", "/settings", form, profile("Evil", ""), []string{"Cookie", "session=" + strings.Repeat("c", 100<<10)}, 401, ""},
		{"Cookie100KBAPI", anonymous, "GET", "/api/session", "", "", []string{"Cookie", "session=" + strings.Repeat("c", 100<<10)}, 401, ""},
		{"UserAgent100KB", user, "GET", "/settings/sessions", "", "", []string{"User-Agent", strings.Repeat("Mozilla ", 100<<7)}, 200, ""},

		// Invalid UTF-8 and NUL bytes in every field.
		{"EmailInvalidUTF8", anonymous, "POST", "/login", form, "email=%ff%fe%40example.com&password=x", nil, 401, ""},
		{"EmailNUL", anonymous, "POST", "/login", form, "email=hostile%00%40example.com&password=x", nil, 401, ""},
		{"PasswordNUL", anonymous, "POST", "/login", form, "email=hostile%40example.com&password=%00%ff", nil, 401, ""},
		{"NextInvalidUTF8", nil, "POST", "/login", form, "email=visitor%40example.com&password=" + url.QueryEscape(testPassword) + "&next=%2F%ff%00", nil, 303, "/"},
		{"NameInvalidUTF8", user, "POST", "/settings", form, "name=%ff%fe&avatar_url=", nil, 422, ""},
		{"NameNUL", user, "POST", "/settings", form, "name=a%00b&avatar_url=", nil, 422, ""},
		{"AvatarInvalidUTF8", user, "POST", "/settings", form, "name=Ok&avatar_url=https%3A%2F%2Fexample.com%2F%ff", nil, 422, ""},
		{"AvatarNUL", user, "POST", "/settings", form, "name=Ok&avatar_url=https%3A%2F%2Fexample.com%2F%00", nil, 422, ""},
		{"JSONInvalidUTF8", user, "PUT", "/api/profile", jsonType, "{\"name\":\"a\xff\xfeb\",\"avatarUrl\":\"\"}", nil, 400, ""},
		{"JSONInvalidUTF8Avatar", user, "PUT", "/api/profile", jsonType, "{\"name\":\"Ok\",\"avatarUrl\":\"https://example.com/\xff\"}", nil, 400, ""},
		{"JSONEscapedNUL", user, "PUT", "/api/profile", jsonType, `{"name":"a\u0000b","avatarUrl":""}`, nil, 422, ""},
		{"JSONRawNUL", user, "PUT", "/api/profile", jsonType, "{\"name\":\"a\x00b\",\"avatarUrl\":\"\"}", nil, 400, ""},
		{"JSONKeyInvalidUTF8", user, "PUT", "/api/profile", jsonType, "{\"name\xff\":\"Ok\",\"avatarUrl\":\"\"}", nil, 400, ""},
		{"CurrentPasswordInvalidUTF8", user, "POST", "/settings/password", form, "current_password=%ff%00&new_password=a+fine+new+passphrase", nil, 422, ""},
		{"NewPasswordInvalidUTF8", user, "POST", "/settings/password", form, "current_password=x&new_password=%ff%00%ff%00%ff%00%ff%00%ff%00", nil, 422, ""},
		{"SessionInvalidUTF8", user, "POST", "/settings/sessions/end", form, "session=%ff%00", nil, 404, ""},
		{"RoleInvalidUTF8", admin, "POST", "/admin/users/" + uid + "/role", form, "role=%ff%00", nil, 422, ""},
		{"LoginPageNUL", anonymous, "GET", "/login?next=%00", "", "", nil, 200, ""},
		{"PathInvalidUTF8", anonymous, "GET", "/%ff%fe", "", "", nil, 404, ""},
		{"PathNUL", anonymous, "GET", "/settings%00", "", "", nil, 404, ""},

		// Thousands of form fields: over the body limit, or read and ignored.
		{"ManyFieldsLogin", anonymous, "POST", "/login", form, manyFields, nil, 413, ""},
		{"ManyFieldsSettings", user, "POST", "/settings", form, manyFields, nil, 413, ""},
		{"ManyFieldsPassword", user, "POST", "/settings/password", form, manyFields, nil, 413, ""},
		{"ManyFieldsSessionEnd", user, "POST", "/settings/sessions/end", form, manyFields, nil, 413, ""},
		{"ManyFieldsRole", admin, "POST", "/admin/users/" + uid + "/role", form, manyFields, nil, 413, ""},
		{"ManyFieldsRevoke", admin, "POST", "/admin/users/" + uid + "/revoke", form, manyFields, nil, 413, ""},
		{"SomeThousandFieldsSettings", user, "POST", "/settings", form, someFields, nil, 400, ""},
		{"SomeThousandFieldsSessionEnd", user, "POST", "/settings/sessions/end", form, someFields, nil, 400, ""},
		{"ManyFieldsJSON", user, "PUT", "/api/profile", jsonType, `{"name":"Ok","avatarUrl":""` + strings.Repeat(`,"x":"1"`, 5000) + `}`, nil, 400, ""},

		// Path traversal on the static files.
		{"StaticDotDot", anonymous, "GET", "/static/../go.mod", "", "", nil, 404, ""},
		{"StaticEncodedDotDot", anonymous, "GET", "/static/%2e%2e/go.mod", "", "", nil, 404, ""},
		{"StaticEncodedSlash", anonymous, "GET", "/static/..%2fgo.mod", "", "", nil, 404, ""},
		{"StaticAllEncoded", anonymous, "GET", "/static/%2e%2e%2f%2e%2e%2fgo.mod", "", "", nil, 404, ""},
		{"StaticBackslash", anonymous, "GET", "/static/..%5cgo.mod", "", "", nil, 404, ""},
		{"StaticDeep", anonymous, "GET", "/static/app.css/../../schema.sql", "", "", nil, 404, ""},
		{"StaticNUL", anonymous, "GET", "/static/app.css%00", "", "", nil, 404, ""},
		{"StaticDir", anonymous, "GET", "/static/", "", "", nil, 404, ""},
		{"StaticDoubleSlash", anonymous, "GET", "//static/app.css", "", "", nil, 301, e.server.URL + "/static/app.css"},

		// Ids that are not numbers or are nobody's.
		{"SessionNotANumber", user, "POST", "/settings/sessions/end", form, "session=abc", nil, 404, ""},
		{"SessionOfNobody", user, "POST", "/settings/sessions/end", form, "session=" + nobody, nil, 404, ""},
		{"SessionOfSomeoneElse", user, "POST", "/settings/sessions/end", form, "session=" + strangerSession, nil, 404, ""},
		{"SessionNegative", user, "POST", "/settings/sessions/end", form, "session=-1", nil, 404, ""},
		{"SessionOverflow", user, "POST", "/settings/sessions/end", form, "session=99999999999999999999", nil, 404, ""},
		{"SessionTwice", user, "POST", "/settings/sessions/end", form, "session=" + strangerSession + "&session=others", nil, 404, ""},
	}
	for _, action := range []string{"role", "revoke", "disable", "enable", "reset", "delete"} {
		for _, id := range []string{"abc", "0", "-1", "1e3", "%20", "99999999999999999999", nobody} {
			tests = append(tests, request{"AdminID/" + action + "/" + id, admin, "POST", "/admin/users/" + id + "/" + action, form, "role=viewer", nil, 404, ""})
		}
	}
	tests = append(tests,
		request{"AdminDeletePageNobody", admin, "GET", "/admin/users/" + nobody + "/delete", "", "", nil, 404, ""},
		request{"AdminNotAnAdmin", user, "POST", "/admin/users/" + itoa(other.ID) + "/revoke", form, "", nil, 403, ""},
	)
	// Wrong methods.
	for _, m := range []struct{ method, target string }{
		{"GET", "/logout"}, {"PUT", "/login"}, {"DELETE", "/settings"}, {"PATCH", "/settings"},
		{"GET", "/settings/password"}, {"PUT", "/settings/password"}, {"GET", "/settings/sessions/end"},
		{"DELETE", "/settings/sessions"}, {"POST", "/api/session"}, {"PATCH", "/api/profile"},
		{"POST", "/api/profile"}, {"DELETE", "/admin"}, {"GET", "/admin/users/" + uid + "/role"},
		{"PUT", "/admin/users/" + uid + "/revoke"}, {"POST", "/static/app.css"}, {"POST", "/healthz"},
	} {
		tests = append(tests, request{"Method/" + m.method + m.target, user, m.method, m.target, form, "role=viewer", nil, 405, ""})
	}

	type snapshot struct {
		user, other                   userRow
		sessions, otherSessions, hash string
	}
	read := func() snapshot {
		var hash string
		if err := e.db.QueryRow(`SELECT password_hash FROM users WHERE id = $1`, u.ID).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		return snapshot{
			user: readUserRow(t, e, u.ID), other: readUserRow(t, e, other.ID),
			sessions: fmt.Sprint(sessionCount(t, e, u.ID)), otherSessions: fmt.Sprint(sessionCount(t, e, other.ID)),
			hash: hash,
		}
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := read()
			// A client address per request, so that the failed password
			// checks in the table never add up to a throttled sign-in.
			headers := append([]string{"X-Forwarded-For", fmt.Sprintf("10.%d.%d.1", i/250, i%250)}, tt.headers...)
			c := tt.c
			if c == nil {
				c = newClient(t, e)
			}
			res := doRaw(t, c, tt.method, tt.target, tt.contentType, tt.body, headers...)
			if res.StatusCode != tt.status {
				t.Fatalf("%s %.80s: status %d, want %d; body: %.300s", tt.method, tt.target, res.StatusCode, tt.status, res.body)
			}
			if tt.location != "" || res.StatusCode/100 == 3 {
				if got := res.Header.Get("Location"); got != tt.location {
					t.Fatalf("Location = %.200q, want %q", got, tt.location)
				}
			}
			for name, values := range res.Header {
				if strings.EqualFold(name, "X-Evil") {
					t.Fatalf("injected header %s", name)
				}
				for _, v := range values {
					if strings.ContainsAny(v, "\r\n\x00") || strings.Contains(strings.ToLower(v), "evil=") {
						t.Fatalf("header %s carries %.200q", name, v)
					}
				}
			}
			if strings.Contains(res.body, "module aistat") || strings.Contains(res.body, "CREATE TABLE") {
				t.Fatal("a file outside static/ was served")
			}
			if len(res.body) > 1<<18 {
				t.Fatalf("a %d-byte answer: the input was reflected", len(res.body))
			}
			if after := read(); after != before {
				t.Fatalf("rows changed:\n%+v\n%+v", before, after)
			}
		})
	}

	t.Run("StillWorking", func(t *testing.T) {
		for _, c := range []*client{user, admin, stranger} {
			if !signedIn(t, c) {
				t.Fatal("a session ended")
			}
		}
		wantStatus(t, user.putJSON("/api/profile", `{"name":"Hostile Target","avatarUrl":""}`), http.StatusOK)
	})
}

// doRaw is client.do for a target sent exactly as written, which url.Parse
// would refuse or rewrite (an encoded NUL, "..", a double slash).
func doRaw(tb testing.TB, c *client, method, target, contentType, body string, headers ...string) *response {
	tb.Helper()
	req, err := http.NewRequest(method, c.e.server.URL+"/", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	path, query, _ := strings.Cut(target, "?")
	req.URL.Opaque, req.URL.RawQuery = path, query
	if strings.HasPrefix(path, "//") {
		// An opaque "//..." would name a host: send the absolute form.
		req.URL.Opaque = "//" + req.URL.Host + path
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		tb.Fatalf("%s %.80s: %v", method, target, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return &response{Response: res, body: string(b)}
}
