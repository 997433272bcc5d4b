package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/julienschmidt/httprouter"

	"aistat"
	"aistat/internal/i18n"
	"aistat/sessions"
	"aistat/templates"
)

// Page sizes of the admin pages.
const (
	adminPageSize  = 50
	adminAuditSize = 20
)

// handleAdminShow lists one page of users. Admins see everything about
// them and get the controls; editors see the directory alone (names, roles,
// whether an account is disabled), searched by name alone.
func (s *Server) handleAdminShow(w http.ResponseWriter, r *http.Request) {
	q, err := userQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.renderAdmin(w, r, http.StatusOK, q, templates.UserForm{Role: aistat.RoleViewer})
}

// renderAdmin renders the admin page: the users q selects and, for an
// admin, the latest audit entries and the create-user form as form says.
// How much of the users the page shows is decided here, from the signed-in
// user's role, whatever q asks for: an editor's page never reads emails,
// sessions or the audit log, so none of it can reach the page.
func (s *Server) renderAdmin(w http.ResponseWriter, r *http.Request, status int, q aistat.UserQuery, form templates.UserForm) {
	s.renderAdminInvite(w, r, status, q, form, templates.UserForm{Role: aistat.RoleViewer})
}

// renderAdminInvite is renderAdmin with the invitation form as invite says.
func (s *Server) renderAdminInvite(w http.ResponseWriter, r *http.Request, status int, q aistat.UserQuery, form, invite templates.UserForm) {
	ctx := r.Context()
	me := sessions.User(ctx)
	q.View = aistat.DirectoryView
	if me.IsAdmin() {
		q.View = aistat.AdminView
	}
	list, err := s.users.List(ctx, q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var recent []aistat.AuditEntry
	if me.IsAdmin() {
		page, err := s.users.AuditLog(ctx, aistat.AuditQuery{Limit: adminAuditSize})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		recent = page.Entries
	}
	loc := s.locale(r)
	var mail templates.AdminMail
	if me.IsAdmin() {
		if mail, err = s.adminMail(ctx, loc, localizedForm(loc, invite)); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	page := s.localPage(r, loc, loc.T("header.admin"))
	s.render(w, r, status, templates.AdminPage{
		Page:    page,
		Rows:    templates.NewAdminRows(list.Users, me.ID, loc, page.Zone),
		CanEdit: me.IsAdmin(),
		Private: q.View == aistat.AdminView,
		Search:  q.Search,
		Caption: usersCaption(loc, q.Search, list),
		PrevURL: adminURL(q.Search, list.Prev),
		NextURL: adminURL(q.Search, list.Next),
		Back:    adminURL(q.Search, &q.Cursor),
		Audit:   recent,
		New:     localizedForm(loc, form),
		Mail:    mail,
	})
}

// localizedForm is form with its field messages, the domain's, in loc's
// language.
func localizedForm(loc *i18n.Localizer, form templates.UserForm) templates.UserForm {
	form.Errors = loc.DomainFields(form.Errors)
	return form
}

// userQuery reads the admin page's search (q) and page position (after or
// before an id) from its URL. A value it cannot use is a 400 that names it.
func userQuery(v url.Values) (aistat.UserQuery, error) {
	cursor, err := cursorQuery(v)
	if err != nil {
		return aistat.UserQuery{}, err
	}
	search, err := aistat.NormalizeSearch(v.Get("q"))
	if err != nil {
		return aistat.UserQuery{}, badRequest(http.StatusBadRequest, aistat.ErrorMessage(err))
	}
	return aistat.UserQuery{Search: search, Cursor: cursor, Limit: adminPageSize}, nil
}

// cursorQuery reads a page position: after or before an id, or neither for
// the first page.
func cursorQuery(v url.Values) (aistat.Cursor, error) {
	var c aistat.Cursor
	for _, p := range []struct {
		name string
		dest *int64
	}{{"after", &c.After}, {"before", &c.Before}} {
		raw := v.Get(p.name)
		if raw == "" {
			continue
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n <= 0 {
			return c, badRequest(http.StatusBadRequest, fmt.Sprintf("The page position %q must be a positive whole number.", p.name))
		}
		*p.dest = n
	}
	if c.After > 0 && c.Before > 0 {
		return c, badRequest(http.StatusBadRequest, `Give the page position "after" or "before", not both.`)
	}
	return c, nil
}

// adminURL is the address of the admin page with search and cursor; "" for
// a nil cursor, which is no page.
func adminURL(search string, c *aistat.Cursor) string {
	if c == nil {
		return ""
	}
	v := url.Values{}
	if search != "" {
		v.Set("q", search)
	}
	if c.After > 0 {
		v.Set("after", strconv.FormatInt(c.After, 10))
	}
	if c.Before > 0 {
		v.Set("before", strconv.FormatInt(c.Before, 10))
	}
	if len(v) == 0 {
		return "/admin"
	}
	return "/admin?" + v.Encode()
}

// usersCaption names the list on the page. The count that follows it is of
// the rows shown, so a list in pages is not called "All users".
func usersCaption(loc *i18n.Localizer, search string, list *aistat.UserPage) string {
	switch {
	case search != "":
		return loc.F("admin.matching", map[string]any{"Search": search})
	case list.Prev != nil || list.Next != nil:
		return loc.T("admin.users")
	}
	return loc.T("admin.allUsers")
}

// adminBack is where an admin action returns to: the admin page it was
// taken on, with its search and page, or else the first page.
func adminBack(raw string) string {
	back := localPath(raw)
	if u, err := url.Parse(back); err == nil && u.Path == "/admin" {
		return back
	}
	return "/admin"
}

// rowBack is adminBack at the row of the user id, so that the admin comes
// back to the row they acted on rather than to the top of a long list. A
// row the page no longer shows leaves the page at its top.
func rowBack(raw string, id int64) string {
	return adminBack(raw) + "#user-" + strconv.FormatInt(id, 10)
}

// handleUserRoleUpdate changes a user's role. Their sessions stay: their
// next request reads the new role.
func (s *Server) handleUserRoleUpdate(w http.ResponseWriter, r *http.Request) {
	id, ok := s.targetForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	user, err := s.users.SetRole(ctx, sessions.User(ctx).ID, id, aistat.Role(r.PostForm.Get("role")))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	loc := s.locale(r)
	s.sessions.PutFlash(ctx, loc.F("flash.roleChanged", map[string]any{"Name": user.Name, "Role": loc.Role(user.Role)}))
	http.Redirect(w, r, rowBack(r.PostForm.Get("back"), id), http.StatusSeeOther)
}

// handleUserSessionsRevoke signs a user out on every device, once
// confirmed.
func (s *Server) handleUserSessionsRevoke(w http.ResponseWriter, r *http.Request) {
	id, ok := s.confirmedTarget(w, r, templates.ConfirmRevoke)
	if !ok {
		return
	}
	ctx := r.Context()
	user, n, err := s.users.EndSessions(ctx, sessions.User(ctx).ID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.sessions.PutFlash(ctx, s.locale(r).F("flash.revoked", map[string]any{"Name": user.Name, "PluralCount": n}))
	http.Redirect(w, r, rowBack(r.PostForm.Get("back"), id), http.StatusSeeOther)
}

// targetForm reads the :id of an admin action on a user and its form; when
// either is bad it has answered, and returns false.
func (s *Server) targetForm(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := userID(r)
	if err == nil {
		err = parseForm(w, r)
	}
	if err != nil {
		s.writeError(w, r, err)
		return 0, false
	}
	return id, true
}

// userID is the :id of the path; anything but a positive integer names no
// user.
func userID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(httprouter.ParamsFromContext(r.Context()).ByName("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, aistat.Errorf(aistat.ENOTFOUND, "User not found.")
	}
	return id, nil
}
