package templates

import (
	"bytes"
	"fmt"
	"html/template"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"aistat"
	"aistat/internal/i18n"
	"aistat/static"
)

const hostile = `<script>alert(1)</script>`

var (
	admin  = &aistat.User{ID: 1, Email: "ada@example.com", Name: "Ada Lovelace", Role: aistat.RoleAdmin, AvatarURL: "https://img.example.com/ada.png"}
	editor = &aistat.User{ID: 2, Email: "sara@example.com", Name: "Sara Chen", Role: aistat.RoleEditor}
	viewer = &aistat.User{ID: 3, Email: "vic@example.com", Name: "Vic Viewer", Role: aistat.RoleViewer}
	evil   = &aistat.User{ID: 4, Email: "evil@example.com", Name: hostile, Role: aistat.RoleViewer, AvatarURL: "javascript:alert(1)"}
)

// catalogue is the site's message catalogue; en its English, the language
// the tests that read a page's words render in.
var (
	catalogue = func() *i18n.Catalogue {
		c, err := i18n.New()
		if err != nil {
			panic(err)
		}
		return c
	}()
	en = catalogue.Localizer(aistat.LocaleEnglish)
	ru = catalogue.Localizer(aistat.LocaleRussian)
)

// recorder collects every URL the asset function hands out.
type recorder struct {
	mu   sync.Mutex
	urls map[string]string
}

func newTemplates(t testing.TB) (*Templates, *recorder) {
	t.Helper()
	assets, err := static.New()
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{urls: map[string]string{}}
	tmpl, err := New(func(name string) string {
		url := assets.URL(name)
		rec.mu.Lock()
		rec.urls[name] = url
		rec.mu.Unlock()
		return url
	}, catalogue, aistat.LocaleEnglish)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl, rec
}

func render(t *testing.T, tmpl *Templates, v View) string {
	t.Helper()
	var buf bytes.Buffer
	if err := tmpl.Render(&buf, v); err != nil {
		t.Fatalf("render %s: %v", v.template(), err)
	}
	return buf.String()
}

// samples renders every page for an anonymous visitor and for each role,
// in English.
func samples() map[string]View { return samplesIn(en) }

// samplesIn is samples in loc's language.
func samplesIn(loc *i18n.Localizer) map[string]View {
	lastActive := time.Date(2026, 11, 27, 7, 51, 0, 0, time.UTC)
	summaries := []aistat.UserSummary{
		{User: *admin, ActiveSessions: 2, LastActive: lastActive},
		{User: *editor, ActiveSessions: 1, LastActive: lastActive.Add(-time.Hour)},
		{User: *viewer},
		{User: *evil, ActiveSessions: 1, LastActive: lastActive},
	}
	entries := []aistat.AuditEntry{
		{ID: 2, At: lastActive, ActorID: 1, ActorEmail: admin.Email, Action: aistat.AuditRoleChange, TargetID: 4, TargetEmail: hostile, Detail: hostile},
		{ID: 1, At: lastActive, ActorID: 1, ActorEmail: admin.Email, Action: aistat.AuditDelete, TargetID: 9, TargetEmail: "gone@example.com"},
	}
	active := []aistat.ActiveSession{
		{ID: 7, UserAgent: hostile, IP: "192.0.2.1", CreatedAt: lastActive.Add(-time.Hour), LastActive: lastActive},
		{ID: 8, Name: hostile, UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", CreatedAt: lastActive, LastActive: lastActive},
	}
	events := []aistat.SecurityEvent{{ID: 3, CreatedAt: lastActive, Kind: aistat.EventPasswordChanged, IP: hostile, UserAgent: hostile}}
	out := map[string]View{}
	for _, u := range []*aistat.User{nil, admin, editor, viewer, evil} {
		who := "anonymous"
		if u != nil {
			who = string(u.Role) + "-" + fmt.Sprint(u.ID)
		}
		base := func(title, path string) Page {
			return Page{Lang: loc.Lang(), Title: title, User: NewAccount(u, loc), Flash: "Saved " + hostile, Path: path}
		}
		out["home/"+who] = HomePage(base("Home", "/"))
		out["login/"+who] = LoginPage{Page: base("Sign in", "/login"), Email: hostile, Next: "/settings", Error: loc.Domain("Wrong email or password."),
			Errors: map[string]string{"email": hostile, "remember": hostile}}
		out["error/"+who] = ErrorPage{Page: base("Forbidden", "/admin"), Status: 403, Heading: "Forbidden", Message: hostile}
		out["forgot/"+who] = ForgotPage{Page: base("Reset your password", "/password/forgot"), Email: hostile, Sent: true,
			Error: hostile, Errors: map[string]string{"email": hostile}}
		out["email-confirm/"+who] = EmailConfirmPage{Page: base("New email address", ""), Token: hostile, Target: evil, NewEmail: hostile, Error: hostile}
		if u == nil {
			continue
		}
		out["settings/"+who] = SettingsPage{Page: base("Settings", "/settings"), Name: u.Name, AvatarURL: u.AvatarURL,
			Errors: map[string]string{"name": "Name is too long.", "avatar_url": hostile},
			Delete: DeleteAccountForm{Error: hostile, Errors: map[string]string{"current_password": hostile, "confirm": hostile}}}
		out["admin/"+who] = AdminPage{Page: base("Admin", "/admin"), Rows: NewAdminRows(summaries, uid(u), loc, nil), CanEdit: u.IsAdmin(), Private: u.IsAdmin(),
			Search: hostile, Caption: "Users matching " + hostile, PrevURL: "/admin?before=1&q=" + hostile, NextURL: "/admin?after=4",
			Back: "/admin?q=" + hostile, Audit: entries,
			New: UserForm{Email: hostile, Name: hostile, Role: aistat.RoleEditor, Errors: map[string]string{"email": hostile}}}
		out["audit/"+who] = AuditPage{Page: base("Audit log", "/admin/audit"), Entries: entries, NewerURL: "/admin/audit?after=2", OlderURL: "/admin/audit?before=1"}
		out["user-confirm/"+who] = UserConfirmPage{Page: base("Delete", "/admin/users/4/delete"), Action: ConfirmDelete, Target: evil, Back: "/admin", Error: hostile}
		out["reset-link/"+who] = ResetLinkPage{Page: base("Reset link", "/admin/users/4/reset"), Target: evil,
			URL: "http://localhost/reset/" + hostile, Expires: lastActive, Back: "/admin"}
		out["reset-link-shown/"+who] = ResetLinkPage{Page: base("Reset link", "/admin/users/4/reset"), Target: evil, Back: "/admin?q=" + hostile}
		out["sessions/"+who] = SessionsPage{Page: base("Sessions and security", "/settings/sessions"), Now: lastActive, Sessions: NewSessionRows(active, 7, NameForm{ID: 7, Value: hostile, Error: hostile}),
			Events: events, Errors: map[string]string{"new_password": hostile}, PasswordError: hostile}
		out["twofactor-passkeys/"+who] = TwoFactorPage{Page: base("Two-step sign-in", "/settings/2fa"), Passkeys: PasskeysSection{Available: true, Now: lastActive,
			Passkeys: []aistat.Passkey{{ID: 1, Name: hostile, CreatedAt: lastActive, LastUsedAt: lastActive, Cloned: true}, {ID: 2, Name: "Phone", CreatedAt: lastActive}},
			Caption:  hostile}}
	}
	for _, u := range []*aistat.User{nil, admin, evil} {
		who := "anonymous"
		if u != nil {
			who = string(u.Role) + "-" + fmt.Sprint(u.ID)
		}
		out["reset/"+who] = ResetPage{Page: Page{Lang: loc.Lang(), Title: "Choose a new password", User: NewAccount(u, loc), Flash: "Saved " + hostile}, Token: hostile, Target: evil,
			Errors: map[string]string{"password": hostile}}
		out["reset/invited-"+who] = ResetPage{Page: Page{Lang: loc.Lang(), Title: "Welcome", User: NewAccount(u, loc), Flash: "Saved " + hostile}, Token: hostile, Target: evil,
			Invited: true}
	}
	return out
}

var (
	scriptTag   = regexp.MustCompile(`(?i)<script[^>]*>`)
	styleTag    = regexp.MustCompile(`(?i)<style`)
	styleAttr   = regexp.MustCompile(`(?i)\sstyle=`)
	handlerAttr = regexp.MustCompile(`(?i)\son[a-z]+=`)
)

func TestPagesAreSafe(t *testing.T) {
	tmpl, _ := newTemplates(t)
	for name, v := range samples() {
		t.Run(name, func(t *testing.T) {
			html := render(t, tmpl, v)
			for _, tag := range scriptTag.FindAllString(html, -1) {
				if !strings.Contains(tag, ` src="`) {
					t.Errorf("inline script: %s", tag)
				}
			}
			for what, re := range map[string]*regexp.Regexp{"<style>": styleTag, "style attribute": styleAttr, "event handler": handlerAttr} {
				if m := re.FindString(html); m != "" {
					t.Errorf("%s found: %q", what, m)
				}
			}
			if strings.Contains(html, hostile) {
				t.Error("hostile text is not escaped")
			}
			if strings.Contains(html, `src="javascript:`) || strings.Contains(html, `href="javascript:`) {
				t.Error("javascript: URL reached a link or image")
			}
			for _, want := range []string{
				"<!doctype html>", `<html lang="en">`, `name="viewport"`,
				`<a class="skip-link" href="#main">`, `<main id="main"`,
				`Saved &lt;script&gt;alert(1)&lt;/script&gt;`,
			} {
				if !strings.Contains(html, want) {
					t.Errorf("missing %q", want)
				}
			}
		})
	}
}

func TestAssetsExist(t *testing.T) {
	tmpl, rec := newTemplates(t)
	for _, v := range samples() {
		render(t, tmpl, v)
	}
	for _, name := range []string{"app.css", "app.js", "live.js"} {
		if _, ok := rec.urls[name]; !ok {
			t.Errorf("no page links %s", name)
		}
	}
	for name, url := range rec.urls {
		// Only a name that is not embedded gets an unversioned URL.
		if url == "/static/"+name {
			t.Errorf("asset %q is not an embedded static file (URL %q)", name, url)
		}
	}
	html := render(t, tmpl, HomePage{Title: "Home", Path: "/"})
	for _, want := range []string{
		`<title>Home · ai-stat</title>`,
		`<link rel="stylesheet" href="` + rec.urls["app.css"] + `">`,
		// Modules: deferred by themselves, sharing nothing but imports.
		`<script type="module" src="` + rec.urls["app.js"] + `"></script>`,
		`<script type="module" src="` + rec.urls["live.js"] + `"></script>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("missing %q", want)
		}
	}
}

func TestHeader(t *testing.T) {
	tmpl, _ := newTemplates(t)

	anon := render(t, tmpl, HomePage{Title: "Home", Path: "/settings"})
	if !strings.Contains(anon, `href="/login?next=%2Fsettings"`) || !strings.Contains(anon, ">Sign in</a>") {
		t.Errorf("anonymous header has no Sign in link with next:\n%s", anon)
	}
	if strings.Contains(anon, "/logout") || strings.Contains(anon, "data-user-name") {
		t.Error("anonymous header shows account controls")
	}
	for _, path := range []string{"", "/login"} {
		html := render(t, tmpl, HomePage{Title: "Home", Path: path})
		if strings.Contains(html, "next=") {
			t.Errorf("path %q: Sign in link carries next", path)
		}
	}

	html := render(t, tmpl, HomePage{Title: "Home", User: NewAccount(editor, en), Path: "/settings"})
	for _, want := range []string{
		`<span class="user-name" data-user-name>Sara Chen</span>`,
		`<span class="role role-editor" data-user-role="editor">Editor</span>`,
		`<ul class="nav-list" data-admin-label="Admin">`,
		`<span class="avatar-initials" data-user-initials aria-hidden="true">SC</span>`,
		`<a class="nav-link" href="/settings" aria-current="page">Settings</a>`,
		`<form method="post" action="/logout">`,
		"Signed in as <strong data-user-name>Sara Chen</strong> (<span data-user-role-label>Editor</span>)",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("editor header is missing %q", want)
		}
	}
	if strings.Contains(html, ">Sign in</a>") {
		t.Error("signed-in header offers Sign in")
	}
	if strings.Contains(html, "<img src=\"https") {
		t.Error("user without avatar URL got an avatar image")
	}

	html = render(t, tmpl, HomePage{Title: "Home", User: NewAccount(admin, en), Path: "/"})
	if !strings.Contains(html, `<img src="https://img.example.com/ada.png" alt="" width="32" height="32" referrerpolicy="no-referrer">`) {
		t.Error("admin header has no avatar image")
	}

	for _, tt := range []struct {
		user *aistat.User
		want bool
	}{{nil, false}, {admin, true}, {editor, true}, {viewer, false}} {
		html := render(t, tmpl, HomePage{Title: "Home", User: NewAccount(tt.user, en), Path: "/admin"})
		if got := strings.Contains(html, "data-admin-link"); got != tt.want {
			t.Errorf("user %v: Admin link shown = %v, want %v", tt.user, got, tt.want)
		}
	}
}

func TestLogin(t *testing.T) {
	tmpl, _ := newTemplates(t)
	html := render(t, tmpl, LoginPage{
		Page:  Page{Title: "Sign in", Path: "/login"},
		Email: "ada@example.com", Next: "/admin", Errors: map[string]string{"email": "Wrong email or password."},
	})
	for _, want := range []string{
		`<form class="form" method="post" action="/login">`,
		// The summary is focused and links the field it is about.
		`<div class="error-summary" id="login-errors" data-error-summary tabindex="-1" role="alert" aria-labelledby="login-errors-heading" autofocus>`,
		`<li><a href="#email">Wrong email or password.</a></li>`,
		`<input type="hidden" name="next" value="/admin">`,
		`name="email" type="email" value="ada@example.com" autocomplete="username" required aria-describedby="email-error" aria-invalid="true">`,
		`<p class="field-error" id="email-error">Wrong email or password.</p>`,
		`name="password" type="password" autocomplete="current-password" required data-reveal="Show"`,
		`type="submit">Sign in</button>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("login page is missing %q", want)
		}
	}
	if strings.Count(html, "autofocus") != 1 {
		t.Errorf("a refused sign-in has %d autofocus, want 1 (the summary)", strings.Count(html, "autofocus"))
	}

	// An error about the attempt as a whole links no field.
	html = render(t, tmpl, LoginPage{Page: Page{Title: "Sign in", Path: "/login"}, Error: "Too many attempts."})
	if !strings.Contains(html, `<li>Too many attempts.</li>`) || strings.Contains(html, `aria-invalid`) {
		t.Errorf("a throttled sign-in's summary is not one unlinked message:\n%s", html)
	}

	html = render(t, tmpl, LoginPage{Page: Page{Title: "Sign in", Path: "/login"}})
	for _, want := range []string{
		`aria-labelledby="login-errors-heading" hidden>`,
		`autocomplete="username" required autofocus`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("login page without an error is missing %q", want)
		}
	}
	if strings.Contains(html, "<li>") {
		t.Error("error summary has items without an error")
	}
}

func TestSettings(t *testing.T) {
	tmpl, _ := newTemplates(t)
	html := render(t, tmpl, SettingsPage{
		Page: Page{Title: "Settings", User: NewAccount(editor, en), Path: "/settings"},
		Name: "", AvatarURL: "ftp://x", Errors: map[string]string{"name": "Enter your name.", "avatar_url": "Use an https address."},
	})
	for _, want := range []string{
		// The script's words come from the page.
		`<form class="form" id="profile-form" method="post" action="/settings" data-text-saving="Saving…" data-text-saved="Profile saved."`,
		`aria-describedby="name-error" aria-invalid="true"`,
		`<p class="field-error" id="name-error">Enter your name.</p>`,
		`aria-describedby="avatar_url-hint avatar_url-error avatar_url-warning" aria-invalid="true"`,
		// The summary lists the fields in the form's order.
		`<li><a href="#name">Enter your name.</a></li>
    <li><a href="#avatar_url">Use an https address.</a></li>`,
		`<p class="field-error" id="avatar_url-error">Use an https address.</p>`,
		`id="profile-status" role="status" aria-live="polite"`,
		`maxlength="80" required autocomplete="name"`,
		`placeholder="https://…"`,
		"Leave empty for initials",
		`data-preview-avatar`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("settings page is missing %q", want)
		}
	}

	html = render(t, tmpl, SettingsPage{
		Page: Page{Title: "Settings", User: NewAccount(editor, en), Path: "/settings"},
		Name: "Sara Chen",
	})
	if strings.Contains(html, `aria-invalid`) {
		t.Error("aria-invalid without errors")
	}
	for _, want := range []string{`id="name-error" hidden>`, `id="avatar_url-error" hidden>`, `value="Sara Chen"`} {
		if !strings.Contains(html, want) {
			t.Errorf("settings page is missing %q", want)
		}
	}
}

func TestAdmin(t *testing.T) {
	tmpl, _ := newTemplates(t)
	last := time.Date(2026, 11, 27, 7, 51, 0, 0, time.FixedZone("CET", 3600))
	data := AdminPage{
		Page: Page{Title: "Admin", User: NewAccount(admin, en), Path: "/admin"},
		Rows: NewAdminRows([]aistat.UserSummary{
			{User: *admin, ActiveSessions: 1, LastActive: last},
			{User: *editor},
		}, admin.ID, en, nil),
		CanEdit: true,
		Private: true,
	}
	html := render(t, tmpl, data)
	for _, want := range []string{
		`<caption id="users-caption">`,
		`<th scope="col">Role</th>`,
		`<tr id="user-1" data-user-id="1">`,
		`<tr id="user-2" data-user-id="2">`,
		`<span class="badge">you</span>`,
		`<time datetime="2026-11-27T06:51:00Z">27 Nov 2026, 06:51 UTC</time>`,
		`No active session`,
		`<form class="row-actions menu-panel" method="post" action="/admin/users/2/role">`,
		`<legend class="visually-hidden" data-field="name">Sara Chen</legend>`,
		`<span data-field="name">Sara Chen</span>`,
		`<span class="avatar" data-field="avatar">`,
		`<span class="user-meta-email" data-field="email">sara@example.com</span>`,
		`<span class="role role-editor" data-field="role">Editor</span>`,
		`<select name="role"><option value="admin">Admin</option><option value="editor" selected>Editor</option><option value="viewer">Viewer</option></select>`,
		`formaction="/admin/users/2/revoke">Sign out everywhere</button>`,
		`data-toggle-action="/admin/users/2/enable" data-toggle-label="Enable" data-field="toggle" formaction="/admin/users/2/disable">Disable</button>`,
		`formaction="/admin/users/2/reset">Reset link</button>`,
		`class="table-wrap"`,
		`<a class="nav-link" href="/admin" data-admin-link aria-current="page">Admin</a>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("admin page is missing %q", want)
		}
	}
	if strings.Contains(html, "/admin/users/1/") {
		t.Error("admin may act on their own account")
	}

	data.User = NewAccount(editor, en)
	data.CanEdit, data.Private = false, false
	html = render(t, tmpl, data)
	if strings.Contains(html, "<form class=\"row-actions") || strings.Contains(html, ">Actions</th>") {
		t.Error("read-only admin page has actions")
	}
	// The directory: names and roles, none of what only admins see, even
	// when the rows were to hold it.
	for _, want := range []string{"Ada Lovelace", "Sara Chen", `<span class="role role-editor" data-field="role">Editor</span>`, "Search by name<"} {
		if !strings.Contains(html, want) {
			t.Errorf("editor's page is missing %q", want)
		}
	}
	for _, unwanted := range []string{admin.Email, editor.Email, "user-meta-email", "Active sessions", "Last active", "<time", "No active session", "email or name"} {
		if strings.Contains(html, unwanted) {
			t.Errorf("editor's page shows %q", unwanted)
		}
	}

	data.Rows = nil
	html = render(t, tmpl, data)
	if !strings.Contains(html, "No users yet.") {
		t.Error("empty user list has no message")
	}
}

func TestAdminPagerFormAndAudit(t *testing.T) {
	tmpl, _ := newTemplates(t)
	at := time.Date(2026, 11, 27, 7, 51, 0, 0, time.UTC)
	data := AdminPage{
		Page:    Page{Title: "Admin", User: NewAccount(admin, en), Path: "/admin"},
		Rows:    NewAdminRows([]aistat.UserSummary{{User: *editor}, {User: aistat.User{ID: 5, Email: "off@example.com", Name: "Off", Role: aistat.RoleViewer, Disabled: true}}}, admin.ID, en, nil),
		CanEdit: true,
		Private: true,
		Search:  "sara", Caption: "Users matching “sara”",
		PrevURL: "/admin?before=2&q=sara", NextURL: "/admin?after=5&q=sara", Back: "/admin?after=1&q=sara",
		Audit: []aistat.AuditEntry{{ID: 7, At: at, ActorEmail: "ada@example.com", Action: aistat.AuditDisable, TargetEmail: "off@example.com", Detail: "2 sessions ended"}},
		New:   UserForm{Email: "new@example.com", Name: "New", Role: aistat.RoleEditor, Errors: map[string]string{"password": "Password is too common; choose another."}},
	}
	html := render(t, tmpl, data)
	for _, want := range []string{
		`<caption id="users-caption">Users matching “sara” (2)</caption>`,
		`<input id="q" name="q" type="search" value="sara"`,
		`<a class="button button-secondary" href="/admin">Clear</a>`,
		`rel="prev" href="/admin?before=2&amp;q=sara"`,
		`rel="next" href="/admin?after=5&amp;q=sara"`,
		`<input type="hidden" name="back" value="/admin?after=1&amp;q=sara">`,
		`action="/admin/users/2/disable"`,
		`action="/admin/users/5/enable"`,
		`data-field="toggle" formaction="/admin/users/5/enable">Enable</button>`,
		`<span class="user-meta-name" data-field="badges" data-disabled-label="Disabled">`,
		`data-toggle-action="/admin/users/5/disable" data-toggle-label="Disable" data-field="toggle"`,
		`<span class="badge badge-muted" data-field="disabled">Disabled</span>`,
		`action="/admin/users/2/reset"`,
		`href="/admin/users/2/delete?back=%2Fadmin%3Fafter%3D1%26q%3Dsara"`,
		`<form class="form" method="post" action="/admin/users">`,
		`name="email" type="email" value="new@example.com"`,
		`<option value="editor" selected>Editor</option>`,
		`aria-describedby="new-password-hint new-password-error" aria-invalid="true"`,
		`<p class="field-error" id="new-password-error">Password is too common; choose another.</p>`,
		`<p class="field-error" id="new-email-error" hidden></p>`,
		`<time datetime="2026-11-27T07:51:00Z">27 Nov 2026, 07:51 UTC</time>`,
		`<td>Disabled</td>`,
		`<td>2 sessions ended</td>`,
		`href="/admin/audit"`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("admin page is missing %q", want)
		}
	}
	if strings.Contains(html, `name="password" type="password" value=`) {
		t.Error("the password is echoed")
	}

	data.User, data.CanEdit, data.Private = NewAccount(editor, en), false, false
	html = render(t, tmpl, data)
	if strings.Contains(html, `action="/admin/users"`) || strings.Contains(html, "Recent admin actions") ||
		strings.Contains(html, "ada@example.com") || strings.Contains(html, `href="/admin/audit"`) {
		t.Error("editor's page: create form or audit log shown")
	}
	data.Rows = nil
	if html = render(t, tmpl, data); !strings.Contains(html, `<td class="empty" colspan="2">No users match this search.`) {
		t.Error("editor's empty search has no message across its two columns")
	}
}

func TestResetPages(t *testing.T) {
	tmpl, _ := newTemplates(t)
	html := render(t, tmpl, ResetPage{
		Page:  Page{Title: "Choose a new password", User: NewAccount(admin, en)},
		Token: "abc_-123", Target: viewer, Errors: map[string]string{"password_confirm": "The two passwords do not match."},
	})
	for _, want := range []string{
		`<form class="form" method="post" action="/reset/abc_-123">`,
		`<strong>vic@example.com</strong>`,
		`You are signed in as ada@example.com: this changes the password of vic@example.com, not yours.`,
		`<p class="field-error" id="password-error" hidden></p>`,
		`<p class="field-error" id="password_confirm-error">The two passwords do not match.</p>`,
		`autocomplete="new-password"`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("reset page is missing %q", want)
		}
	}
	html = render(t, tmpl, ResetPage{Page: Page{Title: "Choose a new password", User: NewAccount(viewer, en)}, Token: "t", Target: viewer})
	if strings.Contains(html, "You are signed in as") {
		t.Error("the link's own user is warned about another account")
	}

	html = render(t, tmpl, ResetLinkPage{
		Page:   Page{Title: "Reset link", User: NewAccount(admin, en), Path: "/admin/users/3/reset"},
		Target: viewer, URL: "https://ai-stat.example/reset/tok", Expires: time.Date(2026, 11, 27, 8, 51, 0, 0, time.UTC), Back: "/admin?after=50",
	})
	for _, want := range []string{
		`value="https://ai-stat.example/reset/tok" readonly`,
		`<time datetime="2026-11-27T08:51:00Z">`,
		`<a class="button" href="/admin?after=50#user-3">Back to users</a>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("reset link page is missing %q", want)
		}
	}
}

func TestError(t *testing.T) {
	tmpl, _ := newTemplates(t)
	for _, tt := range []struct {
		status int
		user   *aistat.User
		signIn bool
	}{
		{401, nil, true},
		{403, nil, true},
		{404, nil, false},
		{403, viewer, false},
	} {
		html := render(t, tmpl, ErrorPage{
			Page:   Page{Title: "Error", User: NewAccount(tt.user, en), Path: "/admin"},
			Status: tt.status, Heading: "Not here", Message: "Nothing to see.",
		})
		for _, want := range []string{"<h1>Not here</h1>", "<p>Nothing to see.</p>", `<a class="button" href="/">`} {
			if !strings.Contains(html, want) {
				t.Errorf("%d: missing %q", tt.status, want)
			}
		}
		got := strings.Contains(html, `<a class="button button-secondary" href="/login?next=%2Fadmin">Sign in</a>`)
		if got != tt.signIn {
			t.Errorf("%d, user %v: Sign in link = %v, want %v", tt.status, tt.user, got, tt.signIn)
		}
	}
}

func TestUnknownPage(t *testing.T) {
	tmpl, _ := newTemplates(t)
	var buf bytes.Buffer
	if err := tmpl.execute(&buf, "", "nope", HomePage{}); err == nil {
		t.Error("unknown page rendered")
	}
	if buf.Len() != 0 {
		t.Error("unknown page wrote output")
	}
}

func TestNewNeedsAssetURL(t *testing.T) {
	if _, err := New(nil, catalogue, aistat.LocaleEnglish); err == nil {
		t.Error("New(nil) succeeded")
	}
	// Asset links are written into the pages as they are: one that would
	// need escaping there is refused at start-up.
	for _, url := range []string{`javascript:alert(1)`, `/static/a.css?v=1" onload="x`, `/static/a&b.css`, `//evil.example/a.css`, `static/a.css`, `/static/<a>.css`} {
		if _, err := New(func(string) string { return url }, catalogue, aistat.LocaleEnglish); err == nil {
			t.Errorf("New accepted the asset URL %q", url)
		}
	}
}

func TestEscapeFailsFast(t *testing.T) {
	broken := template.Must(template.New("p").Parse(`{{define "layout"}}<a href="{{if .User}}x"{{else}}y{{end}}>{{end}}`))
	if err := escape(broken); err == nil {
		t.Error("a page that cannot be escaped passed")
	}
	fine := template.Must(template.New("p").Parse(`{{define "layout"}}<a href="/x">{{range .Users}}{{.Name}}{{end}}</a>{{end}}`))
	if err := escape(fine); err != nil {
		t.Errorf("a sound page failed: %v", err)
	}
}

func TestHostileAvatarURL(t *testing.T) {
	tmpl, _ := newTemplates(t)
	html := render(t, tmpl, HomePage{Title: "Home", User: NewAccount(evil, en), Path: "/"})
	if !strings.Contains(html, `<img src="#ZgotmplZ"`) {
		t.Error("javascript: avatar URL was not neutralised")
	}
	if !strings.Contains(html, `data-user-name>&lt;script&gt;alert(1)&lt;/script&gt;</span>`) {
		t.Error("hostile name is not escaped in the header")
	}
}

func TestTimeFuncs(t *testing.T) {
	when := time.Date(2026, 11, 27, 8, 51, 0, 0, time.FixedZone("CET", 3600))
	if got := isoTime(when); got != "2026-11-27T07:51:00Z" {
		t.Errorf("isoTime = %q", got)
	}
}

func TestConcurrentRender(t *testing.T) {
	tmpl, _ := newTemplates(t)
	var wg sync.WaitGroup
	for _, v := range samples() {
		wg.Go(func() {
			var buf bytes.Buffer
			if err := tmpl.Render(&buf, v); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// uid is the id of u, 0 for an anonymous page.
func uid(u *aistat.User) int64 {
	if u == nil {
		return 0
	}
	return u.ID
}

// TestRoleOptions: every role select offers the three roles, the current
// one selected; a role the site does not know selects none rather than
// leaving the select empty.
func TestRoleOptions(t *testing.T) {
	tmpl, _ := newTemplates(t)
	odd := aistat.User{ID: 8, Email: "odd@example.com", Name: "Odd", Role: "owner"}
	html := render(t, tmpl, AdminPage{
		Page:    Page{Title: "Admin", User: NewAccount(admin, en), Path: "/admin"},
		Rows:    NewAdminRows([]aistat.UserSummary{{User: *viewer}, {User: odd}}, admin.ID, en, nil),
		CanEdit: true,
		New:     UserForm{},
		Mail:    AdminMail{Invite: UserForm{Role: aistat.RoleViewer}},
	})
	none := `<option value="admin">Admin</option><option value="editor">Editor</option><option value="viewer">Viewer</option>`
	for _, want := range []string{
		`<select name="role"><option value="admin">Admin</option><option value="editor">Editor</option><option value="viewer" selected>Viewer</option></select>`,
		`<select name="role">` + none + `</select>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("admin page is missing %q", want)
		}
	}
	if n := strings.Count(html, none); n != 2 {
		t.Errorf("%d selects with no role selected, want 2 (the odd row and the create form)", n)
	}
}
