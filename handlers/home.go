package handlers

import (
	"context"
	"net/http"
	"time"

	"aistat/templates"
)

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	loc := s.locale(r)
	s.render(w, r, http.StatusOK, templates.HomePage(s.localPage(r, loc, loc.T("home.title"))))
}

// healthTimeout is how long the health check waits for the database.
const healthTimeout = 700 * time.Millisecond

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// A connection gives up shortly after its context ends, so a database
	// that does not answer still gets its 503 within a second.
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	if err := s.health(ctx); err != nil {
		s.logger.Warn("health check", "request_id", requestIDFrom(ctx), "err", err)
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("unavailable"))
		return
	}
	_, _ = w.Write([]byte("ok"))
}
