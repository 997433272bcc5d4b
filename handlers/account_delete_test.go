package handlers_test

import (
	"net/http"
	"net/url"
	"testing"

	"aistat"
)

// userExists reports whether the account with id is still there.
func userExists(tb testing.TB, e *env, id int64) bool {
	tb.Helper()
	var n int
	if err := e.db.QueryRow(`SELECT count(*) FROM users WHERE id = $1`, id).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n == 1
}

// TestServer_DeleteOwnAccount: a person deletes their own account from the
// settings page with their password and a confirmation; every session of
// theirs ends and the audit log names them as the actor. A wrong password
// counts under the sign-in throttle, the last enabled admin cannot, and a
// refusal deletes nothing.
func TestServer_DeleteOwnAccount(t *testing.T) {
	e := mustOpenEnvConfig(t, envConfig{trustedProxies: localProxies})
	deleteForm := func(password string, confirm ...string) url.Values {
		f := url.Values{"current_password": {password}}
		if len(confirm) > 0 {
			f["confirm"] = confirm
		}
		return f
	}

	t.Run("OK", func(t *testing.T) {
		u := mustCreateUser(t, e, "leaving@example.com", "Leaving", aistat.RoleEditor)
		laptop, phone := newClient(t, e), newClient(t, e)
		laptop.login(u.Email)
		phone.login(u.Email)
		page := laptop.get("/settings")
		wantBody(t, page, `action="/settings/delete"`, `name="current_password"`, `name="confirm" type="checkbox" value="yes"`,
			"This deletes your profile (name, avatar, language and time zone), your password, every session")

		res := laptop.postForm("/settings/delete", deleteForm(testPassword, "yes"))
		wantStatus(t, res, http.StatusSeeOther)
		if got := res.Header.Get("Location"); got != "/login?signed_out=deleted" {
			t.Fatalf("Location %q, want the sign-in page", got)
		}
		if laptop.cookie() != "" {
			t.Error("the session cookie outlived the account")
		}
		if userExists(t, e, u.ID) || sessionCount(t, e, u.ID) != 0 {
			t.Fatal("the account or a session of it is still there")
		}
		wantAudit(t, e, auditRow{u.ID, u.Email, "delete_own", u.ID, u.Email, ""})
		wantBody(t, laptop.get("/login?signed_out=deleted"), "Your account was deleted.")
		// The other device is signed out, and told why.
		res = phone.get("/settings")
		wantStatus(t, res, http.StatusSeeOther)
		if got := res.Header.Get("Location"); got != "/login?next=%2Fsettings&signed_out=deleted" {
			t.Errorf("the other device goes to %q", got)
		}
	})

	t.Run("BadValues", func(t *testing.T) {
		u := mustCreateUser(t, e, "staying@example.com", "Staying", aistat.RoleViewer)
		c := newClient(t, e)
		c.login(u.Email)
		before := readUserRow(t, e, u.ID)
		for _, tt := range []struct {
			name   string
			form   url.Values
			field  string
			anchor string
			want   string
		}{
			{"NoConfirm", deleteForm(testPassword), "confirm", "delete-confirm", "Tick the box to confirm that your account is to be deleted for good."},
			{"ConfirmNo", deleteForm(testPassword, "no"), "confirm", "delete-confirm", "Tick the box"},
			{"ConfirmTwice", deleteForm(testPassword, "yes", "yes"), "confirm", "delete-confirm", "Tick the box"},
			{"NoPassword", deleteForm("", "yes"), "current_password", "delete-password", "Enter your current password."},
			{"WrongPassword", deleteForm("not the password", "yes"), "current_password", "delete-password", "This is not your current password."},
		} {
			t.Run(tt.name, func(t *testing.T) {
				res := c.postForm("/settings/delete", tt.form)
				wantStatus(t, res, http.StatusUnprocessableEntity)
				wantBody(t, res, `<a href="#`+tt.anchor+`">`+tt.want, `id="`+tt.anchor+`" name="`+tt.field+`"`, `id="delete-errors"`)
				if !userExists(t, e, u.ID) || readUserRow(t, e, u.ID) != before || sessionCount(t, e, u.ID) != 1 {
					t.Fatal("a refused deletion changed the account")
				}
			})
		}
		if kinds := eventKinds(t, e, u.ID); len(kinds) == 0 || kinds[0] != "account_delete_failed" {
			t.Errorf("security events %v, want the refused deletion first", kinds)
		}
		wantStatus(t, newClient(t, e).postForm("/settings/delete", deleteForm(testPassword, "yes")), http.StatusUnauthorized)
		if !userExists(t, e, u.ID) {
			t.Fatal("an anonymous request deleted the account")
		}
	})

	t.Run("WrongPasswordIsThrottled", func(t *testing.T) {
		const addr = "198.51.100.40"
		u := mustCreateUser(t, e, "guessed@example.com", "Guessed", aistat.RoleViewer)
		c := newClient(t, e)
		wantStatus(t, c.do(http.MethodPost, "/login", "application/x-www-form-urlencoded",
			url.Values{"email": {u.Email}, "password": {testPassword}}.Encode(), "X-Forwarded-For", addr), http.StatusSeeOther)
		del := func(password string) *response {
			return c.do(http.MethodPost, "/settings/delete", "application/x-www-form-urlencoded",
				deleteForm(password, "yes").Encode(), "X-Forwarded-For", addr)
		}
		for range aistat.ThrottleAccountLimit {
			wantStatus(t, del("not the password"), http.StatusUnprocessableEntity)
		}
		res := del(testPassword)
		wantStatus(t, res, http.StatusTooManyRequests)
		wantBody(t, res, "Too many failed attempts. Try again in 1 minute.")
		if !userExists(t, e, u.ID) {
			t.Fatal("a throttled request deleted the account")
		}
		wantThrottled(t, signInFrom(t, e, addr, u.Email, testPassword), u.Email, 60, "1 minute")
	})

	t.Run("LastAdmin", func(t *testing.T) {
		f := mustOpenEnv(t)
		admin := mustCreateUser(t, f, "only-admin@example.com", "Only", aistat.RoleAdmin)
		c := newClient(t, f)
		c.login(admin.Email)
		res := c.postForm("/settings/delete", deleteForm(testPassword, "yes"))
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantBody(t, res, "<li>You are the site&#39;s last enabled admin: make someone else an admin before you delete your account.</li>")
		if !userExists(t, f, admin.ID) {
			t.Fatal("the last admin deleted themselves")
		}
		// With another enabled admin, they can.
		mustCreateUser(t, f, "second-admin@example.com", "Second", aistat.RoleAdmin)
		wantStatus(t, c.postForm("/settings/delete", deleteForm(testPassword, "yes")), http.StatusSeeOther)
		if userExists(t, f, admin.ID) {
			t.Fatal("an admin with another admin beside them could not delete their account")
		}
	})
}
