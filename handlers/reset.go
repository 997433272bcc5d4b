package handlers

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"aistat"
	"aistat/sessions"
	"aistat/templates"
)

// handleResetShow shows the form of a usable reset link, or why the link
// cannot be used (404 for one that was never issued, 410 for one that
// expired or was used). Anyone may open it: the link is the credential.
func (s *Server) handleResetShow(w http.ResponseWriter, r *http.Request) {
	token := resetToken(w, r)
	target, invited, err := s.users.ResetUser(r.Context(), token)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.renderReset(w, r, http.StatusOK, token, target, invited, nil)
}

// handleResetUpdate sets the new password, uses the link up and ends every
// session of its user, then sends them to sign in.
func (s *Server) handleResetUpdate(w http.ResponseWriter, r *http.Request) {
	token := resetToken(w, r)
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	target, invited, err := s.users.ResetUser(ctx, token)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	password := r.PostForm.Get("password")
	if password != r.PostForm.Get("password_confirm") {
		s.renderReset(w, r, http.StatusUnprocessableEntity, token, target, invited,
			map[string]string{"password_confirm": "The two passwords do not match."})
		return
	}
	_, err = s.users.ResetPassword(ctx, token, password, sessions.Client(ctx))
	if aistat.ErrorCode(err) == aistat.EINVALID {
		s.renderReset(w, r, http.StatusUnprocessableEntity, token, target, invited,
			map[string]string{"password": aistat.ErrorFields(err)["password"]})
		return
	} else if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Whoever is signed in here as someone else stays signed in, and the
	// sign-in page sends them on: the message goes with them.
	if u := sessions.User(ctx); u != nil && u.ID != target.ID {
		s.sessions.PutFlash(ctx, s.locale(r).F("flash.passwordOf", map[string]any{"Email": target.Email}))
	}
	http.Redirect(w, r, "/login?reset=1", http.StatusSeeOther)
}

func (s *Server) renderReset(w http.ResponseWriter, r *http.Request, status int, token string, target *aistat.User, invited bool, fields map[string]string) {
	loc := s.locale(r)
	title := loc.T("reset.title")
	if invited {
		title = loc.T("reset.inviteTitle")
	}
	p := s.localPage(r, loc, title)
	// The path holds the token: keep it out of the Sign in link.
	p.Path = ""
	s.render(w, r, status, templates.ResetPage{Page: p, Token: token, Target: target, Invited: invited, Errors: fields})
}

// resetToken is the token of a /reset/ path. The page must not hand its
// address, which is a password for an hour, to any other request.
func resetToken(w http.ResponseWriter, r *http.Request) string {
	w.Header().Set("Referrer-Policy", "no-referrer")
	return httprouter.ParamsFromContext(r.Context()).ByName("token")
}
