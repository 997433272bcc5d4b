package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"aistat"
	"aistat/internal/pgbouncer"
	"aistat/internal/pglocal"
	"aistat/internal/postgres"
	"aistat/sessions"
)

// make ha: the site on a primary with a synchronous standby, both private
// clusters on this machine, under load while the primary is killed and
// the standby promoted. It measures how long writes were refused and how
// many requests failed, and checks that every write the clients saw
// acknowledged is on the new primary. Before the failover it measures
// whether reading sessions from the standby as well would serve more.

// haConfig is what one failover run does and for how long.
type haConfig struct {
	// before is how long the load runs before the kill, after how long
	// the standby is promoted (a failover manager's detection time), and
	// after how long the load goes on once it is.
	before, promoteAfter, after time.Duration
	// readers and writers are the load's concurrent clients.
	readers, writers int
	// readDuration is the length of each read measurement.
	readDuration time.Duration
}

// haUsers is how many accounts the writers sign in to in turn: each
// sign-in adds a session, and a user's 51st would end the first.
const haUsers = 40

// outcome is one request of the load: what, when it ended, its status (0
// when it got no answer).
type outcome struct {
	kind   string
	at     time.Time
	status int
}

// runHA plays the failover with the site connected to the servers
// directly, then, when PgBouncer is installed, through a PgBouncer that the
// failover repoints at the new primary, on a new pair of servers each time.
func runHA(ctx context.Context, cfg haConfig, logger *slog.Logger) error {
	dir, err := workDir("aistat-ha-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := buildBinary(ctx, dir)
	if err != nil {
		return err
	}
	fmt.Println("== the site connected to the servers directly")
	if err := failover(ctx, cfg, logger, bin, filepath.Join(dir, "direct"), false); err != nil {
		return err
	}
	if _, err := pgbouncer.Find(); err != nil {
		fmt.Printf("== through PgBouncer: skipped, %v\n", err)
		return nil
	}
	fmt.Println("== the site through PgBouncer (transaction pooling), repointed at the new primary on promotion; LISTEN direct")
	return failover(ctx, cfg, logger, bin, filepath.Join(dir, "pgbouncer"), true)
}

// failover is one run of the failover in dir, with the requests' pool
// going through PgBouncers or not.
func failover(ctx context.Context, cfg haConfig, logger *slog.Logger, bin, dir string, bouncers bool) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	primaryDir, standbyDir := filepath.Join(dir, "primary"), filepath.Join(dir, "standby")
	defer func() {
		for _, d := range []string{primaryDir, standbyDir} {
			_ = pglocal.Kill(context.Background(), d, logger)
		}
	}()
	primary, err := pglocal.Start(ctx, primaryDir, logger)
	if err != nil {
		return err
	}
	if err := primary.CreateDatabase(ctx, "aistat"); err != nil {
		return err
	}
	standby, err := pglocal.StartStandby(ctx, standbyDir, primary, logger)
	if err != nil {
		return err
	}
	if err := primary.Synchronous(ctx, time.Minute); err != nil {
		return err
	}
	fmt.Println("primary and synchronous standby (synchronous_commit = remote_apply) running")
	dsn := pglocal.PrimaryURL("aistat", primary, standby)
	db, err := postgres.Open(dsn, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := aistat.Migrate(ctx, db); err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(benchPassword), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO users (email, name, role, password_hash)
		SELECT 'ha' || i || '@example.com', 'HA ' || i, 'editor', $1 FROM generate_series(1, $2) i`, string(hash), haUsers); err != nil {
		return err
	}

	siteDSN, extra := dsn, []string(nil)
	var pgb *pgbouncer.Bouncer
	behind := func(c *pglocal.Cluster) string {
		return fmt.Sprintf("host=%s port=5432 dbname=aistat user=postgres", c.SocketDir())
	}
	if bouncers {
		logFile, err := os.Create(filepath.Join(dir, "pgbouncer.log"))
		if err != nil {
			return err
		}
		defer logFile.Close()
		if pgb, err = pgbouncer.Start(ctx, dir, "aistat", "postgres", behind(primary), logFile); err != nil {
			return err
		}
		defer pgb.Stop()
		siteDSN = pgb.URL()
		extra = []string{"--listen-database-url", dsn}
	}
	site, err := startSite(bin, siteDSN, filepath.Join(dir, "site.log"), extra...)
	if err != nil {
		return err
	}
	defer site.stop()
	fmt.Println("DATABASE_URL=" + siteDSN)
	if bouncers {
		fmt.Println("AISTAT_LISTEN_DATABASE_URL=" + dsn)
	}
	cookie, err := signIn(site.base, "ha1@example.com", benchPassword)
	if err != nil {
		return err
	}

	if !bouncers {
		if err := measureStandbyReads(ctx, dir, primary, standby, cookie, cfg.readDuration); err != nil {
			return err
		}
	}

	var (
		mu       sync.Mutex
		outcomes []outcome
		acked    []string // token hashes of the sign-ins answered with a session
		resyncs  []time.Time
	)
	record := func(o outcome) {
		mu.Lock()
		outcomes = append(outcomes, o)
		mu.Unlock()
	}
	streamCtx, closeStream := context.WithCancel(ctx)
	defer closeStream()
	if err := openStreams(streamCtx, site.base, cookie, 1, func(_ int, name, _ string, at time.Time) {
		if name == "resync" {
			mu.Lock()
			resyncs = append(resyncs, at)
			mu.Unlock()
		}
	}); err != nil {
		return err
	}

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	client := &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: cfg.readers + cfg.writers},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var wg sync.WaitGroup
	for range cfg.readers {
		wg.Go(func() {
			for loadCtx.Err() == nil {
				req, _ := http.NewRequestWithContext(loadCtx, http.MethodGet, site.base+"/", nil)
				req.Header.Set("Cookie", "session="+cookie)
				o := outcome{kind: "GET /", status: status(client.Do(req)), at: time.Now()}
				if loadCtx.Err() == nil {
					record(o)
				}
			}
		})
	}
	for w := range cfg.writers {
		wg.Go(func() {
			for i := w; loadCtx.Err() == nil; i += cfg.writers {
				form := url.Values{"email": {fmt.Sprintf("ha%d@example.com", 1+i%haUsers)}, "password": {benchPassword}}
				req, _ := http.NewRequestWithContext(loadCtx, http.MethodPost, site.base+"/login", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				res, err := client.Do(req)
				o := outcome{kind: "POST /login", status: status(res, err), at: time.Now()}
				if err == nil && res.StatusCode == http.StatusSeeOther {
					for _, ck := range res.Cookies() {
						if ck.Name == "session" && ck.Value != "" {
							mu.Lock()
							acked = append(acked, tokenHash(ck.Value))
							mu.Unlock()
						}
					}
				}
				if loadCtx.Err() == nil {
					record(o)
				}
			}
		})
	}

	start := time.Now()
	fmt.Printf("load: %d clients reading GET /, %d signing in (each sign-in commits a session)\n", cfg.readers, cfg.writers)
	if err := pause(ctx, cfg.before); err != nil {
		return err
	}
	killed := time.Now()
	if err := pglocal.Kill(ctx, primaryDir, logger); err != nil {
		return err
	}
	fmt.Printf("+%.2fs primary killed (immediate shutdown)\n", killed.Sub(start).Seconds())
	if err := pause(ctx, cfg.promoteAfter); err != nil {
		return err
	}
	promoting := time.Now()
	if err := standby.Promote(ctx); err != nil {
		return err
	}
	promoted := time.Now()
	fmt.Printf("+%.2fs standby promoted (pg_ctl promote took %v)\n", promoted.Sub(start).Seconds(), promoted.Sub(promoting).Round(time.Millisecond))
	if pgb != nil {
		if err := pgb.Point(behind(standby)); err != nil {
			return err
		}
		fmt.Printf("+%.2fs PgBouncer pointed at the new primary (its configuration rewritten, SIGHUP)\n", time.Since(start).Seconds())
	}
	if err := pause(ctx, cfg.after); err != nil {
		return err
	}
	stopLoad()
	wg.Wait()
	closeStream()

	mu.Lock()
	defer mu.Unlock()
	report, reportErr := haReport(outcomes, start, killed, promoted)
	fmt.Print(report)
	if i := slices.IndexFunc(resyncs, func(t time.Time) bool { return t.After(killed) }); i >= 0 {
		fmt.Printf("event stream: resync %v after the promotion\n", resyncs[i].Sub(promoted).Round(time.Millisecond))
	} else {
		fmt.Println("event stream: NO resync after the failover")
		reportErr = errors.Join(reportErr, errors.New("the event stream got no resync"))
	}
	return errors.Join(reportErr, verifyAcked(ctx, db, acked))
}

// status is a request's status code, 0 for no answer.
func status(res *http.Response, err error) int {
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// pause waits d unless ctx ends first.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// haReport counts the outcomes by kind and status, says between when
// requests failed, and for how long after the kill writes were refused:
// from the first failed request to the first acknowledged sign-in after it.
// It fails if a request failed otherwise than with the 503 of an
// unavailable database, or no write was accepted after the failover.
func haReport(outcomes []outcome, start, killed, promoted time.Time) (string, error) {
	var b strings.Builder
	at := func(t time.Time) string { return fmt.Sprintf("+%.2fs", t.Sub(start).Seconds()) }
	counts := map[string]map[int]int{}
	var kinds []string
	var firstFailed, lastFailed, firstAccepted time.Time
	failed, other := 0, 0
	for _, o := range outcomes {
		if counts[o.kind] == nil {
			counts[o.kind] = map[int]int{}
			kinds = append(kinds, o.kind)
		}
		counts[o.kind][o.status]++
		if o.status != http.StatusOK && o.status != http.StatusSeeOther {
			failed++
			if o.status != http.StatusServiceUnavailable {
				other++
			}
			if firstFailed.IsZero() || o.at.Before(firstFailed) {
				firstFailed = o.at
			}
			if o.at.After(lastFailed) {
				lastFailed = o.at
			}
		}
	}
	// A sign-in in flight at the kill may still be accepted: the refusal
	// begins with the first failed request and ends with the first write
	// accepted after it.
	refusedFrom := killed
	if !firstFailed.IsZero() {
		refusedFrom = firstFailed
	}
	for _, o := range outcomes {
		if o.kind == "POST /login" && o.status == http.StatusSeeOther && o.at.After(refusedFrom) && (firstAccepted.IsZero() || o.at.Before(firstAccepted)) {
			firstAccepted = o.at
		}
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		var codes []int
		for code := range counts[k] {
			codes = append(codes, code)
		}
		slices.Sort(codes)
		total := 0
		var parts []string
		for _, code := range codes {
			total += counts[k][code]
			parts = append(parts, fmt.Sprintf("%d: %d", code, counts[k][code]))
		}
		fmt.Fprintf(&b, "%s: %d requests (%s)\n", k, total, strings.Join(parts, ", "))
	}
	fmt.Fprintf(&b, "requests failed: %d of %d", failed, len(outcomes))
	if failed > 0 {
		fmt.Fprintf(&b, ", all between %s and %s (the kill at %s, the promotion at %s)", at(firstFailed), at(lastFailed), at(killed), at(promoted))
	}
	fmt.Fprintln(&b)
	var err error
	if other > 0 {
		err = fmt.Errorf("%d requests failed with a status other than 503", other)
	}
	if firstAccepted.IsZero() {
		fmt.Fprintln(&b, "writes: NONE accepted after the failover")
		err = errors.Join(err, errors.New("no write was accepted after the failover"))
	} else {
		fmt.Fprintf(&b, "writes refused for %v: from the first failed request (%s) to the first accepted sign-in after it (%s), %v after the promotion\n",
			firstAccepted.Sub(refusedFrom).Round(time.Millisecond), at(refusedFrom), at(firstAccepted), firstAccepted.Sub(promoted).Round(time.Millisecond))
	}
	return b.String(), err
}

// verifyAcked checks that every session whose sign-in the clients saw
// acknowledged is on the new primary.
func verifyAcked(ctx context.Context, db *sql.DB, acked []string) error {
	var found int
	var inRecovery bool
	if err := db.QueryRowContext(ctx, `SELECT count(*), pg_is_in_recovery() FROM sessions WHERE token = ANY($1)`, acked).Scan(&found, &inRecovery); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if inRecovery {
		return errors.New("verify: the pool reached a server in recovery")
	}
	fmt.Printf("committed writes: %d sign-ins acknowledged, %d of them on the new primary\n", len(acked), found)
	if found != len(acked) {
		return fmt.Errorf("%d acknowledged sign-ins LOST in the failover", len(acked)-found)
	}
	fmt.Println("nothing committed was lost")
	return nil
}

// measureStandbyReads runs the request path's session lookup with pgbench
// at 32 connections on the primary alone, then 16 on each server at once,
// to tell whether serving the lookups from the standby too (what
// --read-database-url would do) serves more on this machine.
func measureStandbyReads(ctx context.Context, dir string, primary, standby *pglocal.Cluster, cookie string, d time.Duration) error {
	pgbenchPath, err := pgTool("pgbench")
	if err != nil {
		return err
	}
	script := filepath.Join(dir, "session.sql")
	query := strings.ReplaceAll(strings.TrimSpace(sessions.FindQuery), "$1", "ARRAY[:token]") + ";\n"
	if err := os.WriteFile(script, []byte(query), 0o644); err != nil {
		return err
	}
	args := []string{"-M", "prepared", "-f", script, "-D", "token=" + tokenHash(cookie)}
	conn := func(c *pglocal.Cluster) connInfo {
		return connInfo{host: c.SocketDir(), port: "5432", user: "postgres", database: "aistat"}
	}
	alone, err := pgbench(ctx, pgbenchPath, conn(primary), 32, d, args...)
	if err != nil {
		return err
	}
	var both [2]result
	var errs [2]error
	var wg sync.WaitGroup
	for i, c := range []*pglocal.Cluster{primary, standby} {
		wg.Go(func() { both[i], errs[i] = pgbench(ctx, pgbenchPath, conn(c), 16, d, args...) })
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return err
	}
	fmt.Printf("session lookups (pgbench, prepared, %v each): primary alone at 32 connections %.0f/s; "+
		"primary and standby at 16 each at once %.0f/s (%.0f + %.0f)\n",
		d, alone.rate, both[0].rate+both[1].rate, both[0].rate, both[1].rate)
	return nil
}
