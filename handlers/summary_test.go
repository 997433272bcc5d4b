package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"aistat"
)

// TestServer_ErrorSummaries refuses each form and checks the page it gets
// back: a summary at the top of the form, focused on load, whose links go
// to the fields in error; those fields marked invalid and described by
// their message; each message once at its field and once in the summary,
// never again in a flash.
// dialogs matches a page's <dialog> elements.
var dialogs = regexp.MustCompile(`(?s)<dialog.*?</dialog>`)

func TestServer_ErrorSummaries(t *testing.T) {
	e := mustOpenEnv(t)
	admin := mustCreateUser(t, e, "chief@example.com", "Chief", aistat.RoleAdmin)
	target := mustCreateUser(t, e, "target@example.com", "Target", aistat.RoleViewer)
	a := newClient(t, e)
	a.login(admin.Email)
	token := issueReset(t, a, target.ID)

	for _, tt := range []struct {
		name    string
		c       *client
		path    string
		form    url.Values
		summary string
		field   string
		message string
	}{
		{"SignIn", newClient(t, e), "/login", url.Values{"email": {admin.Email}, "password": {"wrong password"}},
			"login-errors", "email", "Wrong email or password."},
		{"Settings", a, "/settings", url.Values{"name": {""}, "avatar_url": {""}},
			"profile-errors", "name", "Name is required."},
		{"PasswordChange", a, "/settings/password", url.Values{"current_password": {"wrong password"}, "new_password": {"a new passphrase"}},
			"password-errors", "current_password", "This is not your current password."},
		{"AddUser", a, "/admin/users", url.Values{"email": {"not an email"}, "name": {"New"}, "role": {"viewer"}, "password": {testPassword}},
			"new-user-errors", "new-email", "Email must be an address like name@example.com."},
		{"Reset", newClient(t, e), "/reset/" + token, url.Values{"password": {"a new passphrase"}, "password_confirm": {"another one"}},
			"reset-errors", "password_confirm", "The two passwords do not match."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.c.postForm(tt.path, tt.form)
			if res.StatusCode != http.StatusUnauthorized || tt.name != "SignIn" {
				wantStatus(t, res, http.StatusUnprocessableEntity)
			}
			wantBody(t, res,
				`id="`+tt.summary+`" data-error-summary tabindex="-1" role="alert" aria-labelledby="`+tt.summary+`-heading" autofocus>`,
				`<li><a href="#`+tt.field+`">`+tt.message,
				`id="`+tt.field+`" name=`,
				`<p class="field-error" id="`+tt.field+`-error">`+tt.message)
			// A dialog's own autofocus (the admin page's confirmation's
			// Cancel) takes effect only when it opens.
			if n := strings.Count(dialogs.ReplaceAllString(res.body, ""), "autofocus"); n != 1 {
				t.Errorf("%d autofocus on the page outside its dialogs, want 1 (the summary)", n)
			}
			if n := strings.Count(res.body, tt.message); n != 2 {
				t.Errorf("the message is on the page %d times, want 2 (the summary and the field)", n)
			}
			field := res.body[strings.Index(res.body, `id="`+tt.field+`" name=`):]
			field = field[:strings.Index(field, ">")]
			if !strings.Contains(field, `aria-invalid="true"`) || !strings.Contains(field, tt.field+`-error`) {
				t.Errorf("the field is not marked invalid and described by its message: %s", field)
			}
		})
	}
}
