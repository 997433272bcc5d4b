package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"aistat"
	"aistat/sessions"
	"aistat/templates"
)

func (s *Server) handleLoginShow(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if sessions.User(r.Context()) != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	loc := s.locale(r)
	data := templates.LoginPage{Page: s.localPage(r, loc, loc.T("login.title")), Next: next, Passkeys: s.passkeys != nil}
	// Why the person is here: a password reset of their own, or else why
	// they were signed out, as their cookie's ended session tells or the
	// page that sent them here (a live logout, a redirect) says. Only known
	// reasons are shown, so the link cannot carry any text.
	ended := data.Flash
	data.Flash = ""
	switch {
	case r.URL.Query().Get("reset") == "1":
		data.Notice = loc.T("login.resetDone")
	case ended != "":
		data.Notice = ended
	default:
		data.Notice = endMessage(loc, aistat.EndReason(r.URL.Query().Get("signed_out")))
	}
	s.render(w, r, http.StatusOK, data)
}

// handleLoginCreate signs a user in with a new session token and sends them
// where they were going, if that is a page of this site. A disabled account
// that gives its right password gets the form again saying so (403).
func (s *Server) handleLoginCreate(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	email, password := strings.TrimSpace(r.PostForm.Get("email")), r.PostForm.Get("password")
	next := localPath(r.PostForm.Get("next"))
	loc := s.locale(r)
	data := templates.LoginPage{Page: s.localPage(r, loc, loc.T("login.title")), Email: email, Next: next, Passkeys: s.passkeys != nil}
	remember, ok := rememberChoice(r.PostForm)
	if !ok {
		data.Errors = map[string]string{"remember": loc.T("login.rememberInvalid")}
		s.render(w, r, http.StatusUnprocessableEntity, data)
		return
	}
	data.Remember = remember
	if email == "" || password == "" {
		field := "email"
		if email != "" {
			field = "password"
		}
		data.Errors = map[string]string{field: loc.T("login.missing")}
		s.render(w, r, http.StatusUnprocessableEntity, data)
		return
	}
	user, device, err := s.users.SignIn(r.Context(), email, password, s.deviceCookie(r), sessions.Client(r.Context()))
	switch aistat.ErrorCode(err) {
	case aistat.EUNAUTHORIZED:
		// Which of the two was wrong is not told: the message goes with
		// the first.
		data.Errors = map[string]string{"email": loc.Domain(aistat.ErrorMessage(err))}
		s.render(w, r, http.StatusUnauthorized, data)
		return
	case aistat.EFORBIDDEN:
		// Only with the right password: a wrong one is the 401 above, as
		// for any account.
		data.Error = loc.Domain(aistat.ErrorMessage(err))
		s.render(w, r, http.StatusForbidden, data)
		return
	case aistat.ETOOMANY:
		data.Error = loc.Domain(aistat.ErrorMessage(err))
		setRetryAfter(w, err)
		s.render(w, r, http.StatusTooManyRequests, data)
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if user.SecondFactor {
		// No session yet: the browser holds only the token of a sign-in
		// that waits for its second step.
		token, err := s.users.CreateLoginChallenge(r.Context(), user, remember, next, s.loginCodeLifetime)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.setLoginCodeCookie(w, token)
		http.Redirect(w, r, "/login/2fa", http.StatusSeeOther)
		return
	}
	if err := s.sessions.Login(r.Context(), user, remember); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.setDeviceCookie(w, device)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// rememberChoice reads the sign-in form's "Keep me signed in" checkbox:
// ticked sends "yes" (or a browser's "on" for a box without a value), not
// ticked sends nothing. Anything else is not a choice (ok false).
func rememberChoice(form url.Values) (remember, ok bool) {
	if !form.Has("remember") {
		return false, true
	}
	switch form["remember"][0] {
	case "yes", "on":
		return len(form["remember"]) == 1, len(form["remember"]) == 1
	}
	return false, false
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if err := s.sessions.Logout(r.Context()); err != nil {
		s.writeError(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// sessionBody is the answer of GET /api/session.
type sessionBody struct {
	User    localUser `json:"user"`
	Expires string    `json:"expires"`
}

func (s *Server) handleSessionShow(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	user := sessions.User(ctx)
	if user == nil {
		s.writeError(w, r, aistat.Errorf(aistat.EUNAUTHORIZED, "unauthenticated"))
		return
	}
	writeJSON(w, http.StatusOK, sessionBody{User: s.localUser(r, user), Expires: s.sessions.Expiry(ctx).UTC().Format(time.RFC3339)})
}
