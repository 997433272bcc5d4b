// Package testsite assembles the site from its real parts (database pool,
// users, sessions, live hub, handlers) on a test database, for the tests
// that drive it over HTTP: the handlers' and the browser's. aistat serve is
// the production assembly.
package testsite

import (
	"cmp"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/lib/pq"

	"aistat"
	"aistat/handlers"
	"aistat/internal/live"
	"aistat/internal/postgres"
	"aistat/internal/roundtrip"
	"aistat/sessions"
)

// Config changes what Start builds; zero fields take aistat serve's
// defaults.
type Config struct {
	// DSN is the site's database, which exists (pgtest.URL); Start applies
	// the schema.
	DSN string
	// ListenDSN is where the live hub listens; empty for DSN.
	ListenDSN string
	// Counter, when set, counts the pool's round trips.
	Counter        *roundtrip.Counter
	Sessions       sessions.Config
	Live           live.Config
	Logger         *slog.Logger
	SecureCookies  bool
	TrustedProxies []netip.Prefix
	// Profiles serves Go's profiles on the metrics handler (--pprof).
	Profiles bool
	// BaseURL is the site's public URL (--base-url), the address of the
	// server that will serve Handler; empty is http://127.0.0.1, for tests
	// that follow no absolute link the site hands out.
	BaseURL string
}

// Site is one instance of the site, ready to serve.
type Site struct {
	DB      *sql.DB
	Users   *aistat.Users
	Manager *sessions.Manager
	Hub     *live.Hub
	Handler *handlers.Server
}

// Start builds an instance with its hub listening; everything stops when
// the test ends. Passwords are hashed at Argon2id's lowest costs, to keep
// sign-ins cheap.
func Start(tb testing.TB, cfg Config) *Site {
	tb.Helper()
	if cfg.Sessions == (sessions.Config{}) {
		cfg.Sessions = sessions.Config{Lifetime: 336 * time.Hour, MaxAge: 720 * time.Hour, Refresh: time.Hour,
			AdminLifetime: 12 * time.Hour, AdminMaxAge: 168 * time.Hour}
	}
	cfg.Sessions.SecureCookies = cfg.Sessions.SecureCookies || cfg.SecureCookies
	if cfg.Live == (live.Config{}) {
		cfg.Live = live.Config{MaxStreamsPerUser: 100, MaxStreams: 20000}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// A nil *Counter in the interface would not be a nil dialer.
	var dialer pq.Dialer
	if cfg.Counter != nil {
		dialer = cfg.Counter
	}
	db, err := postgres.Open(cfg.DSN, dialer)
	if err != nil {
		tb.Fatalf("open database: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := aistat.Migrate(context.Background(), db); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	s := &Site{DB: db, Users: aistat.NewUsers(db)}
	s.Users.SetHashParams(aistat.MinHashParams)
	s.Manager = sessions.New(db, cfg.Sessions)

	// The hub's pool is not counted: its reads follow changes, not requests.
	hubDB, err := postgres.Open(cfg.DSN, nil)
	if err != nil {
		tb.Fatalf("open database: %v", err)
	}
	tb.Cleanup(func() { hubDB.Close() })
	hubDB.SetMaxOpenConns(live.MaxConns)
	s.Hub = live.New(aistat.NewUsers(hubDB), sessions.NewStore(hubDB), cmp.Or(cfg.ListenDSN, cfg.DSN), cfg.Live, cfg.Logger)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Hub.Run(ctx)
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-s.Hub.Ready():
	case <-time.After(10 * time.Second):
		tb.Fatal("the live hub did not start listening")
	}

	s.Handler, err = handlers.New(handlers.Config{
		DB:             db,
		Users:          s.Users,
		Sessions:       s.Manager,
		Live:           s.Hub,
		Logger:         cfg.Logger,
		SecureCookies:  cfg.SecureCookies,
		TrustedProxies: cfg.TrustedProxies,
		Profiles:       cfg.Profiles,
		BaseURL:        cmp.Or(cfg.BaseURL, "http://127.0.0.1"),
	})
	if err != nil {
		tb.Fatalf("new server: %v", err)
	}
	return s
}
