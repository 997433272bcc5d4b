package handlers

import (
	"bytes"
	"net/http"

	"aistat"
	"aistat/sessions"
)

// Page is what every page's data embeds: the header and the flash.
type Page struct {
	Title string
	// User is the signed-in user, nil when anonymous.
	User *aistat.User
	// Flash is a one-time success message.
	Flash string
	// Path is the current path, the Sign in link's way back.
	Path string
}

type homePage struct {
	Page
}

type loginPage struct {
	Page
	Email string
	Next  string
	Error string
}

type settingsPage struct {
	Page
	Name      string
	AvatarURL string
	// Errors are field messages keyed by form field name.
	Errors map[string]string
}

type adminPage struct {
	Page
	Users   []aistat.UserSummary
	Roles   []aistat.Role
	CanEdit bool
}

type errorPage struct {
	Page
	Status  int
	Heading string
	Message string
}

// page is the common part of a page for this request. It takes the flash,
// so call it once per rendered page.
func (s *Server) page(r *http.Request, title string) Page {
	ctx := r.Context()
	p := Page{Title: title, User: sessions.User(ctx), Path: r.URL.Path}
	if p.User != nil {
		p.Flash = s.sessions.PopFlash(ctx)
	}
	return p
}

// render executes a page into a buffer first, so a template error becomes a
// clean 500 and never half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := s.templates.Execute(&buf, name, data); err != nil {
		s.logger.Error("render", "page", name, "path", r.URL.Path, "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
