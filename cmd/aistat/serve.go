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
	db, err := aistat.OpenDB(dsn, nil)
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
		_ = d.db.Close()
	}
	if d.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.cluster.Stop(ctx); err != nil {
			d.logger.Error("stop postgres", "err", err)
		}
	}
}

// shutdownTimeout is how long in-flight requests may take to finish once a
// stop signal arrives.
const shutdownTimeout = 10 * time.Second

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
	)
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
	if cfg.Demo {
		if err := users.EnsureDemoUsers(ctx); err != nil {
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
	hubDB, err := aistat.OpenDB(d.dsn, nil)
	if err != nil {
		return err
	}
	defer hubDB.Close()
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
		TrustedProxies: cfg.TrustedProxies,
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
		wg.Wait()
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
	if cfg.Demo {
		fmt.Fprintln(stdout, "Demo accounts:")
		for _, u := range aistat.DemoUsers {
			fmt.Fprintf(stdout, "  %-20s %-10s (%s)\n", u.Email, u.Password, u.Role.Label())
		}
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
