package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"aistat"
	"aistat/sessions"
)

// contentSecurityPolicy allows no inline script or style; avatars come from
// the site itself or from any https host, never in the clear.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' https:; script-src 'self'; " +
	"style-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// secureHeaders sets the security headers every response carries.
func (s *Server) secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		// Nothing is stored by caches unless its handler says so, as the
		// static files do: answers refused before the session middleware
		// (cross-origin requests) may name the user too.
		h.Set("Cache-Control", "no-store")
		if s.secureCookies {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// withSession loads the request's session and user. Everything behind it
// may show personal data, so nothing of it is cached.
func (s *Server) withSession(next http.HandlerFunc) http.Handler {
	loaded := s.sessions.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		loaded.ServeHTTP(w, r)
	})
}

// requireUser lets only signed-in users through. Anonymous page views are
// sent to sign in and come back afterwards; anything else gets 401.
func (s *Server) requireUser(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if sessions.User(r.Context()) != nil {
			next(w, r)
			return
		}
		reason := sessions.EndReason(r.Context())
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !wantsJSON(r) {
			target := "/login?next=" + url.QueryEscape(localPath(r.URL.RequestURI()))
			if reason.Message() != "" {
				target += "&signed_out=" + url.QueryEscape(string(reason))
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		s.writeError(w, r, aistat.Errorf(aistat.EUNAUTHORIZED, "Please sign in to continue."))
	}
}

// requireSecondFactor sends an admin without a second factor to set one up
// before any admin page opens, when the site's policy says so. It runs
// after requireUser; the user's second_factor came with the session.
func (s *Server) requireSecondFactor(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if u := sessions.User(ctx); !s.requireFactor || !u.IsAdmin() || u.SecondFactor {
			next(w, r)
			return
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			s.sessions.PutFlash(ctx, s.locale(r).T("flash.factorRequired"))
			http.Redirect(w, r, twoFactorPath, http.StatusSeeOther)
			return
		}
		s.writeError(w, r, aistat.Errorf(aistat.EFORBIDDEN, "Set up a second factor before you use the admin pages."))
	}
}

// requireRole lets through only users whose current role is one of roles.
// It runs after requireUser.
func (s *Server) requireRole(next http.HandlerFunc, roles ...aistat.Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(roles, sessions.User(r.Context()).Role) {
			s.writeError(w, r, aistat.Errorf(aistat.EFORBIDDEN, "You do not have access to this page."))
			return
		}
		next(w, r)
	}
}

// statusRecorder remembers the status and size of a response for the access
// log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (rec *statusRecorder) WriteHeader(status int) {
	if rec.status == 0 {
		rec.status = status
	}
	rec.ResponseWriter.WriteHeader(status)
}

func (rec *statusRecorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	n, err := rec.ResponseWriter.Write(b)
	rec.bytes += n
	return n, err
}

func (rec *statusRecorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// logRequests writes one access-log line per request, tagged with a request
// id that is also sent back in X-Request-Id and that every other log line of
// the request carries, and counts the request in the metrics. It also starts
// the request's database deadline.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID()
		w.Header().Set("X-Request-Id", id)
		rec := &statusRecorder{ResponseWriter: w}
		r, info, finish := track(r, id, s.databaseDeadline)
		defer finish()
		next.ServeHTTP(rec, r)
		elapsed := time.Since(start)
		s.requests.observe(r.Method, routeLabel(r.Context()), rec.status, elapsed)
		s.logger.Info("request",
			"request_id", id,
			"method", r.Method,
			"path", logPath(r.URL.Path),
			"route", info.route,
			"status", rec.status,
			"bytes", rec.bytes,
			"duration_ms", float64(elapsed.Microseconds())/1000,
			"remote_addr", r.RemoteAddr,
		)
	})
}

func requestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// maxLocalPath bounds a redirect target taken from a request, so that a
// long one is neither reflected into a page nor into a Location header.
const maxLocalPath = 2048

// localPath returns next when it is a path on this site and "/" otherwise,
// so a sign-in link can never send anyone to another site. Control
// characters are refused too: a Location header must not carry them.
func localPath(next string) string {
	if next == "" || next[0] != '/' || len(next) > maxLocalPath || strings.HasPrefix(next, "//") ||
		strings.ContainsRune(next, '\\') || strings.IndexFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}

// clientAddr makes r.RemoteAddr the client's address: the connection's
// peer, or, when that peer is a trusted proxy, the nearest address in
// X-Forwarded-For that is not one.
func (s *Server) clientAddr(next http.Handler) http.Handler {
	if len(s.proxies) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !s.trusted(addr.Addr()) {
			next.ServeHTTP(w, r)
			return
		}
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			if !s.trusted(hop) {
				r2 := r.Clone(r.Context())
				r2.RemoteAddr = netip.AddrPortFrom(hop, 0).String()
				next.ServeHTTP(w, r2)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
