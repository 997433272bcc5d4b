// Package site assembles the site from its parts and runs its background
// work: the one wiring of pools, users, sessions, live hub and handlers that
// aistat serve, the tests and the benchmark all start.
package site

import (
	"cmp"
	"context"
	"crypto/tls"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/lib/pq"

	"aistat"
	"aistat/handlers"
	"aistat/internal/i18n"
	"aistat/internal/live"
	"aistat/internal/mail"
	"aistat/internal/poolmetrics"
	"aistat/internal/postgres"
	"aistat/internal/roundtrip"
	"aistat/sessions"
)

// Config is what Open builds a site from. Zero fields take the values of
// DefaultConfig.
type Config struct {
	// DSN is the site's database, which exists; Open applies the schema.
	DSN string
	// ListenDSN is where the live hub listens, for a DSN that cannot hold
	// a LISTEN (PgBouncer in transaction mode); empty for DSN.
	ListenDSN string
	// MaxConns is the size of the requests' pool.
	MaxConns int
	// Counter, when set, counts the round trips of the requests' pool.
	Counter *roundtrip.Counter
	// HashParams are Argon2id's costs for new password hashes.
	HashParams aistat.HashParams
	// Sessions are the limits of sessions. Each zero duration takes its
	// default; SecureCookies is on when either it or Config's is.
	Sessions sessions.Config
	// Live are the limits of event streams; each zero field takes its
	// default.
	Live live.Config
	// CleanupInterval is how often expired sessions and old security
	// records are deleted; the first cleanup runs at Open.
	CleanupInterval time.Duration
	// NoCleanup runs no cleanup at all, for tests and measurements that
	// count the pool's round trips or need expired rows to stay.
	NoCleanup bool
	// ReadyTimeout bounds Open's wait for the live hub's LISTEN, past
	// which Open fails: changes committed once Open returns reach open
	// pages.
	ReadyTimeout time.Duration
	// NoReadyWait returns from Open without waiting for the hub: the site
	// serves its pages while the hub keeps trying to listen, and open
	// pages get live updates once it does. aistat serve starts so, since
	// its LISTEN may go to another server than its queries.
	NoReadyWait bool
	// Logger receives the site's log lines; nil discards them.
	Logger *slog.Logger
	// SecureCookies means the site is served over HTTPS (__Host- cookie,
	// Secure, HSTS).
	SecureCookies bool
	// BaseURL is the site's public URL, from which every absolute link is
	// built (handlers.Config.BaseURL).
	BaseURL string
	// TrustedProxies are the peers whose X-Forwarded-For names the client.
	TrustedProxies []netip.Prefix
	// Profiles serves Go's profiles on the metrics handler.
	Profiles bool
	// DefaultLocale is the language of a reader who chose none and whose
	// browser asks for none the site speaks.
	DefaultLocale aistat.Locale
	// TimeZone is the IANA name of the zone dates are shown in for users
	// who chose none, and for visitors.
	TimeZone string
	// SMTPURL is where mail is sent (mail.ParseSMTPURL); empty prints each
	// mail to the log instead, and marks it sent.
	SMTPURL string
	// SMTPTLS replaces the TLS settings of the SMTP connection: tests
	// trust their own server's certificate.
	SMTPTLS *tls.Config
	// MailFrom is the sender of the site's mail; empty is
	// mail.DefaultFrom of the base URL.
	MailFrom string
	// ReauthWindow is how recent a sign-in must be for a dangerous action
	// (handlers.Config.ReauthWindow); tests shorten it.
	ReauthWindow time.Duration
	// LoginCodeLifetime is how long a sign-in waits for its second factor.
	LoginCodeLifetime time.Duration
	// RequireSecondFactorForAdmins sends an admin without a second factor
	// to set one up before the admin pages open.
	RequireSecondFactorForAdmins bool
	// Mail is the mail worker's schedule; zero fields take its defaults.
	Mail mail.Config
}

// DefaultConfig is the configuration of a bare aistat serve, the one place
// its defaults are written: the command's flags take theirs from here.
// DSN, ListenDSN and Logger have none (a nil Logger discards).
func DefaultConfig() Config {
	return Config{
		MaxConns:   postgres.DefaultMaxConns,
		HashParams: aistat.DefaultHashParams,
		Sessions: sessions.Config{
			Lifetime: 336 * time.Hour,
			MaxAge:   720 * time.Hour,
			Refresh:  time.Hour,
			// Admins' sessions, which can do the most harm in the wrong
			// hands: half a day idle, a week at most.
			AdminLifetime: 12 * time.Hour,
			AdminMaxAge:   168 * time.Hour,
			// A session signed in without "Keep me signed in", on a
			// computer that may be someone else's: a working day idle.
			ShortLifetime: 12 * time.Hour,
		},
		Live:            live.Config{MaxStreamsPerUser: 100, MaxStreams: 20000},
		CleanupInterval: 10 * time.Minute,
		ReadyTimeout:    10 * time.Second,
		// A site that hands out no link a person follows (a test, the
		// benchmark) needs no name: aistat serve always gives one.
		BaseURL: "http://127.0.0.1",
		// The site's people read Russian first, and live mostly in
		// Moscow's time.
		DefaultLocale: aistat.LocaleRussian,
		TimeZone:      "Europe/Moscow",
		// Long enough for one task of several steps, short enough that a
		// session left open is not an admin's for the taking.
		ReauthWindow:      10 * time.Minute,
		LoginCodeLifetime: 5 * time.Minute,
	}
}

// withDefaults fills cfg's zero fields from DefaultConfig.
func (cfg Config) withDefaults() Config {
	def := DefaultConfig()
	cfg.ListenDSN = cmp.Or(cfg.ListenDSN, cfg.DSN)
	cfg.MaxConns = cmp.Or(cfg.MaxConns, def.MaxConns)
	if cfg.HashParams == (aistat.HashParams{}) {
		cfg.HashParams = def.HashParams
	}
	s := &cfg.Sessions
	s.Lifetime = cmp.Or(s.Lifetime, def.Sessions.Lifetime)
	s.MaxAge = cmp.Or(s.MaxAge, def.Sessions.MaxAge)
	s.Refresh = cmp.Or(s.Refresh, def.Sessions.Refresh)
	s.AdminLifetime = cmp.Or(s.AdminLifetime, def.Sessions.AdminLifetime)
	s.AdminMaxAge = cmp.Or(s.AdminMaxAge, def.Sessions.AdminMaxAge)
	s.ShortLifetime = cmp.Or(s.ShortLifetime, def.Sessions.ShortLifetime)
	s.SecureCookies = s.SecureCookies || cfg.SecureCookies
	cfg.Live.MaxStreamsPerUser = cmp.Or(cfg.Live.MaxStreamsPerUser, def.Live.MaxStreamsPerUser)
	cfg.Live.MaxStreams = cmp.Or(cfg.Live.MaxStreams, def.Live.MaxStreams)
	cfg.CleanupInterval = cmp.Or(cfg.CleanupInterval, def.CleanupInterval)
	cfg.ReadyTimeout = cmp.Or(cfg.ReadyTimeout, def.ReadyTimeout)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg.BaseURL = cmp.Or(cfg.BaseURL, def.BaseURL)
	cfg.DefaultLocale = cmp.Or(cfg.DefaultLocale, def.DefaultLocale)
	cfg.TimeZone = cmp.Or(cfg.TimeZone, def.TimeZone)
	cfg.ReauthWindow = cmp.Or(cfg.ReauthWindow, def.ReauthWindow)
	cfg.LoginCodeLifetime = cmp.Or(cfg.LoginCodeLifetime, def.LoginCodeLifetime)
	return cfg
}

// BackgroundTimeout bounds how long Close waits for the background work
// once its context ended. Each task returns soon after (the hub within a
// few seconds, whatever its LISTEN connection does); one that does not is
// left behind rather than holding the exit up.
const BackgroundTimeout = 5 * time.Second

// Site is one instance of the site, ready to serve: its parts, for the
// code that serves it and for tests.
type Site struct {
	// DB is the requests' pool.
	DB *sql.DB
	// Users reads and writes the accounts through DB.
	Users *aistat.Users
	// Sessions loads every request's session through DB.
	Sessions *sessions.Manager
	// Hub feeds the open pages' event streams; the server ends them all
	// when it starts shutting down (Hub.Close).
	Hub *live.Hub
	// Server answers the site's requests (and, on a listener of its own,
	// the metrics).
	Server *handlers.Server
	// Outbox is the mail waiting to be sent; Mailer sends it.
	Outbox *aistat.Outbox
	Mailer *mail.Worker

	// hubDB is the hub's own pool (live.MaxConns), so that a burst of
	// changes queues there instead of taking the requests' connections;
	// it is not counted: its reads follow changes, not requests.
	hubDB *sql.DB
	// mailDB is the mail worker's pool, uncounted for the same reason.
	mailDB *sql.DB
	logger *slog.Logger
	// background is the context of the background work, which Close ends.
	background context.Context
	stop       context.CancelFunc
	wg         sync.WaitGroup
	closeOnce  sync.Once
}

// Open builds the site on cfg.DSN: it applies the schema, loads the device
// key (so that a missing one fails here, not at a sign-in), starts the
// cleanup and the live hub, and returns once the hub listens (unless
// NoReadyWait). Close stops it all.
func Open(ctx context.Context, cfg Config) (_ *Site, err error) {
	cfg = cfg.withDefaults()
	background, stop := context.WithCancel(context.Background())
	s := &Site{logger: cfg.Logger, background: background, stop: stop}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	// A nil *Counter in the interface would not be a nil dialer.
	var dialer pq.Dialer
	if cfg.Counter != nil {
		dialer = cfg.Counter
	}
	if s.DB, err = postgres.Open(cfg.DSN, dialer); err != nil {
		return nil, err
	}
	s.DB.SetMaxOpenConns(cfg.MaxConns)
	s.DB.SetMaxIdleConns(cfg.MaxConns)
	if err := aistat.Migrate(ctx, s.DB); err != nil {
		return nil, err
	}
	s.Users = aistat.NewUsers(s.DB)
	s.Users.SetHashParams(cfg.HashParams)
	if err := s.Users.LoadDeviceKey(ctx); err != nil {
		return nil, err
	}
	s.Sessions = sessions.New(s.DB, cfg.Sessions)

	if s.hubDB, err = postgres.Open(cfg.DSN, nil); err != nil {
		return nil, err
	}
	s.hubDB.SetMaxOpenConns(live.MaxConns)
	catalogue, err := i18n.New()
	if err != nil {
		return nil, err
	}
	listenDSN, err := postgres.Hosts(cfg.ListenDSN)
	if err != nil {
		return nil, fmt.Errorf("listen database url: %w", err)
	}
	hubConfig := cfg.Live
	hubConfig.RoleLabel = func(l aistat.Locale, r aistat.Role) string { return catalogue.Localizer(l).Role(r) }
	s.Hub = live.New(aistat.NewUsers(s.hubDB), sessions.NewStore(s.hubDB), listenDSN, hubConfig, cfg.Logger)

	if err := s.openMail(cfg); err != nil {
		return nil, err
	}

	timeZone, err := time.LoadLocation(cfg.TimeZone)
	if err != nil || !aistat.ValidTimeZone(cfg.TimeZone) {
		return nil, fmt.Errorf("time zone %q: not a zone of the IANA database", cfg.TimeZone)
	}
	s.Server, err = handlers.New(handlers.Config{
		Health:         s.DB.PingContext,
		PoolMetrics:    poolmetrics.New(s.DB),
		Users:          s.Users,
		Sessions:       s.Sessions,
		Live:           s.Hub,
		Logger:         cfg.Logger,
		SecureCookies:  cfg.SecureCookies,
		BaseURL:        cfg.BaseURL,
		TrustedProxies: cfg.TrustedProxies,
		Profiles:       cfg.Profiles,
		Catalogue:      catalogue,
		DefaultLocale:  cfg.DefaultLocale,
		TimeZone:       timeZone,
		Outbox:         s.Outbox,
		MailMetrics:    mail.Metrics(s.Outbox, cfg.Logger),

		ReauthWindow:                 cfg.ReauthWindow,
		LoginCodeLifetime:            cfg.LoginCodeLifetime,
		RequireSecondFactorForAdmins: cfg.RequireSecondFactorForAdmins,
	})
	if err != nil {
		return nil, err
	}

	if !cfg.NoCleanup {
		s.Go(func(ctx context.Context) { s.runCleanup(ctx, cfg.CleanupInterval) })
	}
	s.Hub.OnMail(s.Mailer.Wake)
	s.Go(s.Hub.Run)
	s.Go(s.Mailer.Run)
	if cfg.NoReadyWait {
		return s, nil
	}
	t := time.NewTimer(cfg.ReadyTimeout)
	defer t.Stop()
	select {
	case <-s.Hub.Ready():
	case <-t.C:
		return nil, fmt.Errorf("the live hub did not start listening within %v", cfg.ReadyTimeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s, nil
}

// Go runs task with the site's background work: its context ends when
// Close begins, and Close waits for it within BackgroundTimeout.
func (s *Site) Go(task func(ctx context.Context)) {
	s.wg.Go(func() { task(s.background) })
}

// Close ends the open event streams, stops the background work and closes
// the pools, each within its bound, so that a database that stopped
// answering never holds it up. It returns once done; calling it again does
// nothing.
func (s *Site) Close() {
	s.closeOnce.Do(func() {
		if s.Hub != nil {
			s.Hub.Close()
		}
		s.stop()
		if !waitWithin(BackgroundTimeout, s.wg.Wait) {
			s.logger.Warn("shutdown: background tasks still running, leaving them", "wait", BackgroundTimeout)
		}
		// Closing a pool sends each idle connection a goodbye, which a
		// server that stopped reading would hold up: a pool that does not
		// close in time is left to finish on its own.
		if s.hubDB != nil && !waitWithin(PoolCloseTimeout, func() { _ = s.hubDB.Close() }) {
			s.logger.Warn("shutdown: hub pool did not close in time, leaving it", "wait", PoolCloseTimeout)
		}
		if s.mailDB != nil && !waitWithin(PoolCloseTimeout, func() { _ = s.mailDB.Close() }) {
			s.logger.Warn("shutdown: mail pool did not close in time, leaving it", "wait", PoolCloseTimeout)
		}
		if s.DB != nil && !waitWithin(PoolCloseTimeout, func() { _ = s.DB.Close() }) {
			s.logger.Warn("shutdown: pool did not close in time, leaving it", "wait", PoolCloseTimeout)
		}
	})
}

// mailConns bounds the mail worker's pool: it claims, marks and counts
// one mail at a time, and /metrics reads the counts through it too.
const mailConns = 2

// openMail builds the outbox and its worker: an SMTP sender with
// cfg.SMTPURL, the log without.
func (s *Site) openMail(cfg Config) error {
	var err error
	if s.mailDB, err = postgres.Open(cfg.DSN, nil); err != nil {
		return err
	}
	s.mailDB.SetMaxOpenConns(mailConns)
	s.Outbox = aistat.NewOutbox(s.mailDB)
	var sender mail.Sender = mail.Console{Logger: cfg.Logger}
	if cfg.SMTPURL != "" {
		smtp, err := mail.ParseSMTPURL(cfg.SMTPURL)
		if err != nil {
			return fmt.Errorf("smtp url: %w", err)
		}
		if cfg.SMTPTLS != nil {
			smtp.SetTLSConfig(cfg.SMTPTLS)
		}
		sender = smtp
	}
	catalogue, err := i18n.New()
	if err != nil {
		return err
	}
	from := cmp.Or(cfg.MailFrom, mail.DefaultFrom(cfg.BaseURL))
	renderer, err := mail.NewRenderer(catalogue, cfg.DefaultLocale, cfg.BaseURL, from)
	if err != nil {
		return err
	}
	s.Mailer = mail.NewWorker(s.Outbox, renderer, sender, cfg.Mail, cfg.Logger)
	return nil
}

// PoolCloseTimeout bounds the closing of each pool at Close.
const PoolCloseTimeout = 2 * time.Second

// waitWithin runs fn and waits for it for at most d, reporting whether it
// returned in time; one that did not is left to finish on its own.
func waitWithin(d time.Duration, fn func()) bool {
	done := make(chan struct{})
	go func() {
		fn()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// cleanupBatch is how many rows one statement of a cleanup deletes: each
// is short, so no table is locked for long.
const cleanupBatch = 5000

// runCleanup deletes what has expired at once and then every interval,
// until ctx ends: one loop, so that the cleanups never run at the same
// time and never take more than one of the requests' connections.
func (s *Site) runCleanup(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.cleanup(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// cleanup deletes expired sessions, then old security records, which go
// even for accounts nobody uses any more, then the pictures no user shows.
func (s *Site) cleanup(ctx context.Context) {
	for _, c := range []struct {
		name string
		run  func(context.Context, int) (int64, error)
	}{
		{"session cleanup", s.Sessions.Store().DeleteExpired},
		{"security records cleanup", s.Users.DeleteExpired},
		{"avatar cleanup", s.Users.DeleteUnusedAvatars},
		{"mail cleanup", s.Outbox.DeleteExpired},
	} {
		n, err := c.run(ctx, cleanupBatch)
		switch {
		case err != nil && ctx.Err() == nil:
			s.logger.Error(c.name, "err", err)
		case n > 0:
			s.logger.Info(c.name, "deleted", n)
		}
	}
}
