package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"aistat"
	"aistat/internal/pglocal"
	"aistat/internal/pgtest"
	"aistat/internal/poll"
)

// Bounds a database outage must respect; they are correctness (nothing
// hangs), not speed targets.
const (
	outageAnswerBound = 3 * time.Second
	healthAnswerBound = time.Second
	recoveryBound     = 5 * time.Second
)

// ownCluster is a PostgreSQL cluster that one test owns, so it can stop and
// start it; pgtest's cluster is shared by the package's tests.
type ownCluster struct {
	dir     string
	dsn     string
	cluster *pglocal.Cluster
}

func mustStartOwnCluster(t *testing.T) *ownCluster {
	t.Helper()
	// Not t.TempDir: root hands the cluster to the postgres user, who cannot
	// traverse its 0700 parents.
	dir, err := os.MkdirTemp("", "aistat-outage-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &ownCluster{dir: dir}
	t.Cleanup(func() {
		c.stop(t)
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	})
	c.start(t)
	if err := c.cluster.CreateDatabase(t.Context(), "aistat"); err != nil {
		t.Fatal(err)
	}
	c.dsn = c.cluster.URL("aistat")
	return c
}

func (c *ownCluster) start(t *testing.T) {
	t.Helper()
	cluster, err := pglocal.Start(t.Context(), c.dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	c.cluster = cluster
}

func (c *ownCluster) stop(t *testing.T) {
	t.Helper()
	if c.cluster == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.cluster.Stop(ctx); err != nil {
		t.Error(err)
	}
	c.cluster = nil
}

// outageRequest is one kind of request a site answers while its database is
// away.
type outageRequest struct {
	name                    string
	c                       *client
	method, path, ctype, in string
	json                    bool
}

func outageRequests(anonymous, viewer, editor *client) []outageRequest {
	return []outageRequest{
		{name: "Home", c: viewer, method: "GET", path: "/"},
		{name: "Settings", c: viewer, method: "GET", path: "/settings"},
		{name: "SettingsSave", c: viewer, method: "POST", path: "/settings", ctype: "application/x-www-form-urlencoded", in: "name=Down&avatar_url="},
		{name: "Admin", c: editor, method: "GET", path: "/admin"},
		{name: "Session", c: viewer, method: "GET", path: "/api/session", json: true},
		{name: "ProfileSave", c: viewer, method: "PUT", path: "/api/profile", ctype: "application/json", in: `{"name":"Down","avatarUrl":""}`, json: true},
		{name: "Events", c: editor, method: "GET", path: "/api/events", json: true},
		{name: "SignIn", c: anonymous, method: "POST", path: "/login", ctype: "application/x-www-form-urlencoded", in: "email=viewer%40example.com&password=" + strings.ReplaceAll(testPassword, " ", "+")},
		{name: "SignOut", c: editor, method: "POST", path: "/logout"},
	}
}

// wantUnavailable sends the request and checks it is answered 503 with
// Retry-After within the bound, as JSON or as the error page.
func wantUnavailable(t *testing.T, tt outageRequest) *response {
	t.Helper()
	start := time.Now()
	res := tt.c.do(tt.method, tt.path, tt.ctype, tt.in)
	if took := time.Since(start); took > outageAnswerBound {
		t.Errorf("answered after %v, want within %v", took, outageAnswerBound)
	}
	wantStatus(t, res, http.StatusServiceUnavailable)
	if res.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	ct := res.Header.Get("Content-Type")
	if tt.json {
		if !strings.HasPrefix(ct, "application/json") || !strings.Contains(res.body, `"error"`) {
			t.Errorf("Content-Type %q, body %q: want a JSON error", ct, res.body)
		}
	} else if !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want the error page", ct)
	}
	return res
}

// wantHealth checks /healthz answers status within a second.
func wantHealth(t *testing.T, e *env, status int) {
	t.Helper()
	start := time.Now()
	res := newClient(t, e).get("/healthz")
	if took := time.Since(start); took > healthAnswerBound {
		t.Errorf("/healthz answered after %v, want within %v", took, healthAnswerBound)
	}
	wantStatus(t, res, status)
}

// awaitRecovery polls the client's session until it answers 200 again,
// every answer within the outage bound, and returns how long that took.
func awaitRecovery(t *testing.T, c *client, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	poll.Until(t, "the session to answer again after the database came back", within, func() bool {
		before := time.Now()
		res := c.get("/api/session")
		if took := time.Since(before); took > outageAnswerBound {
			t.Errorf("GET /api/session answered after %v while recovering", took)
		}
		switch res.StatusCode {
		case http.StatusOK:
			return true
		case http.StatusServiceUnavailable:
			return false
		default:
			t.Fatalf("GET /api/session while recovering: status %d: %s", res.StatusCode, res.body)
			return false
		}
	})
	return time.Since(start)
}

// requestIDLine matches a log line of the "database unavailable" warning
// and captures its request id.
var requestIDLine = regexp.MustCompile(`msg="database unavailable" request_id=([0-9a-f]{16}) `)

// TestServer_DatabaseDown stops the database under a running site: every
// request is answered 503 in time, pages that need no database still work,
// and when the database is back the site recovers by itself with every
// session still valid.
func TestServer_DatabaseDown(t *testing.T) {
	pg := mustStartOwnCluster(t)
	logs := &lockedBuffer{}
	e := mustOpenEnvConfig(t, envConfig{dsn: pg.dsn, logs: logs})
	mustCreateUser(t, e, "viewer@example.com", "Vera Viewer", aistat.RoleViewer)
	mustCreateUser(t, e, "editor@example.com", "Eddie Editor", aistat.RoleEditor)
	viewer, editor := newClient(t, e), newClient(t, e)
	viewer.login("viewer@example.com")
	editor.login("editor@example.com")
	stream := editor.openStream()

	pg.stop(t)
	var ids []string
	for _, tt := range outageRequests(newClient(t, e), viewer, editor) {
		t.Run(tt.name, func(t *testing.T) {
			ids = append(ids, wantUnavailable(t, tt).Header.Get("X-Request-Id"))
		})
	}
	t.Run("Health", func(t *testing.T) { wantHealth(t, e, http.StatusServiceUnavailable) })
	t.Run("AnonymousHome", func(t *testing.T) {
		// Without a session cookie a page costs no query.
		wantStatus(t, newClient(t, e).get("/"), http.StatusOK)
	})
	t.Run("ErrorsCarryRequestID", func(t *testing.T) {
		logged := map[string]bool{}
		for _, m := range requestIDLine.FindAllStringSubmatch(logs.String(), -1) {
			logged[m[1]] = true
		}
		for _, id := range ids {
			if !logged[id] {
				t.Errorf("no \"database unavailable\" log line with request_id=%s", id)
			}
		}
	})

	pg.start(t)
	took := awaitRecovery(t, viewer, recoveryBound)
	t.Logf("recovered %v after the restart", took)
	t.Run("SessionsStillValid", func(t *testing.T) {
		res := viewer.get("/")
		wantStatus(t, res, http.StatusOK)
		wantBody(t, res, "Vera Viewer")
		res = editor.putJSON("/api/profile", `{"name":"Eddie After","avatarUrl":""}`)
		wantStatus(t, res, http.StatusOK)
		wantHealth(t, e, http.StatusOK)
	})
	t.Run("StreamResyncs", func(t *testing.T) {
		// The stream outlived the outage. Changes made while the listener
		// was away are lost to it, so once it is back the page is told to
		// resynchronise; after that it follows changes again. The listener
		// retries with a backoff of up to 5 s.
		deadline := time.After(10 * time.Second)
		for resynced := false; !resynced; {
			select {
			case ev, ok := <-stream.events:
				if !ok {
					t.Fatal("the stream ended during the outage")
				}
				resynced = ev.name == "resync"
			case <-deadline:
				t.Fatal("no resync event within 10 s of the recovery")
			}
		}
		wantStatus(t, editor.putJSON("/api/profile", `{"name":"Eddie Live","avatarUrl":""}`), http.StatusOK)
		// When the listener was back before the first save after the
		// outage, that save's event comes too, first; when the hub could
		// not load the user for it (its pool's connections died with the
		// server), it resyncs again instead, and the page then reads the
		// profile it missed, as it does here.
		for {
			// The editor's stream also hears of every user changed.
			ev := stream.next()
			if ev.name == "user" {
				continue
			}
			if ev.name == "resync" {
				if strings.Contains(editor.get("/api/session").body, `"name":"Eddie Live"`) {
					break
				}
				continue
			}
			if ev.name != "profile" {
				t.Fatalf("event %q (%s), want profile", ev.name, ev.data)
			}
			if u := decodeUser(t, ev.data); u.Name == "Eddie Live" {
				break
			} else if u.Name != "Eddie After" {
				t.Fatalf("profile event for %q, want Eddie Live", u.Name)
			}
		}
	})
	if strings.Contains(logs.String(), "panic") {
		t.Errorf("the server panicked:\n%s", logs.String())
	}
}

// TestServer_DatabaseHangs puts a database that stops answering, without
// closing anything, under a running site (a network partition): more
// requests than the pool has connections are all answered 503 in time, and
// the site recovers by itself once the database answers again.
func TestServer_DatabaseHangs(t *testing.T) {
	dsn := pgtest.URL(t)
	proxy, proxied := pgtest.NewProxy(t, dsn)
	logs := &lockedBuffer{}
	e := mustOpenEnvConfig(t, envConfig{dsn: proxied, listenDSN: dsn, logs: logs})
	mustCreateUser(t, e, "viewer@example.com", "Vera Viewer", aistat.RoleViewer)
	mustCreateUser(t, e, "editor@example.com", "Eddie Editor", aistat.RoleEditor)
	viewer, editor := newClient(t, e), newClient(t, e)
	viewer.login("viewer@example.com")
	editor.login("editor@example.com")
	// Fill the pool with idle connections that the freeze will strand.
	var warm sync.WaitGroup
	for range 40 {
		warm.Go(func() { viewer.get("/api/session") })
	}
	warm.Wait()

	proxy.Freeze()
	// All at once, so that they also compete for the pool's connections
	// (t.Parallel would run only GOMAXPROCS of them at a time).
	t.Run("Frozen", func(t *testing.T) {
		var wg sync.WaitGroup
		for _, tt := range outageRequests(newClient(t, e), viewer, editor) {
			wg.Go(func() { t.Run(tt.name, func(t *testing.T) { wantUnavailable(t, tt) }) })
		}
		wg.Go(func() { t.Run("Health", func(t *testing.T) { wantHealth(t, e, http.StatusServiceUnavailable) }) })
		for i := range 40 {
			tt := outageRequest{name: "MoreThanThePool", c: viewer, method: "GET", path: "/api/session", json: true}
			if i%2 == 1 {
				tt = outageRequest{name: "MoreThanThePool", c: viewer, method: "PUT", path: "/api/profile", ctype: "application/json", in: `{"name":"Frozen","avatarUrl":""}`, json: true}
			}
			wg.Go(func() { t.Run(tt.name, func(t *testing.T) { wantUnavailable(t, tt) }) })
		}
		wg.Wait()
	})

	proxy.Thaw()
	took := awaitRecovery(t, viewer, recoveryBound)
	t.Logf("recovered %v after the thaw", took)
	res := viewer.get("/")
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Vera Viewer")
	wantHealth(t, e, http.StatusOK)
	if strings.Contains(logs.String(), "panic") {
		t.Errorf("the server panicked:\n%s", logs.String())
	}
}
