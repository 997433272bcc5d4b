package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lib/pq"

	"aistat"
	"aistat/internal/pglocal"
	"aistat/internal/postgres"
	"aistat/sessions"
)

// scenario is one load measurement, repeated and alternated with the others.
type scenario struct {
	name    string
	conns   int
	measure func(ctx context.Context, conns int) (result, error)
	results []result
}

// run does the whole benchmark.
func run(ctx context.Context, cfg config, logger *slog.Logger) error {
	for _, tool := range []string{"wrk", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed (Debian: apt-get install %s)", tool, tool)
		}
	}
	raiseFileLimit()
	dir, err := workDir("aistat-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	cluster, err := startCluster(ctx, filepath.Join(dir, "pg"), logger)
	if err != nil {
		return err
	}
	defer func() { _ = cluster.Stop(context.Background()) }()
	for _, name := range []string{"aistat", "pgbench"} {
		if err := cluster.CreateDatabase(ctx, name); err != nil {
			return err
		}
	}
	dsn := cluster.URL("aistat")
	db, err := postgres.Open(dsn, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := aistat.Migrate(ctx, db); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		return err
	}
	if err := load(ctx, db, cfg.users, cfg.sessions); err != nil {
		return err
	}
	pgConn, err := toolConn(dsn)
	if err != nil {
		return err
	}
	pgbenchPath, err := pgTool("pgbench")
	if err != nil {
		return err
	}
	initCmd := exec.CommandContext(ctx, pgbenchPath, "-i", "-s", "10", "-q", "-h", pgConn.host, "-p", pgConn.port, "-U", pgConn.user, "pgbench")
	if out, err := initCmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgbench -i: %w: %s", err, out)
	}

	bin, err := buildBinary(ctx, dir)
	if err != nil {
		return err
	}
	siteFlags := []string{"--max-streams-per-user", "20000", "--max-streams", "20000", "--cleanup-interval", "1000h"}
	s, err := startSite(bin, dsn, filepath.Join(dir, "site.log"), siteFlags...)
	if err != nil {
		return err
	}
	defer s.stop()
	if err := loadExpired(ctx, db, cfg.users, cfg.sessions); err != nil {
		return err
	}
	cookie, err := signIn(s.base, "bench@example.com", benchPassword)
	if err != nil {
		return err
	}
	adminCookie, err := signIn(s.base, "admin@example.com", benchPassword)
	if err != nil {
		return err
	}
	sessionScript := filepath.Join(dir, "session.sql")
	// One request's lookup: the app's query with a single token.
	query := strings.ReplaceAll(strings.TrimSpace(sessions.FindQuery), "$1", "ARRAY[:token]") + ";\n"
	if err := os.WriteFile(sessionScript, []byte(query), 0o644); err != nil {
		return err
	}
	token := "token=" + tokenHash(cookie)
	app := func(path, cookie string) func(context.Context, int) (result, error) {
		return func(ctx context.Context, conns int) (result, error) {
			return wrk(ctx, dir, s.base+path, cookie, conns, cfg.duration)
		}
	}
	bench := func(args ...string) func(context.Context, int) (result, error) {
		pgConn := pgConn
		if args[0] == "-S" {
			pgConn.database = "pgbench"
		}
		return func(ctx context.Context, conns int) (result, error) {
			return pgbench(ctx, pgbenchPath, pgConn, conns, cfg.duration, args...)
		}
	}
	upload, err := uploadRequest(dir)
	if err != nil {
		return err
	}
	search := fmt.Sprintf("/admin?q=user%d", cfg.users/2)
	later := fmt.Sprintf("/admin?after=%d", cfg.users/2)
	scenarios := []*scenario{
		{name: "GET / authenticated", conns: 32, measure: app("/", cookie)},
		{name: "pgbench -S (built-in select-only)", conns: 32, measure: bench("-S", "-M", "prepared")},
		{name: "pgbench session query, prepared", conns: 32, measure: bench("-M", "prepared", "-f", sessionScript, "-D", token)},
		{name: "pgbench session query, unprepared", conns: 32, measure: bench("-M", "extended", "-f", sessionScript, "-D", token)},
		{name: "GET /api/session", conns: 32, measure: app("/api/session", cookie)},
		{name: "GET / anonymous", conns: 32, measure: app("/", "")},
		{name: "GET " + search + " (admin search)", conns: 32, measure: app(search, adminCookie)},
		{name: "GET /admin (admin, first page)", conns: 32, measure: app("/admin", adminCookie)},
		{name: "GET " + later + " (admin, a later page)", conns: 32, measure: app(later, adminCookie)},
		{name: fmt.Sprintf("POST /settings/avatar (%d×%d JPEG)", uploadWidth, uploadHeight), conns: 32,
			measure: func(ctx context.Context, conns int) (result, error) {
				return wrkRequest(ctx, dir, s.base+"/settings/avatar", cookie, conns, cfg.duration, upload)
			}},
		{name: "GET / authenticated", conns: 1, measure: app("/", cookie)},
		{name: "pgbench session query, prepared", conns: 1, measure: bench("-M", "prepared", "-f", sessionScript, "-D", token)},
		{name: "GET / anonymous", conns: 1, measure: app("/", "")},
		{name: "GET " + search + " (admin search)", conns: 1, measure: app(search, adminCookie)},
		{name: "GET " + later + " (admin, a later page)", conns: 1, measure: app(later, adminCookie)},
	}
	if cfg.only != "" {
		scenarios = slices.DeleteFunc(scenarios, func(sc *scenario) bool { return !strings.Contains(sc.name, cfg.only) })
		if len(scenarios) == 0 {
			return fmt.Errorf("no measurement is named like %q", cfg.only)
		}
	}
	for round := range cfg.runs {
		for _, sc := range scenarios {
			fmt.Printf("round %d/%d: %s at %d connections\n", round+1, cfg.runs, sc.name, sc.conns)
			r, err := sc.measure(ctx, sc.conns)
			if err != nil {
				return err
			}
			sc.results = append(sc.results, r)
		}
	}

	rep := &report{scenarios: scenarios}
	if cfg.only != "" {
		// Some of the measurements: their table alone, and BENCHMARKS.md
		// stays the whole run's.
		var b strings.Builder
		rep.throughput(&b)
		fmt.Print(b.String())
		return nil
	}
	for _, conns := range []int{1, 32} {
		st, err := statementsPerRequest(ctx, db, dir, s.base, cookie, conns)
		if err != nil {
			return err
		}
		rep.statements = append(rep.statements, st)
	}
	if rep.costs, err = measureHandlers(ctx, dsn); err != nil {
		return err
	}
	if rep.rss, err = s.rss(); err != nil {
		return err
	}
	if err := measureCleanup(ctx, rep, db, dir, s.base, cookie, cfg.duration); err != nil {
		return err
	}
	// The streams get an instance of their own, started for them (after the
	// cleanup, whose rows its start-up would delete): the first one's memory
	// holds what the load runs left behind.
	streamSite, err := startSite(bin, dsn, filepath.Join(dir, "streams.log"), siteFlags...)
	if err != nil {
		return err
	}
	err = measureStreams(ctx, rep, streamSite, cookie, cfg.streams)
	streamSite.stop()
	if err != nil {
		return err
	}
	if rep.facts, err = machineFacts(ctx, db); err != nil {
		return err
	}
	text := rep.markdown(cfg)
	fmt.Print(text)
	return os.WriteFile(cfg.out, []byte(text), 0o644)
}

// workDir creates the run's scratch folder in the temporary folder, open
// to the postgres user to whom root hands the clusters.
func workDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// startCluster starts a private cluster with pg_stat_statements loaded, so
// statements per request can be counted exactly.
func startCluster(ctx context.Context, dir string, logger *slog.Logger) (*pglocal.Cluster, error) {
	cluster, err := pglocal.Start(ctx, dir, logger)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("postgres", cluster.URL("postgres"))
	if err != nil {
		return nil, err
	}
	_, err = db.ExecContext(ctx, `ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'`)
	db.Close()
	if err != nil {
		return nil, err
	}
	if err := cluster.Stop(ctx); err != nil {
		return nil, err
	}
	return pglocal.Start(ctx, dir, logger)
}

// toolConn is how pgbench reaches the database of dsn.
func toolConn(dsn string) (connInfo, error) {
	c, err := pq.NewConfig(dsn)
	if err != nil {
		return connInfo{}, err
	}
	return connInfo{host: c.Host, port: fmt.Sprint(c.Port), user: c.User, database: c.Database}, nil
}

// pgTool finds a PostgreSQL program on PATH or in Debian's versioned
// folder, where pgbench lives.
func pgTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) == 0 {
		return "", fmt.Errorf("%s not found (Debian package postgresql)", name)
	}
	slices.Sort(matches)
	return matches[len(matches)-1], nil
}

// raiseFileLimit lets this process and the site it starts hold the
// connections of many open event streams.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < 65536 {
		lim.Cur = min(65536, lim.Max)
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

// statementCount is what pg_stat_statements counted over a few seconds of
// authenticated GET / requests at conns connections.
type statementCount struct {
	conns                    int
	reqs                     int64
	perRequest, writesPerReq float64
}

// statementsPerRequest counts, with pg_stat_statements, the statements and
// writes of a few seconds of authenticated GET / requests.
func statementsPerRequest(ctx context.Context, db *sql.DB, dir, base, cookie string, conns int) (statementCount, error) {
	all0, w0, err := statements(ctx, db)
	if err != nil {
		return statementCount{}, err
	}
	r, err := wrk(ctx, dir, base+"/", cookie, conns, 3*time.Second)
	if err != nil {
		return statementCount{}, err
	}
	all1, w1, err := statements(ctx, db)
	if err != nil {
		return statementCount{}, err
	}
	return statementCount{conns: conns, reqs: r.requests,
		perRequest: float64(all1-all0) / float64(r.requests), writesPerReq: float64(w1-w0) / float64(r.requests)}, nil
}

// measureStreams opens many event streams to see the site's memory per
// stream, then times a change's way to 100 streams of one user.
func measureStreams(ctx context.Context, rep *report, s *siteProcess, cookie string, n int) error {
	before, err := s.rss()
	if err != nil {
		return err
	}
	streamCtx, cancel := context.WithCancel(ctx)
	if err := openStreams(streamCtx, s.base, cookie, n, nil); err != nil {
		cancel()
		return fmt.Errorf("open %d streams: %w", n, err)
	}
	time.Sleep(2 * time.Second)
	after, err := s.rss()
	cancel()
	if err != nil {
		return err
	}
	rep.streams, rep.streamsRSS, rep.rssBeforeStreams = n, after, before
	time.Sleep(2 * time.Second)
	rep.delivery, err = deliveryLatency(ctx, s.base, cookie, 100, 100)
	return err
}

// measureCleanup loads the site in 5-second slices while the cleanup
// deletes the expired sessions in batches, as the site's own cleanup does,
// and then once more with them gone. The worst slice's p99 is reported.
func measureCleanup(ctx context.Context, rep *report, db *sql.DB, dir, base, cookie string, d time.Duration) error {
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sessions WHERE expiry <= now()`).Scan(&rep.expired); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		start := time.Now()
		n, err := sessions.NewStore(db).DeleteExpired(ctx, 5000)
		rep.cleanupDeleted, rep.cleanupTook = n, time.Since(start)
		done <- err
	}()
	var cleanupErr error
	for finished := false; !finished; {
		r, err := wrk(ctx, dir, base+"/", cookie, 32, 5*time.Second)
		if err != nil {
			return err
		}
		rep.duringCleanup = append(rep.duringCleanup, r)
		select {
		case cleanupErr = <-done:
			finished = true
		default:
		}
	}
	if cleanupErr != nil {
		return cleanupErr
	}
	var err error
	rep.afterCleanup, err = wrk(ctx, dir, base+"/", cookie, 32, d)
	return err
}
