package handlers

import (
	"net/http"
	"time"

	"aistat"
	"aistat/internal/i18n"
	"aistat/sessions"
)

// langCookie holds a visitor's choice from the language switch. It is no
// secret and no session: a plain cookie that works signed out.
const langCookie = "lang"

// langCookieAge is how long a browser keeps the choice.
const langCookieAge = 365 * 24 * time.Hour

// locale is the request's language: the signed-in user's choice, else the
// language switch's cookie, else the browser's Accept-Language, else the
// site's default. The user comes with the session's one query, so the
// choice costs no round trip.
func (s *Server) locale(r *http.Request) *i18n.Localizer {
	return s.localeFor(r, sessions.User(r.Context()))
}

// localeFor is the request's language as it is for u (nil: anonymous), such
// as the user just saved by the request.
func (s *Server) localeFor(r *http.Request, u *aistat.User) *i18n.Localizer {
	// The profile's choice first, which needs no parsing of the request.
	if u != nil && u.Locale != "" {
		if l := s.catalogue.Localizer(u.Locale); l != nil {
			return l
		}
	}
	var cookie string
	if c, err := r.Cookie(langCookie); err == nil {
		cookie = c.Value
	}
	return s.catalogue.Localizer(s.catalogue.Choose("", cookie, r.Header.Get("Accept-Language"), s.defaultLocale))
}

// handleLanguageUpdate is the language switch of every page, a plain form:
// it keeps the choice in a cookie, and for a signed-in user in the profile
// too, since the profile's choice comes first; then 303 back to next.
func (s *Server) handleLanguageUpdate(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	locale, ok := aistat.ParseLocale(r.PostForm.Get("locale"))
	if !ok {
		s.writeError(w, r, invalidField("locale", aistat.LocaleRule))
		return
	}
	ctx := r.Context()
	if u := sessions.User(ctx); u != nil {
		if err := s.users.SetLocale(ctx, u.ID, locale); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name:     langCookie,
		Value:    string(locale),
		Path:     "/",
		MaxAge:   int(langCookieAge / time.Second),
		HttpOnly: true,
		Secure:   s.secureCookies,
		SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, localPath(r.PostForm.Get("next")), http.StatusSeeOther)
}

// localUser is a user's JSON form for the request's reader: the role named
// in their language.
type localUser struct {
	user      *aistat.User
	roleLabel string
}

func (u localUser) MarshalJSON() ([]byte, error) { return u.user.JSONIn(u.roleLabel) }

// localUser is u as the API shows it to the reader of r, who may be u
// with a language just chosen.
func (s *Server) localUser(r *http.Request, u *aistat.User) localUser {
	return localUser{user: u, roleLabel: s.localeFor(r, u).Role(u.Role)}
}
