package handlers_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"aistat"
)

// TestServer_ProfileInput sends bad values to every input of the profile:
// each gets the status of the contract naming the problem, and the row is
// read back unchanged.
func TestServer_ProfileInput(t *testing.T) {
	e := mustOpenEnv(t)
	u := mustCreateUser(t, e, "input@example.com", "Original Name", aistat.RoleEditor)
	c := newClient(t, e)
	c.login("input@example.com")

	long := strings.Repeat("я", 81)
	tests := []struct {
		name        string
		contentType string
		body        string
		headers     []string
		status      int
		want        string
	}{
		{"BlankName", "application/json", `{"name": "", "avatarUrl": ""}`, nil, 422, `"name":"Name is required."`},
		{"SpacesName", "application/json", `{"name": "   ", "avatarUrl": ""}`, nil, 422, `"name":"Name is required."`},
		{"Name81", "application/json", `{"name": "` + long + `", "avatarUrl": ""}`, nil, 422, `"name":"Name must be at most 80 characters."`},
		{"NameControl", "application/json", `{"name": "a\u0007b", "avatarUrl": ""}`, nil, 422, `"name":"Name must not contain control characters."`},
		{"NameNewline", "application/json", `{"name": "a\nb", "avatarUrl": ""}`, nil, 422, `"name":"Name must not contain control characters."`},
		{"NameNUL", "application/json", `{"name": "a\u0000b", "avatarUrl": ""}`, nil, 422, `"name":`},
		{"AvatarJavascript", "application/json", `{"name": "Ok", "avatarUrl": "javascript:alert(1)"}`, nil, 422, `"avatarUrl":`},
		{"AvatarData", "application/json", `{"name": "Ok", "avatarUrl": "data:image/png;base64,AAAA"}`, nil, 422, `"avatarUrl":`},
		{"AvatarFTP", "application/json", `{"name": "Ok", "avatarUrl": "ftp://example.com/a.png"}`, nil, 422, `"avatarUrl":`},
		{"AvatarRelative", "application/json", `{"name": "Ok", "avatarUrl": "/a.png"}`, nil, 422, `"avatarUrl":`},
		{"AvatarHTTP", "application/json", `{"name": "Ok", "avatarUrl": "http://example.com/a.png"}`, nil, 422, `"avatarUrl":"Avatar URL must start with https://."`},
		{"AvatarStoredMalformed", "application/json", `{"name": "Ok", "avatarUrl": "/avatars/abc.jpg"}`, nil, 422, `"avatarUrl":`},
		{"AvatarNoHost", "application/json", `{"name": "Ok", "avatarUrl": "https:///a.png"}`, nil, 422, `"avatarUrl":`},
		{"AvatarTooLong", "application/json", `{"name": "Ok", "avatarUrl": "https://example.com/` + strings.Repeat("a", 2030) + `"}`, nil, 422, `"avatarUrl":"Avatar URL must be at most 2048 bytes."`},
		{"AvatarSpace", "application/json", `{"name": "Ok", "avatarUrl": "https://exa mple.com/a.png"}`, nil, 422, `"avatarUrl":`},
		{"Malformed", "application/json", `{"name": "Ok", `, nil, 400, "one JSON object"},
		{"Array", "application/json", `[]`, nil, 400, "one JSON object"},
		{"Null", "application/json", `null`, nil, 400, "one JSON object"},
		{"String", "application/json", `"Ok"`, nil, 400, "one JSON object"},
		{"Empty", "application/json", ``, nil, 400, "one JSON object"},
		{"NameNumber", "application/json", `{"name": 1, "avatarUrl": ""}`, nil, 400, `Field \"name\" must be a string.`},
		{"NameNull", "application/json", `{"name": null, "avatarUrl": ""}`, nil, 400, `Field \"name\" must be a string.`},
		{"AvatarObject", "application/json", `{"name": "Ok", "avatarUrl": {}}`, nil, 400, `Field \"avatarUrl\" must be a string.`},
		{"UnknownField", "application/json", `{"name": "Ok", "avatarUrl": "", "role": "admin"}`, nil, 400, `Unknown field \"role\".`},
		{"MissingAvatar", "application/json", `{"name": "Ok"}`, nil, 422, `"avatarUrl":"Field \"avatarUrl\" is required."`},
		{"MissingName", "application/json", `{"avatarUrl": ""}`, nil, 422, `"name":"Field \"name\" is required."`},
		{"TrailingObject", "application/json", `{"name": "Ok", "avatarUrl": ""} {}`, nil, 400, "nothing after"},
		{"TrailingGarbage", "application/json", `{"name": "Ok", "avatarUrl": ""}x`, nil, 400, "nothing after"},
		{"TextPlain", "text/plain", `{"name": "Ok", "avatarUrl": ""}`, nil, 415, "application/json"},
		{"NoContentType", "", `{"name": "Ok", "avatarUrl": ""}`, nil, 415, "application/json"},
		{"Form", "application/x-www-form-urlencoded", `name=Ok&avatarUrl=`, nil, 415, "application/json"},
		{"TooLarge", "application/json", `{"name": "Ok", "avatarUrl": "` + strings.Repeat("a", 70<<10) + `"}`, nil, 413, "64 KiB"},
		{"CrossSite", "application/json", `{"name": "Ok", "avatarUrl": ""}`, []string{"Sec-Fetch-Site", "cross-site"}, 403, "Cross-origin"},
		{"ForeignOrigin", "application/json", `{"name": "Ok", "avatarUrl": ""}`, []string{"Origin", "https://evil.example"}, 403, "Cross-origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := readUserRow(t, e, u.ID)
			res := c.do(http.MethodPut, "/api/profile", tt.contentType, tt.body, tt.headers...)
			wantStatus(t, res, tt.status)
			wantBody(t, res, tt.want)
			if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q, want JSON", ct)
			}
			var body map[string]any
			if err := json.Unmarshal([]byte(res.body), &body); err != nil || body["error"] == "" {
				t.Errorf("body is not a JSON error: %s", res.body)
			}
			if after := readUserRow(t, e, u.ID); after != before {
				t.Fatalf("row changed: %+v -> %+v", before, after)
			}
		})
	}

	t.Run("Anonymous", func(t *testing.T) {
		res := newClient(t, e).putJSON("/api/profile", `{"name": "Ok", "avatarUrl": ""}`)
		wantStatus(t, res, http.StatusUnauthorized)
		wantBody(t, res, `{"error":"unauthenticated"}`)
	})

	t.Run("Name80CyrillicPasses", func(t *testing.T) {
		name := strings.Repeat("я", 80)
		res := c.putJSON("/api/profile", `{"name": " `+name+` ", "avatarUrl": ""}`)
		wantStatus(t, res, http.StatusOK)
		if got := readUserRow(t, e, u.ID).Name; got != name {
			t.Fatalf("stored name %q, want the trimmed 80 letters", got)
		}
	})

	t.Run("StoredAvatarPath", func(t *testing.T) {
		path := "/avatars/" + strings.Repeat("ab", 32) + ".jpg"
		wantStatus(t, c.putJSON("/api/profile", `{"name": "Ok", "avatarUrl": "`+path+`"}`), http.StatusOK)
		if got := readUserRow(t, e, u.ID).AvatarURL; got != path {
			t.Fatalf("avatar %q, want %q", got, path)
		}
	})

	t.Run("EmptyAvatarClearsIt", func(t *testing.T) {
		wantStatus(t, c.putJSON("/api/profile", `{"name": "With Avatar", "avatarUrl": "https://example.com/a.png"}`), http.StatusOK)
		wantStatus(t, c.putJSON("/api/profile", `{"name": "With Avatar", "avatarUrl": ""}`), http.StatusOK)
		if got := readUserRow(t, e, u.ID).AvatarURL; got != "" {
			t.Fatalf("avatar %q, want none", got)
		}
		wantBody(t, c.get("/"), "WA")
	})
}

// TestServer_SettingsForm is the profile form without JavaScript.
func TestServer_SettingsForm(t *testing.T) {
	e := mustOpenEnv(t)
	u := mustCreateUser(t, e, "form@example.com", "Сара Чен", aistat.RoleEditor)
	c := newClient(t, e)
	c.login("form@example.com")

	t.Run("OK", func(t *testing.T) {
		res := c.postForm("/settings", url.Values{"name": {"Ivan"}, "avatar_url": {"https://example.com/i.png"}})
		wantStatus(t, res, http.StatusSeeOther)
		if got := res.Header.Get("Location"); got != "/settings" {
			t.Fatalf("Location = %q", got)
		}
		page := c.get("/settings")
		// The flash, once; the form's data-text-saved holds the same words
		// for the script.
		const flash = `<p class="flash" role="status">Profile saved.</p>`
		wantBody(t, page, flash, "Ivan", "https://example.com/i.png")
		wantNoBody(t, c.get("/settings"), flash)
	})

	form := func(name, avatar string) string {
		return url.Values{"name": {name}, "avatar_url": {avatar}}.Encode()
	}
	tests := []struct {
		name        string
		contentType string
		body        string
		headers     []string
		status      int
		want        string
	}{
		{"BlankName", "application/x-www-form-urlencoded", form("", ""), nil, 422, "Name is required."},
		{"Name81", "application/x-www-form-urlencoded", form(strings.Repeat("я", 81), ""), nil, 422, "Name must be at most 80 characters."},
		{"NameControl", "application/x-www-form-urlencoded", form("a\x1bb", ""), nil, 422, "Name must not contain control characters."},
		{"AvatarJavascript", "application/x-www-form-urlencoded", form("Ok", "javascript:alert(1)"), nil, 422, "Avatar URL must start with https://."},
		{"AvatarData", "application/x-www-form-urlencoded", form("Ok", "data:text/html,x"), nil, 422, "Avatar URL must start with https://."},
		{"AvatarHTTP", "application/x-www-form-urlencoded", form("Ok", "http://example.com/a.png"), nil, 422, "Avatar URL must start with https://."},
		{"JSONBody", "application/json", `{"name": "Ok"}`, nil, 415, "application/x-www-form-urlencoded"},
		{"TooLarge", "application/x-www-form-urlencoded", form("Ok", strings.Repeat("a", 70<<10)), nil, 413, "64 KiB"},
		{"BadEncoding", "application/x-www-form-urlencoded", "name=%zz", nil, 400, "could not be read"},
		{"CrossSite", "application/x-www-form-urlencoded", form("Evil", ""), []string{"Sec-Fetch-Site", "cross-site"}, 403, "Cross-origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := readUserRow(t, e, u.ID)
			res := c.do(http.MethodPost, "/settings", tt.contentType, tt.body, tt.headers...)
			wantStatus(t, res, tt.status)
			wantBody(t, res, tt.want)
			if after := readUserRow(t, e, u.ID); after != before {
				t.Fatalf("row changed: %+v -> %+v", before, after)
			}
		})
	}

	t.Run("InvalidKeepsInput", func(t *testing.T) {
		res := c.postForm("/settings", url.Values{"name": {""}, "avatar_url": {"javascript:x"}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantBody(t, res, `value="javascript:x"`, `aria-invalid="true"`)
	})

	t.Run("Anonymous", func(t *testing.T) {
		wantStatus(t, newClient(t, e).postForm("/settings", url.Values{"name": {"Evil"}}), http.StatusUnauthorized)
	})
}

// TestServer_AdminInput sends bad values to the admin actions.
func TestServer_AdminInput(t *testing.T) {
	e := mustOpenEnv(t)
	mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	target := mustCreateUser(t, e, "target@example.com", "Target", aistat.RoleEditor)
	mustCreateUser(t, e, "viewer@example.com", "Viewer", aistat.RoleViewer)
	admin, editor, viewer, anonymous := newClient(t, e), newClient(t, e), newClient(t, e), newClient(t, e)
	admin.login("admin@example.com")
	editor.login("target@example.com")
	viewer.login("viewer@example.com")
	id := itoa(target.ID)
	role := url.Values{"role": {"viewer"}}.Encode()

	tests := []struct {
		name        string
		c           *client
		path        string
		contentType string
		body        string
		headers     []string
		status      int
		want        string
	}{
		{"UnknownRole", admin, "/admin/users/" + id + "/role", "application/x-www-form-urlencoded", "role=superuser", nil, 422, "Role must be admin, editor or viewer."},
		{"BlankRole", admin, "/admin/users/" + id + "/role", "application/x-www-form-urlencoded", "role=", nil, 422, "Role must be admin, editor or viewer."},
		{"UppercaseRole", admin, "/admin/users/" + id + "/role", "application/x-www-form-urlencoded", "role=ADMIN", nil, 422, "Role must be"},
		{"IDNotANumber", admin, "/admin/users/abc/role", "application/x-www-form-urlencoded", role, nil, 404, "User not found."},
		{"IDZero", admin, "/admin/users/0/role", "application/x-www-form-urlencoded", role, nil, 404, "User not found."},
		{"IDNegative", admin, "/admin/users/-1/revoke", "application/x-www-form-urlencoded", "", nil, 404, "User not found."},
		{"IDOverflow", admin, "/admin/users/99999999999999999999/role", "application/x-www-form-urlencoded", role, nil, 404, "User not found."},
		{"IDOfNobody", admin, "/admin/users/999999/role", "application/x-www-form-urlencoded", role, nil, 404, "User not found."},
		{"RevokeNobody", admin, "/admin/users/999999/revoke", "application/x-www-form-urlencoded", "", nil, 404, "User not found."},
		{"JSONBody", admin, "/admin/users/" + id + "/role", "application/json", `{"role":"viewer"}`, nil, 415, "application/x-www-form-urlencoded"},
		{"EditorChangesRole", editor, "/admin/users/" + id + "/role", "application/x-www-form-urlencoded", role, nil, 403, "You do not have access"},
		{"ViewerRevokes", viewer, "/admin/users/" + id + "/revoke", "application/x-www-form-urlencoded", "", nil, 403, "You do not have access"},
		{"AnonymousChangesRole", anonymous, "/admin/users/" + id + "/role", "application/x-www-form-urlencoded", role, nil, 401, "Please sign in"},
		{"CrossSite", admin, "/admin/users/" + id + "/role", "application/x-www-form-urlencoded", role, []string{"Sec-Fetch-Site", "cross-site"}, 403, "Cross-origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := readUserRow(t, e, target.ID)
			sessionsBefore := sessionCount(t, e, target.ID)
			res := tt.c.do(http.MethodPost, tt.path, tt.contentType, tt.body, tt.headers...)
			wantStatus(t, res, tt.status)
			wantBody(t, res, tt.want)
			if after := readUserRow(t, e, target.ID); after != before {
				t.Fatalf("row changed: %+v -> %+v", before, after)
			}
			if got := sessionCount(t, e, target.ID); got != sessionsBefore {
				t.Fatalf("sessions %d -> %d", sessionsBefore, got)
			}
		})
	}

	t.Run("ViewerPage", func(t *testing.T) {
		wantStatus(t, viewer.get("/admin"), http.StatusForbidden)
		res := anonymous.get("/admin")
		wantStatus(t, res, http.StatusSeeOther)
		if got := res.Header.Get("Location"); got != "/login?next=%2Fadmin" {
			t.Fatalf("Location = %q", got)
		}
	})

	t.Run("EditorReadsOnly", func(t *testing.T) {
		page := editor.get("/admin")
		wantStatus(t, page, http.StatusOK)
		wantBody(t, page, "Admin", "Target", "Viewer")
		wantNoBody(t, page, `action="/admin/users/`, "admin@example.com", "target@example.com")
	})

	t.Run("AdminSeesControls", func(t *testing.T) {
		page := admin.get("/admin")
		wantStatus(t, page, http.StatusOK)
		wantBody(t, page, `action="/admin/users/`+id+`/role"`, `action="/admin/users/`+id+`/revoke"`)
	})
}

// TestServer_LoginInput sends bad requests to sign-in.
func TestServer_LoginInput(t *testing.T) {
	e := mustOpenEnv(t)
	mustCreateUser(t, e, "login@example.com", "Login", aistat.RoleViewer)
	tests := []struct {
		name        string
		contentType string
		body        string
		headers     []string
		status      int
		want        string
	}{
		{"JSON", "application/json", `{"email":"login@example.com"}`, nil, 415, "application/x-www-form-urlencoded"},
		{"TooLarge", "application/x-www-form-urlencoded", "email=" + strings.Repeat("a", 70<<10), nil, 413, "64 KiB"},
		{"CrossSite", "application/x-www-form-urlencoded", url.Values{"email": {"login@example.com"}, "password": {testPassword}}.Encode(), []string{"Sec-Fetch-Site", "cross-site"}, 403, "Cross-origin"},
		{"LongPassword", "application/x-www-form-urlencoded", url.Values{"email": {"login@example.com"}, "password": {strings.Repeat("p", 5000)}}.Encode(), nil, 401, "Wrong email or password."},
		{"InvalidUTF8Email", "application/x-www-form-urlencoded", "email=%ff%fe&password=x", nil, 401, "Wrong email or password."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, e)
			res := c.do(http.MethodPost, "/login", tt.contentType, tt.body, tt.headers...)
			wantStatus(t, res, tt.status)
			wantBody(t, res, tt.want)
			if c.cookie() != "" {
				t.Fatal("a refused sign-in set a session cookie")
			}
		})
	}
}

func TestServer_LoginHostileUserAgent(t *testing.T) {
	e := mustOpenEnv(t)
	u := mustCreateUser(t, e, "agent@example.com", "Agent", aistat.RoleViewer)
	c := newClient(t, e)
	form := url.Values{"email": {"agent@example.com"}, "password": {testPassword}}.Encode()
	res := c.do(http.MethodPost, "/login", "application/x-www-form-urlencoded", form, "User-Agent", "Mozilla\xff\xfe"+strings.Repeat("x", 2000))
	wantStatus(t, res, http.StatusSeeOther)
	var ua string
	if err := e.db.QueryRow(`SELECT user_agent FROM sessions WHERE user_id = $1`, u.ID).Scan(&ua); err != nil {
		t.Fatal(err)
	}
	if len(ua) > 512 || !strings.HasPrefix(ua, "Mozilla") {
		t.Fatalf("stored user agent %q (%d bytes)", ua[:min(len(ua), 20)], len(ua))
	}
}

// TestServer_NameHiddenCharacters sends names with invisible or
// direction-changing characters to every place a name is set (the profile
// API, the settings form, the admin's create form): each is refused with
// 422 naming the name and writes nothing; emoji sequences, which need
// joiners and selectors, are kept as typed.
func TestServer_NameHiddenCharacters(t *testing.T) {
	e := mustOpenEnv(t)
	u := mustCreateUser(t, e, "hidden@example.com", "Original Name", aistat.RoleEditor)
	mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	c, admin := newClient(t, e), newClient(t, e)
	c.login("hidden@example.com")
	admin.login("admin@example.com")

	refused := []struct{ name, value, codePoint string }{
		{"RightToLeftOverride", "Ivan\u202Egnp.exe", "U+202E"},
		{"ZeroWidthSpace", "Iv\u200Ban", "U+200B"},
		{"LeftToRightIsolate", "\u2066Ivan", "U+2066"},
		{"ByteOrderMark", "\uFEFFIvan", "U+FEFF"},
		{"SoftHyphen", "Iv\u00ADan", "U+00AD"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			before := readUserRow(t, e, u.ID)
			body, _ := json.Marshal(map[string]string{"name": tt.value, "avatarUrl": ""})
			res := c.putJSON("/api/profile", string(body))
			wantStatus(t, res, http.StatusUnprocessableEntity)
			var got struct{ Fields map[string]string }
			if err := json.Unmarshal([]byte(res.body), &got); err != nil || !strings.Contains(got.Fields["name"], tt.codePoint) {
				t.Fatalf("fields %v (%v), want name naming %s", got.Fields, err, tt.codePoint)
			}

			res = c.postForm("/settings", url.Values{"name": {tt.value}, "avatar_url": {""}})
			wantStatus(t, res, http.StatusUnprocessableEntity)
			// html/template writes "+" as "&#43;".
			inHTML := strings.ReplaceAll(tt.codePoint, "+", "&#43;")
			wantBody(t, res, "invisible or direction-changing characters (it has "+inHTML+")", `aria-invalid="true"`)
			if after := readUserRow(t, e, u.ID); after != before {
				t.Fatalf("row changed: %+v -> %+v", before, after)
			}

			email := "new-" + strings.ToLower(tt.name) + "@example.com"
			res = admin.postForm("/admin/users", url.Values{"email": {email}, "name": {tt.value}, "role": {"viewer"}, "password": {"a fresh passphrase"}})
			wantStatus(t, res, http.StatusUnprocessableEntity)
			wantBody(t, res, `<p class="field-error" id="new-name-error">Name must not contain invisible or direction-changing characters (it has `+inHTML+`).</p>`)
			var n int
			if err := e.db.QueryRow(`SELECT count(*) FROM users WHERE email = $1`, email).Scan(&n); err != nil || n != 0 {
				t.Fatalf("accounts created: %d (%v)", n, err)
			}
		})
	}

	accepted := []struct{ name, value string }{
		{"Technologist", "Ivan \U0001F469\u200D\U0001F4BB"},
		{"Family", "\U0001F468\u200D\U0001F469\u200D\U0001F467 Ivanovs"},
		{"Flags", "\U0001F1F7\U0001F1FA \U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"},
		{"RedHeart", "Ivan \u2764\uFE0F"},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]string{"name": tt.value, "avatarUrl": ""})
			wantStatus(t, c.putJSON("/api/profile", string(body)), http.StatusOK)
			if got := readUserRow(t, e, u.ID).Name; got != tt.value {
				t.Fatalf("stored name %+q, want %+q", got, tt.value)
			}
			wantStatus(t, c.postForm("/settings", url.Values{"name": {tt.value + "!"}, "avatar_url": {""}}), http.StatusSeeOther)
			if got := readUserRow(t, e, u.ID).Name; got != tt.value+"!" {
				t.Fatalf("stored name %+q, want %+q", got, tt.value+"!")
			}
			email := "emoji-" + strings.ToLower(tt.name) + "@example.com"
			res := admin.postForm("/admin/users", url.Values{"email": {email}, "name": {tt.value}, "role": {"viewer"}, "password": {"a fresh passphrase"}})
			wantStatus(t, res, http.StatusSeeOther)
		})
	}
}

// TestServer_AdminCreateLookAlike is an admin creating an account whose
// email looks like an existing one: 409 with the reason, and no account.
func TestServer_AdminCreateLookAlike(t *testing.T) {
	e := mustOpenEnv(t)
	mustCreateUser(t, e, "admin@ai-stat.ru", "Admin", aistat.RoleAdmin)
	admin := newClient(t, e)
	admin.login("admin@ai-stat.ru")
	mustCreateUser(t, e, "editor@ai-stat.ru", "Editor", aistat.RoleEditor)
	const lookAlike = "An account already exists with an email that looks the same as this one"
	tests := []struct{ name, email, want string }{
		{"CyrillicA", "\u0430dmin@ai-stat.ru", lookAlike},
		{"CyrillicO", "edit\u043er@ai-stat.ru", lookAlike},
		{"CaseVariant", "ADMIN@ai-stat.ru", "A user with this email already exists."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before int
			if err := e.db.QueryRow(`SELECT count(*) FROM users`).Scan(&before); err != nil {
				t.Fatal(err)
			}
			res := admin.postForm("/admin/users", url.Values{"email": {tt.email}, "name": {"Twin"}, "role": {"admin"}, "password": {"a fresh passphrase"}})
			wantStatus(t, res, http.StatusConflict)
			wantBody(t, res, `id="new-email-error">`+html.EscapeString(tt.want))
			var after, audited int
			if err := e.db.QueryRow(`SELECT count(*), (SELECT count(*) FROM audit_log) FROM users`).Scan(&after, &audited); err != nil {
				t.Fatal(err)
			}
			if after != before || audited != 0 {
				t.Fatalf("users %d -> %d, audit rows %d; want nothing written", before, after, audited)
			}
		})
	}
}
