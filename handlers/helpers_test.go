package handlers_test

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"database/sql"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"aistat"
	"aistat/internal/live"
	"aistat/internal/pgtest"
	"aistat/internal/roundtrip"
	"aistat/internal/site"
	"aistat/internal/smtptest"
	"aistat/sessions"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testPassword satisfies the password rule.
const testPassword = "correct horse battery"

// env is one site (one instance) served through the real router.
type env struct {
	dsn     string
	db      *sql.DB
	users   *aistat.Users
	manager *sessions.Manager
	hub     *live.Hub
	server  *httptest.Server
	counter *roundtrip.Counter
	// smtp receives the site's mail, when the test gave one.
	smtp *smtptest.Server
}

// envConfig changes what mustOpenEnvConfig builds; zero fields take the
// defaults.
type envConfig struct {
	// dsn is the database to share with another instance; empty for a
	// fresh one.
	dsn      string
	sessions sessions.Config
	live     live.Config
	// logs receives the server's log lines; nil discards them.
	logs io.Writer
	// listenDSN is where the live hub listens; empty for dsn.
	listenDSN string
	// secureCookies serves the site over TLS with secure cookies
	// (__Host-session) and HSTS.
	secureCookies bool
	// http2 serves the site over TLS with HTTP/2, which has no connection
	// to take over.
	http2 bool
	// trustedProxies are the peers whose X-Forwarded-For names the client;
	// 127.0.0.1/32 lets a test choose its client address.
	trustedProxies []netip.Prefix
	// profiles serves Go's profiles on the metrics handler (--pprof).
	profiles bool
	// baseURL is the site's public URL (--base-url); empty for the test
	// server's own address.
	baseURL string
	// smtp is the SMTP server the site's mail goes to; nil prints it to
	// the log.
	smtp *smtptest.Server
	// reauthWindow is how recent a sign-in a dangerous action wants; zero
	// for the default.
	reauthWindow time.Duration
	// requireFactor sends admins without a second factor to set one up.
	requireFactor bool
	// localhost names the test server localhost in its base URL, a name
	// passkeys accept (browsers refuse them for an IP address).
	localhost bool
}

// mustOpenEnv starts a site on a fresh, migrated database.
func mustOpenEnv(tb testing.TB) *env {
	tb.Helper()
	return mustOpenEnvConfig(tb, envConfig{})
}

// mustOpenEnvConfig starts a site as cfg says.
func mustOpenEnvConfig(tb testing.TB, cfg envConfig) *env {
	tb.Helper()
	if cfg.live.MaxStreams == 0 {
		cfg.live = live.Config{MaxStreamsPerUser: 5, MaxStreams: 8}
	}
	if cfg.dsn == "" {
		cfg.dsn = pgtest.URL(tb)
	}
	logs := cfg.logs
	if logs == nil {
		logs = io.Discard
	}
	e := &env{dsn: cfg.dsn, counter: &roundtrip.Counter{}, smtp: cfg.smtp}
	var smtpURL string
	var smtpTLS *tls.Config
	if cfg.smtp != nil {
		smtpURL, smtpTLS = cfg.smtp.URL(), cfg.smtp.ClientTLS()
	}
	// The server listens before the site is built, so that the site's base
	// URL can be its real address.
	e.server = httptest.NewUnstartedServer(nil)
	tls := cfg.http2 || cfg.secureCookies
	host := e.server.Listener.Addr().String()
	if cfg.localhost {
		host = "localhost:" + strconv.Itoa(e.server.Listener.Addr().(*net.TCPAddr).Port)
	}
	baseURL := "http://" + host
	if tls {
		baseURL = "https://" + host
	}
	s, err := site.Open(context.Background(), site.Config{
		DSN:            cfg.dsn,
		ListenDSN:      cfg.listenDSN,
		Counter:        e.counter,
		HashParams:     aistat.MinHashParams,
		Sessions:       cfg.sessions,
		Live:           cfg.live,
		NoCleanup:      true, // its statements would count as the requests'
		Logger:         slog.New(slog.NewTextHandler(logs, nil)),
		SecureCookies:  cfg.secureCookies,
		TrustedProxies: cfg.trustedProxies,
		Profiles:       cfg.profiles,
		BaseURL:        cmp.Or(cfg.baseURL, baseURL),
		SMTPURL:        smtpURL,
		SMTPTLS:        smtpTLS,

		ReauthWindow:                 cfg.reauthWindow,
		RequireSecondFactorForAdmins: cfg.requireFactor,
	})
	if err != nil {
		tb.Fatalf("open site: %v", err)
	}
	tb.Cleanup(s.Close)
	e.db, e.users, e.manager, e.hub = s.DB, s.Users, s.Sessions, s.Hub
	e.server.Config.Handler = s.Server
	e.server.EnableHTTP2 = cfg.http2
	if tls {
		e.server.StartTLS()
	} else {
		e.server.Start()
	}
	tb.Cleanup(e.server.Close)
	return e
}

// mustCreateUser adds a user with testPassword.
func mustCreateUser(tb testing.TB, e *env, email, name string, role aistat.Role) *aistat.User {
	tb.Helper()
	u, err := e.users.Create(context.Background(), aistat.NewUser{Email: email, Name: name, Role: role, Password: testPassword})
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// client is one browser: its own cookie jar, redirects not followed so
// tests see them.
type client struct {
	tb   testing.TB
	e    *env
	http *http.Client
}

func newClient(tb testing.TB, e *env) *client {
	jar, _ := cookiejar.New(nil)
	return &client{tb: tb, e: e, http: &http.Client{
		// The server's own transport trusts its certificate when it serves
		// TLS.
		Transport:     e.server.Client().Transport,
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// response is a finished response with its body read.
type response struct {
	*http.Response
	body string
}

func (c *client) do(method, path, contentType, body string, headers ...string) *response {
	c.tb.Helper()
	req, err := http.NewRequest(method, c.e.server.URL+path, strings.NewReader(body))
	if err != nil {
		c.tb.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	// The tests read the pages' English words; a test of the language's
	// choice sends a header of its own.
	req.Header.Set("Accept-Language", "en")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.tb.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.tb.Fatal(err)
	}
	return &response{Response: res, body: string(b)}
}

func (c *client) get(path string) *response { return c.do(http.MethodGet, path, "", "") }

func (c *client) postForm(path string, form url.Values) *response {
	return c.do(http.MethodPost, path, "application/x-www-form-urlencoded", form.Encode())
}

// confirmed is the form of an admin action that asks for confirmation
// first, confirmed, as the confirmation page and the admin page's dialog
// send it.
func confirmed() url.Values {
	return url.Values{"confirm": {"yes"}}
}

func (c *client) putJSON(path, body string) *response {
	return c.do(http.MethodPut, path, "application/json", body)
}

// login signs the client in, kept signed in (the long lifetimes), and fails
// the test unless it worked.
func (c *client) login(email string) {
	c.tb.Helper()
	res := c.postForm("/login", url.Values{"email": {email}, "password": {testPassword}, "remember": {"yes"}})
	if res.StatusCode != http.StatusSeeOther {
		c.tb.Fatalf("login %s: status %d, want 303; body: %s", email, res.StatusCode, res.body)
	}
}

// cookie is the client's session cookie value, "" when none.
func (c *client) cookie() string {
	u, _ := url.Parse(c.e.server.URL)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == c.e.manager.CookieName() {
			return ck.Value
		}
	}
	return ""
}

func wantStatus(tb testing.TB, res *response, want int) {
	tb.Helper()
	if res.StatusCode != want {
		tb.Fatalf("%s %s: status %d, want %d; body: %.500s", res.Request.Method, res.Request.URL.Path, res.StatusCode, want, res.body)
	}
}

func wantBody(tb testing.TB, res *response, substrings ...string) {
	tb.Helper()
	for _, s := range substrings {
		if !strings.Contains(res.body, s) {
			tb.Fatalf("%s %s: body does not contain %q; body: %.1500s", res.Request.Method, res.Request.URL.Path, s, res.body)
		}
	}
}

func wantNoBody(tb testing.TB, res *response, substrings ...string) {
	tb.Helper()
	for _, s := range substrings {
		if strings.Contains(res.body, s) {
			tb.Fatalf("%s %s: body contains %q", res.Request.Method, res.Request.URL.Path, s)
		}
	}
}

// sessionCount is how many session rows the user has.
func sessionCount(tb testing.TB, e *env, userID int64) int {
	tb.Helper()
	var n int
	if err := e.db.QueryRow(`SELECT count(*) FROM sessions WHERE user_id = $1`, userID).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// userRow reads back what a refused request must leave unchanged.
type userRow struct {
	Name, AvatarURL, Role string
	UpdatedAt             time.Time
}

func readUserRow(tb testing.TB, e *env, id int64) userRow {
	tb.Helper()
	var r userRow
	err := e.db.QueryRow(`SELECT name, avatar_url, role, updated_at FROM users WHERE id = $1`, id).Scan(&r.Name, &r.AvatarURL, &r.Role, &r.UpdatedAt)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }

// hashToken is a cookie's token as the sessions table stores it: scs's
// hash, SHA-256 in unpadded base64url.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
