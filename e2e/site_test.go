package e2e

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"aistat"
	"aistat/internal/pgtest"
	// A running instance is a site here.
	"aistat/internal/poll"
	assembly "aistat/internal/site"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// password is every test user's password; it satisfies the password rule.
const password = "correct horse battery"

// site is one running instance of the app: the real handlers, sessions and
// live hub on a database that other instances may share.
type site struct {
	URL   string
	db    *sql.DB
	users *aistat.Users
	// streams counts the event streams this instance serves.
	streams streamCounter
	// sessionAnswers holds the answers of GET /api/session, made at once
	// and written once released, as a slow network would deliver them.
	sessionAnswers gate
	// browserStreams holds the browser's requests for an event stream
	// before the site sees them.
	browserStreams gate
}

// startSite starts an instance on the database dsn (from pgtest.URL),
// applying the schema first, and stops it when the test ends.
func startSite(t *testing.T, dsn string) *site {
	t.Helper()
	return startSiteWith(t, dsn, func(*assembly.Config) {})
}

// startSiteWith is startSite with the configuration as change makes it.
func startSiteWith(t *testing.T, dsn string, change func(*assembly.Config)) *site {
	t.Helper()
	return startSiteOn(t, httptest.NewUnstartedServer(nil), dsn, change)
}

// startSiteOn is startSiteWith serving on ts, not started yet, whose
// address change can then put in the configuration.
func startSiteOn(t *testing.T, ts *httptest.Server, dsn string, change func(*assembly.Config)) *site {
	t.Helper()
	// Every site here is for a browser: without one, skip before starting
	// anything.
	chromePath(t)
	// The limits are those aistat serve starts with.
	cfg := assembly.Config{DSN: dsn, HashParams: aistat.MinHashParams, Logger: testLogger(t)}
	change(&cfg)
	st, err := assembly.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("open site: %v", err)
	}
	t.Cleanup(st.Close)
	s := &site{db: st.DB, users: st.Users}
	ts.Config.Handler = s.instrument(st.Server)
	ts.Start()
	s.URL = ts.URL
	t.Cleanup(func() {
		// Open streams would hold up Close, as a real server's shutdown.
		st.Hub.Close()
		ts.Close()
	})
	return s
}

// instrument wraps the site's handler: it counts the event streams.
func (s *site) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/events":
			if r.Header.Get("Accept") == "text/event-stream" { // an EventSource
				s.browserStreams.pass(r.Context())
			}
			sw := &streamWriter{ResponseWriter: w, counter: &s.streams}
			defer sw.finish()
			next.ServeHTTP(sw, r)
		case "/api/session":
			if !s.sessionAnswers.closed() {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			s.sessionAnswers.pass(r.Context())
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// gate holds requests at a point of their way while a test keeps it
// closed.
type gate struct {
	mu      sync.Mutex
	open    chan struct{} // nil while the gate is open
	waiting int
}

// close holds every request that reaches the gate from now until the
// returned open is called; waiting tells how many reached it.
func (g *gate) close() (waiting func() int, open func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ch := make(chan struct{})
	g.open, g.waiting = ch, 0
	var once sync.Once
	return func() int {
			g.mu.Lock()
			defer g.mu.Unlock()
			return g.waiting
		}, func() {
			once.Do(func() {
				g.mu.Lock()
				defer g.mu.Unlock()
				g.open = nil
				close(ch)
			})
		}
}

func (g *gate) closed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open != nil
}

// pass waits until the gate opens or ctx ends.
func (g *gate) pass(ctx context.Context) {
	g.mu.Lock()
	ch := g.open
	if ch != nil {
		g.waiting++
	}
	g.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// createUser adds a user with the test password.
func (s *site) createUser(t *testing.T, email, name string, role aistat.Role) *aistat.User {
	t.Helper()
	u, err := s.users.Create(t.Context(), aistat.NewUser{Email: email, Name: name, Role: role, Password: password})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

// waitStreams waits until the instance serves exactly want open event
// streams.
func (s *site) waitStreams(t *testing.T, want int) {
	t.Helper()
	s.waitStreamsFunc(t, fmt.Sprintf("%d open", want), func(got streamStats) bool { return got.open == want })
}

// waitStreamsFunc waits until ok accepts the instance's event streams. A
// stream opens and closes with its page's life (a load, a navigation, a
// closed tab, a lock passed between tabs), which on a busy machine takes
// as long as any other step in a tab: it has actionTimeout.
func (s *site) waitStreamsFunc(t *testing.T, what string, ok func(streamStats) bool) {
	t.Helper()
	var got streamStats
	if !poll.Within(actionTimeout, func() bool { got = s.streams.stats(); return ok(got) }) {
		t.Fatalf("event streams after %v: %+v, want %s", actionTimeout, got, what)
	}
}

// streamStats is a snapshot of a streamCounter.
type streamStats struct {
	// open is how many streams are open now, max the most at any time,
	// total how many were ever opened. A stream is open from its 200
	// response until its handler returns.
	open, max, total int
}

// streamCounter counts the event streams of one instance.
type streamCounter struct {
	mu sync.Mutex
	s  streamStats
}

func (c *streamCounter) stats() streamStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s
}

func (c *streamCounter) add(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.open += n
	if n > 0 {
		c.s.total += n
		c.s.max = max(c.s.max, c.s.open)
	}
}

// streamWriter counts its response as an open stream once the handler
// accepts it with 200; a refusal (401, 429) is no stream. The stream is
// open until the handler returns or, when the handler takes the
// connection over, until the connection is closed.
type streamWriter struct {
	http.ResponseWriter
	counter  *streamCounter
	wrote    bool
	open     bool
	hijacked bool
}

func (w *streamWriter) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		if status == http.StatusOK {
			w.open = true
			w.counter.add(1)
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *streamWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection to flush and
// set deadlines.
func (w *streamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hands the connection over, counted as open until it is closed.
func (w *streamWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if !w.open {
		return conn, rw, nil
	}
	w.hijacked = true
	return &countedConn{Conn: conn, counter: w.counter}, rw, nil
}

func (w *streamWriter) finish() {
	if w.open && !w.hijacked {
		w.counter.add(-1)
	}
}

// countedConn is an open stream's connection, taken over from net/http.
type countedConn struct {
	net.Conn
	counter *streamCounter
	once    sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.counter.add(-1) })
	return c.Conn.Close()
}

// storedAvatar stores the test picture as an upload is stored and returns
// its path: an avatar the page loads from the site itself, as the
// Content-Security-Policy wants, without a browser uploading it first.
func (s *site) storedAvatar(t *testing.T) string {
	t.Helper()
	a, err := aistat.MakeAvatar(avatarPNG())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`INSERT INTO avatars (hash, large, small) VALUES ($1, $2, $3) ON CONFLICT (hash) DO NOTHING`,
		a.Hash, a.Large, a.Small); err != nil {
		t.Fatal(err)
	}
	return a.Path()
}

// avatarPNG is a small gradient image for avatars.
var avatarPNG = sync.OnceValue(func() []byte {
	const size = 64
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for y := range size {
		for x := range size {
			img.Set(x, y, color.RGBA{R: uint8(240 - 2*y), G: uint8(120 + x), B: uint8(60 + 2*x), A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
})

// testLogger logs the site's warnings and errors into the test's output,
// which shows them when the test fails. Lines arriving after the test ended
// are dropped: testing forbids logging then.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct {
	mu      sync.Mutex
	t       *testing.T
	stopped bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
}

// client is a signed-in HTTP client: another device of a user, or an admin
// at work, beside the browser under test.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

// signIn signs email in to s with the test password.
func signIn(t *testing.T, s *site, email string) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, base: s.URL, http: &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		// The tests check the redirects themselves.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	c.send(http.MethodPost, "/login", "application/x-www-form-urlencoded",
		url.Values{"email": {email}, "password": {password}}.Encode(), http.StatusSeeOther)
	return c
}

// send makes a request and fails the test unless the status is want.
func (c *client) send(method, path, contentType, body string, want int) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		c.t.Fatalf("%s %s: status %d, want %d; body: %.300s", method, path, res.StatusCode, want, got)
	}
}

// eventStream is a client's open event stream, read line by line.
type eventStream struct {
	lines chan string
}

// stream opens the client's event stream until the test ends.
func (c *client) stream() *eventStream {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), http.MethodGet, c.base+"/api/events", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	hc := *c.http
	hc.Timeout = 0
	res, err := hc.Do(req)
	if err != nil {
		c.t.Fatalf("GET /api/events: %v", err)
	}
	if res.StatusCode != http.StatusOK {
		c.t.Fatalf("GET /api/events: status %d", res.StatusCode)
	}
	c.t.Cleanup(func() { res.Body.Close() })
	es := &eventStream{lines: make(chan string, 100)}
	go func() {
		defer close(es.lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			es.lines <- sc.Text()
		}
	}()
	return es
}

// waitFor waits for an event named name whose data contains want.
func (es *eventStream) waitFor(t *testing.T, name, want string) {
	t.Helper()
	deadline := time.After(liveWithin)
	current := ""
	for {
		select {
		case line, ok := <-es.lines:
			if !ok {
				t.Fatalf("the stream ended before a %s event with %s", name, want)
			}
			if ev, found := strings.CutPrefix(line, "event: "); found {
				current = ev
			} else if data, found := strings.CutPrefix(line, "data: "); found && current == name && strings.Contains(data, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no %s event with %s within %v", name, want, liveWithin)
		}
	}
}

// postForm posts an HTML form as the page's form would and expects the 303
// that follows success.
func (c *client) postForm(path string, form url.Values) {
	c.t.Helper()
	c.send(http.MethodPost, path, "application/x-www-form-urlencoded", form.Encode(), http.StatusSeeOther)
}

// userPath is the admin path of a user's action, such as "role".
func userPath(u *aistat.User, action string) string {
	return "/admin/users/" + strconv.FormatInt(u.ID, 10) + "/" + action
}
