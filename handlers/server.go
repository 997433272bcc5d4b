// Package handlers is aistat's HTTP layer: the route table, the pages, the
// JSON API and the one place that turns errors into responses.
package handlers

import (
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"

	"aistat"
	"aistat/internal/live"
	"aistat/sessions"
	"aistat/static"
	"aistat/templates"
)

// Config is what the server is built from.
type Config struct {
	DB       *sql.DB
	Users    *aistat.Users
	Sessions *sessions.Manager
	// Live feeds the event streams of open pages.
	Live   *live.Hub
	Logger *slog.Logger
	// SecureCookies means the site is served over HTTPS: browsers are told
	// to keep using it (Strict-Transport-Security).
	SecureCookies bool
	// TrustedProxies are the peers whose X-Forwarded-For names the client.
	TrustedProxies []netip.Prefix
	// Profiles serves Go's profiles under /debug/pprof/ on the metrics
	// listener (MetricsHandler); off, that listener serves /metrics alone.
	Profiles bool
}

// Server answers every HTTP request of the site.
type Server struct {
	db            *sql.DB
	users         *aistat.Users
	sessions      *sessions.Manager
	live          *live.Hub
	logger        *slog.Logger
	assets        *static.Assets
	templates     *templates.Templates
	secureCookies bool
	proxies       []netip.Prefix
	profiles      bool
	handler       http.Handler
	requests      *requestMetrics
	sessionCount  activeSessions
}

// New builds the server, parsing every template so that a broken page fails
// at start-up rather than on its first visit.
func New(cfg Config) (*Server, error) {
	assets, err := static.New()
	if err != nil {
		return nil, fmt.Errorf("static assets: %w", err)
	}
	tmpl, err := templates.New(assets.URL)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	s := &Server{
		db:            cfg.DB,
		users:         cfg.Users,
		sessions:      cfg.Sessions,
		live:          cfg.Live,
		logger:        cfg.Logger,
		assets:        assets,
		templates:     tmpl,
		secureCookies: cfg.SecureCookies,
		proxies:       cfg.TrustedProxies,
		profiles:      cfg.Profiles,
		requests:      newRequestMetrics(),
	}
	s.sessions.SetErrorFunc(s.writeError)
	s.handler = s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}
