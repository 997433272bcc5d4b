package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"aistat"
)

// deviceName is the stored name of the session with id.
func deviceName(tb testing.TB, e *env, id int64) string {
	tb.Helper()
	var name string
	if err := e.db.QueryRow(`SELECT name FROM sessions WHERE id = $1`, id).Scan(&name); err != nil {
		tb.Fatal(err)
	}
	return name
}

// TestServer_SessionNames: a person names the devices of their sessions;
// the sessions page shows the names, which session is this device, and
// when each started and was last active in words.
func TestServer_SessionNames(t *testing.T) {
	e := mustOpenEnv(t)
	u := mustCreateUser(t, e, "devices@example.com", "Devices", aistat.RoleViewer)
	stranger := mustCreateUser(t, e, "stranger@example.com", "Stranger", aistat.RoleViewer)
	laptop, phone, theirs := newClient(t, e), newClient(t, e), newClient(t, e)
	laptop.login(u.Email)
	phone.login(u.Email)
	theirs.login(stranger.Email)
	phoneID, theirID := sessionIDOf(t, phone), sessionIDOf(t, theirs)
	namePath := func(id int64) string { return "/settings/sessions/" + itoa(id) + "/name" }

	t.Run("OK", func(t *testing.T) {
		res := laptop.postForm(namePath(phoneID), url.Values{"name": {"  Телефон Сары  "}})
		wantStatus(t, res, http.StatusSeeOther)
		if got, want := res.Header.Get("Location"), "/settings/sessions#session-"+itoa(phoneID); got != want {
			t.Fatalf("Location %q, want %q", got, want)
		}
		if got := deviceName(t, e, phoneID); got != "Телефон Сары" {
			t.Fatalf("stored name %q, want it trimmed", got)
		}
		page := laptop.get("/settings/sessions")
		wantBody(t, page, "Device name saved.", `<span class="device-name">Телефон Сары</span>`,
			`value="Телефон Сары"`, `id="session-`+itoa(phoneID)+`"`, "just now")
		// The page marks this device, once.
		if n := strings.Count(page.body, `<span class="badge">This device</span>`); n != 1 {
			t.Errorf("%d sessions marked as this device, want 1", n)
		}
		ru := laptop.do(http.MethodGet, "/settings/sessions", "", "", "Accept-Language", "ru")
		wantBody(t, ru, "только что", "Это устройство")
	})

	t.Run("Forget", func(t *testing.T) {
		wantStatus(t, laptop.postForm(namePath(phoneID), url.Values{"name": {"Old"}}), http.StatusSeeOther)
		wantStatus(t, laptop.postForm(namePath(phoneID), url.Values{"name": {"   "}}), http.StatusSeeOther)
		if got := deviceName(t, e, phoneID); got != "" {
			t.Fatalf("stored name %q, want none", got)
		}
		wantBody(t, laptop.get("/settings/sessions"), "Device name removed.")
	})

	t.Run("BadValues", func(t *testing.T) {
		wantStatus(t, laptop.postForm(namePath(phoneID), url.Values{"name": {"Kept"}}), http.StatusSeeOther)
		for _, tt := range []struct {
			name string
			form string
			want string
		}{
			{"TooLong", "name=" + strings.Repeat("я", 41), "Device name must be at most 40 characters."},
			{"Control", "name=a%07b", "Device name must not contain control characters."},
			{"NewLine", "name=a%0Ab", "Device name must not contain control characters."},
			{"RightToLeftOverride", "name=%E2%80%AEenohp", "Device name must not contain invisible or direction-changing characters."},
			{"ZeroWidthSpace", "name=a%E2%80%8Bb", "Device name must not contain invisible or direction-changing characters."},
			{"NothingVisible", "name=%E2%A0%80", "Device name must have a letter, digit or symbol, or be empty."},
			{"InvalidUTF8", "name=%FF", "Device name must be valid UTF-8 text."},
			{"Missing", "other=1", "Send one device name (empty to remove it)."},
			{"Twice", "name=a&name=b", "Send one device name (empty to remove it)."},
		} {
			t.Run(tt.name, func(t *testing.T) {
				res := laptop.do(http.MethodPost, namePath(phoneID), "application/x-www-form-urlencoded", tt.form)
				wantStatus(t, res, http.StatusUnprocessableEntity)
				field := "session-name-" + itoa(phoneID)
				wantBody(t, res, `<p class="field-error" id="`+field+`-error">`+tt.want+`</p>`,
					`<a href="#`+field+`">`+tt.want+`</a>`, `id="`+field+`" name="name"`, `aria-invalid="true"`)
				if got := deviceName(t, e, phoneID); got != "Kept" {
					t.Fatalf("a refused name wrote %q", got)
				}
			})
		}
		// Exactly 40 characters is a name.
		wantStatus(t, laptop.postForm(namePath(phoneID), url.Values{"name": {strings.Repeat("я", 40)}}), http.StatusSeeOther)
	})

	t.Run("NotTheirs", func(t *testing.T) {
		for _, path := range []string{namePath(theirID), namePath(999999), "/settings/sessions/abc/name", "/settings/sessions/0/name", "/settings/sessions/-1/name"} {
			wantStatus(t, laptop.postForm(path, url.Values{"name": {"Mine now"}}), http.StatusNotFound)
		}
		if got := deviceName(t, e, theirID); got != "" {
			t.Fatalf("another user's session was named %q", got)
		}
		wantStatus(t, newClient(t, e).postForm(namePath(phoneID), url.Values{"name": {"Anonymous"}}), http.StatusUnauthorized)
		// Only end is a fixed action of its own.
		wantStatus(t, laptop.postForm("/settings/sessions/other", url.Values{"session": {"others"}}), http.StatusNotFound)
	})

	t.Run("EndStillWorks", func(t *testing.T) {
		wantStatus(t, laptop.postForm("/settings/sessions/end", url.Values{"session": {itoa(phoneID)}}), http.StatusSeeOther)
		wantStatus(t, laptop.postForm(namePath(phoneID), url.Values{"name": {"Gone"}}), http.StatusNotFound)
	})
}
