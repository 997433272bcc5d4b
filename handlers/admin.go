package handlers

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/julienschmidt/httprouter"

	"aistat"
	"aistat/sessions"
)

// handleAdminShow lists every user; editors see the list, only admins get
// the controls.
func (s *Server) handleAdminShow(w http.ResponseWriter, r *http.Request) {
	list, err := s.users.Summaries(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "admin", adminPage{
		Page:    s.page(r, "Admin"),
		Users:   list,
		Roles:   aistat.Roles,
		CanEdit: sessions.User(r.Context()).IsAdmin(),
	})
}

// handleUserRoleUpdate changes a user's role. Their sessions stay: their
// next request reads the new role.
func (s *Server) handleUserRoleUpdate(w http.ResponseWriter, r *http.Request) {
	id, err := userID(r)
	if err == nil {
		err = parseForm(w, r)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	user, err := s.users.SetRole(ctx, sessions.User(ctx).ID, id, aistat.Role(r.PostForm.Get("role")))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.sessions.PutFlash(ctx, fmt.Sprintf("%s is now %s.", user.Name, user.Role.Label()))
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}

// handleUserSessionsRevoke signs a user out on every device.
func (s *Server) handleUserSessionsRevoke(w http.ResponseWriter, r *http.Request) {
	id, err := userID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	user, err := s.users.Authorize(ctx, sessions.User(ctx).ID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	n, err := s.sessions.RevokeUser(ctx, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.sessions.PutFlash(ctx, fmt.Sprintf("%s is signed out everywhere (%d %s ended).", user.Name, n, plural(n, "session", "sessions")))
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
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

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
