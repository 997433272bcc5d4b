// Package handlers is aistat's HTTP layer: the route table, the pages, the
// JSON API and the one place that turns errors into responses.
package handlers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"

	"aistat"
	"aistat/internal/i18n"
	"aistat/internal/live"
	"aistat/sessions"
	"aistat/static"
	"aistat/templates"
)

// Config is what the server is built from.
type Config struct {
	// Health reports whether the database answers: /healthz is 503 while
	// it returns an error. It is given the check's deadline.
	Health   func(context.Context) error
	Users    *aistat.Users
	Sessions *sessions.Manager
	// Live feeds the event streams of open pages.
	Live   *live.Hub
	Logger *slog.Logger
	// SecureCookies means the site is served over HTTPS: browsers are told
	// to keep using it (Strict-Transport-Security).
	SecureCookies bool
	// BaseURL is the site's public URL (--base-url), as ParseBaseURL
	// accepts it: every absolute link the site hands out, such as a
	// password reset link, is built from it and never from the request's
	// Host or X-Forwarded-Host, which the client chooses. Required.
	BaseURL string
	// TrustedProxies are the peers whose X-Forwarded-For names the client.
	TrustedProxies []netip.Prefix
	// Profiles serves Go's profiles under /debug/pprof/ on the metrics
	// listener (MetricsHandler); off, that listener serves /metrics alone.
	Profiles bool
	// PoolMetrics reports the database pool's statistics on /metrics,
	// read at every scrape (internal/poolmetrics); nil leaves them out.
	PoolMetrics prometheus.Collector
	// DatabaseDeadline bounds each request's database work; zero is
	// DefaultDatabaseDeadline. Tests shorten it.
	DatabaseDeadline time.Duration
	// DefaultLocale is the language of a reader who chose none and whose
	// browser asks for none the site speaks. Required.
	// Catalogue holds the pages' and messages' words in every language.
	Catalogue     *i18n.Catalogue
	DefaultLocale aistat.Locale
	// TimeZone is where dates are shown for users who chose no zone of
	// their own, and for visitors; nil is UTC.
	TimeZone *time.Location
	// Outbox is the mail waiting to be sent, whose failures the admin
	// page lists.
	Outbox *aistat.Outbox
	// MailMetrics reports the outbox's mails on /metrics; nil leaves them
	// out.
	MailMetrics prometheus.Collector
	// ReauthWindow is how recent a sign-in or a password given again must
	// be for a dangerous action (a password change, a second factor, every
	// admin action); older, the site asks for the password again.
	// Required.
	ReauthWindow time.Duration
	// LoginCodeLifetime is how long a sign-in whose password was right
	// waits for its second factor. Required.
	LoginCodeLifetime time.Duration
	// RequireSecondFactorForAdmins sends an admin without a second factor
	// to set one up before the admin pages open.
	RequireSecondFactorForAdmins bool
}

// Server answers every HTTP request of the site.
type Server struct {
	health func(context.Context) error
	users  *aistat.Users
	outbox *aistat.Outbox
	// passkeys is nil when the base URL's host cannot have them (an IP
	// address).
	passkeys      *aistat.Passkeys
	sessions      *sessions.Manager
	live          *live.Hub
	logger        *slog.Logger
	assets        *static.Assets
	templates     *templates.Templates
	secureCookies bool
	baseURL       string
	proxies       []netip.Prefix
	profiles      bool
	handler       http.Handler
	requests      *requestMetrics
	sessionCount  activeSessions
	metrics       http.Handler

	// databaseDeadline bounds each request's database work (track).
	databaseDeadline time.Duration

	catalogue     *i18n.Catalogue
	defaultLocale aistat.Locale
	timeZone      *time.Location
	// zones are the users' time zones, by name (zone).
	zones sync.Map
	// avatarSlots bounds the uploads decoded at once (makeAvatar).
	avatarSlots chan struct{}

	// replay holds the handlers of the forms that want a recent sign-in,
	// behind their access rules, for /reauth to carry on with (reauth.go).
	replay            *httprouter.Router
	reauthWindow      time.Duration
	loginCodeLifetime time.Duration
	requireFactor     bool
}

// New builds the server, parsing every template so that a broken page fails
// at start-up rather than on its first visit.
func New(cfg Config) (*Server, error) {
	baseURL, err := ParseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("base URL %q: %w", cfg.BaseURL, err)
	}
	assets, err := static.New()
	if err != nil {
		return nil, fmt.Errorf("static assets: %w", err)
	}
	if _, ok := aistat.ParseLocale(string(cfg.DefaultLocale)); !ok {
		return nil, fmt.Errorf("default locale %q: want ru or en", cfg.DefaultLocale)
	}
	if cfg.Catalogue == nil {
		return nil, errors.New("handlers: no message catalogue")
	}
	if cfg.ReauthWindow <= 0 || cfg.LoginCodeLifetime <= 0 {
		return nil, errors.New("handlers: no re-authentication window or login code lifetime")
	}
	tmpl, err := templates.New(assets.URL, cfg.Catalogue, cfg.DefaultLocale)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	s := &Server{
		health:        cfg.Health,
		users:         cfg.Users,
		outbox:        cfg.Outbox,
		sessions:      cfg.Sessions,
		live:          cfg.Live,
		logger:        cfg.Logger,
		assets:        assets,
		templates:     tmpl,
		secureCookies: cfg.SecureCookies,
		baseURL:       baseURL,
		proxies:       cfg.TrustedProxies,
		profiles:      cfg.Profiles,
		requests:      newRequestMetrics(),
		catalogue:     cfg.Catalogue,
		defaultLocale: cfg.DefaultLocale,
		timeZone:      cmp.Or(cfg.TimeZone, time.UTC),
		avatarSlots:   make(chan struct{}, max(2, runtime.GOMAXPROCS(0))),

		replay:            httprouter.New(),
		reauthWindow:      cfg.ReauthWindow,
		loginCodeLifetime: cfg.LoginCodeLifetime,
		requireFactor:     cfg.RequireSecondFactorForAdmins,
	}
	s.passkeys, err = aistat.NewPasskeys(cfg.Users, baseURL)
	if err != nil {
		s.logger.Info("passkeys are off: browsers allow them only for a site named by a domain, such as localhost", "base_url", baseURL)
	}
	s.sessionCount.count, s.sessionCount.logger = s.sessions.Store().CountActive, s.logger
	s.metrics = s.newMetrics(cfg.PoolMetrics, cfg.MailMetrics)
	s.databaseDeadline = cmp.Or(cfg.DatabaseDeadline, DefaultDatabaseDeadline)
	s.sessions.SetErrorFunc(s.writeError)
	s.handler = s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}
