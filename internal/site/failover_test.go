package site_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"aistat"
	"aistat/internal/pglocal"
	"aistat/internal/pgtest"
	"aistat/internal/poll"
	"aistat/internal/postgres"
	"aistat/internal/site"
)

// TestSite_Failover runs the site on a primary with a synchronous standby,
// kills the primary, and promotes the standby. While no primary answers,
// every page needing the database is the 503 with Retry-After, never one
// read from the standby in recovery; once the standby is promoted the pool
// and the LISTEN connection find it by themselves: the same cookie is
// still signed in, the header shows the last name committed before the
// failover, a rename succeeds, and the event stream opened before the
// failover gets a resync and then the rename. The pool's connection string
// is in the key/value notation, the LISTEN one is a URL (both with
// target_session_attrs=read-write), through TCP proxies to have host:port
// pairs.
func TestSite_Failover(t *testing.T) {
	pair := pgtest.Replicated(t)
	ctx := t.Context()
	if err := pair.Primary.CreateDatabase(ctx, "aistat"); err != nil {
		t.Fatal(err)
	}
	listenURL := &url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/aistat",
		RawQuery: "sslmode=disable&target_session_attrs=read-write"}
	var hosts []string
	for _, c := range []interface{ URL(string) string }{pair.Primary, pair.Standby} {
		_, proxied := pgtest.NewProxy(t, c.URL("aistat"))
		cfg, err := pq.NewConfig(proxied)
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, fmt.Sprintf("%s:%d", cfg.Host, cfg.Port))
	}
	listenURL.Host = strings.Join(hosts, ",")

	s, err := site.Open(ctx, site.Config{
		DSN:          pair.DSN("aistat"),
		ListenDSN:    listenURL.String(),
		HashParams:   aistat.MinHashParams,
		NoCleanup:    true,
		ReadyTimeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(s.Server)
	defer srv.Close()
	if _, err := s.Users.Create(ctx, aistat.NewUser{Email: "f@example.com", Name: "Before", Role: aistat.RoleEditor, Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.PostForm(srv.URL+"/login", url.Values{"email": {"f@example.com"}, "password": {"correct horse battery"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", res.StatusCode)
	}
	events := openEvents(t, c, srv.URL)
	// The last change committed before the primary dies: with
	// synchronous replication it is on the standby too.
	if code := rename(t, c, srv.URL, "Last Committed"); code != http.StatusOK {
		t.Fatalf("rename before the failover: %d", code)
	}
	waitEvent(t, events, "profile", "Last Committed")

	pair.Kill(t)
	// Where only the standby answers, a connection is refused at once by
	// target_session_attrs, which must count as an unavailable database
	// (the 503) rather than as a fault of the site's (a 500).
	standbyOnly := pgtest.DB(t, pglocal.PrimaryURL("aistat", pair.Standby))
	if err := standbyOnly.PingContext(ctx); !postgres.Unavailable(err) {
		t.Fatalf("a pool on the standby alone: %v, want an error that Unavailable recognises", err)
	}
	// With no primary, the standby (which has every row) must not answer:
	// a page read from it could be stale once writes go elsewhere, and a
	// write would fail there.
	// Kill returns once every process of the primary is gone, so any
	// answer but the 503 would come from the standby.
	killed := time.Now()
	for range 3 {
		for _, path := range []string{"/", "/api/session", "/settings", "/healthz"} {
			code, retry, body := get(t, c, srv.URL+path)
			if code != http.StatusServiceUnavailable {
				t.Fatalf("GET %s without a primary: %d, want 503: %.200s", path, code, body)
			}
			if path != "/healthz" && retry == "" {
				t.Errorf("GET %s: 503 without Retry-After", path)
			}
		}
		if code := rename(t, c, srv.URL, "Lost"); code != http.StatusServiceUnavailable {
			t.Fatalf("rename without a primary: %d, want 503", code)
		}
	}

	pair.Promote(t)
	poll.Until(t, "the site to find the new primary", 20*time.Second, func() bool {
		code, _, body := get(t, c, srv.URL+"/")
		switch code {
		case http.StatusServiceUnavailable:
			return false
		case http.StatusOK:
			if !strings.Contains(body, "Last Committed") {
				t.Fatalf("the header after the failover does not show the last committed name: %.400s", body)
			}
			return true
		}
		t.Fatalf("GET / after the promotion: %d", code)
		return false
	})
	if code, _, body := get(t, c, srv.URL+"/api/session"); code != http.StatusOK || !strings.Contains(body, `"name":"Last Committed"`) {
		t.Fatalf("the same cookie after the failover: %d %s", code, body)
	}
	t.Logf("pages again %v after the kill", time.Since(killed))
	waitEvent(t, events, "resync", "")
	t.Logf("resync %v after the kill", time.Since(killed))
	if code := rename(t, c, srv.URL, "On The New Primary"); code != http.StatusOK {
		t.Fatalf("rename on the new primary: %d", code)
	}
	waitEvent(t, events, "profile", "On The New Primary")
	var inRecovery bool
	if err := s.DB.QueryRowContext(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err != nil || inRecovery {
		t.Fatalf("the pool's server after the failover: in recovery %v, %v", inRecovery, err)
	}
}

// get returns a GET's status, Retry-After and body.
func get(t *testing.T, c *http.Client, u string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Language", "en")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header.Get("Retry-After"), string(body)
}

// rename saves the signed-in user's name through the API.
func rename(t *testing.T, c *http.Client, base, name string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, base+"/api/profile",
		strings.NewReader(fmt.Sprintf(`{"name":%q,"avatarUrl":""}`, name)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// event is one Server-Sent Event: its name and data.
type event struct{ name, data string }

// openEvents opens the signed-in client's event stream; its events arrive
// on the channel until the test ends.
func openEvents(t *testing.T, c *http.Client, base string) <-chan event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := *c
	hc.Timeout = 0
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/events: %d", res.StatusCode)
	}
	events := make(chan event, 100)
	go func() {
		defer res.Body.Close()
		defer close(events)
		r := bufio.NewReader(res.Body)
		var ev event
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case line == "":
				if ev.name != "" {
					events <- ev
				}
				ev = event{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return events
}

// waitEvent reads events until one named name whose data holds want.
func waitEvent(t *testing.T, events <-chan event, name, want string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("the event stream ended before a %s event with %q", name, want)
			}
			if ev.name == name && strings.Contains(ev.data, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no %s event with %q", name, want)
		}
	}
}
