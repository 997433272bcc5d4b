package handlers

import (
	"net/http"
	"strconv"
	"time"

	"aistat"
	"aistat/internal/i18n"
	"aistat/sessions"
	"aistat/templates"
)

// page is the common part of a page for this request, in its language
// (locale). It takes the flash, so call it once per rendered page.
func (s *Server) page(r *http.Request, title string) templates.Page {
	return s.localPage(r, s.locale(r), title)
}

// localPage is page for a handler that already chose the language.
func (s *Server) localPage(r *http.Request, loc *i18n.Localizer, title string) templates.Page {
	ctx := r.Context()
	user := sessions.User(ctx)
	p := templates.Page{Lang: loc.Lang(), Zone: s.zone(user), Title: title, User: templates.NewAccount(user, loc), Path: r.URL.Path}
	if p.User != nil {
		p.Flash = s.sessions.PopFlash(ctx)
	} else {
		// A cookie whose session ended for a reason: the first page after
		// says why, rather than leaving the person signed out unawares.
		p.Flash = endMessage(loc, sessions.EndReason(ctx))
	}
	return p
}

// zone is the time zone u reads times in: their own, else the site's
// (--time-zone). Zones are loaded once: only valid names reach the cache,
// so it holds at most the IANA database.
func (s *Server) zone(u *aistat.User) *time.Location {
	if u == nil || u.TimeZone == "" {
		return s.timeZone
	}
	if z, ok := s.zones.Load(u.TimeZone); ok {
		return z.(*time.Location)
	}
	z, err := time.LoadLocation(u.TimeZone)
	if err != nil {
		// A zone the machine's database lost since it was checked.
		return s.timeZone
	}
	s.zones.Store(u.TimeZone, z)
	return z
}

// endMessage tells the person whose session ended why, in loc's language;
// "" for a reason the pages do not mention (aistat.EndReason.Message).
func endMessage(loc *i18n.Localizer, reason aistat.EndReason) string {
	return loc.Domain(reason.Message())
}

// render writes a page. The templates render into a buffer before the first
// byte is written, so a template error becomes a clean 500 and never half a
// page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, v templates.View) {
	pw := &pageWriter{w: w, status: status}
	if err := s.templates.Render(pw, v); err != nil && !pw.wrote {
		// The error names the page.
		s.logger.Error("render", "request_id", requestIDFrom(r.Context()), "path", logPath(r.URL.Path), "err", err)
		s.internalError(w, r)
	}
}

// pageWriter sends the header of a page with its first byte.
type pageWriter struct {
	w      http.ResponseWriter
	status int
	wrote  bool
}

// Write sends the header with the page's length: the first Write is the
// whole page (Templates.Render). Without it net/http sends a page larger
// than its 2 KB buffer in chunks, which costs a busy site about a tenth of
// its pages (BENCHMARKS.md).
func (p *pageWriter) Write(b []byte) (int, error) {
	if !p.wrote {
		p.wrote = true
		h := p.w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(len(b)))
		p.w.WriteHeader(p.status)
	}
	return p.w.Write(b)
}
