package handlers

import (
	"net/http"
	"time"

	"aistat"
)

// deviceCookieName is the device cookie's name: __Host- with secure
// cookies, so that no subdomain or plain-HTTP page can plant one.
func (s *Server) deviceCookieName() string {
	if s.secureCookies {
		return "__Host-device"
	}
	return "device"
}

// deviceCookie is the value of the request's device cookie, "" when none.
func (s *Server) deviceCookie(r *http.Request) string {
	c, err := r.Cookie(s.deviceCookieName())
	if err != nil {
		return ""
	}
	return c.Value
}

// setDeviceCookie gives the browser that just signed in its device cookie
// for the account (see aistat.SignIn). It is not a session: it signs no one
// in, and only lets this browser's attempts on that account be counted
// apart from the other clients of its address.
func (s *Server) setDeviceCookie(w http.ResponseWriter, value string) {
	if value == "" {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     s.deviceCookieName(),
		Value:    value,
		Path:     "/",
		MaxAge:   int(aistat.DeviceCookieLifetime / time.Second),
		HttpOnly: true,
		Secure:   s.secureCookies,
		SameSite: http.SameSiteLaxMode,
	})
}
