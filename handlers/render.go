package handlers

import (
	"net/http"

	"aistat"
	"aistat/sessions"
	"aistat/templates"
)

// Page is what every page's data embeds: the header and the flash.
type Page struct {
	Title string
	// User is the signed-in user, nil when anonymous.
	User *templates.Account
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
	// Notice says why the person is here, such as a password just reset.
	Notice string
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
	Rows    []templates.AdminRow
	CanEdit bool
	// Private shows what only admins see: emails, active sessions, last
	// activity and the audit log. Without it the page is the directory.
	Private bool
	// Search is the term the list is filtered by; Caption names the list.
	Search  string
	Caption string
	// PrevURL and NextURL lead to the neighbouring pages, "" when none.
	PrevURL, NextURL string
	// Back is this page's address, where an action sends the admin back to.
	Back string
	// Audit is the latest entries of the audit log.
	Audit []aistat.AuditEntry
	// New is the create-user form.
	New userForm
}

// sessionsPage is the user's sessions, security events and password form.
type sessionsPage struct {
	Page
	Sessions []sessionRow
	Events   []aistat.SecurityEvent
	// Errors are the password form's field messages keyed by field name.
	Errors map[string]string
	// PasswordError is about the password form as a whole, such as a
	// throttled attempt.
	PasswordError string
}

// sessionRow is one active session; Current marks the request's own.
type sessionRow struct {
	aistat.ActiveSession
	Current bool
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
	p := Page{Title: title, User: templates.NewAccount(sessions.User(ctx)), Path: r.URL.Path}
	if p.User != nil {
		p.Flash = s.sessions.PopFlash(ctx)
	} else {
		// A cookie whose session ended for a reason: the first page after
		// says why, rather than leaving the person signed out unawares.
		p.Flash = sessions.EndReason(ctx).Message()
	}
	return p
}

// render writes a page. The templates render into a buffer before the first
// byte is written, so a template error becomes a clean 500 and never half a
// page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	pw := &pageWriter{w: w, status: status}
	if err := s.templates.Execute(pw, name, data); err != nil && !pw.wrote {
		s.logger.Error("render", "request_id", requestIDFrom(r.Context()), "page", name, "path", logPath(r.URL.Path), "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
	}
}

// pageWriter sends the header of a page with its first byte.
type pageWriter struct {
	w      http.ResponseWriter
	status int
	wrote  bool
}

func (p *pageWriter) Write(b []byte) (int, error) {
	if !p.wrote {
		p.wrote = true
		p.w.Header().Set("Content-Type", "text/html; charset=utf-8")
		p.w.WriteHeader(p.status)
	}
	return p.w.Write(b)
}
