package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"aistat"
	"aistat/handlers"
	"aistat/internal/gctune"
	"aistat/internal/live"
	"aistat/internal/pglocal"
	"aistat/internal/postgres"
	"aistat/sessions"
)

// embeddedDatabase is the database the app uses on its embedded cluster.
const embeddedDatabase = "aistat"

// database is an open, migrated database and how to let go of it.
type database struct {
	// dsn is where db connects, the embedded cluster's socket included.
	dsn     string
	db      *sql.DB
	cluster *pglocal.Cluster
	logger  *slog.Logger
}

// startCluster gets the embedded cluster running: the site owns it
// (pglocal.Start, which takes over a server a crash left behind), while the
// command-line tools use pglocal.Open, which borrows the site's server when
// it runs and so never stops it.
type startCluster func(ctx context.Context, dir string, logger *slog.Logger) (*pglocal.Cluster, error)

// openDatabase connects to dsn, or gets the embedded cluster under dataDir
// running with start when dsn is empty, and applies the schema.
func openDatabase(ctx context.Context, dsn, dataDir string, start startCluster, logger *slog.Logger) (*database, error) {
	d := &database{logger: logger}
	if dsn == "" {
		cluster, err := start(ctx, dataDir, logger)
		if err != nil {
			return nil, err
		}
		d.cluster = cluster
		if err := cluster.CreateDatabase(ctx, embeddedDatabase); err != nil {
			d.close()
			return nil, err
		}
		dsn = cluster.URL(embeddedDatabase)
	}
	db, err := postgres.Open(dsn, nil)
	if err != nil {
		d.close()
		return nil, err
	}
	d.db, d.dsn = db, dsn
	if err := aistat.Migrate(ctx, db); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// close closes the pool and stops the embedded cluster, if this process
// started it.
func (d *database) close() {
	if d.db != nil {
		closeWithin(d.db, "pool", d.logger)
	}
	if d.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		if err := d.cluster.Stop(ctx); err != nil {
			d.logger.Error("stop postgres", "err", err)
		}
	}
}

// Bounds of the shutdown. shutdownTimeout is how long in-flight requests
// may take to finish once a stop signal arrives; what follows has bounds of
// its own, so that nothing (a database that stopped answering, a stuck
// LISTEN connection) holds the exit up: background tasks get
// backgroundTimeout to return, each pool poolCloseTimeout to close, the
// embedded cluster stopTimeout to stop.
const (
	shutdownTimeout   = 10 * time.Second
	backgroundTimeout = 5 * time.Second
	poolCloseTimeout  = 2 * time.Second
	stopTimeout       = 30 * time.Second
)

// waitGroupWithin waits for wg for at most d and reports whether it is
// done.
func waitGroupWithin(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
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

// closeWithin closes a pool, waiting poolCloseTimeout at most: closing
// sends each idle connection a goodbye, which a server that stopped
// reading would hold up.
func closeWithin(db *sql.DB, what string, logger *slog.Logger) {
	done := make(chan struct{})
	go func() {
		_ = db.Close()
		close(done)
	}()
	t := time.NewTimer(poolCloseTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		logger.Warn("shutdown: "+what+" did not close in time, leaving it", "wait", poolCloseTimeout)
	}
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string, logger *slog.Logger) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	listenURL := "(the database URL)"
	if cfg.ListenDatabaseURL != "" {
		listenURL = maskURL(cfg.ListenDatabaseURL)
	}
	logger.Info("config",
		"addr", cfg.Addr,
		"database_url", maskURL(cfg.DatabaseURL),
		"data_dir", cfg.DataDir,
		"demo", cfg.Demo,
		"base_url", cfg.BaseURL,
		"secure_cookies", cfg.SecureCookies,
		"session_lifetime", cfg.SessionLifetime,
		"session_max_age", cfg.SessionMaxAge,
		"session_refresh", cfg.SessionRefresh,
		"admin_session_lifetime", cfg.AdminSessionLifetime,
		"admin_session_max_age", cfg.AdminSessionMaxAge,
		"listen_database_url", listenURL,
		"trusted_proxies", cfg.TrustedProxies,
		"max_streams_per_user", cfg.MaxStreamsPerUser,
		"max_streams", cfg.MaxStreams,
		"cleanup_interval", cfg.CleanupInterval,
		"db_max_conns", cfg.DBMaxConns,
		"metrics_addr", cfg.MetricsAddr,
		"pprof", cfg.Pprof,
	)
	if host, _, err := net.SplitHostPort(cfg.Addr); err == nil && (host == "" || net.ParseIP(host).IsUnspecified()) && cfg.BaseURL == addrURL(cfg.Addr) {
		// Listening on every interface says nothing of the name people
		// reach the site by.
		logger.Warn("no --base-url: links the site hands out, such as password reset links, point at "+cfg.BaseURL, "hint", "set --base-url to the site's public URL")
	}
	if tuner := gctune.Start(gctune.DefaultMinHeap); tuner != nil {
		defer tuner.Stop()
		logger.Info("garbage collector", "min_heap_mib", gctune.DefaultMinHeap>>20, "note", "set GOGC to choose its pace yourself")
	}
	d, err := openDatabase(ctx, cfg.DatabaseURL, cfg.DataDir, pglocal.Start, logger)
	if err != nil {
		return err
	}
	defer d.close()

	d.db.SetMaxOpenConns(cfg.DBMaxConns)
	d.db.SetMaxIdleConns(cfg.DBMaxConns)
	users := aistat.NewUsers(d.db)
	if err := users.LoadDeviceKey(ctx); err != nil {
		return err
	}
	var demoSeeded bool
	if cfg.Demo {
		if demoSeeded, err = users.SeedDemoUsers(ctx); err != nil {
			return err
		}
	}
	manager := sessions.New(d.db, sessions.Config{
		Lifetime:      cfg.SessionLifetime,
		MaxAge:        cfg.SessionMaxAge,
		Refresh:       cfg.SessionRefresh,
		AdminLifetime: cfg.AdminSessionLifetime,
		AdminMaxAge:   cfg.AdminSessionMaxAge,
		SecureCookies: cfg.SecureCookies,
	})
	listenDSN := cfg.ListenDatabaseURL
	if listenDSN == "" {
		listenDSN = d.dsn
	}
	hubDB, err := postgres.Open(d.dsn, nil)
	if err != nil {
		return err
	}
	defer closeWithin(hubDB, "hub pool", logger)
	hubDB.SetMaxOpenConns(live.MaxConns)
	hub := live.New(aistat.NewUsers(hubDB), sessions.NewStore(hubDB), listenDSN, live.Config{
		MaxStreamsPerUser: cfg.MaxStreamsPerUser,
		MaxStreams:        cfg.MaxStreams,
	}, logger)
	srv, err := handlers.New(handlers.Config{
		DB:             d.db,
		Users:          users,
		Sessions:       manager,
		Live:           hub,
		Logger:         logger,
		SecureCookies:  cfg.SecureCookies,
		BaseURL:        cfg.BaseURL,
		TrustedProxies: cfg.TrustedProxies,
		Profiles:       cfg.Pprof,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	metricsServer, err := listenMetrics(cfg.MetricsAddr, srv.MetricsHandler(), logger)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer metricsServer.close()
	httpServer := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// Open event streams never finish on their own: end them as soon as
	// shutdown begins, each with a retry hint.
	httpServer.RegisterOnShutdown(hub.Close)

	background, stopBackground := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		stopBackground()
		// Each task returns soon after its context ends (the hub within
		// a few seconds, whatever its LISTEN connection does); one that
		// does not is left behind rather than holding the exit up.
		if !waitGroupWithin(&wg, backgroundTimeout) {
			logger.Warn("shutdown: background tasks still running, leaving them", "wait", backgroundTimeout)
		}
	}()
	wg.Go(func() { manager.RunCleanup(background, cfg.CleanupInterval, logger) })
	wg.Go(func() { users.RunCleanup(background, cfg.CleanupInterval, logger) })
	wg.Go(func() { hub.Run(background) })
	if d.cluster != nil {
		wg.Go(func() { d.cluster.Watch(background, time.Second) })
	}

	if metricsServer != nil {
		fmt.Fprintf(stdout, "Metrics at http://%s/metrics\n", metricsServer.addr)
	}
	fmt.Fprintf(stdout, "aistat is running at http://%s\n", ln.Addr())
	switch {
	case demoSeeded:
		fmt.Fprintln(stdout, "Demo accounts, created now, once for this database:")
		for _, u := range aistat.DemoUsers {
			fmt.Fprintf(stdout, "  %-20s %-10s (%s)\n", u.Email, u.Password, u.Role.Label())
		}
	case cfg.Demo:
		fmt.Fprintln(stdout, "The demo accounts were created when this database was set up; they are as their admins left them.")
	}
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")

	served := make(chan error, 1)
	go func() { served <- httpServer.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		logger.Warn("shutdown", "err", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
