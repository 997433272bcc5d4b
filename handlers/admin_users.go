package handlers

import (
	"net/http"
	"strings"
	"time"

	"aistat"
	"aistat/sessions"
	"aistat/templates"
)

// handleUserCreate adds an account. Invalid input (422) or an email in use
// (409) shows the admin page again with the typed values and the messages.
func (s *Server) handleUserCreate(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	f := r.PostForm
	nu := aistat.NewUser{Email: f.Get("email"), Name: f.Get("name"), Role: aistat.Role(f.Get("role")), Password: f.Get("password")}
	user, err := s.users.CreateAs(ctx, sessions.User(ctx).ID, nu)
	if code := aistat.ErrorCode(err); code == aistat.EINVALID || code == aistat.ECONFLICT {
		status, fields := http.StatusUnprocessableEntity, aistat.ErrorFields(err)
		if code == aistat.ECONFLICT {
			status, fields = http.StatusConflict, map[string]string{"email": aistat.ErrorMessage(err)}
		}
		s.renderAdmin(w, r, status, aistat.UserQuery{Limit: adminPageSize}, templates.UserForm{
			Email:  strings.ToValidUTF8(nu.Email, "\uFFFD"),
			Name:   strings.ToValidUTF8(nu.Name, "\uFFFD"),
			Role:   nu.Role,
			Errors: fields,
		})
		return
	} else if err != nil {
		s.writeError(w, r, err)
		return
	}
	loc := s.locale(r)
	s.sessions.PutFlash(ctx, loc.F("flash.created", map[string]any{"Name": user.Name, "Email": user.Email, "Role": loc.Role(user.Role)}))
	http.Redirect(w, r, rowBack(f.Get("back"), user.ID), http.StatusSeeOther)
}

func (s *Server) handleUserDisable(w http.ResponseWriter, r *http.Request) {
	s.setUserDisabled(w, r, true)
}

func (s *Server) handleUserEnable(w http.ResponseWriter, r *http.Request) {
	s.setUserDisabled(w, r, false)
}

// setUserDisabled disables a user, which signs them out everywhere, once
// confirmed, or lets them sign in again.
func (s *Server) setUserDisabled(w http.ResponseWriter, r *http.Request, disabled bool) {
	var id int64
	var ok bool
	if disabled {
		id, ok = s.confirmedTarget(w, r, templates.ConfirmDisable)
	} else {
		id, ok = s.targetForm(w, r)
	}
	if !ok {
		return
	}
	ctx := r.Context()
	user, err := s.users.SetDisabled(ctx, sessions.User(ctx).ID, id, disabled)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	msg := "flash.enabled"
	if disabled {
		msg = "flash.disabled"
	}
	s.sessions.PutFlash(ctx, s.locale(r).F(msg, map[string]any{"Name": user.Name}))
	http.Redirect(w, r, rowBack(r.PostForm.Get("back"), id), http.StatusSeeOther)
}

// confirmSteps are, for each action that asks first, the confirmation
// page's title and what it says to a request that came without confirm=yes.
var confirmSteps = map[templates.ConfirmAction]struct{ title, again string }{
	templates.ConfirmDelete:  {"userDelete.title", "Confirm the deletion with the button below."},
	templates.ConfirmRevoke:  {"userRevoke.title", "Confirm signing out with the button below."},
	templates.ConfirmDisable: {"userDisable.title", "Confirm disabling with the button below."},
}

// handleUserDeleteShow is the confirmation step before a deletion, a page
// of its own so that it works without JavaScript.
func (s *Server) handleUserDeleteShow(w http.ResponseWriter, r *http.Request) {
	s.renderUserConfirm(w, r, http.StatusOK, templates.ConfirmDelete, adminBack(r.URL.Query().Get("back")), "")
}

// renderUserConfirm asks the admin to confirm action on the user of the
// path, on a page of its own, so that it works without JavaScript.
func (s *Server) renderUserConfirm(w http.ResponseWriter, r *http.Request, status int, action templates.ConfirmAction, back, msg string) {
	id, err := userID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	target, err := s.users.Authorize(ctx, sessions.User(ctx).ID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	loc := s.locale(r)
	s.render(w, r, status, templates.UserConfirmPage{
		Page:   s.localPage(r, loc, loc.F(confirmSteps[action].title, map[string]any{"Name": target.Name})),
		Action: action,
		Target: target,
		Back:   back,
		Error:  loc.Domain(msg),
	})
}

// confirmedTarget is targetForm for an action that must be confirmed
// (confirm=yes, sent by the confirmation page or the admin page's dialog).
// Without it nothing is done: the confirmation page answers (422), and it
// returns false.
func (s *Server) confirmedTarget(w http.ResponseWriter, r *http.Request, action templates.ConfirmAction) (int64, bool) {
	id, ok := s.targetForm(w, r)
	if ok && r.PostForm.Get("confirm") != "yes" {
		s.renderUserConfirm(w, r, http.StatusUnprocessableEntity, action, adminBack(r.PostForm.Get("back")), confirmSteps[action].again)
		return 0, false
	}
	return id, ok
}

// handleUserDelete deletes a user once confirmed. The user's row is gone:
// the admin comes back to the page they were on, not to a row.
func (s *Server) handleUserDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := s.confirmedTarget(w, r, templates.ConfirmDelete)
	if !ok {
		return
	}
	ctx := r.Context()
	user, err := s.users.Delete(ctx, sessions.User(ctx).ID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.sessions.PutFlash(ctx, s.locale(r).F("flash.deleted", map[string]any{"Name": user.Name, "Email": user.Email}))
	http.Redirect(w, r, adminBack(r.PostForm.Get("back")), http.StatusSeeOther)
}

// handleResetLinkCreate issues a password reset link and shows it to the
// admin once. It is not stored anywhere in clear, so this response is the
// only copy: it is rendered directly, not after a redirect, and not cached
// (withSession).
func (s *Server) handleResetLinkCreate(w http.ResponseWriter, r *http.Request) {
	id, ok := s.targetForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	user, token, err := s.users.IssueResetLink(ctx, sessions.User(ctx).ID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	loc := s.locale(r)
	s.render(w, r, http.StatusOK, templates.ResetLinkPage{
		Page:    s.localPage(r, loc, loc.F("resetLink.title", map[string]any{"Name": user.Name})),
		Target:  user,
		URL:     s.absoluteURL("/reset/" + token),
		Expires: time.Now().Add(aistat.ResetLinkLifetime),
		Back:    rowBack(r.PostForm.Get("back"), id),
	})
}

// absoluteURL is path on this site at its public address (Config.BaseURL).
// The request's Host and X-Forwarded-Host are never used: the client
// chooses them, and a forged one would hand the admin a link to another
// site that carries the token to whoever runs it.
func (s *Server) absoluteURL(path string) string {
	return s.baseURL + path
}
