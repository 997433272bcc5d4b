package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"aistat"
	"aistat/internal/poll"
)

// sessionName is the name GET /api/session shows the client.
func sessionName(t *testing.T, c *client) string {
	t.Helper()
	res := c.get("/api/session")
	wantStatus(t, res, http.StatusOK)
	var body struct{ User aistat.User }
	if err := json.Unmarshal([]byte(res.body), &body); err != nil {
		t.Fatal(err)
	}
	return body.User.Name
}

// TestServer_RaceProfileSaves: two tabs saving the profile at once end in
// one state, seen by both of their sessions, by a third one, and last by
// the user's open event stream.
func TestServer_RaceProfileSaves(t *testing.T) {
	e := mustOpenEnv(t)
	u := mustCreateUser(t, e, "racer@example.com", "Racer", aistat.RoleViewer)
	tabs := []*client{newClient(t, e), newClient(t, e)}
	third := newClient(t, e)
	for _, c := range append(tabs, third) {
		c.login("racer@example.com")
	}
	stream := third.openStream()

	const saves = 25
	var wg sync.WaitGroup
	for i, c := range tabs {
		wg.Go(func() {
			for n := range saves {
				res := c.putJSON("/api/profile", fmt.Sprintf(`{"name":"tab%d-%d","avatarUrl":""}`, i, n))
				if res.StatusCode != http.StatusOK {
					t.Errorf("save %d of tab %d: status %d: %s", n, i, res.StatusCode, res.body)
				}
			}
		})
	}
	wg.Wait()

	final := readUserRow(t, e, u.ID).Name
	for i, c := range append(tabs, third) {
		if got := sessionName(t, c); got != final {
			t.Errorf("session %d sees %q, the database holds %q", i, got, final)
		}
	}
	// The hub loads a user once per batch of notifications, after every
	// change in it was committed: the stream may get fewer events than
	// saves, but it ends on the final state and nothing older follows.
	for {
		if decodeUser(t, stream.want("profile").data).Name == final {
			break
		}
	}
	for {
		select {
		case ev, ok := <-stream.events:
			if !ok {
				t.Fatal("the stream ended")
			}
			if got := decodeUser(t, ev.data).Name; ev.name != "profile" || got != final {
				t.Fatalf("after the final state came %s naming %q, want nothing older than %q", ev.name, got, final)
			}
		case <-time.After(300 * time.Millisecond):
			return
		}
	}
}

// TestServer_RaceRevokeAndSessionWrites: an admin revokes a user's sessions
// while many requests of that session are writing it; the session stays
// revoked and the user's next request is anonymous.
func TestServer_RaceRevokeAndSessionWrites(t *testing.T) {
	e := mustOpenEnv(t)
	mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	target := mustCreateUser(t, e, "target@example.com", "Target", aistat.RoleViewer)
	admin := newClient(t, e)
	admin.login("admin@example.com")

	for round := range 5 {
		c := newClient(t, e)
		c.login("target@example.com")
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var answered atomic.Int64
		for w := range 16 {
			wg.Go(func() {
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					// Each saves the session: a flash is put, or taken.
					var res *response
					if (w+n)%2 == 0 {
						res = c.postForm("/settings", url.Values{"name": {fmt.Sprintf("T%d-%d", w, n)}, "avatar_url": {""}})
					} else {
						res = c.get("/settings")
					}
					if res.StatusCode >= 500 {
						t.Errorf("%s %s: status %d", res.Request.Method, res.Request.URL.Path, res.StatusCode)
					}
					answered.Add(1)
				}
			})
		}
		// The revoke lands after a different number of writes in each
		// round, and requests go on after it.
		poll.Until(t, "requests before the revoke", 10*time.Second, func() bool { return answered.Load() >= int64(16*(round+1)) })
		wantStatus(t, admin.postForm("/admin/users/"+itoa(target.ID)+"/revoke", confirmed()), http.StatusSeeOther)
		revoked := answered.Load()
		poll.Until(t, "requests after the revoke", 10*time.Second, func() bool { return answered.Load() >= revoked+32 })
		close(stop)
		wg.Wait()

		if n := sessionCount(t, e, target.ID); n != 0 {
			t.Fatalf("round %d: %d sessions after the revoke, want 0", round, n)
		}
		wantStatus(t, c.get("/api/session"), http.StatusUnauthorized)
	}
}

// timedStatus is when a request was sent and how it was answered.
type timedStatus struct {
	sent   time.Time
	status int
}

// hammering is requests sent from several goroutines until stop.
type hammering struct {
	stop func() []timedStatus

	mu  sync.Mutex
	all []timedStatus
}

// hammer sends requests with fire from several goroutines until the
// hammering is stopped, which returns every answer with the time its
// request was sent. The test's end stops it too.
func hammer(tb testing.TB, workers int, fire func() int) *hammering {
	h := &hammering{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				sent := time.Now()
				status := fire()
				h.mu.Lock()
				h.all = append(h.all, timedStatus{sent: sent, status: status})
				h.mu.Unlock()
			}
		})
	}
	h.stop = sync.OnceValue(func() []timedStatus {
		close(stop)
		wg.Wait()
		return h.all
	})
	tb.Cleanup(func() { h.stop() })
	return h
}

// count is how many answers so far were sent after since and had status,
// or any status when it is 0.
func (h *hammering) count(since time.Time, status int) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, a := range h.all {
		if a.sent.After(since) && (status == 0 || a.status == status) {
			n++
		}
	}
	return n
}

// change lets the hammering build up, makes the change, and stops once
// enough requests were sent after it committed: requests are racing on
// both sides of it. It returns every answer and when the change committed.
func (h *hammering) change(t *testing.T, allowed int, change func()) ([]timedStatus, time.Time) {
	t.Helper()
	poll.Until(t, "allowed requests before the change", 10*time.Second, func() bool { return h.count(time.Time{}, allowed) >= 20 })
	change()
	committed := time.Now()
	poll.Until(t, "requests sent after the change", 10*time.Second, func() bool { return h.count(committed, 0) >= 20 })
	return h.stop(), committed
}

// checkAfter fails for every request sent after committed that was not
// answered forbidden, and when the hammering missed either side of the
// change.
func checkAfter(t *testing.T, all []timedStatus, committed time.Time, allowed, forbidden int) {
	t.Helper()
	var before, after int
	for _, a := range all {
		if !a.sent.After(committed) {
			if a.status == allowed {
				before++
			}
			continue
		}
		after++
		if a.status != forbidden {
			t.Errorf("a request sent %v after the change committed was answered %d, want %d", a.sent.Sub(committed), a.status, forbidden)
		}
	}
	if before == 0 || after == 0 {
		t.Fatalf("%d allowed requests before the change, %d requests after: the race was not exercised", before, after)
	}
}

// TestServer_RaceRoleChange: a role change racing with requests never lets
// a request that starts after the change committed use the old role.
func TestServer_RaceRoleChange(t *testing.T) {
	e := mustOpenEnv(t)
	mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	admin := newClient(t, e)
	admin.login("admin@example.com")

	t.Run("EditorLosesAdminPage", func(t *testing.T) {
		editor := mustCreateUser(t, e, "editor@example.com", "Editor", aistat.RoleEditor)
		c := newClient(t, e)
		c.login("editor@example.com")
		h := hammer(t, 8, func() int { return c.get("/admin").StatusCode })
		all, committed := h.change(t, http.StatusOK, func() {
			wantStatus(t, admin.postForm("/admin/users/"+itoa(editor.ID)+"/role", url.Values{"role": {"viewer"}}), http.StatusSeeOther)
		})
		checkAfter(t, all, committed, http.StatusOK, http.StatusForbidden)
	})

	t.Run("AdminLosesAdminActions", func(t *testing.T) {
		second := mustCreateUser(t, e, "second@example.com", "Second Admin", aistat.RoleAdmin)
		victim := mustCreateUser(t, e, "victim@example.com", "Victim", aistat.RoleViewer)
		c := newClient(t, e)
		c.login("second@example.com")
		h := hammer(t, 8, func() int {
			return c.postForm("/admin/users/"+itoa(victim.ID)+"/revoke", confirmed()).StatusCode
		})
		all, committed := h.change(t, http.StatusSeeOther, func() {
			wantStatus(t, admin.postForm("/admin/users/"+itoa(second.ID)+"/role", url.Values{"role": {"editor"}}), http.StatusSeeOther)
		})
		checkAfter(t, all, committed, http.StatusSeeOther, http.StatusForbidden)
	})
}
