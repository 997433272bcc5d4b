package handlers

import (
	"net/http"
	"net/url"
	"strconv"
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
	templates.ConfirmDelete:       {"userDelete.title", "Confirm the deletion with the button below."},
	templates.ConfirmRevoke:       {"userRevoke.title", "Confirm signing out with the button below."},
	templates.ConfirmDisable:      {"userDisable.title", "Confirm disabling with the button below."},
	templates.ConfirmResetFactors: {"userFactors.title", "Confirm the reset of the second factors with the button below."},
}

// handleUserDeleteShow is the confirmation step before a deletion, a page
// of its own so that it works without JavaScript.
func (s *Server) handleUserDeleteShow(w http.ResponseWriter, r *http.Request) {
	s.renderUserConfirm(w, r, http.StatusOK, templates.ConfirmDelete, adminBack(r.URL.Query().Get("back")), "")
}

// renderUserConfirm asks the admin to confirm action on the user of the
// path, on a page of its own, so that it works without JavaScript.
func (s *Server) renderUserConfirm(w http.ResponseWriter, r *http.Request, status int, action templates.ConfirmAction, back, msg string) {
	target, ok := s.pageTarget(w, r)
	if !ok {
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

// pageTarget is the user the :id of an admin's page about them names, as
// long as the admin may act on them; when not, it has answered, and
// returns false.
func (s *Server) pageTarget(w http.ResponseWriter, r *http.Request) (*aistat.User, bool) {
	id, err := userID(r)
	if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	ctx := r.Context()
	target, err := s.users.Authorize(ctx, sessions.User(ctx).ID, id)
	if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	return target, true
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

// handleResetLinkCreate issues a password reset link and sends the admin
// to its page (Post, Redirect, Get). The link is stored nowhere in clear:
// the admin's session keeps it until that page shows it, once, so that
// reloading the page cannot issue another link and end the one just copied.
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
	s.sessions.PutResetLink(ctx, shownLink{userID: user.ID, expires: time.Now().Add(aistat.ResetLinkLifetime), token: token}.String())
	http.Redirect(w, r, resetLinkPath(user.ID, adminBack(r.PostForm.Get("back"))), http.StatusSeeOther)
}

// resetLinkPath is the page of the reset link of user id, with the admin
// page to go back to.
func resetLinkPath(id int64, back string) string {
	return "/admin/users/" + strconv.FormatInt(id, 10) + "/reset?" + url.Values{"back": {back}}.Encode()
}

// handleResetLinkShow shows the reset link the admin just issued for the
// user, the one time it is shown; after that (a reload, the Back button)
// it says the link was shown already and offers to issue a new one.
func (s *Server) handleResetLinkShow(w http.ResponseWriter, r *http.Request) {
	target, ok := s.pageTarget(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	// The page's address names where its link goes: keep it from any
	// other site.
	w.Header().Set("Referrer-Policy", "no-referrer")
	loc := s.locale(r)
	page := templates.ResetLinkPage{
		Page:   s.localPage(r, loc, loc.F("resetLink.title", map[string]any{"Name": target.Name})),
		Target: target,
		Back:   adminBack(r.URL.Query().Get("back")),
	}
	// A link of another user stays for its own page.
	if link, ok := parseShownLink(s.sessions.ResetLink(ctx)); ok && link.userID == target.ID {
		s.sessions.ForgetResetLink(ctx)
		page.URL, page.Expires = s.absoluteURL("/reset/"+link.token), link.expires
	}
	s.render(w, r, http.StatusOK, page)
}

// shownLink is a reset link as the admin's session keeps it until its page
// shows it.
type shownLink struct {
	userID  int64
	expires time.Time
	token   string
}

// String is the link as the session keeps it: the user's id, the expiry
// (Unix seconds) and the token, which is base64url, split by spaces.
func (l shownLink) String() string {
	return strconv.FormatInt(l.userID, 10) + " " + strconv.FormatInt(l.expires.Unix(), 10) + " " + l.token
}

// parseShownLink reads what shownLink.String wrote; false for anything
// else, "" included.
func parseShownLink(s string) (shownLink, bool) {
	parts := strings.Fields(s)
	if len(parts) != 3 {
		return shownLink{}, false
	}
	id, err1 := strconv.ParseInt(parts[0], 10, 64)
	expires, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		return shownLink{}, false
	}
	return shownLink{userID: id, expires: time.Unix(expires, 0), token: parts[2]}, true
}

// absoluteURL is path on this site at its public address (Config.BaseURL).
// The request's Host and X-Forwarded-Host are never used: the client
// chooses them, and a forged one would hand the admin a link to another
// site that carries the token to whoever runs it.
func (s *Server) absoluteURL(path string) string {
	return s.baseURL + path
}
