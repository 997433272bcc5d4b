package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"aistat"
)

// TestServer_EditorsSeeTheDirectory: least privilege on the admin page. An
// editor sees who is there (names, roles, whether an account is disabled)
// and nothing else: no email of anyone, no session count or activity, no
// audit entry, and the page does not even read them.
func TestServer_EditorsSeeTheDirectory(t *testing.T) {
	e := mustOpenEnv(t)
	admin := mustCreateUser(t, e, "root@example.net", "Ada Admin", aistat.RoleAdmin)
	editor := mustCreateUser(t, e, "sara.chen@example.net", "Сара Чен", aistat.RoleEditor)
	viewer := mustCreateUser(t, e, "vic.private@example.net", "Vic Viewer", aistat.RoleViewer)
	off := mustCreateUser(t, e, "gone.away@example.net", "Gone Away", aistat.RoleViewer)
	users := []*aistat.User{admin, editor, viewer, off}
	if _, err := e.users.UpdateProfile(t.Context(), viewer.ID, aistat.Profile{Name: viewer.Name, AvatarURL: "https://img.example.net/vic-avatar.png"}); err != nil {
		t.Fatal(err)
	}
	a, ed := newClient(t, e), newClient(t, e)
	a.login(admin.Email)
	ed.login(editor.Email)
	for range 2 {
		newClient(t, e).login(viewer.Email)
	}
	wantStatus(t, a.postForm("/admin/users/"+itoa(off.ID)+"/disable", confirmed()), http.StatusSeeOther)
	wantStatus(t, a.postForm("/admin/users/"+itoa(viewer.ID)+"/revoke", confirmed()), http.StatusSeeOther)
	newClient(t, e).login(viewer.Email)
	// Both pages were seen once, so that the counts below are of the page
	// alone and not of a connection being opened.
	wantStatus(t, ed.get("/admin"), http.StatusOK)
	wantStatus(t, a.get("/admin"), http.StatusOK)

	// private is what only admins may see on the page.
	private := []string{"Active sessions", "Last active", "<time", "No active session", "user-meta-email",
		"Recent admin actions", "data-audit-id", `href="/admin/audit"`, "vic-avatar.png", "Search by email"}
	for _, u := range users {
		private = append(private, u.Email, strings.Split(u.Email, "@")[0])
	}

	t.Run("EditorPage", func(t *testing.T) {
		before := e.counter.Count()
		page := ed.get("/admin")
		trips := e.counter.Since(before)
		wantStatus(t, page, http.StatusOK)
		wantBody(t, page, "Ada Admin", "Сара Чен", "Vic Viewer", "Gone Away", "Search by name",
			`<span class="role role-admin" data-field="role">Admin</span>`, `<span class="role role-editor" data-field="role">Editor</span>`,
			`<span class="badge badge-muted" data-field="disabled">Disabled</span>`, `class="is-disabled"`)
		wantNoBody(t, page, private...)
		if strings.Contains(page.body, "@example.net") {
			t.Fatalf("the editor's page holds an email: %s", page.body)
		}
		// The session lookup and the directory: neither the session count
		// nor the audit log is read, and the list reads no email.
		if len(trips) != 2 {
			t.Fatalf("the editor's page took %d round trips, want 2:\n%s", len(trips), strings.Join(trips, "\n"))
		}
		for _, trip := range trips {
			if strings.Contains(trip, "aistat_find_sessions") {
				continue
			}
			for _, word := range []string{"email", "sessions", "active", "audit_log", "avatar"} {
				if strings.Contains(trip, word) {
					t.Errorf("the editor's page sent %q, which reads %s", trip, word)
				}
			}
		}
	})

	t.Run("EditorSearchMatchesNamesOnly", func(t *testing.T) {
		for _, q := range []string{"vic.private", "private", "@example.net", "sara.chen@example.net", "ROOT", "gone.away"} {
			res := ed.get("/admin?q=" + url.QueryEscape(q))
			wantStatus(t, res, http.StatusOK)
			if got := rowIDs(t, res); len(got) != 0 {
				t.Errorf("editor's q=%q (an email's part) matches %v, want nobody", q, got)
			}
		}
		res := ed.get("/admin?q=" + url.QueryEscape("vic"))
		wantStatus(t, res, http.StatusOK)
		if got := rowIDs(t, res); len(got) != 1 || got[0] != viewer.ID {
			t.Errorf("editor's q=vic matches %v, want Vic Viewer", got)
		}
		wantNoBody(t, res, private...)
		// The same searches by an admin do match emails.
		if got := rowIDs(t, a.get("/admin?q=vic.private")); len(got) != 1 || got[0] != viewer.ID {
			t.Errorf("admin's q=vic.private matches %v, want Vic Viewer", got)
		}
	})

	t.Run("AdminPage", func(t *testing.T) {
		before := e.counter.Count()
		page := a.get("/admin")
		trips := e.counter.Since(before)
		wantStatus(t, page, http.StatusOK)
		wantBody(t, page, viewer.Email, off.Email, "Active sessions", "Last active", "<time", "vic-avatar.png",
			"Recent admin actions", "data-audit-id", "Search by email or name")
		// The failed mails are read through the mail worker's own pool.
		if joined := strings.Join(trips, "\n"); len(trips) != 4 || !strings.Contains(joined, "audit_log") || !strings.Contains(joined, "active") ||
			!strings.Contains(joined, "max(r.expires_at)") {
			t.Fatalf("the admin's page: %d round trips, want the lookup, the list with sessions, the audit log and the invitations:\n%s", len(trips), joined)
		}
	})

	t.Run("AuditLog", func(t *testing.T) {
		res := ed.get("/admin/audit")
		wantStatus(t, res, http.StatusForbidden)
		wantNoBody(t, res, private...)
		res = a.get("/admin/audit")
		wantStatus(t, res, http.StatusOK)
		wantBody(t, res, "<td>gone.away@example.net</td>", "Disabled")
	})
}
