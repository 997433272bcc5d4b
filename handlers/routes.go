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
	user := func(h http.HandlerFunc) http.Handler { return s.withSession(s.requireUser(h)) }
	staff := func(h http.HandlerFunc) http.Handler {
		return s.withSession(s.requireUser(s.requireRole(h, aistat.RoleAdmin, aistat.RoleEditor)))
	}
	admin := func(h http.HandlerFunc) http.Handler {
		return s.withSession(s.requireUser(s.requireRole(h, aistat.RoleAdmin)))
	}

	r.Handler(http.MethodGet, "/", anyone(s.handleHome))
	r.Handler(http.MethodGet, "/login", anyone(s.handleLoginShow))
	r.Handler(http.MethodPost, "/login", anyone(s.handleLoginCreate))
	r.Handler(http.MethodPost, "/logout", user(s.handleLogout))
	r.Handler(http.MethodPost, "/language", anyone(s.handleLanguageUpdate))

	r.Handler(http.MethodGet, "/settings", user(s.handleSettingsShow))
	r.Handler(http.MethodPost, "/settings", user(s.handleSettingsUpdate))
	r.Handler(http.MethodGet, "/settings/sessions", user(s.handleSessionsShow))
	r.Handler(http.MethodPost, "/settings/sessions/:id", user(s.handleSessionsPost))
	r.Handler(http.MethodPost, "/settings/sessions/:id/name", user(s.handleSessionName))
	r.Handler(http.MethodPost, "/settings/password", user(s.handlePasswordUpdate))
	r.Handler(http.MethodPost, "/settings/avatar", user(s.handleAvatarUpdate))
	r.Handler(http.MethodPost, "/settings/avatar/remove", user(s.handleAvatarRemove))
	r.Handler(http.MethodPost, "/settings/delete", user(s.handleAccountDelete))
	r.Handler(http.MethodPost, "/settings/email", user(s.handleEmailChangeCreate))
	r.Handler(http.MethodGet, "/settings/2fa", user(s.handleTwoFactorShow))
	r.Handler(http.MethodPost, "/settings/2fa/passkeys/begin", user(s.handlePasskeyBegin))
	r.Handler(http.MethodPost, "/settings/2fa/passkeys/finish", user(s.handlePasskeyCreate))
	r.Handler(http.MethodPost, "/settings/2fa/passkeys/remove", user(s.handlePasskeyRemove))
	r.Handler(http.MethodPost, "/login/passkey/begin", anyone(s.handlePasskeySignInBegin))
	r.Handler(http.MethodPost, "/login/passkey/finish", anyone(s.handlePasskeySignIn))

	r.Handler(http.MethodGet, "/api/session", anyone(s.handleSessionShow))
	r.Handler(http.MethodPut, "/api/profile", user(s.handleProfileUpdate))
	r.Handler(http.MethodGet, "/api/events", user(s.handleEvents))

	r.Handler(http.MethodGet, "/admin", staff(s.handleAdminShow))
	r.Handler(http.MethodGet, "/admin/audit", admin(s.handleAuditShow))
	r.Handler(http.MethodPost, "/admin/users", admin(s.handleUserCreate))
	r.Handler(http.MethodPost, "/admin/users/:id/role", admin(s.handleUserRoleUpdate))
	r.Handler(http.MethodPost, "/admin/users/:id/revoke", admin(s.handleUserSessionsRevoke))
	r.Handler(http.MethodPost, "/admin/users/:id/disable", admin(s.handleUserDisable))
	r.Handler(http.MethodPost, "/admin/users/:id/enable", admin(s.handleUserEnable))
	r.Handler(http.MethodGet, "/admin/users/:id/delete", admin(s.handleUserDeleteShow))
	r.Handler(http.MethodPost, "/admin/users/:id/delete", admin(s.handleUserDelete))
	r.Handler(http.MethodPost, "/admin/users/:id/reset", admin(s.handleResetLinkCreate))
	r.Handler(http.MethodGet, "/admin/users/:id/reset", admin(s.handleResetLinkShow))
	r.Handler(http.MethodPost, "/admin/invitations", admin(s.handleInvitationCreate))
	r.Handler(http.MethodPost, "/admin/invitations/:id/resend", admin(s.handleInvitationResend))
	r.Handler(http.MethodPost, "/admin/invitations/:id/withdraw", admin(s.handleInvitationWithdraw))

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
