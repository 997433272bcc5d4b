package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"aistat"
)

// display is what every JSON form of a user carries for the browser
// scripts besides the stored fields, which they must not compute
// themselves.
type display struct {
	RoleLabel *string `json:"roleLabel"`
	Initials  *string `json:"initials"`
	Staff     *bool   `json:"staff"`
}

// wantDisplay fails unless data, a user's JSON, carries the label,
// initials and staff flag given.
func wantDisplay(tb testing.TB, what, data, label, initials string, staff bool) {
	tb.Helper()
	var d display
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		tb.Fatalf("%s %q: %v", what, data, err)
	}
	if d.RoleLabel == nil || d.Initials == nil || d.Staff == nil {
		tb.Fatalf("%s %s: want roleLabel, initials and staff", what, data)
	}
	if *d.RoleLabel != label || *d.Initials != initials || *d.Staff != staff {
		tb.Errorf("%s: roleLabel %q, initials %q, staff %v; want %q, %q, %v", what, *d.RoleLabel, *d.Initials, *d.Staff, label, initials, staff)
	}
}

// userOf is the user's JSON in an API answer {"user": ...}.
func userOf(tb testing.TB, res *response) string {
	tb.Helper()
	var body struct {
		User json.RawMessage `json:"user"`
	}
	if err := json.Unmarshal([]byte(res.body), &body); err != nil {
		tb.Fatalf("%s: %v", res.body, err)
	}
	return string(body.User)
}

// TestServer_SessionDisplay: the API's user says how pages show it, as
// the server computes it, for the scripts that update pages in place.
func TestServer_SessionDisplay(t *testing.T) {
	e := mustOpenEnv(t)
	for _, tt := range []struct {
		email, name string
		role        aistat.Role
		label, init string
		staff       bool
	}{
		{"admin@example.com", "Администратор", aistat.RoleAdmin, "Admin", "А", true},
		{"editor@example.com", "сара  чен младшая", aistat.RoleEditor, "Editor", "СЧ", true},
		{"viewer@example.com", "Vera", aistat.RoleViewer, "Viewer", "V", false},
	} {
		t.Run(tt.label, func(t *testing.T) {
			mustCreateUser(t, e, tt.email, tt.name, tt.role)
			c := newClient(t, e)
			c.login(tt.email)
			res := c.get("/api/session")
			wantStatus(t, res, http.StatusOK)
			wantDisplay(t, "GET /api/session", userOf(t, res), tt.label, tt.init, tt.staff)
		})
	}

	t.Run("ProfileSaved", func(t *testing.T) {
		mustCreateUser(t, e, "saver@example.com", "Saver", aistat.RoleViewer)
		c := newClient(t, e)
		c.login("saver@example.com")
		res := c.putJSON("/api/profile", `{"name": "ivan petrov", "avatarUrl": ""}`)
		wantStatus(t, res, http.StatusOK)
		wantDisplay(t, "PUT /api/profile", userOf(t, res), "Viewer", "IP", false)
	})
}

// TestServer_EventsDisplay: the live events carry the same, to the user's
// own streams and to admins' and editors' alike.
func TestServer_EventsDisplay(t *testing.T) {
	e := mustOpenEnv(t)
	mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	mustCreateUser(t, e, "editor@example.com", "Editor", aistat.RoleEditor)
	target := mustCreateUser(t, e, "target@example.com", "Target", aistat.RoleEditor)
	adminC, editorC, targetC := newClient(t, e), newClient(t, e), newClient(t, e)
	adminC.login("admin@example.com")
	editorC.login("editor@example.com")
	targetC.login("target@example.com")
	adminStream, editorStream, targetStream := adminC.openStream(), editorC.openStream(), targetC.openStream()

	if _, err := e.users.UpdateProfile(context.Background(), target.ID, aistat.Profile{Name: "ivan petrov"}); err != nil {
		t.Fatal(err)
	}
	wantDisplay(t, "profile event", targetStream.want("profile").data, "Editor", "IP", true)
	for what, s := range map[string]*sse{"admin's user event": adminStream, "editor's user event": editorStream} {
		fields := userEventFields(t, s, target.ID, "ivan petrov")
		data, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		wantDisplay(t, what, string(data), "Editor", "IP", true)
	}
}
