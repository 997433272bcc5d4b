package handlers

import (
	"net/http"
	"net/url"
	"time"

	"aistat"
	"aistat/sessions"
	"aistat/templates"
)

// Re-authentication ("sudo mode"): a dangerous action wants a sign-in or a
// password given again within the last reauthWindow. Without one, a page
// (GET) is sent to /reauth and comes back once it is done; a posted form is
// answered with the /reauth form itself, which carries the posted fields
// along in a hidden field, and once the password is right the original
// form's handler runs in that same request with those fields. Nothing of
// the form is stored on the server, and the action runs once, after the
// check, exactly as posted: the replay routes hold the handlers of the
// guarded forms, behind their access rules but not the freshness check.

// requireFresh lets through only a request whose user proved who they are
// within the last reauthWindow. It runs after requireUser.
func (s *Server) requireFresh(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if time.Since(s.sessions.AuthenticatedAt(ctx)) < s.reauthWindow {
			next(w, r)
			return
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			http.Redirect(w, r, "/reauth?next="+url.QueryEscape(localPath(r.URL.RequestURI())), http.StatusSeeOther)
			return
		}
		if err := parseForm(w, r); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.renderReauth(w, r, http.StatusUnauthorized, localPath(r.URL.Path), r.PostForm.Encode(), nil, true)
	}
}

// renderReauth shows the form that asks for the password again, before
// going on to next (with form, the fields posted there).
func (s *Server) renderReauth(w http.ResponseWriter, r *http.Request, status int, next, form string, err error, replay bool) {
	loc := s.locale(r)
	// Only an authenticator app's code is asked for: a user whose second
	// factors are passkeys alone gives the password.
	needCode := false
	if u := sessions.User(r.Context()); u.SecondFactor {
		has, err := s.users.HasAuthenticatorApp(r.Context(), u.ID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		needCode = has
	}
	p := templates.ReauthPage{
		Page:     s.localPage(r, loc, loc.T("reauth.title")),
		Next:     next,
		Form:     form,
		Replay:   replay,
		NeedCode: needCode,
	}
	switch aistat.ErrorCode(err) {
	case aistat.EINVALID:
		p.Errors = loc.DomainFields(aistat.ErrorFields(err))
	case aistat.ETOOMANY:
		p.Error = loc.Domain(aistat.ErrorMessage(err))
		setRetryAfter(w, err)
	}
	s.render(w, r, status, p)
}

func (s *Server) handleReauthShow(w http.ResponseWriter, r *http.Request) {
	s.renderReauth(w, r, http.StatusOK, localPath(r.URL.Query().Get("next")), "", nil, false)
}

// handleReauthCreate checks the password (and a second factor's code) and
// carries on with the request that asked for it.
func (s *Server) handleReauthCreate(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	next, form, replay := localPath(r.PostForm.Get("next")), r.PostForm.Get("form"), r.PostForm.Get("replay") == "yes"
	values, err := url.ParseQuery(form)
	if err != nil {
		s.writeError(w, r, aistat.Errorf(aistat.EINVALID, "The form to carry on with is not readable: send it again."))
		return
	}
	err = s.users.Reauthenticate(ctx, sessions.User(ctx), r.PostForm.Get("password"), r.PostForm.Get("code"), sessions.Client(ctx))
	switch aistat.ErrorCode(err) {
	case "":
	case aistat.EINVALID:
		s.renderReauth(w, r, http.StatusUnprocessableEntity, next, form, err, replay)
		return
	case aistat.ETOOMANY:
		s.renderReauth(w, r, http.StatusTooManyRequests, next, form, err, replay)
		return
	default:
		s.writeError(w, r, err)
		return
	}
	s.sessions.MarkAuthenticated(ctx)
	target, _ := url.Parse(next)
	h, params, _ := s.replay.Lookup(http.MethodPost, target.Path)
	if !replay || h == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	replayed := r.Clone(ctx)
	replayed.URL, replayed.RequestURI = target, next
	replayed.Body, replayed.ContentLength = http.NoBody, 0
	replayed.Form, replayed.PostForm = values, values
	h(w, replayed, params)
}
