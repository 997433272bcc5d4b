package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"aistat"
)

// TestServer_Freshness shows that every change reaches every session of the
// user on its very next request.
func TestServer_Freshness(t *testing.T) {
	e := mustOpenEnv(t)
	admin := mustCreateUser(t, e, "admin@example.com", "Admin One", aistat.RoleAdmin)

	t.Run("RenameSeenByOtherSession", func(t *testing.T) {
		mustCreateUser(t, e, "rename@example.com", "Сара Чен", aistat.RoleEditor)
		laptop, phone := newClient(t, e), newClient(t, e)
		laptop.login("rename@example.com")
		phone.login("rename@example.com")
		wantBody(t, phone.get("/"), "Сара Чен")
		res := laptop.putJSON("/api/profile", `{"name": "Ivan", "avatarUrl": "https://example.com/ivan.png"}`)
		wantStatus(t, res, http.StatusOK)
		wantBody(t, res, `"name":"Ivan"`, `"avatarUrl":"https://example.com/ivan.png"`)
		page := phone.get("/")
		wantBody(t, page, "Ivan", `src="https://example.com/ivan.png"`)
		wantNoBody(t, page, "Сара Чен")
	})

	t.Run("RoleChangeSeenOnNextRequest", func(t *testing.T) {
		editor := mustCreateUser(t, e, "demote@example.com", "Editor", aistat.RoleEditor)
		c := newClient(t, e)
		c.login("demote@example.com")
		wantStatus(t, c.get("/admin"), http.StatusOK)
		a := newClient(t, e)
		a.login("admin@example.com")
		res := a.postForm("/admin/users/"+itoa(editor.ID)+"/role", url.Values{"role": {"viewer"}})
		wantStatus(t, res, http.StatusSeeOther)
		if got, want := res.Header.Get("Location"), "/admin#user-"+itoa(editor.ID); got != want {
			t.Fatalf("Location = %q, want %q", got, want)
		}
		home := c.get("/")
		wantStatus(t, home, http.StatusOK)
		wantBody(t, home, "Viewer")
		wantNoBody(t, home, `href="/admin"`)
		wantStatus(t, c.get("/admin"), http.StatusForbidden)
		if sessionCount(t, e, editor.ID) != 1 {
			t.Fatal("a role change ended the user's session")
		}
	})

	t.Run("RevokeEndsEverySession", func(t *testing.T) {
		u := mustCreateUser(t, e, "revoke@example.com", "Revoked", aistat.RoleEditor)
		one, two := newClient(t, e), newClient(t, e)
		one.login("revoke@example.com")
		two.login("revoke@example.com")
		a := newClient(t, e)
		a.login("admin@example.com")
		wantStatus(t, a.postForm("/admin/users/"+itoa(u.ID)+"/revoke", confirmed()), http.StatusSeeOther)
		wantBody(t, a.get("/admin"), "Revoked is signed out everywhere (2 sessions ended).")
		for _, c := range []*client{one, two} {
			wantBody(t, c.get("/"), "Sign in")
			wantStatus(t, c.get("/settings"), http.StatusSeeOther)
		}
		if n := sessionCount(t, e, u.ID); n != 0 {
			t.Fatalf("sessions left: %d", n)
		}
	})

	t.Run("DisabledUserIsAnonymous", func(t *testing.T) {
		u := mustCreateUser(t, e, "disable@example.com", "Disabled", aistat.RoleViewer)
		c := newClient(t, e)
		c.login("disable@example.com")
		if _, err := e.users.SetDisabled(context.Background(), admin.ID, u.ID, true); err != nil {
			t.Fatal(err)
		}
		wantBody(t, c.get("/"), "Sign in")
		wantStatus(t, c.get("/api/session"), http.StatusUnauthorized)
	})

	t.Run("ConcurrentDemotionsLeaveOneAdmin", func(t *testing.T) {
		for round := range 10 {
			e := mustOpenEnv(t)
			a := mustCreateUser(t, e, "a@example.com", "A", aistat.RoleAdmin)
			b := mustCreateUser(t, e, "b@example.com", "B", aistat.RoleAdmin)
			ca, cb := newClient(t, e), newClient(t, e)
			ca.login("a@example.com")
			cb.login("b@example.com")
			var wg sync.WaitGroup
			var resA, resB *response
			wg.Go(func() { resA = ca.postForm("/admin/users/"+itoa(b.ID)+"/role", url.Values{"role": {"editor"}}) })
			wg.Go(func() { resB = cb.postForm("/admin/users/"+itoa(a.ID)+"/role", url.Values{"role": {"editor"}}) })
			wg.Wait()
			var admins int
			if err := e.db.QueryRow(`SELECT count(*) FROM users WHERE role = 'admin'`).Scan(&admins); err != nil {
				t.Fatal(err)
			}
			if admins != 1 {
				t.Fatalf("round %d: admins left = %d, want 1 (statuses %d, %d)", round, admins, resA.StatusCode, resB.StatusCode)
			}
			codes := map[int]int{resA.StatusCode: 1}
			codes[resB.StatusCode]++
			if codes[http.StatusSeeOther] != 1 || codes[http.StatusForbidden]+codes[http.StatusConflict] != 1 {
				t.Fatalf("round %d: statuses %d and %d, want one 303 and one 403 or 409", round, resA.StatusCode, resB.StatusCode)
			}
		}
	})

	t.Run("LastAdminCannotBeDemoted", func(t *testing.T) {
		e := mustOpenEnv(t)
		a := mustCreateUser(t, e, "a@example.com", "A", aistat.RoleAdmin)
		b := mustCreateUser(t, e, "b@example.com", "B", aistat.RoleAdmin)
		if _, err := e.users.SetDisabled(context.Background(), a.ID, b.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, err := e.users.SetRole(context.Background(), b.ID, a.ID, aistat.RoleViewer); aistat.ErrorCode(err) != aistat.EFORBIDDEN {
			t.Fatalf("disabled admin demoting: %v, want forbidden", err)
		}
		if _, err := e.users.SetDisabled(context.Background(), a.ID, b.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, err := e.users.SetDisabled(context.Background(), a.ID, b.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, err := e.users.SetRole(context.Background(), a.ID, b.ID, aistat.RoleViewer); err != nil {
			t.Fatal(err)
		}
		if _, err := e.users.SetDisabled(context.Background(), a.ID, b.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, err := e.users.SetRole(context.Background(), b.ID, a.ID, aistat.RoleViewer); aistat.ErrorCode(err) != aistat.EFORBIDDEN {
			t.Fatalf("viewer demoting admin: %v, want forbidden", err)
		}
	})

	t.Run("OwnRoleIsForbidden", func(t *testing.T) {
		a := newClient(t, e)
		a.login("admin@example.com")
		before := readUserRow(t, e, admin.ID)
		wantStatus(t, a.postForm("/admin/users/"+itoa(admin.ID)+"/role", url.Values{"role": {"viewer"}}), http.StatusForbidden)
		wantStatus(t, a.postForm("/admin/users/"+itoa(admin.ID)+"/revoke", confirmed()), http.StatusForbidden)
		if after := readUserRow(t, e, admin.ID); after != before {
			t.Fatalf("row changed: %+v -> %+v", before, after)
		}
	})
}

// TestUsers_DemoUsers checks that the demo accounts are created once per
// database: a later seed, as at every start, creates nothing, even when a
// demo account was deleted, and changes nothing of the others.
func TestUsers_DemoUsers(t *testing.T) {
	e := mustOpenEnv(t)
	ctx := context.Background()
	if seeded, err := e.users.SeedDemoUsers(ctx); err != nil || !seeded {
		t.Fatalf("first seed: seeded %v, err %v; want true, nil", seeded, err)
	}
	var editorID int64
	if err := e.db.QueryRow(`SELECT id FROM users WHERE email = 'editor@ai-stat.ru'`).Scan(&editorID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.users.UpdateProfile(ctx, editorID, aistat.Profile{Name: "Ivan"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(`DELETE FROM users WHERE email IN ('admin@ai-stat.ru', 'viewer@ai-stat.ru')`); err != nil {
		t.Fatal(err)
	}
	if seeded, err := e.users.SeedDemoUsers(ctx); err != nil || seeded {
		t.Fatalf("second seed: seeded %v, err %v; want false, nil", seeded, err)
	}
	var name string
	if err := e.db.QueryRow(`SELECT name FROM users WHERE id = $1`, editorID).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if name != "Ivan" {
		t.Fatalf("renamed demo user is %q after the seed ran again, want Ivan", name)
	}
	var n int
	if err := e.db.QueryRow(`SELECT count(*) FROM users WHERE email LIKE '%@ai-stat.ru'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("demo users = %d after two were deleted and the seed ran again, want 1", n)
	}
	c := newClient(t, e)
	wantStatus(t, c.postForm("/login", url.Values{"email": {"admin@ai-stat.ru"}, "password": {"admin123"}}), http.StatusUnauthorized)
	res := c.postForm("/login", url.Values{"email": {"editor@ai-stat.ru"}, "password": {"editor123"}})
	wantStatus(t, res, http.StatusSeeOther)
	wantBody(t, c.get("/"), "Ivan", "Editor")

	t.Run("SeededBeforeTheRecord", func(t *testing.T) {
		// A database seeded before the set-up steps were recorded: the
		// schema records the seed from the demo accounts it finds.
		e := mustOpenEnv(t)
		if _, err := e.users.SeedDemoUsers(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.Exec(`DELETE FROM setup_steps; DELETE FROM users WHERE email = 'admin@ai-stat.ru'`); err != nil {
			t.Fatal(err)
		}
		if err := aistat.Migrate(ctx, e.db); err != nil {
			t.Fatal(err)
		}
		if seeded, err := e.users.SeedDemoUsers(ctx); err != nil || seeded {
			t.Fatalf("seed after migrate: seeded %v, err %v; want false, nil", seeded, err)
		}
	})
}
