package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"aistat/internal/gctune"
	"aistat/internal/pglocal"
	"aistat/internal/poll"
)

// soakDuration turns the soak on; make soak sets it (SOAK_DURATION, 10m by
// default). make test leaves it at 0, which skips the soak.
var soakDuration = flag.Duration("soak", 0, "run TestSoak for this long (make soak); 0 skips it")

// Soak shape: virtual users, each with two devices (sessions) and one open
// event stream, sending requests to three instances at random.
const (
	soakUsers       = 24
	soakThinkMin    = 40 * time.Millisecond
	soakThinkSpread = 100 * time.Millisecond
	soakPassword    = "soak-password"
	// soakRecovery is how long after the database is back requests may
	// still fail, as the issue allows.
	soakRecovery = 5 * time.Second
	// soakSampleEvery is how often memory and connections are sampled.
	soakSampleEvery = 10 * time.Second
)

// TestSoak runs three instances of the built binary on one database for
// -soak with mixed traffic (page views, profile saves, sign-ins, sign-outs,
// revocations, event streams) and restarts PostgreSQL once in the middle. It
// fails when a request failed outside the outage, an update was lost, an
// event stream missed the final state, or memory or connections grew.
func TestSoak(t *testing.T) {
	if *soakDuration <= 0 {
		t.Skip("the soak runs with make soak")
	}
	bin := buildBinary(t)
	sk := &soak{t: t, start: time.Now(), failed: map[string]int{}}
	sk.startDatabase()
	logDir := t.TempDir()
	for i := range 3 {
		sk.instances = append(sk.instances, startSoakInstance(t, bin, sk.dsn, filepath.Join(logDir, fmt.Sprintf("instance-%d.log", i))))
	}
	sk.seedUsers()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sk.ctx = ctx
	sk.stop = make(chan struct{})
	sk.start = time.Now()
	var traffic, streams, background sync.WaitGroup
	for _, u := range sk.users {
		traffic.Go(func() { sk.runUser(u) })
		streams.Go(func() { sk.runStream(u) })
	}
	traffic.Go(sk.runRevoker)
	background.Go(sk.runSampler)
	background.Go(func() {
		select {
		case <-time.After(*soakDuration / 2):
			sk.restartDatabase()
		case <-sk.stop:
		}
	})

	time.Sleep(*soakDuration)
	close(sk.stop)
	traffic.Wait()
	sk.finalCheck()
	cancel()
	streams.Wait()
	background.Wait()
	sk.stopInstances()
	sk.report(logDir)
}

// soak is the state of one soak run.
type soak struct {
	t         *testing.T
	ctx       context.Context
	stop      chan struct{}
	start     time.Time
	dir       string
	dsn       string
	cluster   *pglocal.Cluster
	instances []*soakInstance
	users     []*soakUser
	admin     *soakDevice

	mu sync.Mutex
	// outageStart and outageEnd bound the restart of PostgreSQL; zero until
	// it happens.
	outageStart, outageEnd time.Time
	recoveredIn            time.Duration
	lastOutageFailure      time.Time
	failed                 map[string]int // failures outside the outage, by kind
	failures               []string       // the first few, in detail
	samples                []soakSample

	requests, outageFailures, saves, signIns, signOuts, revocations,
	revokedSeen, streamsOpened, events atomic.Int64
}

// soakUser is a virtual user: one goroutine drives its two devices one
// request at a time, so the last saved name is always known.
type soakUser struct {
	id      int64
	email   string
	name    string // last saved name
	maybe   string // a save whose answer was lost: it may or may not have happened
	devices [2]*soakDevice
	version int
	// revokes counts revocations started and finished; a device signed out
	// by surprise is explained by a change since its sign-in began.
	revokes atomic.Int64

	mu         sync.Mutex
	streamOpen bool
	streamName string // the name in the last profile event of its stream
}

// soakDevice is one browser: its own cookie jar, hence its own session.
type soakDevice struct {
	client   *http.Client
	stream   *http.Client
	signedIn bool
	revokes  int64 // the user's revokes count when this sign-in began
}

func newSoakDevice() *soakDevice {
	jar, _ := cookiejar.New(nil)
	transport := &http.Transport{MaxIdleConnsPerHost: 16}
	return &soakDevice{
		client: &http.Client{
			Jar:           jar,
			Transport:     transport,
			Timeout:       15 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		stream: &http.Client{Jar: jar, Transport: transport},
	}
}

// startDatabase starts a cluster the soak owns, so that it can restart it.
func (sk *soak) startDatabase() {
	t := sk.t
	sk.dir = dataDir(t)
	sk.bootCluster()
	if err := sk.cluster.CreateDatabase(t.Context(), "soak"); err != nil {
		t.Fatal(err)
	}
	sk.dsn = sk.cluster.URL("soak")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := sk.cluster.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
}

func (sk *soak) bootCluster() {
	c, err := pglocal.Start(context.Background(), sk.dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		sk.t.Fatal(err)
	}
	sk.cluster = c
}

// restartDatabase stops PostgreSQL cleanly and starts it again, and waits
// until every instance is healthy.
func (sk *soak) restartDatabase() {
	sk.mu.Lock()
	sk.outageStart = time.Now()
	sk.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sk.cluster.Stop(ctx); err != nil {
		sk.t.Errorf("stop postgres: %v", err)
	}
	sk.bootCluster()
	back := time.Now()
	sk.mu.Lock()
	sk.outageEnd = back
	sk.mu.Unlock()
	for _, in := range sk.instances {
		poll.Until(sk.t, in.base+" to be healthy", time.Minute, func() bool {
			res, err := http.Get(in.base + "/healthz")
			if err != nil {
				return false
			}
			res.Body.Close()
			return res.StatusCode == http.StatusOK
		})
	}
	sk.mu.Lock()
	sk.recoveredIn = time.Since(back)
	sk.mu.Unlock()
}

// inOutage reports whether a request sent at sent overlaps the restart and
// the recovery allowed after it.
func (sk *soak) inOutage(sent time.Time) bool {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if sk.outageStart.IsZero() || time.Now().Before(sk.outageStart) {
		return false
	}
	return sk.outageEnd.IsZero() || sent.Before(sk.outageEnd.Add(soakRecovery))
}

// fail records a failed request; inside the outage it is only counted.
func (sk *soak) fail(kind string, sent time.Time, format string, args ...any) {
	if sk.inOutage(sent) {
		sk.outageFailures.Add(1)
		sk.mu.Lock()
		sk.lastOutageFailure = time.Now()
		sk.mu.Unlock()
		return
	}
	sk.mu.Lock()
	defer sk.mu.Unlock()
	sk.failed[kind]++
	if len(sk.failures) < 20 {
		sk.failures = append(sk.failures, fmt.Sprintf("%v %s: %s", time.Since(sk.start).Round(time.Millisecond), kind, fmt.Sprintf(format, args...)))
	}
}

func (sk *soak) instance() *soakInstance { return sk.instances[rand.IntN(len(sk.instances))] }

// do sends one request to a random instance.
func (sk *soak) do(d *soakDevice, method, path, contentType, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(context.Background(), method, sk.instance().base+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	sk.requests.Add(1)
	res, err := d.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// seedUsers creates the virtual users and an admin, with bcrypt's lowest
// cost so that sign-ins stay cheap.
func (sk *soak) seedUsers() {
	t := sk.t
	db, err := sql.Open("postgres", sk.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hash, err := bcrypt.GenerateFromPassword([]byte(soakPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO users (email, name, role, password_hash) VALUES ('soak-admin@example.com', 'Soak Admin', 'admin', $1)`, string(hash)); err != nil {
		t.Fatal(err)
	}
	for i := range soakUsers {
		u := &soakUser{email: fmt.Sprintf("soak%d@example.com", i), name: fmt.Sprintf("Soak %d", i)}
		err := db.QueryRow(`INSERT INTO users (email, name, role, password_hash) VALUES ($1, $2, 'viewer', $3) RETURNING id`,
			u.email, u.name, string(hash)).Scan(&u.id)
		if err != nil {
			t.Fatal(err)
		}
		u.devices = [2]*soakDevice{newSoakDevice(), newSoakDevice()}
		sk.users = append(sk.users, u)
	}
	sk.admin = newSoakDevice()
	for !sk.signIn(sk.admin, "soak-admin@example.com", nil) {
		time.Sleep(100 * time.Millisecond)
	}
}

// signIn signs the device in; u is nil for the admin.
func (sk *soak) signIn(d *soakDevice, email string, u *soakUser) bool {
	if u != nil {
		d.revokes = u.revokes.Load()
	}
	sent := time.Now()
	form := url.Values{"email": {email}, "password": {soakPassword}}
	code, body, err := sk.do(d, http.MethodPost, "/login", "application/x-www-form-urlencoded", form.Encode())
	if err != nil || code != http.StatusSeeOther {
		sk.fail("sign-in", sent, "%d %v %.200s", code, err, body)
		return false
	}
	sk.signIns.Add(1)
	d.signedIn = true
	return true
}

// signedOut handles a request that found the device anonymous: expected
// after a revocation of the user since the device signed in, a failure
// otherwise.
func (sk *soak) signedOut(u *soakUser, d *soakDevice, kind string, sent time.Time) {
	d.signedIn = false
	if u.revokes.Load() != d.revokes {
		sk.revokedSeen.Add(1)
		return
	}
	sk.fail(kind, sent, "signed out without a revocation")
}

// knownName reports whether name is what the user's pages may show: the last
// saved name, or a save whose answer was lost.
func (u *soakUser) knownName(name string) bool {
	return name == u.name || (u.maybe != "" && name == u.maybe)
}

// saved records a save the site confirmed.
func (u *soakUser) saved(name string) {
	u.name, u.maybe = name, ""
}

// runUser drives one virtual user until the soak stops.
func (sk *soak) runUser(u *soakUser) {
	for {
		select {
		case <-sk.stop:
			return
		default:
		}
		d := u.devices[rand.IntN(len(u.devices))]
		if !d.signedIn {
			sk.signIn(d, u.email, u)
		} else {
			sk.action(u, d)
		}
		time.Sleep(soakThinkMin + rand.N(soakThinkSpread))
	}
}

// action sends one request of the mix and checks its answer.
func (sk *soak) action(u *soakUser, d *soakDevice) {
	sent := time.Now()
	switch r := rand.IntN(100); {
	case r < 40:
		code, body, err := sk.do(d, http.MethodGet, "/", "", "")
		switch {
		case err != nil || code != http.StatusOK:
			sk.fail("page", sent, "GET / = %d %v", code, err)
		case strings.Contains(body, "header-signin"):
			sk.signedOut(u, d, "page", sent)
		case !strings.Contains(body, u.name) && (u.maybe == "" || !strings.Contains(body, u.maybe)):
			sk.fail("page", sent, "GET / does not show the saved name %q", u.name)
		}
	case r < 55:
		code, body, err := sk.do(d, http.MethodGet, "/api/session", "", "")
		switch {
		case err == nil && code == http.StatusUnauthorized:
			sk.signedOut(u, d, "session", sent)
		case err != nil || code != http.StatusOK:
			sk.fail("session", sent, "GET /api/session = %d %v", code, err)
		default:
			var b struct{ User struct{ Name string } }
			if err := json.Unmarshal([]byte(body), &b); err != nil || !u.knownName(b.User.Name) {
				sk.fail("session", sent, "GET /api/session shows %q, saved %q", b.User.Name, u.name)
			}
		}
	case r < 72:
		sk.save(u, d, false)
	case r < 78:
		sk.save(u, d, true)
	case r < 86:
		code, body, err := sk.do(d, http.MethodGet, "/settings", "", "")
		switch {
		case err == nil && code == http.StatusSeeOther:
			sk.signedOut(u, d, "settings", sent)
		case err != nil || code != http.StatusOK:
			sk.fail("settings", sent, "GET /settings = %d %v", code, err)
		case !strings.Contains(body, u.name) && (u.maybe == "" || !strings.Contains(body, u.maybe)):
			sk.fail("settings", sent, "GET /settings does not show the saved name %q", u.name)
		}
	case r < 93:
		// A viewer is refused the admin page, on every instance.
		code, _, err := sk.do(d, http.MethodGet, "/admin", "", "")
		switch {
		case err == nil && code == http.StatusSeeOther:
			sk.signedOut(u, d, "admin", sent)
		case err != nil || code != http.StatusForbidden:
			sk.fail("admin", sent, "GET /admin as a viewer = %d %v", code, err)
		}
	default:
		code, _, err := sk.do(d, http.MethodPost, "/logout", "", "")
		switch {
		case err == nil && code == http.StatusSeeOther:
			sk.signOuts.Add(1)
			d.signedIn = false
		case err == nil && code == http.StatusUnauthorized:
			sk.signedOut(u, d, "sign-out", sent)
		default:
			sk.fail("sign-out", sent, "POST /logout = %d %v", code, err)
		}
	}
}

// save renames the user, through the JSON API or the form, and tries again
// while the site is unavailable, so that the last saved name stays known.
func (sk *soak) save(u *soakUser, d *soakDevice, form bool) {
	u.version++
	name := fmt.Sprintf("Soak %d v%d", u.id, u.version)
	for attempt := 0; ; attempt++ {
		sent := time.Now()
		var (
			code int
			body string
			err  error
		)
		if form {
			v := url.Values{"name": {name}, "avatar_url": {""}}
			code, body, err = sk.do(d, http.MethodPost, "/settings", "application/x-www-form-urlencoded", v.Encode())
		} else {
			code, body, err = sk.do(d, http.MethodPut, "/api/profile", "application/json", fmt.Sprintf(`{"name":%q,"avatarUrl":""}`, name))
		}
		want := http.StatusOK
		if form {
			want = http.StatusSeeOther
		}
		switch {
		case err == nil && code == want:
			u.saved(name)
			sk.saves.Add(1)
			return
		case err == nil && code == http.StatusUnauthorized:
			sk.signedOut(u, d, "save", sent)
			return
		}
		sk.fail("save", sent, "save = %d %v %.200s", code, err, body)
		// The save may have been applied with its answer lost.
		u.maybe = name
		if attempt > 100 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// runRevoker signs a random user out everywhere every few seconds.
func (sk *soak) runRevoker() {
	for {
		select {
		case <-sk.stop:
			return
		case <-time.After(3*time.Second + rand.N(4*time.Second)):
		}
		u := sk.users[rand.IntN(len(sk.users))]
		u.revokes.Add(1)
		sent := time.Now()
		code, _, err := sk.do(sk.admin, http.MethodPost, fmt.Sprintf("/admin/users/%d/revoke", u.id), "application/x-www-form-urlencoded", "confirm=yes")
		u.revokes.Add(1)
		if err != nil || code != http.StatusSeeOther {
			sk.fail("revoke", sent, "POST revoke = %d %v", code, err)
			continue
		}
		sk.revocations.Add(1)
	}
}

// runStream keeps an event stream open for the user's first device and
// remembers the last profile it was sent.
func (sk *soak) runStream(u *soakUser) {
	d := u.devices[0]
	for sk.ctx.Err() == nil {
		req, err := http.NewRequestWithContext(sk.ctx, http.MethodGet, sk.instance().base+"/api/events", nil)
		if err != nil {
			return
		}
		res, err := d.stream.Do(req)
		if err != nil || res.StatusCode != http.StatusOK {
			if err == nil {
				res.Body.Close()
			}
			select {
			case <-sk.ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		sk.streamsOpened.Add(1)
		u.mu.Lock()
		u.streamOpen = true
		u.mu.Unlock()
		sc := bufio.NewScanner(res.Body)
		var event string
		for sc.Scan() {
			line := sc.Text()
			if name, ok := strings.CutPrefix(line, "event: "); ok {
				event = name
				continue
			}
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok {
				continue
			}
			sk.events.Add(1)
			if event == "profile" {
				var p struct{ Name string }
				if json.Unmarshal([]byte(data), &p) == nil {
					u.mu.Lock()
					u.streamName = p.Name
					u.mu.Unlock()
				}
			}
		}
		res.Body.Close()
		u.mu.Lock()
		u.streamOpen = false
		u.mu.Unlock()
	}
}

// finalCheck saves a last name for every user while every stream is open
// and checks that every session, a fresh one on every instance, the
// database and the stream all show it.
func (sk *soak) finalCheck() {
	t := sk.t
	for _, u := range sk.users {
		for _, d := range u.devices {
			for !d.signedIn {
				if !sk.signIn(d, u.email, u) {
					time.Sleep(200 * time.Millisecond)
				}
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, u := range sk.users {
		if !poll.Within(time.Until(deadline), func() bool {
			u.mu.Lock()
			defer u.mu.Unlock()
			return u.streamOpen
		}) {
			t.Errorf("the stream of %s did not reopen", u.email)
		}
	}
	// Let the streams that just opened be registered on their instances.
	time.Sleep(500 * time.Millisecond)
	for _, u := range sk.users {
		name := fmt.Sprintf("Final %d", u.id)
		code, body, err := sk.do(u.devices[1], http.MethodPut, "/api/profile", "application/json", fmt.Sprintf(`{"name":%q,"avatarUrl":""}`, name))
		if err != nil || code != http.StatusOK {
			t.Errorf("final save of %s: %d %v %s", u.email, code, err, body)
		}
		u.saved(name)
	}
	deadline = time.Now().Add(10 * time.Second)
	var missed []string
	for _, u := range sk.users {
		var got string
		if !poll.Within(time.Until(deadline), func() bool {
			u.mu.Lock()
			defer u.mu.Unlock()
			got = u.streamName
			return got == u.name
		}) {
			missed = append(missed, fmt.Sprintf("%s: %q", u.email, got))
		}
	}
	if len(missed) > 0 {
		t.Errorf("event streams missed the final name: %v", missed)
	}

	db, err := sql.Open("postgres", sk.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, u := range sk.users {
		var stored string
		if err := db.QueryRow(`SELECT name FROM users WHERE id = $1`, u.id).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored != u.name {
			t.Errorf("%s: the database holds %q, the last save was %q", u.email, stored, u.name)
		}
		fresh := newSoakDevice()
		sk.signIn(fresh, u.email, u)
		for _, d := range append(u.devices[:], fresh) {
			for _, in := range sk.instances {
				req, _ := http.NewRequest(http.MethodGet, in.base+"/api/session", nil)
				res, err := d.client.Do(req)
				if err != nil {
					t.Errorf("%s: GET /api/session: %v", u.email, err)
					continue
				}
				var b struct{ User struct{ Name string } }
				err = json.NewDecoder(res.Body).Decode(&b)
				res.Body.Close()
				if err != nil || b.User.Name != u.name {
					t.Errorf("%s on %s: session shows %q (%d), the last save was %q", u.email, in.base, b.User.Name, res.StatusCode, u.name)
				}
			}
		}
	}
}

// soakSample is memory and connections of every instance at one moment.
type soakSample struct {
	at        time.Duration
	rss, heap []float64 // bytes, per instance
	goroutine []float64
	conns     []float64 // open pool connections, per instance
	backends  float64   // server connections to the soak database, -1 when unknown
}

// runSampler samples every soakSampleEvery until the traffic stops.
func (sk *soak) runSampler() {
	db, err := sql.Open("postgres", sk.dsn)
	if err != nil {
		sk.t.Error(err)
		return
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for {
		s := soakSample{at: time.Since(sk.start), backends: -1}
		for _, in := range sk.instances {
			m := in.metrics()
			s.rss = append(s.rss, in.rss())
			s.heap = append(s.heap, m["go_gc_heap_live_bytes"])
			s.goroutine = append(s.goroutine, m["go_goroutines"])
			s.conns = append(s.conns, m["aistat_db_open_connections"])
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		var n float64
		if db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = 'soak'`).Scan(&n) == nil {
			s.backends = n - 1 // not this sampler's own connection
		}
		cancel()
		sk.mu.Lock()
		sk.samples = append(sk.samples, s)
		sk.mu.Unlock()
		select {
		case <-sk.stop:
			return
		case <-time.After(soakSampleEvery):
		}
	}
}

// stopInstances stops every instance with SIGTERM and expects a clean exit.
func (sk *soak) stopInstances() {
	for i, in := range sk.instances {
		if err := in.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			sk.t.Errorf("instance %d: %v", i, err)
			continue
		}
		select {
		case err := <-in.done:
			in.done <- err
			if err != nil {
				sk.t.Errorf("instance %d exited with %v after SIGTERM, want 0", i, err)
			}
		case <-time.After(20 * time.Second):
			sk.t.Errorf("instance %d did not exit within 20 s of SIGTERM", i)
		}
	}
}

// report prints the summary and checks that memory and connections stayed
// flat between the first and the last minute.
func (sk *soak) report(logDir string) {
	t := sk.t
	d := *soakDuration
	warm := min(30*time.Second, d/10)
	window := min(time.Minute, d/4)
	first := sk.window(warm, warm+window)
	last := sk.window(d-window, d+time.Minute)

	var b strings.Builder
	fmt.Fprintf(&b, "soak: %v, 3 instances, %d users with 2 sessions and 1 event stream each\n", d, soakUsers)
	fmt.Fprintf(&b, "requests:        %d (%.0f/s)\n", sk.requests.Load(), float64(sk.requests.Load())/d.Seconds())
	fmt.Fprintf(&b, "profile saves:   %d\n", sk.saves.Load())
	fmt.Fprintf(&b, "sign-ins:        %d, sign-outs: %d\n", sk.signIns.Load(), sk.signOuts.Load())
	fmt.Fprintf(&b, "revocations:     %d (%d sessions found revoked)\n", sk.revocations.Load(), sk.revokedSeen.Load())
	fmt.Fprintf(&b, "event streams:   %d opened, %d events received\n", sk.streamsOpened.Load(), sk.events.Load())
	sk.mu.Lock()
	fmt.Fprintf(&b, "postgres restart at %v: down %v, all instances healthy %v after it was back\n",
		sk.outageStart.Sub(sk.start).Round(time.Second), sk.outageEnd.Sub(sk.outageStart).Round(time.Millisecond), sk.recoveredIn.Round(time.Millisecond))
	fmt.Fprintf(&b, "failed requests: %d outside the outage %v, %d during it", total(sk.failed), sk.failed, sk.outageFailures.Load())
	if after := sk.lastOutageFailure.Sub(sk.outageEnd); after > 0 {
		fmt.Fprintf(&b, " (the last %v after postgres was back)", after.Round(time.Millisecond))
	} else if !sk.lastOutageFailure.IsZero() {
		fmt.Fprint(&b, " (none after postgres was back)")
	}
	fmt.Fprintln(&b)
	for _, f := range sk.failures {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	recovered := sk.recoveredIn
	failed := total(sk.failed)
	sk.mu.Unlock()
	for i := range sk.instances {
		fmt.Fprintf(&b, "instance %d: RSS %s -> %s, live Go heap %s -> %s, goroutines %.0f -> %.0f, pool connections %.1f -> %.1f\n", i,
			mib(first.rss[i]), mib(last.rss[i]), mib(first.heap[i]), mib(last.heap[i]),
			first.goroutine[i], last.goroutine[i], first.conns[i], last.conns[i])
	}
	fmt.Fprintf(&b, "database connections: %.1f -> %.1f (first vs last minute)\n", first.backends, last.backends)
	errors, panics := sk.scanLogs()
	fmt.Fprintf(&b, "logs (%s): %d ERROR lines, %d internal errors or panics\n", logDir, errors, panics)
	t.Log("\n" + b.String())

	if failed > 0 {
		t.Errorf("%d requests failed outside the outage", failed)
	}
	if recovered > soakRecovery {
		t.Errorf("instances healthy %v after the database was back, want within %v", recovered, soakRecovery)
	}
	if panics > 0 {
		t.Errorf("%d internal errors or panics in the logs", panics)
	}
	for i := range sk.instances {
		grew := func(what string, before, after, factor, slack float64) {
			if after > before*factor+slack {
				t.Errorf("instance %d: %s grew from %.1f to %.1f", i, what, before, after)
			}
		}
		// The collector lets garbage grow to its minimum heap goal before
		// it runs: the live heap shows leaks, RSS only gross ones.
		grew("RSS", first.rss[i], last.rss[i], 1.5, gctune.DefaultMinHeap+16<<20)
		grew("live Go heap", first.heap[i], last.heap[i], 1.5, 16<<20)
		grew("goroutines", first.goroutine[i], last.goroutine[i], 1.2, 50)
		grew("pool connections", first.conns[i], last.conns[i], 1, 8)
	}
	if last.backends > first.backends+16 {
		t.Errorf("database connections grew from %.1f to %.1f", first.backends, last.backends)
	}
}

// window averages the samples taken between from and to.
func (sk *soak) window(from, to time.Duration) soakSample {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	n := len(sk.instances)
	avg := soakSample{rss: make([]float64, n), heap: make([]float64, n), goroutine: make([]float64, n), conns: make([]float64, n)}
	count, backends := 0, 0
	for _, s := range sk.samples {
		if s.at < from || s.at > to {
			continue
		}
		count++
		for i := range n {
			avg.rss[i] += s.rss[i]
			avg.heap[i] += s.heap[i]
			avg.goroutine[i] += s.goroutine[i]
			avg.conns[i] += s.conns[i]
		}
		if s.backends >= 0 {
			avg.backends += s.backends
			backends++
		}
	}
	if count == 0 {
		sk.t.Fatalf("no sample between %v and %v", from, to)
	}
	for i := range n {
		avg.rss[i] /= float64(count)
		avg.heap[i] /= float64(count)
		avg.goroutine[i] /= float64(count)
		avg.conns[i] /= float64(count)
	}
	if backends > 0 {
		avg.backends /= float64(backends)
	}
	return avg
}

// scanLogs counts ERROR lines (some are expected while the database is
// away) and internal errors or panics (never expected) in the instances'
// logs.
func (sk *soak) scanLogs() (errors, panics int) {
	for _, in := range sk.instances {
		f, err := os.Open(in.log)
		if err != nil {
			sk.t.Error(err)
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "level=ERROR") {
				errors++
			}
			if strings.Contains(line, `msg="internal error"`) || strings.Contains(line, "msg=panic") {
				panics++
			}
		}
		f.Close()
	}
	return errors, panics
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

// soakInstance is one `aistat serve` process of the soak.
type soakInstance struct {
	cmd        *exec.Cmd
	base       string
	metricsURL string
	log        string
	done       chan error
}

// metricsPrefix starts the line serve prints when it serves metrics.
const metricsPrefix = "Metrics at "

// startSoakInstance runs the binary's serve on dsn with metrics on, logging
// to logPath, and waits until it listens.
func startSoakInstance(t *testing.T, bin, dsn, logPath string) *soakInstance {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	cmd := exec.Command(bin, "serve", "--database-url", dsn, "--addr", "127.0.0.1:0",
		"--metrics-addr", "127.0.0.1:0", "--session-refresh", "20s")
	cmd.Env = processEnv()
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &soakInstance{cmd: cmd, log: logPath, done: make(chan error, 1)}
	addrs := make(chan [2]string, 1)
	go func() {
		// serve prints the metrics address before the site's.
		var metrics string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m, ok := strings.CutPrefix(sc.Text(), metricsPrefix); ok {
				metrics = m
			}
			if base, ok := strings.CutPrefix(sc.Text(), addressPrefix); ok {
				addrs <- [2]string{base, metrics}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		// Wait may only run once the pipe's reader is done.
		in.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	select {
	case a := <-addrs:
		in.base, in.metricsURL = a[0], a[1]
	case err := <-in.done:
		t.Fatalf("serve exited before listening: %v (log %s)", err, logPath)
	case <-time.After(startTimeout):
		t.Fatal("serve printed no address")
	}
	return in
}

// metrics reads the instance's unlabelled metrics.
func (in *soakInstance) metrics() map[string]float64 {
	m := map[string]float64{}
	res, err := http.Get(in.metricsURL)
	if err != nil {
		return m
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			m[name] = f
		}
	}
	return m
}

// rss is the instance's resident memory in bytes.
func (in *soakInstance) rss() float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", in.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}
