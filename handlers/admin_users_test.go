package handlers_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"aistat"
)

var (
	rowIDPattern  = regexp.MustCompile(`<tr id="user-\d+" data-user-id="(\d+)"`)
	nextPattern   = regexp.MustCompile(`rel="next" href="([^"]+)"`)
	prevPattern   = regexp.MustCompile(`rel="prev" href="([^"]+)"`)
	emailsPattern = regexp.MustCompile(`<span class="user-meta-email" data-field="email">([^<]+)</span>`)
)

// rowIDs are the ids of the users listed on an admin page, in order.
func rowIDs(tb testing.TB, res *response) []int64 {
	tb.Helper()
	var ids []int64
	for _, m := range rowIDPattern.FindAllStringSubmatch(res.body, -1) {
		id, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// link is the address of the page's Next or Previous link, "" when none.
func link(re *regexp.Regexp, res *response) string {
	m := re.FindStringSubmatch(res.body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// listedEmails are the emails on an admin page, in order.
func listedEmails(res *response) []string {
	var emails []string
	for _, m := range emailsPattern.FindAllStringSubmatch(res.body, -1) {
		emails = append(emails, html.UnescapeString(m[1]))
	}
	return emails
}

// mustLoadUsers adds users straight to the database, n of them named
// "Person 001"... with emails "user001@Example.com"...; they cannot sign in.
func mustLoadUsers(tb testing.TB, e *env, n int) {
	tb.Helper()
	_, err := e.db.Exec(`
		INSERT INTO users (email, name, role, password_hash)
		SELECT format('user%s@Example.com', lpad(i::text, 3, '0')), format('Person %s', lpad(i::text, 3, '0')), 'viewer', '-'
		FROM generate_series(1, $1::int) i`, n)
	if err != nil {
		tb.Fatal(err)
	}
}

func TestServer_AdminSearchAndPages(t *testing.T) {
	e := mustOpenEnv(t)
	admin := mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	mustLoadUsers(t, e, 117)
	sara := mustCreateUser(t, e, "sara@example.org", "Сара Чен", aistat.RoleEditor)
	petrova := mustCreateUser(t, e, "petrova@example.org", "САРА Петрова", aistat.RoleViewer)
	mustCreateUser(t, e, "ivan@example.org", "Иван Иванов", aistat.RoleViewer)
	const total = 121
	c := newClient(t, e)
	c.login("admin@example.com")
	editor := newClient(t, e)
	editor.login("sara@example.org")

	t.Run("PagesForwardAndBack", func(t *testing.T) {
		var pages [][]int64
		var res *response
		for path := "/admin"; path != ""; path = link(nextPattern, res) {
			res = c.get(path)
			wantStatus(t, res, http.StatusOK)
			pages = append(pages, rowIDs(t, res))
			if len(pages) > 5 {
				t.Fatal("more pages than users")
			}
		}
		sizes := []int{}
		var all []int64
		for _, p := range pages {
			sizes = append(sizes, len(p))
			all = append(all, p...)
		}
		if want := []int{50, 50, 21}; !slices.Equal(sizes, want) {
			t.Fatalf("page sizes %v, want %v", sizes, want)
		}
		if len(all) != total || all[0] != admin.ID {
			t.Fatalf("pages hold %d ids from %d, want %d from %d", len(all), all[0], total, admin.ID)
		}
		for i := 1; i < len(all); i++ {
			if all[i] <= all[i-1] {
				t.Fatalf("ids out of order or repeated: %d after %d", all[i], all[i-1])
			}
		}
		if link(prevPattern, c.get("/admin")) != "" {
			t.Fatal("the first page has a Previous link")
		}
		// Back from the last page, through Previous links.
		for i := len(pages) - 1; i > 0; i-- {
			back := link(prevPattern, res)
			if back == "" {
				t.Fatalf("page %d has no Previous link", i+1)
			}
			res = c.get(back)
			wantStatus(t, res, http.StatusOK)
			if got := rowIDs(t, res); !slices.Equal(got, pages[i-1]) {
				t.Fatalf("Previous from page %d shows %v, want %v", i+1, got, pages[i-1])
			}
		}
		if link(prevPattern, res) != "" {
			t.Fatal("the first page, reached by Previous, has a Previous link")
		}
	})

	t.Run("Search", func(t *testing.T) {
		tests := []struct {
			q    string
			want []string
		}{
			{"USER01", []string{"user010@Example.com", "user011@Example.com", "user012@Example.com", "user013@Example.com", "user014@Example.com",
				"user015@Example.com", "user016@Example.com", "user017@Example.com", "user018@Example.com", "user019@Example.com"}},
			{"person 11", []string{"user110@Example.com", "user111@Example.com", "user112@Example.com", "user113@Example.com",
				"user114@Example.com", "user115@Example.com", "user116@Example.com", "user117@Example.com"}},
			{"сАРА", []string{"sara@example.org", "petrova@example.org"}},
			{"ЧЕН", []string{"sara@example.org"}},
			{"иванов", []string{"ivan@example.org"}},
			{"  user007@example.COM  ", []string{"user007@Example.com"}},
			{"%", nil},
			{"_", nil},
			{`\`, nil},
			{"nobody-has-this", nil},
		}
		for _, tt := range tests {
			res := c.get("/admin?q=" + url.QueryEscape(tt.q))
			wantStatus(t, res, http.StatusOK)
			if got := listedEmails(res); !slices.Equal(got, tt.want) {
				t.Errorf("q=%q: %v, want %v", tt.q, got, tt.want)
			}
			if tt.want == nil {
				wantBody(t, res, "No users match this search.")
			}
		}
		// An editor's search matches names alone: an email, or a part of
		// one, finds nobody, so it cannot tell whose email is what.
		res := editor.get("/admin?q=петрова")
		wantStatus(t, res, http.StatusOK)
		if got := rowIDs(t, res); !slices.Equal(got, []int64{petrova.ID}) {
			t.Fatalf("editor's search by name: %v", got)
		}
		for _, q := range []string{"petrova", "petrova@example.org", "@example.org", "USER007", "example"} {
			res := editor.get("/admin?q=" + url.QueryEscape(q))
			wantStatus(t, res, http.StatusOK)
			if got := rowIDs(t, res); len(got) != 0 {
				t.Errorf("editor's search q=%q by an email matches %v, want nobody", q, got)
			}
			wantBody(t, res, "No users match this search.")
		}
		if got := rowIDs(t, c.get("/admin?q=sara")); !slices.Equal(got, []int64{sara.ID}) {
			t.Fatalf("q=sara: %v, want only sara@example.org (Latin, not Cyrillic)", got)
		}
	})

	t.Run("EditorPagesLikeAdmin", func(t *testing.T) {
		// The directory is read by a query of its own: its pages, forward
		// and back, are the admin's.
		for _, path := range []string{"/admin", "/admin?after=" + itoa(admin.ID+49), "/admin?before=" + itoa(sara.ID), "/admin?q=Person+1"} {
			want, got := c.get(path), editor.get(path)
			wantStatus(t, got, http.StatusOK)
			if !slices.Equal(rowIDs(t, got), rowIDs(t, want)) || link(nextPattern, got) != link(nextPattern, want) || link(prevPattern, got) != link(prevPattern, want) {
				t.Errorf("editor's %s: %v (prev %q, next %q), admin's %v (prev %q, next %q)", path,
					rowIDs(t, got), link(prevPattern, got), link(nextPattern, got), rowIDs(t, want), link(prevPattern, want), link(nextPattern, want))
			}
		}
	})

	t.Run("SearchKeepsItsTermAcrossPages", func(t *testing.T) {
		res := c.get("/admin?q=EXAMPLE")
		wantStatus(t, res, http.StatusOK)
		wantBody(t, res, `value="EXAMPLE"`, "Users matching “EXAMPLE” (50)")
		next := link(nextPattern, res)
		if !strings.Contains(next, "q=EXAMPLE") {
			t.Fatalf("Next link %q loses the search", next)
		}
		second := c.get(next)
		wantStatus(t, second, http.StatusOK)
		prev := link(prevPattern, second)
		if !strings.Contains(prev, "q=EXAMPLE") {
			t.Fatalf("Previous link %q loses the search", prev)
		}
		if got, want := rowIDs(t, c.get(prev)), rowIDs(t, res); !slices.Equal(got, want) {
			t.Fatalf("back to the first page of the search: %v, want %v", got, want)
		}
	})

	t.Run("BadQueryValues", func(t *testing.T) {
		tests := []struct {
			name, query string
			status      int
			want        string
		}{
			{"AfterNotANumber", "after=abc", 400, `The page position &#34;after&#34; must be a positive whole number.`},
			{"AfterNegative", "after=-1", 400, `&#34;after&#34; must be a positive whole number`},
			{"AfterZero", "after=0", 400, `&#34;after&#34; must be a positive whole number`},
			{"AfterOverflow", "after=99999999999999999999", 400, `&#34;after&#34; must be a positive whole number`},
			{"AfterFloat", "after=1.5", 400, `&#34;after&#34; must be a positive whole number`},
			{"BeforeNotANumber", "before=%00", 400, `&#34;before&#34; must be a positive whole number`},
			{"Both", "after=1&before=9", 400, `not both`},
			{"LongSearch", "q=" + strings.Repeat("a", 10<<10), 400, "Search must be at most 100 characters."},
			{"InvalidUTF8", "q=%ff%fe", 400, "Search must be valid UTF-8 text."},
			{"NUL", "q=a%00b", 400, "Search must not contain control characters."},
			{"Newline", "q=a%0Ab", 400, "Search must not contain control characters."},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := c.get("/admin?" + tt.query)
				wantStatus(t, res, tt.status)
				wantBody(t, res, tt.want)
			})
		}
	})

	t.Run("PastTheEnd", func(t *testing.T) {
		res := c.get("/admin?after=9223372036854775807")
		wantStatus(t, res, http.StatusOK)
		wantBody(t, res, "No users on this page.", `rel="prev" href="/admin?before=9223372036854775807"`)
		if len(rowIDs(t, res)) != 0 || link(nextPattern, res) != "" {
			t.Fatal("a page past the end lists users or goes on")
		}
		res = c.get("/admin?after=" + itoa(sara.ID+100))
		back := link(prevPattern, res)
		if back == "" {
			t.Fatal("an empty page past the end has no way back")
		}
		if got := rowIDs(t, c.get(back)); len(got) != 50 || got[len(got)-1] != sara.ID+2 {
			t.Fatalf("back from past the end: %d rows ending %v", len(got), got[len(got)-1:])
		}
	})
}

// accountState is everything a refused request must leave as it was.
type accountState struct {
	Email, Name, Role, PasswordHash string
	Disabled                        bool
	UpdatedAt                       time.Time
	Sessions, ResetLinks            int
}

func readAccount(tb testing.TB, e *env, id int64) accountState {
	tb.Helper()
	var a accountState
	err := e.db.QueryRow(`
		SELECT email, name, role, password_hash, disabled, updated_at,
		       (SELECT count(*) FROM sessions WHERE user_id = u.id),
		       (SELECT count(*) FROM password_resets WHERE user_id = u.id)
		FROM users u WHERE id = $1`, id).Scan(
		&a.Email, &a.Name, &a.Role, &a.PasswordHash, &a.Disabled, &a.UpdatedAt, &a.Sessions, &a.ResetLinks)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// auditRow is one row of the audit log as stored.
type auditRow struct {
	ActorID     int64
	ActorEmail  string
	Action      string
	TargetID    int64
	TargetEmail string
	Detail      string
}

func auditRows(tb testing.TB, e *env) []auditRow {
	tb.Helper()
	rows, err := e.db.Query(`SELECT actor_id, actor_email, action, target_id, target_email, detail FROM audit_log ORDER BY id`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		if err := rows.Scan(&r.ActorID, &r.ActorEmail, &r.Action, &r.TargetID, &r.TargetEmail, &r.Detail); err != nil {
			tb.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// wantAudit fails unless the latest audit row is want.
func wantAudit(tb testing.TB, e *env, want auditRow) {
	tb.Helper()
	rows := auditRows(tb, e)
	if len(rows) == 0 {
		tb.Fatalf("no audit rows, want %+v", want)
	}
	if got := rows[len(rows)-1]; got != want {
		tb.Fatalf("latest audit row %+v, want %+v", got, want)
	}
}

func TestServer_AdminActions(t *testing.T) {
	e := mustOpenEnv(t)
	admin := mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	a := newClient(t, e)
	a.login("admin@example.com")
	audited := func(action string, target *aistat.User, detail string) auditRow {
		return auditRow{admin.ID, admin.Email, action, target.ID, target.Email, detail}
	}

	t.Run("DisableAndEnable", func(t *testing.T) {
		u := mustCreateUser(t, e, "disable@example.com", "Dis Abled", aistat.RoleEditor)
		phone, laptop := newClient(t, e), newClient(t, e)
		phone.login(u.Email)
		laptop.login(u.Email)
		res := a.postForm("/admin/users/"+itoa(u.ID)+"/disable", url.Values{"back": {"/admin?q=dis"}, "confirm": {"yes"}})
		wantStatus(t, res, http.StatusSeeOther)
		if got, want := res.Header.Get("Location"), "/admin?q=dis#user-"+itoa(u.ID); got != want {
			t.Fatalf("Location %q, want the row on the page the admin was on, %q", got, want)
		}
		wantAudit(t, e, audited("disable", u, "2 sessions ended"))
		for _, c := range []*client{phone, laptop} {
			wantBody(t, c.get("/"), "Sign in")
			wantStatus(t, c.get("/api/session"), http.StatusUnauthorized)
		}
		if n := sessionCount(t, e, u.ID); n != 0 {
			t.Fatalf("a disabled user keeps %d sessions", n)
		}
		signIn := newClient(t, e).postForm("/login", url.Values{"email": {u.Email}, "password": {testPassword}})
		wantStatus(t, signIn, http.StatusForbidden)
		page := a.get("/admin?q=dis")
		wantBody(t, page, "Dis Abled is disabled and signed out everywhere.", `action="/admin/users/`+itoa(u.ID)+`/enable"`, `class="is-disabled"`)

		res = a.postForm("/admin/users/"+itoa(u.ID)+"/enable", nil)
		wantStatus(t, res, http.StatusSeeOther)
		if got, want := res.Header.Get("Location"), "/admin#user-"+itoa(u.ID); got != want {
			t.Fatalf("Location %q, want %q", got, want)
		}
		wantAudit(t, e, audited("enable", u, ""))
		phone.login(u.Email)
		wantBody(t, phone.get("/"), "Dis Abled")
		wantBody(t, a.get("/admin"), "Dis Abled can sign in again.")
	})

	t.Run("Delete", func(t *testing.T) {
		u := mustCreateUser(t, e, "delete@example.com", "Dele Ted", aistat.RoleEditor)
		c := newClient(t, e)
		c.login(u.Email)
		path := "/admin/users/" + itoa(u.ID) + "/delete"
		confirm := a.get(path + "?back=%2Fadmin%3Fafter%3D1")
		wantStatus(t, confirm, http.StatusOK)
		wantBody(t, confirm, "Delete this user?", "delete@example.com", `<form class="form" method="post" action="`+path+`">`,
			`name="confirm" value="yes"`, `name="back" value="/admin?after=1"`)
		before := readAccount(t, e, u.ID)
		res := a.postForm(path, nil)
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantBody(t, res, "Confirm the deletion with the button below.")
		if after := readAccount(t, e, u.ID); after != before {
			t.Fatalf("an unconfirmed delete changed %+v to %+v", before, after)
		}

		res = a.postForm(path, url.Values{"confirm": {"yes"}, "back": {"/admin?after=1"}})
		wantStatus(t, res, http.StatusSeeOther)
		if got := res.Header.Get("Location"); got != "/admin?after=1" {
			t.Fatalf("Location %q", got)
		}
		wantAudit(t, e, audited("delete", u, ""))
		var n int
		if err := e.db.QueryRow(`SELECT count(*) FROM users WHERE id = $1`, u.ID).Scan(&n); err != nil || n != 0 {
			t.Fatalf("user rows left: %d (%v)", n, err)
		}
		if n := sessionCount(t, e, u.ID); n != 0 {
			t.Fatalf("sessions of a deleted user: %d", n)
		}
		page := a.get("/admin")
		wantBody(t, page, "Dele Ted (delete@example.com) is deleted.", "<td>delete@example.com</td>")
		wantNoBody(t, page, `data-user-id="`+itoa(u.ID)+`"`)
		wantBody(t, c.get("/"), "Sign in")
		wantStatus(t, a.get(path), http.StatusNotFound)
		wantStatus(t, a.postForm(path, url.Values{"confirm": {"yes"}}), http.StatusNotFound)
	})

	t.Run("Create", func(t *testing.T) {
		form := url.Values{"email": {"New.Person@example.com"}, "name": {"  Новый Человек "}, "role": {"editor"}, "password": {"a fresh passphrase"}}
		res := a.postForm("/admin/users", form)
		wantStatus(t, res, http.StatusSeeOther)
		var u aistat.User
		err := e.db.QueryRow(`SELECT id, email, name, role FROM users WHERE lower(email) = 'new.person@example.com'`).Scan(&u.ID, &u.Email, &u.Name, &u.Role)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := res.Header.Get("Location"), "/admin#user-"+itoa(u.ID); got != want {
			t.Fatalf("Location %q, want the new user's row, %q", got, want)
		}
		if u.Name != "Новый Человек" || u.Role != aistat.RoleEditor {
			t.Fatalf("created %+v", u)
		}
		wantAudit(t, e, audited("create", &u, "Editor"))
		page := a.get("/admin")
		wantBody(t, page, "Новый Человек (New.Person@example.com) can now sign in as Editor.", `<details class="add-user" id="add-user">`)
		c := newClient(t, e)
		wantStatus(t, c.postForm("/login", url.Values{"email": {"new.person@example.com"}, "password": {"a fresh passphrase"}}), http.StatusSeeOther)
		wantBody(t, c.get("/"), "Новый Человек")

		t.Run("Invalid", func(t *testing.T) {
			rows := len(auditRows(t, e))
			res := a.postForm("/admin/users", url.Values{"email": {"not an email"}, "name": {"Typed <Name>"}, "role": {"owner"}, "password": {"secret-pw-that-must-not-echo"}})
			wantStatus(t, res, http.StatusUnprocessableEntity)
			wantBody(t, res, `value="not an email"`, `value="Typed &lt;Name&gt;"`,
				`<p class="field-error" id="new-email-error">Email must be an address like name@example.com.</p>`,
				`<p class="field-error" id="new-role-error">Role must be admin, editor or viewer.</p>`,
				`<caption id="users-caption">`,
				// The form, behind its button at the top, is open to show
				// what went wrong.
				`<details class="add-user" id="add-user" open>`)
			wantNoBody(t, res, "secret-pw-that-must-not-echo")
			res = a.postForm("/admin/users", url.Values{"email": {"x@example.com"}, "name": {"X"}, "role": {"viewer"}, "password": {"password1234"}})
			wantStatus(t, res, http.StatusUnprocessableEntity)
			wantBody(t, res, `<p class="field-error" id="new-password-error">Password is too common; choose another.</p>`, `value="x@example.com"`)
			wantNoBody(t, res, "password1234")
			res = a.postForm("/admin/users", url.Values{"email": {"y@example.com"}, "name": {"Y"}, "role": {"viewer"}, "password": {"short"}})
			wantStatus(t, res, http.StatusUnprocessableEntity)
			wantBody(t, res, "Password must be at least 10 characters.")
			res = a.postForm("/admin/users", url.Values{"email": {"z@example.com"}, "name": {"bad\x00name\xff"}, "role": {"viewer"}, "password": {"long enough pass"}})
			wantStatus(t, res, http.StatusUnprocessableEntity)
			if got := len(auditRows(t, e)); got != rows {
				t.Fatalf("refused creations wrote %d audit rows", got-rows)
			}
		})

		t.Run("DuplicateEmail", func(t *testing.T) {
			res := a.postForm("/admin/users", url.Values{"email": {"NEW.PERSON@example.com"}, "name": {"Twin"}, "role": {"viewer"}, "password": {"another passphrase"}})
			wantStatus(t, res, http.StatusConflict)
			wantBody(t, res, "A user with this email already exists.", `value="NEW.PERSON@example.com"`, `value="Twin"`)
			var n int
			if err := e.db.QueryRow(`SELECT count(*) FROM users WHERE lower(email) = 'new.person@example.com'`).Scan(&n); err != nil || n != 1 {
				t.Fatalf("accounts with the email: %d (%v)", n, err)
			}
		})
	})

	t.Run("RevokeAndRoleAreAudited", func(t *testing.T) {
		u := mustCreateUser(t, e, "audited@example.com", "Audited", aistat.RoleEditor)
		c := newClient(t, e)
		c.login(u.Email)
		res := a.postForm("/admin/users/"+itoa(u.ID)+"/role", url.Values{"role": {"viewer"}, "back": {"/admin?after=3&q=aud"}})
		wantStatus(t, res, http.StatusSeeOther)
		if got, want := res.Header.Get("Location"), "/admin?after=3&q=aud#user-"+itoa(u.ID); got != want {
			t.Fatalf("Location %q, want the row on the page the admin was on, %q", got, want)
		}
		wantAudit(t, e, audited("role", u, "Editor → Viewer"))
		res = a.postForm("/admin/users/"+itoa(u.ID)+"/revoke", url.Values{"back": {"https://evil.example/admin"}, "confirm": {"yes"}})
		wantStatus(t, res, http.StatusSeeOther)
		if got, want := res.Header.Get("Location"), "/admin#user-"+itoa(u.ID); got != want {
			t.Fatalf("Location %q, want %q for a back address off the admin page", got, want)
		}
		wantAudit(t, e, audited("revoke", u, "1 session ended"))
	})

	t.Run("AuditShownOnThePages", func(t *testing.T) {
		page := a.get("/admin")
		wantStatus(t, page, http.StatusOK)
		wantBody(t, page, "Recent admin actions", "<td>Signed out everywhere</td>", "<td>Role changed</td>", "<td>Editor → Viewer</td>",
			"<td>Deleted</td>", "<td>Disabled</td>", "<td>Enabled</td>", "<td>Created</td>", "<td>admin@example.com</td>", `<time datetime="`)
		if n := strings.Count(page.body, "<tr data-audit-id="); n != 6 {
			t.Fatalf("audit rows on the admin page: %d, want 6", n)
		}
		log := a.get("/admin/audit")
		wantStatus(t, log, http.StatusOK)
		wantBody(t, log, "Audit log", "<td>audited@example.com</td>")
	})
}

func TestServer_AuditLogPages(t *testing.T) {
	e := mustOpenEnv(t)
	admin := mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	u := mustCreateUser(t, e, "target@example.com", "Target", aistat.RoleViewer)
	for i := range 70 {
		if _, _, err := e.users.EndSessions(t.Context(), admin.ID, u.ID); err != nil {
			t.Fatalf("revoke %d: %v", i, err)
		}
	}
	for range 55 {
		if _, err := e.users.SetRole(t.Context(), admin.ID, u.ID, aistat.RoleEditor); err != nil {
			t.Fatal(err)
		}
	}
	a := newClient(t, e)
	a.login("admin@example.com")

	auditIDs := regexp.MustCompile(`<tr data-audit-id="(\d+)"`)
	ids := func(res *response) []int64 {
		var out []int64
		for _, m := range auditIDs.FindAllStringSubmatch(res.body, -1) {
			id, _ := strconv.ParseInt(m[1], 10, 64)
			out = append(out, id)
		}
		return out
	}
	first := a.get("/admin/audit")
	wantStatus(t, first, http.StatusOK)
	older := link(nextPattern, first)
	if got := ids(first); len(got) != 50 || got[0] != 125 || !slices.IsSortedFunc(got, func(a, b int64) int { return int(b - a) }) || older == "" {
		t.Fatalf("first page %v, older %q", got, older)
	}
	second := a.get(older)
	third := a.get(link(nextPattern, second))
	if got := ids(third); len(got) != 25 || got[24] != 1 || link(nextPattern, third) != "" {
		t.Fatalf("last page %v", got)
	}
	back := a.get(link(prevPattern, third))
	if got, want := ids(back), ids(second); !slices.Equal(got, want) {
		t.Fatalf("Newer from the last page: %v, want %v", got, want)
	}
	wantStatus(t, a.get("/admin/audit?before=abc"), http.StatusBadRequest)
	// The log names every account's email: it is for admins alone.
	editor := newClient(t, e)
	mustCreateUser(t, e, "editor@example.com", "Editor", aistat.RoleEditor)
	editor.login("editor@example.com")
	for _, path := range []string{"/admin/audit", older, "/admin/audit?before=abc"} {
		res := editor.get(path)
		wantStatus(t, res, http.StatusForbidden)
		wantNoBody(t, res, "target@example.com", "admin@example.com", "data-audit-id")
	}
	viewer := newClient(t, e)
	mustCreateUser(t, e, "viewer@example.com", "Viewer", aistat.RoleViewer)
	viewer.login("viewer@example.com")
	wantStatus(t, viewer.get("/admin/audit"), http.StatusForbidden)
	wantStatus(t, newClient(t, e).get("/admin/audit"), http.StatusSeeOther)
}

// TestServer_AdminActionGuards sends every admin action from everyone who
// may not take it, and checks each refused request changed nothing.
func TestServer_AdminActionGuards(t *testing.T) {
	e := mustOpenEnv(t)
	admin := mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	target := mustCreateUser(t, e, "target@example.com", "Target", aistat.RoleAdmin)
	mustCreateUser(t, e, "editor@example.com", "Editor", aistat.RoleEditor)
	mustCreateUser(t, e, "viewer@example.com", "Viewer", aistat.RoleViewer)
	a, editor, viewer, anonymous := newClient(t, e), newClient(t, e), newClient(t, e), newClient(t, e)
	a.login("admin@example.com")
	editor.login("editor@example.com")
	viewer.login("viewer@example.com")
	newClient(t, e).login("target@example.com")
	const form = "application/x-www-form-urlencoded"
	created := url.Values{"email": {"guard@example.com"}, "name": {"Guard"}, "role": {"admin"}, "password": {"a fresh passphrase"}}.Encode()

	actions := []struct{ name, path, body string }{
		{"Disable", "/disable", "confirm=yes"},
		{"Enable", "/enable", ""},
		{"Delete", "/delete", "confirm=yes"},
		{"Reset", "/reset", ""},
		{"Revoke", "/revoke", "confirm=yes"},
	}
	type attempt struct {
		name        string
		c           *client
		path        string
		contentType string
		body        string
		headers     []string
		status      int
		want        string
	}
	var tests []attempt
	for _, act := range actions {
		tests = append(tests,
			attempt{act.name + "/Self", a, "/admin/users/" + itoa(admin.ID) + act.path, form, act.body, nil, 403, "You cannot change your own account here."},
			attempt{act.name + "/Editor", editor, "/admin/users/" + itoa(target.ID) + act.path, form, act.body, nil, 403, "You do not have access"},
			attempt{act.name + "/Viewer", viewer, "/admin/users/" + itoa(target.ID) + act.path, form, act.body, nil, 403, "You do not have access"},
			attempt{act.name + "/Anonymous", anonymous, "/admin/users/" + itoa(target.ID) + act.path, form, act.body, nil, 401, "Please sign in"},
			attempt{act.name + "/CrossSite", a, "/admin/users/" + itoa(target.ID) + act.path, form, act.body, []string{"Sec-Fetch-Site", "cross-site"}, 403, "Cross-origin"},
			attempt{act.name + "/IDNotANumber", a, "/admin/users/abc" + act.path, form, act.body, nil, 404, "User not found."},
			attempt{act.name + "/IDZero", a, "/admin/users/0" + act.path, form, act.body, nil, 404, "User not found."},
			attempt{act.name + "/IDNegative", a, "/admin/users/-1" + act.path, form, act.body, nil, 404, "User not found."},
			attempt{act.name + "/IDOverflow", a, "/admin/users/99999999999999999999" + act.path, form, act.body, nil, 404, "User not found."},
			attempt{act.name + "/IDOfNobody", a, "/admin/users/999999" + act.path, form, act.body, nil, 404, "User not found."},
			attempt{act.name + "/JSONBody", a, "/admin/users/" + itoa(target.ID) + act.path, "application/json", "{}", nil, 415, "application/x-www-form-urlencoded"},
		)
	}
	tests = append(tests,
		attempt{"DeletePage/Self", a, "/admin/users/" + itoa(admin.ID) + "/delete", "", "", nil, 403, "You cannot change your own account here."},
		attempt{"DeletePage/Editor", editor, "/admin/users/" + itoa(target.ID) + "/delete", "", "", nil, 403, "You do not have access"},
		attempt{"DeletePage/Nobody", a, "/admin/users/999999/delete", "", "", nil, 404, "User not found."},
		attempt{"Create/Editor", editor, "/admin/users", form, created, nil, 403, "You do not have access"},
		attempt{"Create/Viewer", viewer, "/admin/users", form, created, nil, 403, "You do not have access"},
		attempt{"Create/Anonymous", anonymous, "/admin/users", form, created, nil, 401, "Please sign in"},
		attempt{"Create/CrossSite", a, "/admin/users", form, created, []string{"Sec-Fetch-Site", "cross-site"}, 403, "Cross-origin"},
		attempt{"Create/JSON", a, "/admin/users", "application/json", `{"email":"guard@example.com"}`, nil, 415, "application/x-www-form-urlencoded"},
		attempt{"Create/TooLarge", a, "/admin/users", form, "name=" + strings.Repeat("n", 70<<10), nil, 413, "64 KiB"},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, self := readAccount(t, e, target.ID), readAccount(t, e, admin.ID)
			audits := len(auditRows(t, e))
			method := http.MethodPost
			if tt.contentType == "" {
				method = http.MethodGet
			}
			res := tt.c.do(method, tt.path, tt.contentType, tt.body, tt.headers...)
			wantStatus(t, res, tt.status)
			wantBody(t, res, tt.want)
			if after := readAccount(t, e, target.ID); after != before {
				t.Fatalf("target changed: %+v -> %+v", before, after)
			}
			if after := readAccount(t, e, admin.ID); after != self {
				t.Fatalf("actor changed: %+v -> %+v", self, after)
			}
			if got := len(auditRows(t, e)); got != audits {
				t.Fatalf("a refused request wrote %d audit rows", got-audits)
			}
			var n int
			if err := e.db.QueryRow(`SELECT count(*) FROM users WHERE email = 'guard@example.com'`).Scan(&n); err != nil || n != 0 {
				t.Fatalf("refused creation made %d users (%v)", n, err)
			}
		})
	}
}

// TestServer_AdminConfirmations: signing a user out everywhere and disabling
// them act only with confirm=yes. Any other request, the admin page's
// plain form without JavaScript among them, gets the confirmation page
// (422), whose form sends the action again confirmed, and changes nothing.
func TestServer_AdminConfirmations(t *testing.T) {
	e := mustOpenEnv(t)
	mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	a := newClient(t, e)
	a.login("admin@example.com")
	u := mustCreateUser(t, e, "target@example.com", "Цель <b>", aistat.RoleEditor)
	newClient(t, e).login(u.Email)
	newClient(t, e).login(u.Email)
	path := func(action string) string { return "/admin/users/" + itoa(u.ID) + "/" + action }

	for _, tt := range []struct {
		action, heading, submit, again, ru string
	}{
		{"revoke", "Sign this user out everywhere?", "Sign Цель &lt;b&gt; out everywhere", "Confirm signing out everywhere with the button below.", "Подтвердите выход на всех устройствах кнопкой ниже."},
		{"disable", "Disable this user?", "Disable Цель &lt;b&gt;", "Confirm disabling with the button below.", "Подтвердите отключение кнопкой ниже."},
	} {
		for _, bad := range []struct{ name, body string }{
			{"Missing", "back=%2Fadmin%3Fq%3Dcel"},
			{"Empty", "confirm=&back=%2Fadmin%3Fq%3Dcel"},
			{"No", "confirm=no&back=%2Fadmin%3Fq%3Dcel"},
			{"Upper", "confirm=YES&back=%2Fadmin%3Fq%3Dcel"},
			{"Spaced", "confirm=yes%20&back=%2Fadmin%3Fq%3Dcel"},
			{"Second", "confirm=no&confirm=yes&back=%2Fadmin%3Fq%3Dcel"},
		} {
			t.Run(tt.action+"/"+bad.name, func(t *testing.T) {
				before, audits := readAccount(t, e, u.ID), len(auditRows(t, e))
				res := a.do(http.MethodPost, path(tt.action), "application/x-www-form-urlencoded", bad.body)
				wantStatus(t, res, http.StatusUnprocessableEntity)
				wantBody(t, res, tt.heading, tt.again, "target@example.com", tt.submit,
					`<form class="form" method="post" action="`+path(tt.action)+`">`,
					`<input type="hidden" name="confirm" value="yes">`,
					`<input type="hidden" name="back" value="/admin?q=cel">`,
					`href="/admin?q=cel#user-`+itoa(u.ID)+`">Cancel</a>`)
				wantNoBody(t, res, "Цель <b>")
				if after := readAccount(t, e, u.ID); after != before {
					t.Fatalf("an unconfirmed %s changed %+v to %+v", tt.action, before, after)
				}
				if got := len(auditRows(t, e)); got != audits {
					t.Fatalf("an unconfirmed %s wrote %d audit rows", tt.action, got-audits)
				}
			})
		}
		t.Run(tt.action+"/InRussian", func(t *testing.T) {
			res := a.do(http.MethodPost, path(tt.action), "application/x-www-form-urlencoded", "", "Accept-Language", "ru")
			wantStatus(t, res, http.StatusUnprocessableEntity)
			wantBody(t, res, tt.ru)
		})
	}

	t.Run("revoke/Confirmed", func(t *testing.T) {
		res := a.postForm(path("revoke"), url.Values{"confirm": {"yes"}, "back": {"/admin?q=cel"}})
		wantStatus(t, res, http.StatusSeeOther)
		if got, want := res.Header.Get("Location"), "/admin?q=cel#user-"+itoa(u.ID); got != want {
			t.Fatalf("Location %q, want %q", got, want)
		}
		if n := sessionCount(t, e, u.ID); n != 0 {
			t.Fatalf("sessions after a confirmed revoke: %d", n)
		}
	})
	t.Run("disable/Confirmed", func(t *testing.T) {
		wantStatus(t, a.postForm(path("disable"), confirmed()), http.StatusSeeOther)
		if !readAccount(t, e, u.ID).Disabled {
			t.Fatal("a confirmed disable left the user enabled")
		}
	})
}

// TestServer_AdminsActingOnEachOther races two admins disabling or deleting
// each other: one wins, and one of the two is left, an enabled admin.
func TestServer_AdminsActingOnEachOther(t *testing.T) {
	for _, action := range []string{"disable", "delete"} {
		t.Run(action, func(t *testing.T) {
			e := mustOpenEnv(t)
			for round := range 8 {
				a := mustCreateUser(t, e, "a"+itoa(int64(round))+"@example.com", "A", aistat.RoleAdmin)
				b := mustCreateUser(t, e, "b"+itoa(int64(round))+"@example.com", "B", aistat.RoleAdmin)
				ca, cb := newClient(t, e), newClient(t, e)
				ca.login(a.Email)
				cb.login(b.Email)
				audits := len(auditRows(t, e))
				form := url.Values{"confirm": {"yes"}}
				var wg sync.WaitGroup
				var resA, resB *response
				wg.Go(func() { resA = ca.postForm("/admin/users/"+itoa(b.ID)+"/"+action, form) })
				wg.Go(func() { resB = cb.postForm("/admin/users/"+itoa(a.ID)+"/"+action, form) })
				wg.Wait()
				var admins int
				err := e.db.QueryRow(`SELECT count(*) FROM users WHERE id IN ($1, $2) AND role = 'admin' AND NOT disabled`, a.ID, b.ID).Scan(&admins)
				if err != nil {
					t.Fatal(err)
				}
				codes := map[int]int{resA.StatusCode: 1}
				codes[resB.StatusCode]++
				// The loser is refused as no longer an admin (403), or, when
				// its request came after the change, as signed out (401).
				refused := codes[http.StatusUnauthorized] + codes[http.StatusForbidden] + codes[http.StatusConflict]
				if admins != 1 || codes[http.StatusSeeOther] != 1 || refused != 1 {
					t.Fatalf("round %d: enabled admins %d, statuses %d and %d; want 1, one 303 and one 401, 403 or 409",
						round, admins, resA.StatusCode, resB.StatusCode)
				}
				if n := len(auditRows(t, e)) - audits; n != 1 {
					t.Fatalf("round %d: %d audit rows, want 1", round, n)
				}
			}
		})
	}
}
