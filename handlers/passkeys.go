package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"aistat"
	"aistat/sessions"
	"aistat/templates"
)

// errNoPasskeys answers a passkey request on a site whose address cannot
// have them.
var errNoPasskeys = aistat.Errorf(aistat.ENOTFOUND, "Passkeys are not available on this site's address.")

// passkeysSection is the passkeys part of the two-step page.
func (s *Server) passkeysSection(ctx context.Context, user *aistat.User, loc localizer) (templates.PasskeysSection, error) {
	sec := templates.PasskeysSection{Available: s.passkeys != nil, Now: time.Now(), Zone: s.zone(user)}
	if s.passkeys == nil {
		return sec, nil
	}
	list, err := s.passkeys.Passkeys(ctx, user.ID)
	if err != nil {
		return sec, err
	}
	sec.Passkeys, sec.Caption = list, loc.N("passkeys.caption", len(list))
	return sec, nil
}

// localizer is what passkeysSection needs of the reader's language.
type localizer interface {
	N(key string, n int) string
}

// decodeCredentialBody reads a JSON object that carries a passkey's
// answer as the object "credential", whose other members are among
// required and optional (decodeObject), every required one present. It
// returns the members and the answer.
func decodeCredentialBody(w http.ResponseWriter, r *http.Request, required, optional []string) (map[string]json.RawMessage, []byte, error) {
	required = append([]string{"credential"}, required...)
	raw, err := decodeObject(w, r, required, optional)
	if err != nil {
		return nil, nil, err
	}
	if err := missingFields(required, func(key string) bool { _, ok := raw[key]; return ok }); err != nil {
		return nil, nil, err
	}
	credential, err := jsonObject(raw["credential"], "credential")
	if err != nil {
		return nil, nil, err
	}
	return raw, credential, nil
}

// jsonString is a member that must be a string.
func jsonString(raw json.RawMessage, field string) (string, error) {
	// encoding/json would quietly replace invalid UTF-8 with U+FFFD.
	if !utf8.Valid(raw) {
		return "", badRequest(http.StatusBadRequest, fmt.Sprintf("Field %q must be valid UTF-8.", field))
	}
	var v string
	if string(raw) == "null" || json.Unmarshal(raw, &v) != nil {
		return "", badRequest(http.StatusBadRequest, fmt.Sprintf("Field %q must be a string.", field))
	}
	return v, nil
}

// jsonObject is a member that must be a JSON object, such as a passkey's
// answer, which the domain reads.
func jsonObject(raw json.RawMessage, field string) ([]byte, error) {
	var v map[string]json.RawMessage
	if json.Unmarshal(raw, &v) != nil || v == nil {
		return nil, badRequest(http.StatusBadRequest, fmt.Sprintf("Field %q must be an object.", field))
	}
	return raw, nil
}

// writeOptions answers the beginning of a ceremony: the options for
// navigator.credentials, as the library writes them ({"publicKey": …}),
// or the error that kept them from being made.
func (s *Server) writeOptions(w http.ResponseWriter, r *http.Request, options json.RawMessage, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(options, '\n'))
}

// handlePasskeyBegin starts adding a passkey: JSON {"name": "..."}, whose
// name is checked before any challenge is issued, so that the browser
// never creates a passkey the site then refuses for its name.
func (s *Server) handlePasskeyBegin(w http.ResponseWriter, r *http.Request) {
	if s.passkeys == nil {
		s.writeError(w, r, errNoPasskeys)
		return
	}
	body, err := decodeStrings(w, r, "name")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := aistat.CheckPasskeyName(body["name"]); err != nil {
		s.writeError(w, r, err)
		return
	}
	options, err := s.passkeys.BeginRegistration(r.Context(), sessions.User(r.Context()))
	s.writeOptions(w, r, options, err)
}

// passkeyBody is a passkey as the JSON API shows it.
type passkeyBody struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// handlePasskeyCreate adds the passkey of the browser's answer: JSON
// {"name": "...", "credential": {...}} → 201 {"passkey": {...}}, and the
// page the script reloads says so.
func (s *Server) handlePasskeyCreate(w http.ResponseWriter, r *http.Request) {
	if s.passkeys == nil {
		s.writeError(w, r, errNoPasskeys)
		return
	}
	raw, credential, err := decodeCredentialBody(w, r, []string{"name"}, nil)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	name, err := jsonString(raw["name"], "name")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	pk, err := s.passkeys.FinishRegistration(ctx, sessions.User(ctx), name, credential, sessions.Client(ctx))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.sessions.PutFlash(ctx, s.locale(r).T("passkeys.added"))
	writeJSON(w, http.StatusCreated, struct {
		Passkey passkeyBody `json:"passkey"`
	}{passkeyBody{ID: pk.ID, Name: pk.Name}})
}

// handlePasskeyRemove removes one of the user's passkeys: form field id.
// An id that is not a number is 422 naming it; another user's passkey, or
// none, 404.
func (s *Server) handlePasskeyRemove(w http.ResponseWriter, r *http.Request) {
	if s.passkeys == nil {
		s.writeError(w, r, errNoPasskeys)
		return
	}
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ids := r.PostForm["id"]
	id, err := strconv.ParseInt(strings.TrimSpace(strings.Join(ids, "")), 10, 64)
	if len(ids) != 1 || err != nil || id <= 0 {
		s.writeError(w, r, invalidField("id", "Choose one passkey to remove."))
		return
	}
	ctx := r.Context()
	if err := s.passkeys.Remove(ctx, sessions.User(ctx).ID, id, sessions.Client(ctx)); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.sessions.PutFlash(ctx, s.locale(r).T("passkeys.removed"))
	http.Redirect(w, r, twoFactorPath, http.StatusSeeOther)
}

func (s *Server) handlePasskeySignInBegin(w http.ResponseWriter, r *http.Request) {
	if s.passkeys == nil {
		s.writeError(w, r, errNoPasskeys)
		return
	}
	options, err := s.passkeys.BeginSignIn(r.Context())
	s.writeOptions(w, r, options, err)
}

// redirectBody tells the script where to go once it signed in.
type redirectBody struct {
	Redirect string `json:"redirect"`
}

// handlePasskeySignIn signs in with a passkey alone, as the password form
// does (handleLoginCreate): JSON {"credential": {...}, "next": "/path",
// "remember": true}, next and remember optional → 200 {"redirect": next}
// with a new session token and device cookie. A refused passkey is 401, a
// disabled passkey or account 403, a throttled account 429, a challenge
// that expired or was used 422 naming credential.
func (s *Server) handlePasskeySignIn(w http.ResponseWriter, r *http.Request) {
	if s.passkeys == nil {
		s.writeError(w, r, errNoPasskeys)
		return
	}
	raw, credential, err := decodeCredentialBody(w, r, nil, []string{"next", "remember"})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	next := "/"
	if v, ok := raw["next"]; ok {
		if next, err = jsonString(v, "next"); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	var remember bool
	if v, ok := raw["remember"]; ok && json.Unmarshal(v, &remember) != nil {
		s.writeError(w, r, badRequest(http.StatusBadRequest, `Field "remember" must be true or false.`))
		return
	}
	ctx := r.Context()
	user, device, err := s.passkeys.SignIn(ctx, credential, s.deviceCookie(r), sessions.Client(ctx))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.sessions.Login(ctx, user, remember); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.setDeviceCookie(w, device)
	writeJSON(w, http.StatusOK, redirectBody{Redirect: localPath(next)})
}

// HasPasskey reports whether the user has a passkey that can be used: one
// of the second factors the two-step policy counts. A site whose address
// cannot have passkeys has none.
func (s *Server) HasPasskey(ctx context.Context, userID int64) (bool, error) {
	if s.passkeys == nil {
		return false, nil
	}
	return s.passkeys.HasPasskey(ctx, userID)
}

// beginPasskeyStep answers the start of a second step with a passkey for
// user, whose password was right but who is not signed in yet: the
// options for navigator.credentials.get, listing the user's passkeys. The
// handler of the pending sign-in calls it with the pending user.
func (s *Server) beginPasskeyStep(w http.ResponseWriter, r *http.Request, user *aistat.User) {
	if s.passkeys == nil {
		s.writeError(w, r, errNoPasskeys)
		return
	}
	options, err := s.passkeys.BeginStep(r.Context(), user)
	s.writeOptions(w, r, options, err)
}

// verifyPasskeyStep checks the answer to beginPasskeyStep's challenge:
// JSON {"credential": {...}}. It reports whether the passkey is one of
// user's and verified; when not it has answered the request (the error
// writer's 4xx). The caller then signs user in as after any second step.
func (s *Server) verifyPasskeyStep(w http.ResponseWriter, r *http.Request, user *aistat.User) bool {
	if s.passkeys == nil {
		s.writeError(w, r, errNoPasskeys)
		return false
	}
	_, credential, err := decodeCredentialBody(w, r, nil, nil)
	if err != nil {
		s.writeError(w, r, err)
		return false
	}
	if err := s.passkeys.VerifyStep(r.Context(), user, credential, sessions.Client(r.Context())); err != nil {
		s.writeError(w, r, err)
		return false
	}
	return true
}
