package handlers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/julienschmidt/httprouter"

	"aistat"
	"aistat/sessions"
	"aistat/templates"
)

// sessionsPath is the sessions and security page, where its forms send the
// user back to.
const sessionsPath = "/settings/sessions"

func (s *Server) handleSessionsShow(w http.ResponseWriter, r *http.Request) {
	s.renderSessions(w, r, http.StatusOK, sessionsForms{})
}

// sessionsForms is what the sessions page's forms show of a refused
// change: the password form's field errors and a message about it as a
// whole, or the device name form of one session with what was typed and
// why it was refused.
type sessionsForms struct {
	passwordFields map[string]string
	passwordError  string
	name           templates.NameForm
}

// renderSessions shows the user's active sessions, their recent security
// events and the password form, with the refused form's messages.
func (s *Server) renderSessions(w http.ResponseWriter, r *http.Request, status int, forms sessionsForms) {
	ctx := r.Context()
	user := sessions.User(ctx)
	list, err := s.users.ActiveSessions(ctx, user.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	events, err := s.users.SecurityEvents(ctx, user.ID, aistat.MaxSecurityEvents)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	loc := s.locale(r)
	s.render(w, r, status, templates.SessionsPage{
		Page:            s.localPage(r, loc, loc.T("sessions.title")),
		Now:             time.Now(),
		Sessions:        templates.NewSessionRows(list, sessions.SessionID(ctx), forms.name),
		Events:          events,
		SessionsCaption: loc.N("sessions.caption", len(list)),
		EventsCaption:   loc.N("sessions.eventsCaption", len(events)),
		Errors:          loc.DomainFields(forms.passwordFields),
		PasswordError:   loc.Domain(forms.passwordError),
	})
}

// handleSessionsPost is POST /settings/sessions/:id for its one fixed
// value, end: httprouter cannot have /settings/sessions/end beside
// /settings/sessions/:id/name, a fixed segment and a parameter at one
// position.
func (s *Server) handleSessionsPost(w http.ResponseWriter, r *http.Request) {
	if httprouter.ParamsFromContext(r.Context()).ByName("id") != "end" {
		s.handleNotFound(w, r)
		return
	}
	if info := infoFrom(r.Context()); info != nil {
		info.route = sessionsPath + "/end"
	}
	s.handleSessionsEnd(w, r)
}

// handleSessionName names the device of one of the user's sessions, or
// forgets its name (an empty name). A name that breaks the rule, or a form
// without exactly one name, shows the page again with the message at that
// session's field (422); a session that is not one of the user's active
// ones is 404. Either way nothing is written.
func (s *Server) handleSessionName(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(httprouter.ParamsFromContext(r.Context()).ByName("id"), 10, 64)
	if err != nil || id <= 0 {
		s.writeError(w, r, aistat.Errorf(aistat.ENOTFOUND, "Session not found."))
		return
	}
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	loc := s.locale(r)
	values := r.PostForm["name"]
	if len(values) != 1 {
		s.renderSessions(w, r, http.StatusUnprocessableEntity, sessionsForms{name: templates.NameForm{
			ID: id, Error: loc.T("sessions.nameMissing"),
		}})
		return
	}
	name, err := s.users.NameSession(ctx, sessions.User(ctx).ID, id, values[0])
	if aistat.ErrorCode(err) == aistat.EINVALID {
		s.renderSessions(w, r, http.StatusUnprocessableEntity, sessionsForms{name: templates.NameForm{
			ID: id, Value: values[0], Error: loc.Domain(aistat.ErrorFields(err)["name"]),
		}})
		return
	} else if err != nil {
		s.writeError(w, r, err)
		return
	}
	msg := "flash.sessionNamed"
	if name == "" {
		msg = "flash.sessionUnnamed"
	}
	s.sessions.PutFlash(ctx, loc.T(msg))
	http.Redirect(w, r, sessionsPath+"#session-"+strconv.FormatInt(id, 10), http.StatusSeeOther)
}

// handleSessionsEnd ends one session of the user, chosen by its id, or all
// but the current one (session=others). Ending the current one signs out.
// An id that is not one of the user's active sessions is 404 and ends
// nothing.
func (s *Server) handleSessionsEnd(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	user, current, client := sessions.User(ctx), sessions.SessionID(ctx), sessions.Client(ctx)
	which := r.PostForm.Get("session")
	if which == "others" {
		n, err := s.users.EndOtherSessions(ctx, user.ID, current, client)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.sessions.PutFlash(ctx, s.locale(r).N("flash.signedOutOthers", int(n)))
		http.Redirect(w, r, sessionsPath, http.StatusSeeOther)
		return
	}
	id, err := strconv.ParseInt(which, 10, 64)
	if err != nil || id <= 0 {
		s.writeError(w, r, aistat.Errorf(aistat.ENOTFOUND, "Session not found."))
		return
	}
	if err := s.users.EndSession(ctx, user.ID, id, client); err != nil {
		s.writeError(w, r, err)
		return
	}
	if id == current {
		// The row is gone already; this expires the cookie too.
		if err := s.sessions.Logout(ctx); err != nil {
			s.writeError(w, r, err)
			return
		}
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.sessions.PutFlash(ctx, s.locale(r).T("flash.sessionEnded"))
	http.Redirect(w, r, sessionsPath, http.StatusSeeOther)
}

// handlePasswordUpdate changes the user's password. On success every other
// session of theirs has ended and this one has a new token; a wrong current
// password or a new one that breaks the rule shows the page again with the
// field errors (422), a throttled attempt with the wait (429).
func (s *Server) handlePasswordUpdate(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	n, err := s.users.ChangePassword(ctx, sessions.User(ctx).ID, sessions.SessionID(ctx),
		r.PostForm.Get("current_password"), r.PostForm.Get("new_password"), sessions.Client(ctx))
	switch aistat.ErrorCode(err) {
	case "":
	case aistat.EINVALID:
		s.renderSessions(w, r, http.StatusUnprocessableEntity, sessionsForms{passwordFields: aistat.ErrorFields(err)})
		return
	case aistat.ETOOMANY:
		setRetryAfter(w, err)
		s.renderSessions(w, r, http.StatusTooManyRequests, sessionsForms{passwordError: aistat.ErrorMessage(err)})
		return
	default:
		s.writeError(w, r, err)
		return
	}
	if err := s.sessions.Renew(ctx); err != nil {
		s.writeError(w, r, err)
		return
	}
	// The change made every device cookie of the account worthless; this
	// browser keeps its standing. The password is changed either way, so a
	// failure here is only logged.
	if device, err := s.users.NewDeviceCookie(ctx, sessions.User(ctx).ID); err != nil {
		s.logger.Error("device cookie after password change", "request_id", requestIDFrom(ctx), "err", err)
	} else {
		s.setDeviceCookie(w, device)
	}
	msg := "flash.passwordChanged"
	if n > 0 {
		msg = "flash.passwordChangedOthers"
	}
	s.sessions.PutFlash(ctx, s.locale(r).T(msg))
	http.Redirect(w, r, sessionsPath, http.StatusSeeOther)
}
