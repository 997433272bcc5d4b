package handlers

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"aistat"
)

// routes is the whole route table. Every route but the static files and the
// health check runs inside the session middleware; access rules wrap groups
// of routes.
func (s *Server) routes() http.Handler {
	r := router{httprouter.New()}
	r.RedirectTrailingSlash = true
	r.HandleMethodNotAllowed = true

	r.Handler(http.MethodGet, "/static/*file", s.assets)
	r.HandlerFunc(http.MethodGet, "/healthz", s.handleHealth)
	r.HandlerFunc(http.MethodGet, "/avatars/:file", s.handleAvatarShow)

	anyone := s.withSession
	signedIn := s.requireUser
	staffOnly := func(h http.HandlerFunc) http.HandlerFunc {
		return s.requireUser(s.requireSecondFactor(s.requireRole(h, aistat.RoleAdmin, aistat.RoleEditor)))
	}
	adminOnly := func(h http.HandlerFunc) http.HandlerFunc {
		return s.requireUser(s.requireSecondFactor(s.requireRole(h, aistat.RoleAdmin)))
	}
	user := func(h http.HandlerFunc) http.Handler { return s.withSession(signedIn(h)) }
	staff := func(h http.HandlerFunc) http.Handler { return s.withSession(staffOnly(h)) }
	admin := func(h http.HandlerFunc) http.Handler { return s.withSession(adminOnly(h)) }
	// sudo routes want a recent sign-in (reauth.go); /reauth carries on
	// with their forms through the replay routes.
	sudo := func(method, path string, access func(http.HandlerFunc) http.HandlerFunc, h http.HandlerFunc) {
		if method == http.MethodPost {
			s.replay.Handler(method, path, access(h))
		}
		r.Handler(method, path, s.withSession(access(s.requireFresh(h))))
	}

	r.Handler(http.MethodGet, "/", anyone(s.handleHome))
	r.Handler(http.MethodGet, "/login", anyone(s.handleLoginShow))
	r.Handler(http.MethodPost, "/login", anyone(s.handleLoginCreate))
	r.Handler(http.MethodGet, "/login/2fa", anyone(s.handleLoginCodeShow))
	r.Handler(http.MethodPost, "/login/2fa", anyone(s.handleLoginCodeCreate))
	r.Handler(http.MethodPost, "/logout", user(s.handleLogout))
	r.Handler(http.MethodPost, "/language", anyone(s.handleLanguageUpdate))
	r.Handler(http.MethodGet, "/reauth", user(s.handleReauthShow))
	r.Handler(http.MethodPost, "/reauth", user(s.handleReauthCreate))

	r.Handler(http.MethodGet, "/settings", user(s.handleSettingsShow))
	r.Handler(http.MethodPost, "/settings", user(s.handleSettingsUpdate))
	r.Handler(http.MethodGet, "/settings/sessions", user(s.handleSessionsShow))
	r.Handler(http.MethodPost, "/settings/sessions/:id", user(s.handleSessionsPost))
	r.Handler(http.MethodPost, "/settings/sessions/:id/name", user(s.handleSessionName))
	sudo(http.MethodPost, "/settings/password", signedIn, s.handlePasswordUpdate)
	r.Handler(http.MethodPost, "/settings/avatar", user(s.handleAvatarUpdate))
	r.Handler(http.MethodPost, "/settings/avatar/remove", user(s.handleAvatarRemove))
	sudo(http.MethodPost, "/settings/delete", signedIn, s.handleAccountDelete)
	sudo(http.MethodPost, "/settings/email", signedIn, s.handleEmailChangeCreate)
	sudo(http.MethodGet, "/settings/2fa", signedIn, s.handleTwoFactorShow)
	sudo(http.MethodGet, "/settings/2fa/qr.png", signedIn, s.handleTwoFactorQR)
	sudo(http.MethodPost, "/settings/2fa/totp", signedIn, s.handleTOTPConfirm)
	sudo(http.MethodPost, "/settings/2fa/totp/disable", signedIn, s.handleTOTPDisable)
	sudo(http.MethodPost, "/settings/2fa/recovery", signedIn, s.handleRecoveryRenew)
	sudo(http.MethodPost, "/settings/2fa/passkeys/begin", signedIn, s.handlePasskeyBegin)
	sudo(http.MethodPost, "/settings/2fa/passkeys/finish", signedIn, s.handlePasskeyCreate)
	sudo(http.MethodPost, "/settings/2fa/passkeys/remove", signedIn, s.handlePasskeyRemove)
	r.Handler(http.MethodPost, "/login/passkey/begin", anyone(s.handlePasskeySignInBegin))
	r.Handler(http.MethodPost, "/login/passkey/finish", anyone(s.handlePasskeySignIn))
	r.Handler(http.MethodPost, "/login/2fa/passkey/begin", anyone(s.handleLoginPasskeyBegin))
	r.Handler(http.MethodPost, "/login/2fa/passkey/finish", anyone(s.handleLoginPasskeyFinish))

	r.Handler(http.MethodGet, "/api/session", anyone(s.handleSessionShow))
	r.Handler(http.MethodPut, "/api/profile", user(s.handleProfileUpdate))
	r.Handler(http.MethodGet, "/api/events", user(s.handleEvents))

	r.Handler(http.MethodGet, "/admin", staff(s.handleAdminShow))
	r.Handler(http.MethodGet, "/admin/audit", admin(s.handleAuditShow))
	sudo(http.MethodPost, "/admin/users", adminOnly, s.handleUserCreate)
	sudo(http.MethodPost, "/admin/users/:id/role", adminOnly, s.handleUserRoleUpdate)
	sudo(http.MethodPost, "/admin/users/:id/revoke", adminOnly, s.handleUserSessionsRevoke)
	sudo(http.MethodPost, "/admin/users/:id/disable", adminOnly, s.handleUserDisable)
	sudo(http.MethodPost, "/admin/users/:id/enable", adminOnly, s.handleUserEnable)
	r.Handler(http.MethodGet, "/admin/users/:id/delete", admin(s.handleUserDeleteShow))
	sudo(http.MethodPost, "/admin/users/:id/delete", adminOnly, s.handleUserDelete)
	sudo(http.MethodPost, "/admin/users/:id/reset", adminOnly, s.handleResetLinkCreate)
	r.Handler(http.MethodGet, "/admin/users/:id/reset", admin(s.handleResetLinkShow))
	sudo(http.MethodPost, "/admin/users/:id/2fa/reset", adminOnly, s.handleSecondFactorsReset)
	sudo(http.MethodPost, "/admin/invitations", adminOnly, s.handleInvitationCreate)
	sudo(http.MethodPost, "/admin/invitations/:id/resend", adminOnly, s.handleInvitationResend)
	sudo(http.MethodPost, "/admin/invitations/:id/withdraw", adminOnly, s.handleInvitationWithdraw)

	// A reset link works for whoever holds it, signed in or not.
	r.Handler(http.MethodGet, "/reset/:token", anyone(s.handleResetShow))
	r.Handler(http.MethodPost, "/reset/:token", anyone(s.handleResetUpdate))
	// So does a link that confirms a new email address.
	r.Handler(http.MethodGet, "/email/:token", anyone(s.handleEmailConfirmShow))
	r.Handler(http.MethodPost, "/email/:token", anyone(s.handleEmailConfirmUpdate))
	r.Handler(http.MethodGet, "/password/forgot", anyone(s.handleForgotShow))
	r.Handler(http.MethodPost, "/password/forgot", anyone(s.handleForgotCreate))

	r.NotFound = anyone(s.handleNotFound)
	r.MethodNotAllowed = anyone(s.handleMethodNotAllowed)
	r.PanicHandler = s.handlePanic

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(s.handleCrossOrigin))
	return s.clientAddr(s.logRequests(s.secureHeaders(cop.Handler(r))))
}

// router is httprouter's router that also tells each request the pattern of
// the route it matched, so that metrics and logs name routes rather than raw
// paths, whose variety is unbounded. Routes registered through its Handler
// and HandlerFunc are named; the others count as unmatched.
type router struct {
	*httprouter.Router
}

// Handler registers h for method and path.
func (rt router) Handler(method, path string, h http.Handler) {
	rt.Router.Handler(method, path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info := infoFrom(r.Context()); info != nil {
			info.route = path
		}
		h.ServeHTTP(w, r)
	}))
}

// HandlerFunc registers h for method and path.
func (rt router) HandlerFunc(method, path string, h http.HandlerFunc) {
	rt.Handler(method, path, h)
}
