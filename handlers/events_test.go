package handlers_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"aistat"
	"aistat/internal/live"
	"aistat/internal/pgtest"
	"aistat/internal/poll"
	"aistat/sessions"
)

// sse is an open event stream read in the background.
type sse struct {
	tb     testing.TB
	res    *http.Response
	cancel context.CancelFunc
	// first is the stream's first line.
	first  string
	events chan sseEvent
}

type sseEvent struct {
	name string
	data string
}

// openStream opens GET /api/events for the client and fails unless it
// answers 200.
func (c *client) openStream() *sse {
	c.tb.Helper()
	s, status := c.tryStream()
	if status != http.StatusOK {
		c.tb.Fatalf("GET /api/events: status %d", status)
	}
	return s
}

// tryStream opens the stream and returns its status; the stream is nil
// unless it is 200.
func (c *client) tryStream() (*sse, int) {
	c.tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.e.server.URL+"/api/events", nil)
	// As the pages, the streams are read in English.
	req.Header.Set("Accept-Language", "en")
	hc := *c.http
	hc.Timeout = 0
	res, err := hc.Do(req)
	if err != nil {
		cancel()
		c.tb.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		cancel()
		return nil, res.StatusCode
	}
	s := &sse{tb: c.tb, res: res, cancel: cancel, events: make(chan sseEvent, 100)}
	c.tb.Cleanup(s.close)
	r := bufio.NewReader(res.Body)
	line, err := r.ReadString('\n')
	if err != nil {
		c.tb.Fatalf("read stream: %v", err)
	}
	s.first = strings.TrimSpace(line)
	go s.read(r)
	return s, res.StatusCode
}

func (s *sse) read(r *bufio.Reader) {
	defer close(s.events)
	var ev sseEvent
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if ev.name != "" {
				s.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
	}
}

func (s *sse) close() {
	s.cancel()
	s.res.Body.Close()
}

// next waits for the stream's next event.
func (s *sse) next() sseEvent {
	s.tb.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.tb.Fatal("stream ended, want an event")
		}
		return ev
	case <-time.After(5 * time.Second):
		s.tb.Fatal("no event within 5 s")
	}
	return sseEvent{}
}

// want waits for the next event named name. Staff streams also hear of
// every user created or changed, possibly late: "user" events are skipped
// unless asked for.
func (s *sse) want(name string) sseEvent {
	s.tb.Helper()
	for {
		ev := s.next()
		switch {
		case ev.name == name:
			return ev
		case ev.name != "user":
			s.tb.Fatalf("event %q (%s), want %q", ev.name, ev.data, name)
		}
	}
}

// wantUser waits for the "user" event about the user with id.
func (s *sse) wantUser(id int64) aistat.User {
	s.tb.Helper()
	for {
		if u := decodeUser(s.tb, s.want("user").data); u.ID == id {
			return u
		}
	}
}

// staffUserEvent waits for the "user" event about the user with id and
// returns its data as sent.
func staffUserEvent(tb testing.TB, s *sse, id int64) string {
	tb.Helper()
	for {
		ev := s.want("user")
		if decodeUser(tb, ev.data).ID == id {
			return ev.data
		}
	}
}

// wantResync waits for a resync event; only profile events may come
// first, the ones the hub still forwarded before it knew it had lost some.
func (s *sse) wantResync() {
	s.tb.Helper()
	for {
		ev := s.next()
		if ev.name == "resync" {
			return
		}
		if ev.name != "profile" {
			s.tb.Fatalf("event %q before resync", ev.name)
		}
	}
}

// wantNone checks that no event arrives for a while.
func (s *sse) wantNone(d time.Duration) {
	s.tb.Helper()
	select {
	case ev, ok := <-s.events:
		if ok {
			s.tb.Fatalf("unexpected event %q (%s)", ev.name, ev.data)
		}
	case <-time.After(d):
	}
}

// wantEnd waits for the stream to end.
func (s *sse) wantEnd() {
	s.tb.Helper()
	select {
	case ev, ok := <-s.events:
		if ok {
			s.tb.Fatalf("event %q after the end, want the stream closed", ev.name)
		}
	case <-time.After(5 * time.Second):
		s.tb.Fatal("stream still open after 5 s")
	}
}

func decodeUser(tb testing.TB, data string) aistat.User {
	tb.Helper()
	var u aistat.User
	if err := json.Unmarshal([]byte(data), &u); err != nil {
		tb.Fatalf("event data %q: %v", data, err)
	}
	return u
}

func TestServer_Events(t *testing.T) {
	e := mustOpenEnv(t)
	admin := mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	adminC := newClient(t, e)
	adminC.login("admin@example.com")

	t.Run("Anonymous", func(t *testing.T) {
		res := newClient(t, e).get("/api/events")
		wantStatus(t, res, http.StatusUnauthorized)
		wantBody(t, res, `{"error":"unauthenticated"}`)
	})

	t.Run("StartsWithRetry", func(t *testing.T) {
		s := adminC.openStream()
		if !strings.HasPrefix(s.first, "retry: ") {
			t.Fatalf("first line %q, want a retry: line", s.first)
		}
		if ct := s.res.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("Content-Type %q", ct)
		}
	})

	t.Run("ProfileToEveryStreamOfTheUser", func(t *testing.T) {
		u := mustCreateUser(t, e, "live@example.com", "Сара Чен", aistat.RoleViewer)
		mustCreateUser(t, e, "other@example.com", "Other", aistat.RoleViewer)
		laptop, phone, other := newClient(t, e), newClient(t, e), newClient(t, e)
		laptop.login("live@example.com")
		phone.login("live@example.com")
		other.login("other@example.com")
		phoneStream, laptopStream := phone.openStream(), laptop.openStream()
		otherStream, adminStream := other.openStream(), adminC.openStream()

		wantStatus(t, laptop.putJSON("/api/profile", `{"name": "Ivan", "avatarUrl": "https://example.com/i.png"}`), http.StatusOK)
		for _, s := range []*sse{phoneStream, laptopStream} {
			ev := s.want("profile")
			if strings.Contains(ev.data, "disabled") {
				t.Errorf("profile event %s: the API's user has no disabled flag", ev.data)
			}
			got := decodeUser(t, ev.data)
			if got.ID != u.ID || got.Name != "Ivan" || got.AvatarURL != "https://example.com/i.png" {
				t.Fatalf("profile event %+v", got)
			}
		}
		if got := adminStream.wantUser(u.ID); got.Name != "Ivan" {
			t.Fatalf("admin's user event %+v", got)
		}
		otherStream.wantNone(300 * time.Millisecond)
	})

	t.Run("RoleChangeAndRevoke", func(t *testing.T) {
		u := mustCreateUser(t, e, "editor@example.com", "Editor", aistat.RoleEditor)
		c := newClient(t, e)
		c.login("editor@example.com")
		s := c.openStream()
		wantStatus(t, adminC.postForm("/admin/users/"+itoa(u.ID)+"/role", url.Values{"role": {"viewer"}}), http.StatusSeeOther)
		if got := decodeUser(t, s.want("profile").data); got.Role != aistat.RoleViewer {
			t.Fatalf("role %q after demotion", got.Role)
		}
		wantStatus(t, adminC.postForm("/admin/users/"+itoa(u.ID)+"/revoke", confirmed()), http.StatusSeeOther)
		if ev := s.want("logout"); ev.data != `{"reason":"revoked"}` {
			t.Fatalf("logout data %q, want the reason revoked", ev.data)
		}
		s.wantEnd()
	})

	t.Run("DemotedUserStopsSeeingOthers", func(t *testing.T) {
		u := mustCreateUser(t, e, "staff@example.com", "Staff", aistat.RoleEditor)
		c := newClient(t, e)
		c.login("staff@example.com")
		s := c.openStream()
		wantStatus(t, adminC.postForm("/admin/users/"+itoa(u.ID)+"/role", url.Values{"role": {"viewer"}}), http.StatusSeeOther)
		s.want("profile")
		newcomer := mustCreateUser(t, e, "new@example.com", "Newcomer", aistat.RoleViewer)
		deadline := time.After(300 * time.Millisecond)
		for waiting := true; waiting; {
			select {
			case ev := <-s.events:
				if ev.name == "user" && decodeUser(t, ev.data).ID == newcomer.ID {
					t.Fatal("a demoted editor still hears of other users")
				}
			case <-deadline:
				waiting = false
			}
		}
	})

	t.Run("SignOutOfThatSession", func(t *testing.T) {
		mustCreateUser(t, e, "signout@example.com", "Sign Out", aistat.RoleViewer)
		c, other := newClient(t, e), newClient(t, e)
		c.login("signout@example.com")
		other.login("signout@example.com")
		s, keep := c.openStream(), other.openStream()
		wantStatus(t, c.postForm("/logout", nil), http.StatusSeeOther)
		if ev := s.want("logout"); ev.data != "{}" {
			t.Fatalf("logout data %q, want {}: a sign-out of one's own needs no reason", ev.data)
		}
		s.wantEnd()
		keep.wantNone(300 * time.Millisecond)
	})

	t.Run("Disabled", func(t *testing.T) {
		u := mustCreateUser(t, e, "disabled@example.com", "Disabled", aistat.RoleViewer)
		c := newClient(t, e)
		c.login("disabled@example.com")
		s, staff := c.openStream(), adminC.openStream()
		if _, err := e.users.SetDisabled(context.Background(), admin.ID, u.ID, true); err != nil {
			t.Fatal(err)
		}
		if ev := s.want("logout"); ev.data != `{"reason":"disabled"}` {
			t.Fatalf("logout data %q, want the reason disabled", ev.data)
		}
		s.wantEnd()
		// The admin table shows who is disabled: staff hear it.
		if ev := staffUserEvent(t, staff, u.ID); !strings.Contains(ev, `"disabled":true`) {
			t.Errorf("staff event after disabling: %s", ev)
		}
		if _, err := e.users.SetDisabled(context.Background(), admin.ID, u.ID, false); err != nil {
			t.Fatal(err)
		}
		if ev := staffUserEvent(t, staff, u.ID); !strings.Contains(ev, `"disabled":false`) {
			t.Errorf("staff event after enabling: %s", ev)
		}
	})

	t.Run("RolledBackChangeEmitsNothing", func(t *testing.T) {
		u := mustCreateUser(t, e, "rollback@example.com", "Before", aistat.RoleViewer)
		c := newClient(t, e)
		c.login("rollback@example.com")
		s := c.openStream()
		tx, err := e.db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(`UPDATE users SET name = 'Rolled Back' WHERE id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, c.putJSON("/api/profile", `{"name": "Committed", "avatarUrl": ""}`), http.StatusOK)
		if got := decodeUser(t, s.want("profile").data); got.Name != "Committed" {
			t.Fatalf("first event carries %q, want the committed change", got.Name)
		}
	})

	t.Run("Limits", func(t *testing.T) {
		mustCreateUser(t, e, "many@example.com", "Many", aistat.RoleViewer)
		c := newClient(t, e)
		c.login("many@example.com")
		var open []*sse
		for range 5 {
			open = append(open, c.openStream())
		}
		if _, status := c.tryStream(); status != http.StatusTooManyRequests {
			t.Fatalf("6th stream of one user: status %d, want 429", status)
		}
		open[0].close()
		poll.Until(t, "a closed stream's place to be freed", 3*time.Second, func() bool {
			s, status := c.tryStream()
			open[0] = s
			return status == http.StatusOK
		})
	})
}

func TestServer_EventsTotalLimit(t *testing.T) {
	e := mustOpenEnvConfig(t, envConfig{live: live.Config{MaxStreamsPerUser: 100, MaxStreams: 3}})
	mustCreateUser(t, e, "a@example.com", "A", aistat.RoleViewer)
	mustCreateUser(t, e, "b@example.com", "B", aistat.RoleViewer)
	a, b := newClient(t, e), newClient(t, e)
	a.login("a@example.com")
	b.login("b@example.com")
	a.openStream()
	a.openStream()
	b.openStream()
	if _, status := b.tryStream(); status != http.StatusTooManyRequests {
		t.Fatalf("stream past the total limit: status %d, want 429", status)
	}
	// The refusal is the error writer's "too many", with its wait.
	res := b.get("/api/events")
	wantStatus(t, res, http.StatusTooManyRequests)
	wantBody(t, res, `{"error":"Too many open event streams: too many open streams."}`)
	if got := res.Header.Get("Retry-After"); got != "30" {
		t.Errorf("Retry-After = %q, want 30", got)
	}
}

// TestServer_EventsAcrossInstances changes a user through one instance and
// sees the event on another instance's stream.
func TestServer_EventsAcrossInstances(t *testing.T) {
	a := mustOpenEnv(t)
	b := mustOpenEnvConfig(t, envConfig{dsn: a.dsn})
	mustCreateUser(t, a, "multi@example.com", "Before", aistat.RoleViewer)
	ca, cb := newClient(t, a), newClient(t, b)
	ca.login("multi@example.com")
	cb.login("multi@example.com")
	s := cb.openStream()
	wantStatus(t, ca.putJSON("/api/profile", `{"name": "After", "avatarUrl": ""}`), http.StatusOK)
	if got := decodeUser(t, s.want("profile").data); got.Name != "After" {
		t.Fatalf("instance B got %q", got.Name)
	}
	wantBody(t, cb.get("/"), "After")
}

// TestServer_EventsListenerCutOff terminates the instance's LISTEN
// connection: changes made meanwhile reach open pages through resync, and a
// session revoked meanwhile is logged out.
func TestServer_EventsListenerCutOff(t *testing.T) {
	e := mustOpenEnv(t)
	u := mustCreateUser(t, e, "cut@example.com", "Before", aistat.RoleViewer)
	mustCreateUser(t, e, "gone@example.com", "Gone", aistat.RoleViewer)
	c, gone := newClient(t, e), newClient(t, e)
	c.login("cut@example.com")
	gone.login("gone@example.com")
	s, goneStream := c.openStream(), gone.openStream()

	var terminated bool
	if err := e.db.QueryRow(`
		SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(&terminated); err != nil || !terminated {
		t.Fatalf("terminate the listener: %v %v", terminated, err)
	}
	if _, err := e.db.Exec(`UPDATE users SET name = 'Changed While Cut Off' WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(`DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE email = 'gone@example.com')`); err != nil {
		t.Fatal(err)
	}
	s.wantResync()
	res := c.get("/api/session")
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "Changed While Cut Off")
	for {
		ev := goneStream.next()
		if ev.name == "logout" {
			break
		}
		if ev.name != "resync" {
			t.Fatalf("event %q on the revoked stream", ev.name)
		}
	}
	goneStream.wantEnd()
}

func TestServer_EventsExpiry(t *testing.T) {
	e := mustOpenEnvConfig(t, envConfig{sessions: sessions.Config{Lifetime: 2 * time.Second, MaxAge: time.Hour, Refresh: time.Second}})
	mustCreateUser(t, e, "expire@example.com", "Expire", aistat.RoleViewer)
	c := newClient(t, e)
	c.login("expire@example.com")
	s := c.openStream()
	start := time.Now()
	if ev := s.want("logout"); ev.data != `{"reason":"expired"}` {
		t.Fatalf("logout data %q, want the reason expired", ev.data)
	}
	s.wantEnd()
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("logout %v after the stream opened, want at the 2 s expiry", d)
	}
}

// TestServer_EventsGoroutines opens and closes 100 streams, then the hub's
// shutdown ends open ones: nothing is left running.
func TestServer_EventsGoroutines(t *testing.T) {
	e := mustOpenEnvConfig(t, envConfig{live: live.Config{MaxStreamsPerUser: 200, MaxStreams: 200}})
	mustCreateUser(t, e, "g@example.com", "G", aistat.RoleViewer)
	c := newClient(t, e)
	c.login("g@example.com")
	c.get("/")
	baseline := settledGoroutines()

	streams := make([]*sse, 100)
	for i := range streams {
		streams[i] = c.openStream()
	}
	if n := e.hub.Len(); n != 100 {
		t.Fatalf("hub holds %d streams, want 100", n)
	}
	for _, s := range streams {
		s.close()
	}
	poll.Until(t, fmt.Sprintf("at most %d goroutines after closing 100 streams, 5 over the baseline", baseline+5), 3*time.Second,
		func() bool { return runtime.NumGoroutine() <= baseline+5 })
	waitLen(t, e, 0)

	for i := range 10 {
		streams[i] = c.openStream()
	}
	e.hub.Close()
	for _, s := range streams[:10] {
		s.wantEnd()
	}
	if _, status := c.tryStream(); status != http.StatusServiceUnavailable {
		t.Fatalf("stream after shutdown began: status %d, want 503", status)
	}
}

// settledGoroutines is the goroutine count once it has stopped changing
// for 50 ms (or after 2.5 s): what the test's site runs when idle.
func settledGoroutines() int {
	n, since := runtime.NumGoroutine(), time.Now()
	poll.Within(2500*time.Millisecond, func() bool {
		if m := runtime.NumGoroutine(); m != n {
			n, since = m, time.Now()
		}
		return time.Since(since) >= 50*time.Millisecond
	})
	return n
}

// TestServer_EventsOverHTTP2: HTTP/2 has no connection to take over, so the
// handler holds the stream itself; the stream behaves the same.
func TestServer_EventsOverHTTP2(t *testing.T) {
	e := mustOpenEnvConfig(t, envConfig{http2: true})
	u := mustCreateUser(t, e, "h2@example.com", "H2", aistat.RoleViewer)
	mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	c, admin := newClient(t, e), newClient(t, e)
	c.login("h2@example.com")
	admin.login("admin@example.com")

	s := c.openStream()
	if s.res.ProtoMajor != 2 || !strings.HasPrefix(s.first, "retry: ") {
		t.Fatalf("stream over HTTP/%d, first line %q", s.res.ProtoMajor, s.first)
	}
	wantStatus(t, c.putJSON("/api/profile", `{"name": "Renamed", "avatarUrl": ""}`), http.StatusOK)
	if got := decodeUser(t, s.want("profile").data); got.Name != "Renamed" {
		t.Fatalf("profile event %+v", got)
	}
	wantStatus(t, admin.postForm("/admin/users/"+itoa(u.ID)+"/revoke", confirmed()), http.StatusSeeOther)
	s.want("logout")
	s.wantEnd()
	waitLen(t, e, 0)

	closed := c.openStreamAfterLogin("h2@example.com")
	waitLen(t, e, 1)
	closed.close()
	waitLen(t, e, 0)
}

// TestServer_EventsRawConnection reads the stream as bytes off the
// connection the handler takes over: chunked for HTTP/1.1 and ended with
// the last chunk, plain for HTTP/1.0; a client that closes the connection
// or sends anything more frees its place at once.
func TestServer_EventsRawConnection(t *testing.T) {
	logs := &lockedBuffer{}
	e := mustOpenEnvConfig(t, envConfig{logs: logs})
	mustCreateUser(t, e, "raw@example.com", "Raw", aistat.RoleViewer)
	addr := strings.TrimPrefix(e.server.URL, "http://")
	opening := fmt.Sprintf("retry: %d\n: stream open\n\n", live.RetryMillis)
	ending := fmt.Sprintf("event: logout\ndata: {}\n\nretry: %d\n\n", live.RetryMillis)
	// open signs a new client in and opens its stream on a connection of
	// its own.
	open := func(t *testing.T, proto string) (*client, net.Conn, *bufio.Reader, *http.Response) {
		t.Helper()
		c := newClient(t, e)
		c.login("raw@example.com")
		conn, r, res := c.rawStream(proto)
		waitLen(t, e, 1)
		return c, conn, r, res
	}
	readUntil := func(t *testing.T, r *bufio.Reader, want string) string {
		t.Helper()
		var got strings.Builder
		for !strings.HasSuffix(got.String(), want) {
			b, err := r.ReadByte()
			if err != nil {
				t.Fatalf("read %q, want %q: %v", got.String(), want, err)
			}
			got.WriteByte(b)
		}
		return got.String()
	}
	wantEOF := func(t *testing.T, r *bufio.Reader) {
		t.Helper()
		if b, err := r.ReadByte(); err != io.EOF {
			t.Fatalf("after the end: %q, %v; want EOF", b, err)
		}
		waitLen(t, e, 0)
	}

	t.Run("HTTP11Chunked", func(t *testing.T) {
		c, _, r, res := open(t, "HTTP/1.1")
		if !slices.Equal(res.TransferEncoding, []string{"chunked"}) {
			t.Fatalf("Transfer-Encoding %q, want chunked", res.TransferEncoding)
		}
		if got, want := readUntil(t, r, opening+"\r\n"), fmt.Sprintf("%x\r\n%s\r\n", len(opening), opening); got != want {
			t.Fatalf("first chunk %q, want %q", got, want)
		}
		wantStatus(t, c.postForm("/logout", nil), http.StatusSeeOther)
		if got, want := readUntil(t, r, "0\r\n\r\n"), fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(ending), ending); got != want {
			t.Fatalf("end of the stream %q, want %q", got, want)
		}
		wantEOF(t, r)
	})

	t.Run("HTTP10Plain", func(t *testing.T) {
		c, _, r, res := open(t, "HTTP/1.0")
		if len(res.TransferEncoding) != 0 {
			t.Fatalf("Transfer-Encoding %q, want none", res.TransferEncoding)
		}
		if got := readUntil(t, r, opening); got != opening {
			t.Fatalf("start of the stream %q, want %q", got, opening)
		}
		wantStatus(t, c.postForm("/logout", nil), http.StatusSeeOther)
		if got := readUntil(t, r, ending); got != ending {
			t.Fatalf("end of the stream %q, want %q", got, ending)
		}
		wantEOF(t, r)
	})

	t.Run("ClientCloses", func(t *testing.T) {
		_, conn, _, res := open(t, "HTTP/1.1")
		conn.Close()
		waitLen(t, e, 0)
		// The access log has the stream's start; its end has a line of
		// its own with the same request id.
		waitForLog(t, logs, `msg="event stream closed" request_id=`+res.Header.Get("X-Request-Id"))
	})

	t.Run("ClientSendsMore", func(t *testing.T) {
		_, conn, r, _ := open(t, "HTTP/1.1")
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		// The request the site did not read makes the close a reset.
		if _, err := io.Copy(io.Discard, r); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("after sending more: %v, want the connection closed", err)
		}
		waitLen(t, e, 0)
	})
}

// rawStream opens the client's event stream on a connection of its own,
// speaking proto (HTTP/1.1 or HTTP/1.0) by hand, and reads the response
// header, which must be 200. The connection closes when the test ends.
func (c *client) rawStream(proto string) (net.Conn, *bufio.Reader, *http.Response) {
	c.tb.Helper()
	addr := strings.TrimPrefix(c.e.server.URL, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		c.tb.Fatal(err)
	}
	c.tb.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /api/events %s\r\nHost: %s\r\nCookie: %s=%s\r\n\r\n", proto, addr, c.e.manager.CookieName(), c.cookie())
	r := bufio.NewReader(conn)
	res, err := http.ReadResponse(r, nil)
	if err != nil {
		c.tb.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		c.tb.Fatalf("%s: status %d", proto, res.StatusCode)
	}
	return conn, r, res
}

// openStreamAfterLogin signs the client in again and opens a stream.
func (c *client) openStreamAfterLogin(email string) *sse {
	c.tb.Helper()
	c.login(email)
	return c.openStream()
}

// floodSize is how many users a flood test adds and then changes, each
// statement at once: schema.sql's triggers send one notification per row,
// far past what the hub forwards one by one.
const floodSize = 20000

// mustFlood adds floodSize users and renames every user, by plain SQL in
// two statements, as an operator's bulk change would.
func mustFlood(tb testing.TB, e *env) {
	tb.Helper()
	if _, err := e.db.Exec(`
		INSERT INTO users (email, name, password_hash)
		SELECT 'flood' || i || '@example.com', 'Flood ' || i, 'not a hash'
		FROM generate_series(1, $1) i`, floodSize); err != nil {
		tb.Fatal(err)
	}
	if _, err := e.db.Exec(`UPDATE users SET name = name || '.'`); err != nil {
		tb.Fatal(err)
	}
}

// untilResync reads the stream up to its first resync and returns how many
// "user" events came before it; a flood may start with a few changes
// forwarded one by one (profile and user events), nothing else.
func untilResync(tb testing.TB, s *sse) int {
	tb.Helper()
	users := 0
	for {
		switch ev := s.next(); ev.name {
		case "resync":
			return users
		case "user":
			users++
		case "profile":
		default:
			tb.Fatalf("event %q (%s) before the resync", ev.name, ev.data)
		}
	}
}

// awaitRename renames the client's user until one rename reaches s as a
// profile event: a rename made while the tail of a flood still arrives is
// coalesced into a resync like the rest of it.
func awaitRename(tb testing.TB, c *client, s *sse) {
	tb.Helper()
	for attempt := range 5 {
		name := fmt.Sprintf("Renamed %d", attempt)
		wantStatus(tb, c.putJSON("/api/profile", `{"name": "`+name+`", "avatarUrl": ""}`), http.StatusOK)
		for coalesced := false; !coalesced; {
			switch ev := s.next(); ev.name {
			case "profile":
				if decodeUser(tb, ev.data).Name == name {
					return
				}
			case "resync":
				coalesced = true
			case "user":
			default:
				tb.Fatalf("event %q (%s), want the profile of %q", ev.name, ev.data, name)
			}
		}
	}
	tb.Fatal("no rename reached the stream as a profile event after 5 attempts")
}

// awaitLogout reads the stream up to its logout, which ends it.
func awaitLogout(tb testing.TB, s *sse) {
	tb.Helper()
	for {
		switch ev := s.next(); ev.name {
		case "logout":
			s.wantEnd()
			return
		case "user", "profile", "resync":
		default:
			tb.Fatalf("event %q (%s), want logout", ev.name, ev.data)
		}
	}
}

// coalescedIn sums what the hub's log says its resyncs stood for.
func coalescedIn(tb testing.TB, logs string) int {
	tb.Helper()
	sum := 0
	for _, m := range regexp.MustCompile(`streams resynchronise" notifications=(\d+)`).FindAllStringSubmatch(logs, -1) {
		n, err := strconv.Atoi(m[1])
		if err != nil {
			tb.Fatal(err)
		}
		sum += n
	}
	return sum
}

// testFlood opens a viewer's and an admin's stream, floods the hub, and
// checks that both streams resynchronise instead of hearing of every row,
// and that the hub then forwards single changes and sign-outs again.
func testFlood(t *testing.T, e *env, logs *lockedBuffer) {
	viewer := mustCreateUser(t, e, "viewer@example.com", "Vera", aistat.RoleViewer)
	mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	viewerC, adminC := newClient(t, e), newClient(t, e)
	viewerC.login("viewer@example.com")
	adminC.login("admin@example.com")
	viewerStream, adminStream := viewerC.openStream(), adminC.openStream()

	start := time.Now()
	mustFlood(t, e)
	untilResync(t, viewerStream)
	// The hub counts notifications in windows of a second: a flood that
	// begins late in one window is found a burst in the next at the
	// latest, having forwarded less than the limit in each.
	if n := untilResync(t, adminStream); n >= 2*1000 {
		t.Errorf("the admin's stream heard of %d users one by one, want a resync instead", n)
	} else {
		t.Logf("resync %v after the flood began, %d user events before it", time.Since(start), n)
	}

	awaitRename(t, viewerC, viewerStream)
	wantStatus(t, adminC.postForm("/admin/users/"+itoa(viewer.ID)+"/revoke", confirmed()), http.StatusSeeOther)
	awaitLogout(t, viewerStream)

	// Every notification forwarded one by one costs a query at most; the
	// others were coalesced. Two statements, two bursts, each forwarding
	// at most the limit's worth before it is found to be one.
	total := 2*floodSize + 2
	forwarded := total - coalescedIn(t, logs.String())
	if forwarded > 2*1000 {
		t.Errorf("%d of the flood's %d notifications forwarded one by one, want at most 2,000", forwarded, total)
	}
	t.Logf("%d of %d notifications forwarded one by one", forwarded, total)
}

// TestServer_EventsFlood changes 20,000 users at once by plain SQL: open
// streams get one resync, not thousands of events, and the hub keeps
// forwarding what follows.
func TestServer_EventsFlood(t *testing.T) {
	logs := &lockedBuffer{}
	testFlood(t, mustOpenEnvConfig(t, envConfig{logs: logs}), logs)
}

// TestServer_EventsPingDuringFlood pings the LISTEN connection every few
// milliseconds, so that pings fall in the middle of the flood: a ping's
// reply waits behind every notification queued before it, which must not
// stop the hub from reading them.
func TestServer_EventsPingDuringFlood(t *testing.T) {
	logs := &lockedBuffer{}
	testFlood(t, mustOpenEnvConfig(t, envConfig{logs: logs, live: live.Config{
		MaxStreamsPerUser: 5, MaxStreams: 8, PingInterval: 5 * time.Millisecond,
	}}), logs)
}

// userEventKeys waits for the "user" event that shows the user with id
// named name and returns its keys, sorted; the stream's own profile events
// are skipped.
func userEventKeys(tb testing.TB, s *sse, id int64, name string) []string {
	tb.Helper()
	fields := userEventFields(tb, s, id, name)
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// userEventFields waits for the user event that shows the user with id
// named name, passing profile events and earlier user events of id by (the
// user's creation may be heard after the stream opened), and returns its
// fields.
func userEventFields(tb testing.TB, s *sse, id int64, name string) map[string]any {
	tb.Helper()
	var fields map[string]any
	for fields == nil {
		switch ev := s.next(); ev.name {
		case "user":
			if u := decodeUser(tb, ev.data); u.ID == id && u.Name == name {
				if err := json.Unmarshal([]byte(ev.data), &fields); err != nil {
					tb.Fatal(err)
				}
			}
		case "profile":
		default:
			tb.Fatalf("event %q (%s), want the user event of %d", ev.name, ev.data, id)
		}
	}
	return fields
}

// TestServer_EventsStaffFields: an editor's stream hears of other users as
// the directory shows them, without their email; an admin's stream gets
// everything; a role change changes what a stream gets from the next event
// on.
func TestServer_EventsStaffFields(t *testing.T) {
	e := mustOpenEnv(t)
	mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	editor := mustCreateUser(t, e, "editor@example.com", "Editor", aistat.RoleEditor)
	target := mustCreateUser(t, e, "target@example.com", "Target", aistat.RoleViewer)
	adminC, editorC := newClient(t, e), newClient(t, e)
	adminC.login("admin@example.com")
	editorC.login("editor@example.com")
	adminStream, editorStream := adminC.openStream(), editorC.openStream()
	directory := []string{"disabled", "id", "initials", "name", "role", "roleLabel", "staff"}
	full := []string{"avatarUrl", "disabled", "email", "id", "initials", "name", "role", "roleLabel", "staff"}
	rename := func(name string) {
		t.Helper()
		if _, err := e.users.UpdateProfile(context.Background(), target.ID, aistat.Profile{Name: name, AvatarURL: "https://example.com/t.png"}); err != nil {
			t.Fatal(err)
		}
	}

	rename("Target Renamed")
	if got := userEventKeys(t, editorStream, target.ID, "Target Renamed"); !slices.Equal(got, directory) {
		t.Errorf("editor's user event has %q, want %q", got, directory)
	}
	if got := userEventKeys(t, adminStream, target.ID, "Target Renamed"); !slices.Equal(got, full) {
		t.Errorf("admin's user event has %q, want %q", got, full)
	}

	// Promoted, the editor's open stream gets what an admin's gets.
	wantStatus(t, adminC.postForm("/admin/users/"+itoa(editor.ID)+"/role", url.Values{"role": {"admin"}}), http.StatusSeeOther)
	rename("Target Again")
	if got := userEventKeys(t, editorStream, target.ID, "Target Again"); !slices.Equal(got, full) {
		t.Errorf("promoted editor's user event has %q, want %q", got, full)
	}
	// Demoted again, no more emails.
	wantStatus(t, adminC.postForm("/admin/users/"+itoa(editor.ID)+"/role", url.Values{"role": {"editor"}}), http.StatusSeeOther)
	rename("Target Once More")
	if got := userEventKeys(t, editorStream, target.ID, "Target Once More"); !slices.Equal(got, directory) {
		t.Errorf("demoted admin's user event has %q, want %q", got, directory)
	}
}

// stuckPing is what the hub logs when its LISTEN connection did not answer
// a ping in time.
const stuckPing = "listener did not answer a ping"

// waitForLog waits until logs contain want.
func waitForLog(tb testing.TB, logs *lockedBuffer, want string) {
	tb.Helper()
	if !poll.Within(10*time.Second, func() bool { return strings.Contains(logs.String(), want) }) {
		tb.Fatalf("log has no %q after 10 s:\n%s", want, logs.String())
	}
}

// TestServer_EventsListenerFrozen freezes the LISTEN connection (a server
// that stops answering, nothing closed): the unanswered ping gives the
// connection up, and once the server answers again open pages
// resynchronise and live events flow again.
func TestServer_EventsListenerFrozen(t *testing.T) {
	dsn := pgtest.URL(t)
	proxy, proxied := pgtest.NewProxy(t, dsn)
	logs := &lockedBuffer{}
	e := mustOpenEnvConfig(t, envConfig{dsn: dsn, listenDSN: proxied, logs: logs, live: live.Config{
		MaxStreamsPerUser: 5, MaxStreams: 8, PingInterval: 20 * time.Millisecond,
	}})
	mustCreateUser(t, e, "frozen@example.com", "Before", aistat.RoleViewer)
	c := newClient(t, e)
	c.login("frozen@example.com")
	s := c.openStream()

	proxy.Freeze()
	waitForLog(t, logs, stuckPing)
	wantStatus(t, c.putJSON("/api/profile", `{"name": "Changed While Frozen", "avatarUrl": ""}`), http.StatusOK)
	proxy.Thaw()
	s.wantResync()
	wantBody(t, c.get("/api/session"), "Changed While Frozen")
	awaitRename(t, c, s)
}

// TestServer_EventsHubStopsWithStuckListener stops the hub while its LISTEN
// connection hangs: Run returns in time all the same.
func TestServer_EventsHubStopsWithStuckListener(t *testing.T) {
	e := mustOpenEnv(t)
	// run starts a hub listening on listenDSN and returns what stops it;
	// the stop reports how long Run took to return.
	run := func(t *testing.T, listenDSN string, logs io.Writer) func() time.Duration {
		t.Helper()
		hub := live.New(e.users, sessions.NewStore(e.db), listenDSN, live.Config{
			MaxStreamsPerUser: 5, MaxStreams: 8, PingInterval: 20 * time.Millisecond,
		}, slog.New(slog.NewTextHandler(logs, nil)))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			hub.Run(ctx)
		}()
		return func() time.Duration {
			start := time.Now()
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run has not returned 10 s after its context ended")
			}
			return time.Since(start)
		}
	}
	const within = 4 * time.Second

	t.Run("PingInFlight", func(t *testing.T) {
		proxy, proxied := pgtest.NewProxy(t, e.dsn)
		logs := &lockedBuffer{}
		stop := run(t, proxied, logs)
		proxy.Freeze()
		// Once a ping went unanswered, the reconnection hangs too.
		waitForLog(t, logs, stuckPing)
		if took := stop(); took > within {
			t.Fatalf("Run returned %v after its context ended, want within %v", took, within)
		}
	})

	t.Run("ServerNeverAnswers", func(t *testing.T) {
		// A server that accepts the connection and never says a word:
		// the connection attempt hangs, holding the listener's lock.
		silent := pgtest.NewSilentServer(t)
		stop := run(t, silent.DSN(), io.Discard)
		silent.WaitConnected(t, "the hub", 10*time.Second)
		if took := stop(); took > within {
			t.Fatalf("Run returned %v after its context ended, want within %v", took, within)
		}
	})
}
