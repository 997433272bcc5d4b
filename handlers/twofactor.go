package handlers

import (
	"bytes"
	"image/png"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"aistat"
	"aistat/sessions"
	"aistat/templates"
)

// twoFactorPath is the page of the user's second factors.
const twoFactorPath = "/settings/2fa"

// issuer names the site in authenticator apps: its public host.
func (s *Server) issuer() string {
	u, err := url.Parse(s.baseURL)
	if err != nil {
		return "aistat"
	}
	return u.Host
}

// twoFactorPage is the page of the user's second factors as they are now;
// ok false when it has answered with an error.
func (s *Server) twoFactorPage(w http.ResponseWriter, r *http.Request) (templates.TwoFactorPage, bool) {
	ctx := r.Context()
	loc := s.locale(r)
	tf, err := s.users.TwoFactor(ctx, sessions.User(ctx), s.issuer())
	if err != nil {
		s.writeError(w, r, err)
		return templates.TwoFactorPage{}, false
	}
	passkeys, err := s.passkeysSection(ctx, sessions.User(ctx), loc)
	if err != nil {
		s.writeError(w, r, err)
		return templates.TwoFactorPage{}, false
	}
	p := templates.TwoFactorPage{Page: s.localPage(r, loc, loc.T("twofactor.title")), Enabled: tf.TOTPEnabled, RecoveryLeft: tf.RecoveryLeft, Passkeys: passkeys}
	if k := tf.Pending; k != nil {
		// The picture's URL changes with the key, so that no cache ever
		// shows an old key's picture beside a new key's text.
		p.Secret, p.URI, p.QR = k.Secret(), k.URL(), twoFactorPath+"/qr.png?k="+k.Secret()[:8]
	}
	return p, true
}

func (s *Server) handleTwoFactorShow(w http.ResponseWriter, r *http.Request) {
	p, ok := s.twoFactorPage(w, r)
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, p)
}

// handleTwoFactorQR is the QR code of the pending key as a PNG, served by
// the site itself: the Content-Security-Policy refuses data: images.
func (s *Server) handleTwoFactorQR(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tf, err := s.users.TwoFactor(ctx, sessions.User(ctx), s.issuer())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if tf.Pending == nil {
		s.writeError(w, r, aistat.Errorf(aistat.ENOTFOUND, "The authenticator app is already enabled."))
		return
	}
	img, err := tf.Pending.Image(256, 256)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	_, _ = w.Write(b.Bytes())
}

// handleTOTPConfirm enables the authenticator app with its first code and
// shows the new recovery codes, this once: they are in this answer alone.
func (s *Server) handleTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	codes, err := s.users.ConfirmTOTP(ctx, sessions.User(ctx), r.PostForm.Get("code"), sessions.Client(ctx))
	s.showRecoveryCodes(w, r, codes, err, "flash.totpEnabled")
}

// handleRecoveryRenew replaces the recovery codes and shows the new ones,
// this once.
func (s *Server) handleRecoveryRenew(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	codes, err := s.users.RenewRecoveryCodes(ctx, sessions.User(ctx), sessions.Client(ctx))
	s.showRecoveryCodes(w, r, codes, err, "flash.recoveryRenewed")
}

// showRecoveryCodes answers a change that made new recovery codes: the
// page with them and the message msg, or the page with the change's
// refusal err.
func (s *Server) showRecoveryCodes(w http.ResponseWriter, r *http.Request, codes []string, err error, msg string) {
	if err != nil && aistat.ErrorCode(err) != aistat.EINVALID {
		s.writeError(w, r, err)
		return
	}
	p, ok := s.twoFactorPage(w, r)
	if !ok {
		return
	}
	loc := s.locale(r)
	if err != nil {
		p.Errors = loc.DomainFields(aistat.ErrorFields(err))
		s.render(w, r, http.StatusUnprocessableEntity, p)
		return
	}
	p.Flash, p.RecoveryCodes = loc.T(msg), codes
	s.render(w, r, http.StatusOK, p)
}

func (s *Server) handleTOTPDisable(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	if err := s.users.DisableTOTP(ctx, sessions.User(ctx), sessions.Client(ctx)); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.sessions.PutFlash(ctx, s.locale(r).T("flash.totpDisabled"))
	http.Redirect(w, r, twoFactorPath, http.StatusSeeOther)
}

// handleSecondFactorsReset removes a user's second factors, once confirmed,
// for someone who lost them.
func (s *Server) handleSecondFactorsReset(w http.ResponseWriter, r *http.Request) {
	id, ok := s.confirmedTarget(w, r, templates.ConfirmResetFactors)
	if !ok {
		return
	}
	ctx := r.Context()
	if err := s.users.ResetSecondFactors(ctx, sessions.User(ctx).ID, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.sessions.PutFlash(ctx, s.locale(r).T("flash.factorsReset"))
	http.Redirect(w, r, rowBack(r.PostForm.Get("back"), id), http.StatusSeeOther)
}

// loginCodeCookie is the cookie of a sign-in waiting for its second step.
func (s *Server) loginCodeCookie() string {
	if s.secureCookies {
		return "__Host-login_2fa"
	}
	return "login_2fa"
}

// setLoginCodeCookie gives the browser the token of its login challenge,
// or (token "") takes it back.
func (s *Server) setLoginCodeCookie(w http.ResponseWriter, token string) {
	c := &http.Cookie{Name: s.loginCodeCookie(), Value: token, Path: "/", HttpOnly: true,
		Secure: s.secureCookies, SameSite: http.SameSiteLaxMode, MaxAge: int(s.loginCodeLifetime / time.Second)}
	if token == "" {
		c.MaxAge, c.Expires = -1, time.Unix(1, 0)
	}
	http.SetCookie(w, c)
}

// loginChallenge is the request's sign-in waiting for its second step.
func (s *Server) loginChallenge(r *http.Request) (*aistat.LoginChallenge, string, error) {
	c, err := r.Cookie(s.loginCodeCookie())
	if err != nil {
		return nil, "", aistat.Errorf(aistat.ENOTFOUND, "This sign-in has expired. Sign in again.")
	}
	lc, err := s.users.FindLoginChallenge(r.Context(), c.Value)
	return lc, c.Value, err
}

// loginCodePage is the sign-in's second step for the pending user: a code
// field when they have an authenticator app, a button when they have a
// passkey.
func (s *Server) loginCodePage(r *http.Request, lc *aistat.LoginChallenge) (templates.LoginCodePage, error) {
	ctx := r.Context()
	loc := s.locale(r)
	p := templates.LoginCodePage{Page: s.localPage(r, loc, loc.T("loginCode.title")), Code: true}
	if lc == nil {
		return p, nil
	}
	var err error
	if p.Code, err = s.users.HasAuthenticatorApp(ctx, lc.User.ID); err != nil {
		return p, err
	}
	if p.Passkey, err = s.HasPasskey(ctx, lc.User.ID); err != nil {
		return p, err
	}
	// A second factor the page cannot offer (passkeys on a site without
	// them): the code field at least says what is wrong.
	p.Code = p.Code || !p.Passkey
	return p, nil
}

func (s *Server) handleLoginCodeShow(w http.ResponseWriter, r *http.Request) {
	if sessions.User(r.Context()) != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	lc, _, err := s.loginChallenge(r)
	if aistat.ErrorCode(err) == aistat.ENOTFOUND {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	} else if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.loginCodePage(r, lc)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, p)
}

// handleLoginCodeCreate is the sign-in's second step: the right code signs
// in as the password alone would have, with a new session token.
func (s *Server) handleLoginCodeCreate(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	loc := s.locale(r)
	lc, token, err := s.loginChallenge(r)
	if aistat.ErrorCode(err) == aistat.ENOTFOUND {
		p, _ := s.loginCodePage(r, nil)
		p.Error = loc.Domain(aistat.ErrorMessage(err))
		s.render(w, r, http.StatusUnauthorized, p)
		return
	} else if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.loginCodePage(r, lc)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	err = s.users.SignInSecondStep(ctx, lc.User, r.PostForm.Get("code"), s.deviceCookie(r), sessions.Client(ctx))
	switch aistat.ErrorCode(err) {
	case "":
	case aistat.EINVALID:
		p.Errors = loc.DomainFields(aistat.ErrorFields(err))
		status := http.StatusUnauthorized
		if r.PostForm.Get("code") == "" {
			status = http.StatusUnprocessableEntity
		}
		s.render(w, r, status, p)
		return
	case aistat.ETOOMANY:
		p.Error = loc.Domain(aistat.ErrorMessage(err))
		setRetryAfter(w, err)
		s.render(w, r, http.StatusTooManyRequests, p)
		return
	default:
		s.writeError(w, r, err)
		return
	}
	if !s.finishSecondStep(w, r, lc, token) {
		return
	}
	http.Redirect(w, r, localPath(lc.Next), http.StatusSeeOther)
}

// handleLoginPasskeyBegin starts the sign-in's second step with one of the
// pending user's passkeys.
func (s *Server) handleLoginPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	lc, _, err := s.loginChallenge(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.beginPasskeyStep(w, r, lc.User)
}

// handleLoginPasskeyFinish completes the sign-in's second step with the
// passkey's answer, and says where to go next: {"redirect": path}.
func (s *Server) handleLoginPasskeyFinish(w http.ResponseWriter, r *http.Request) {
	lc, token, err := s.loginChallenge(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !s.verifyPasskeyStep(w, r, lc.User) || !s.finishSecondStep(w, r, lc, token) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"redirect": localPath(lc.Next)})
}

// finishSecondStep signs in the user of the login challenge lc (token),
// whose second step was right, as the password alone would have: a new
// session token, the challenge ended, the browser one of the user's
// devices. It reports whether it did; when not it has answered.
func (s *Server) finishSecondStep(w http.ResponseWriter, r *http.Request, lc *aistat.LoginChallenge, token string) bool {
	ctx := r.Context()
	if err := s.users.EndLoginChallenge(ctx, token); err != nil {
		s.writeError(w, r, err)
		return false
	}
	if err := s.sessions.Login(ctx, lc.User, lc.Remember); err != nil {
		s.writeError(w, r, err)
		return false
	}
	s.setLoginCodeCookie(w, "")
	// A failure only costs the device's standing, so it is logged.
	if device, err := s.users.NewDeviceCookie(ctx, lc.User.ID); err != nil {
		s.logger.Error("device cookie after second step", "request_id", requestIDFrom(ctx), "err", err)
	} else {
		s.setDeviceCookie(w, device)
	}
	return true
}
