package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"aistat"
)

// TestServer_PasswordRule is the password rule where passwords are set:
// lengths counted in characters (256 emoji are 1 KiB and all of them
// count), neither the email nor the current password.
func TestServer_PasswordRule(t *testing.T) {
	e := mustOpenEnv(t)
	mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	admin := newClient(t, e)
	admin.login("admin@example.com")
	emoji256 := strings.Repeat("\U0001F511", 256)

	t.Run("AdminCreate", func(t *testing.T) {
		create := func(email, password string) *response {
			return admin.postForm("/admin/users", url.Values{"email": {email}, "name": {"New"}, "role": {"viewer"}, "password": {password}})
		}
		res := create("long@example.com", emoji256+"\U0001F511")
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantBody(t, res, `<p class="field-error" id="new-password-error">Password must be at most 256 characters.</p>`)
		res = create("same@example.com", "SAME@Example.com")
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantBody(t, res, `<p class="field-error" id="new-password-error">Password must not be your email address.</p>`)
		var n int
		if err := e.db.QueryRow(`SELECT count(*) FROM users WHERE email IN ('long@example.com', 'same@example.com')`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("refused accounts written: %d (%v)", n, err)
		}

		wantStatus(t, create("emoji@example.com", emoji256), http.StatusSeeOther)
		if !canSignIn(t, e, "emoji@example.com", emoji256) {
			t.Fatal("cannot sign in with the 256 emoji")
		}
		if canSignIn(t, e, "emoji@example.com", emoji256[:18*4]) {
			t.Fatal("signed in with the first 18 emoji, as bcrypt would have")
		}
	})

	t.Run("PasswordChange", func(t *testing.T) {
		u := mustCreateUser(t, e, "change@example.com", "Change", aistat.RoleViewer)
		c := newClient(t, e)
		c.login(u.Email)
		change := func(current, next string) *response {
			return c.postForm("/settings/password", url.Values{"current_password": {current}, "new_password": {next}})
		}
		for _, tt := range []struct{ name, next, want string }{
			{"SameAsCurrent", testPassword, "New password must differ from your current one."},
			{"TheEmail", "CHANGE@example.com", "Password must not be your email address."},
			{"Emoji257", emoji256 + "\U0001F511", "Password must be at most 256 characters."},
		} {
			t.Run(tt.name, func(t *testing.T) {
				before := readUserRow(t, e, u.ID)
				res := change(testPassword, tt.next)
				wantStatus(t, res, http.StatusUnprocessableEntity)
				wantBody(t, res, `id="new_password-error">`+tt.want)
				if after := readUserRow(t, e, u.ID); after != before {
					t.Fatalf("row changed: %+v -> %+v", before, after)
				}
			})
		}
		wantStatus(t, change(testPassword, emoji256), http.StatusSeeOther)
		if !canSignIn(t, e, u.Email, emoji256) {
			t.Fatal("cannot sign in with the new password")
		}
	})

	t.Run("ResetLink", func(t *testing.T) {
		u := mustCreateUser(t, e, "reset@example.com", "Reset", aistat.RoleViewer)
		token := issueReset(t, admin, u.ID)
		anon := newClient(t, e)
		for _, tt := range []struct{ password, want string }{
			{testPassword, "New password must differ from your current one."},
			{"Reset@Example.COM", "Password must not be your email address."},
		} {
			res := anon.postForm("/reset/"+token, resetForm(tt.password, tt.password))
			wantStatus(t, res, http.StatusUnprocessableEntity)
			wantBody(t, res, tt.want)
		}
		// The refusals used nothing up.
		wantStatus(t, anon.postForm("/reset/"+token, resetForm("a new passphrase", "a new passphrase")), http.StatusSeeOther)
		if !canSignIn(t, e, u.Email, "a new passphrase") {
			t.Fatal("cannot sign in with the reset password")
		}
	})

	t.Run("BcryptHashMovesToArgon2id", func(t *testing.T) {
		old, err := bcrypt.GenerateFromPassword([]byte("an old passphrase"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		var id int64
		if err := e.db.QueryRow(`INSERT INTO users (email, name, password_hash) VALUES ('bcrypt@example.com', 'Old Hash', $1) RETURNING id`, string(old)).Scan(&id); err != nil {
			t.Fatal(err)
		}
		hash := func() string {
			var h string
			if err := e.db.QueryRow(`SELECT password_hash FROM users WHERE id = $1`, id).Scan(&h); err != nil {
				t.Fatal(err)
			}
			return h
		}
		before := readUserRow(t, e, id)
		if !canSignIn(t, e, "bcrypt@example.com", "an old passphrase") {
			t.Fatal("cannot sign in with a bcrypt hash")
		}
		if h := hash(); !strings.HasPrefix(h, "$argon2id$v=19$") {
			t.Fatalf("hash after sign-in %q, want Argon2id", h)
		}
		if !canSignIn(t, e, "bcrypt@example.com", "an old passphrase") {
			t.Fatal("cannot sign in again after the rehash")
		}
		if after := readUserRow(t, e, id); after != before {
			t.Fatalf("the rehash changed the row as people see it: %+v -> %+v", before, after)
		}
	})
}
