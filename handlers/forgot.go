package handlers

import (
	"net/http"

	"aistat"
	"aistat/sessions"
	"aistat/templates"
)

// handleForgotShow asks for the email to mail a reset link to.
func (s *Server) handleForgotShow(w http.ResponseWriter, r *http.Request) {
	loc := s.locale(r)
	s.render(w, r, http.StatusOK, templates.ForgotPage{Page: s.localPage(r, loc, loc.T("forgot.title"))})
}

// handleForgotCreate mails a reset link to the account of the email typed,
// if there is one, and answers the same page either way: the same status,
// the same body and the same work, so that nothing tells whether the email
// has an account. Only a malformed email (422) and the client address's
// throttle (429) answer otherwise, and neither depends on any account.
func (s *Server) handleForgotCreate(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	loc := s.locale(r)
	data := templates.ForgotPage{Page: s.localPage(r, loc, loc.T("forgot.title"))}
	email := r.PostForm.Get("email")
	err := s.users.RequestPasswordReset(r.Context(), email, sessions.Client(r.Context()))
	switch aistat.ErrorCode(err) {
	case "":
		data.Sent = true
		s.render(w, r, http.StatusOK, data)
	case aistat.EINVALID:
		data.Email, data.Errors = email, loc.DomainFields(aistat.ErrorFields(err))
		s.render(w, r, http.StatusUnprocessableEntity, data)
	case aistat.ETOOMANY:
		data.Error = loc.Domain(aistat.ErrorMessage(err))
		setRetryAfter(w, err)
		s.render(w, r, http.StatusTooManyRequests, data)
	default:
		s.writeError(w, r, err)
	}
}
