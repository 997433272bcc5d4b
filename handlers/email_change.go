package handlers

import (
	"net/http"
	"strings"

	"aistat"
	"aistat/sessions"
	"aistat/templates"
)

// handleEmailChangeCreate mails a link to confirm a new email address,
// once the current password is checked; the address stays until the link
// is used. A broken rule or a wrong password (422), an address in use
// (409) or the throttle (429) shows the settings page again.
func (s *Server) handleEmailChangeCreate(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	user := sessions.User(ctx)
	email := r.PostForm.Get("email")
	err := s.users.RequestEmailChange(ctx, user.ID, email, r.PostForm.Get("password"), sessions.Client(ctx))
	loc := s.locale(r)
	var status int
	var fields map[string]string
	switch aistat.ErrorCode(err) {
	case "":
		s.sessions.PutFlash(ctx, loc.F("email.sent", map[string]any{"Email": strings.TrimSpace(email)}))
		http.Redirect(w, r, "/settings", http.StatusSeeOther)
		return
	case aistat.EINVALID:
		status, fields = http.StatusUnprocessableEntity, loc.DomainFields(aistat.ErrorFields(err))
	case aistat.ECONFLICT:
		status, fields = http.StatusConflict, map[string]string{"email": loc.Domain(aistat.ErrorMessage(err))}
	case aistat.ETOOMANY:
		setRetryAfter(w, err)
		status, fields = http.StatusTooManyRequests, map[string]string{"password": loc.Domain(aistat.ErrorMessage(err))}
	default:
		s.writeError(w, r, err)
		return
	}
	page := s.settingsPage(r, user)
	page.EmailChange = templates.EmailChangeForm{Email: strings.ToValidUTF8(email, "\uFFFD"), Errors: fields}
	s.render(w, r, status, page)
}

// handleEmailConfirmShow shows what a confirmation link would change. It
// changes nothing itself: mail scanners open links, and only a person
// presses the button.
func (s *Server) handleEmailConfirmShow(w http.ResponseWriter, r *http.Request) {
	token := resetToken(w, r)
	target, newEmail, err := s.users.EmailChange(r.Context(), token)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.renderEmailConfirm(w, r, http.StatusOK, templates.EmailConfirmPage{Token: token, Target: target, NewEmail: newEmail})
}

// handleEmailConfirmUpdate makes the link's address the account's.
func (s *Server) handleEmailConfirmUpdate(w http.ResponseWriter, r *http.Request) {
	token := resetToken(w, r)
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	target, newEmail, err := s.users.EmailChange(ctx, token)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	user, err := s.users.ConfirmEmailChange(ctx, token, sessions.Client(ctx))
	if aistat.ErrorCode(err) == aistat.ECONFLICT {
		s.renderEmailConfirm(w, r, http.StatusConflict, templates.EmailConfirmPage{Token: token, Target: target, NewEmail: newEmail,
			Error: s.locale(r).Domain(aistat.ErrorMessage(err))})
		return
	} else if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.renderEmailConfirm(w, r, http.StatusOK, templates.EmailConfirmPage{Target: user, NewEmail: user.Email, Done: true})
}

func (s *Server) renderEmailConfirm(w http.ResponseWriter, r *http.Request, status int, p templates.EmailConfirmPage) {
	loc := s.locale(r)
	p.Page = s.localPage(r, loc, loc.T("emailConfirm.title"))
	// The path holds the token: keep it out of the Sign in link.
	p.Page.Path = ""
	s.render(w, r, status, p)
}
