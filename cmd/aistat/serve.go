package main

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"aistat"
	"aistat/internal/gctune"
	"aistat/internal/mail"
	"aistat/internal/pglocal"
	// The tests of this package call a running server a site.
	assembly "aistat/internal/site"
)

// embeddedDatabase is the database the app uses on its embedded cluster.
const embeddedDatabase = "aistat"

// database is where a command's database is: a URL, or the embedded
// cluster that this process got running; and, for the commands that only
// need the database, an open pool on it with the schema applied.
type database struct {
	// dsn is where the database is, the embedded cluster's socket included.
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

// locateDatabase is dsn, or when dsn is empty the embedded cluster under
// dataDir, got running with start.
func locateDatabase(ctx context.Context, dsn, dataDir string, start startCluster, logger *slog.Logger) (*database, error) {
	d := &database{dsn: dsn, logger: logger}
	if dsn != "" {
		return d, nil
	}
	cluster, err := start(ctx, dataDir, logger)
	if err != nil {
		return nil, err
	}
	d.cluster = cluster
	if err := cluster.CreateDatabase(ctx, embeddedDatabase); err != nil {
		d.close()
		return nil, err
	}
	d.dsn = cluster.URL(embeddedDatabase)
	return d, nil
}

// close closes the pool and stops the embedded cluster, if this process
// started it.
func (d *database) close() {
	if d.db != nil {
		_ = d.db.Close()
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
// LISTEN connection) holds the exit up: the site's background tasks get
// site.BackgroundTimeout to return, each pool site.PoolCloseTimeout to
// close, the embedded cluster stopTimeout to stop.
const (
	shutdownTimeout = 10 * time.Second
	stopTimeout     = 30 * time.Second
)

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
		"smtp_url", maskSMTPURL(cfg.SMTPURL),
		"mail_from", cmp.Or(cfg.MailFrom, mail.DefaultFrom(cfg.BaseURL)),
		"secure_cookies", cfg.SecureCookies,
		"require_2fa_for_admins", cfg.RequireSecondFactorForAdmins,
		"session_lifetime", cfg.SessionLifetime,
		"session_max_age", cfg.SessionMaxAge,
		"session_refresh", cfg.SessionRefresh,
		"admin_session_lifetime", cfg.AdminSessionLifetime,
		"admin_session_max_age", cfg.AdminSessionMaxAge,
		"short_session_lifetime", cfg.ShortSessionLifetime,
		"listen_database_url", listenURL,
		"trusted_proxies", cfg.TrustedProxies,
		"max_streams_per_user", cfg.MaxStreamsPerUser,
		"max_streams", cfg.MaxStreams,
		"cleanup_interval", cfg.CleanupInterval,
		"db_max_conns", cfg.DBMaxConns,
		"metrics_addr", cfg.MetricsAddr,
		"pprof", cfg.Pprof,
		"default_locale", cfg.DefaultLocale,
		"time_zone", cfg.TimeZone,
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
	d, err := locateDatabase(ctx, cfg.DatabaseURL, cfg.DataDir, pglocal.Start, logger)
	if err != nil {
		return err
	}
	defer d.close()
	s, err := assembly.Open(ctx, cfg.siteConfig(d.dsn, logger))
	if err != nil {
		return err
	}
	defer s.Close()
	var demoSeeded bool
	if cfg.Demo {
		if demoSeeded, err = s.Users.SeedDemoUsers(ctx); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	metricsServer, err := listenMetrics(cfg.MetricsAddr, s.Server.MetricsHandler(), logger)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer metricsServer.close()
	httpServer := &http.Server{
		Handler:           s.Server,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// Open event streams never finish on their own: end them as soon as
	// shutdown begins, each with a retry hint.
	httpServer.RegisterOnShutdown(s.Hub.Close)
	if d.cluster != nil {
		s.Go(func(ctx context.Context) { d.cluster.Watch(ctx, time.Second) })
	}

	if metricsServer != nil {
		fmt.Fprintf(stdout, "Metrics at http://%s/metrics\n", metricsServer.addr)
	}
	fmt.Fprintf(stdout, "aistat is running at http://%s\n", ln.Addr())
	// The address people open may name the site otherwise (localhost for
	// 127.0.0.1): passkeys and the links in mails work under that one.
	if cfg.BaseURL != "http://"+ln.Addr().String() {
		fmt.Fprintf(stdout, "Open it at %s\n", cfg.BaseURL)
	}
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
