package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"aistat"
	"aistat/sessions"
)

// TestServer_SessionLimit: a sign-in that would give a user more than
// sessions.MaxPerUser live sessions ends the oldest, records it among the
// user's security events, and the browser of the ended session is told why.
func TestServer_SessionLimit(t *testing.T) {
	// Parallel sign-ins from one address would meet the throttle's
	// in-flight limit: each comes from an address of its own.
	e := mustOpenEnvConfig(t, envConfig{trustedProxies: localProxies})

	t.Run("OldestEnds", func(t *testing.T) {
		u := mustCreateUser(t, e, "many@example.com", "Many", aistat.RoleViewer)
		clients := make([]*client, sessions.MaxPerUser)
		for i := range clients {
			clients[i] = newClient(t, e)
			clients[i].login(u.Email)
		}
		// An expired session counts for nothing and is left to the cleanup.
		if _, err := e.db.Exec(`INSERT INTO sessions (token, data, expiry, user_id, created_at)
			VALUES ('expired-one', '\x00', now() - interval '1 minute', $1, now() - interval '1 year')`, u.ID); err != nil {
			t.Fatal(err)
		}
		var events int
		countEvents := func() int {
			t.Helper()
			if err := e.db.QueryRow(`SELECT count(*) FROM security_events WHERE user_id = $1 AND kind = 'session_limit'`, u.ID).Scan(&events); err != nil {
				t.Fatal(err)
			}
			return events
		}
		if n := countEvents(); n != 0 {
			t.Fatalf("%d session_limit events at the limit, want 0", n)
		}
		newest := newClient(t, e)
		newest.login(u.Email)
		if n := sessionCount(t, e, u.ID); n != sessions.MaxPerUser+1 {
			t.Fatalf("%d session rows, want %d live and the expired one", n, sessions.MaxPerUser)
		}
		if n := countEvents(); n != 1 {
			t.Fatalf("%d session_limit events, want 1", n)
		}
		res := clients[0].get("/")
		wantBody(t, res, aistat.EndSessionLimit.Message())
		for _, c := range append(clients[1:], newest) {
			if got := c.get("/api/session"); got.StatusCode != http.StatusOK {
				t.Fatalf("a session other than the oldest ended: status %d", got.StatusCode)
			}
		}
		page := newest.get("/settings/sessions")
		wantBody(t, page, aistat.EventSessionLimit.Label())
	})

	t.Run("ConcurrentSignInsStayWithin", func(t *testing.T) {
		u := mustCreateUser(t, e, "rush@example.com", "Rush", aistat.RoleViewer)
		for range sessions.MaxPerUser - 5 {
			newClient(t, e).login(u.Email)
		}
		var wg sync.WaitGroup
		for i := range 12 {
			wg.Go(func() {
				res := newClient(t, e).do(http.MethodPost, "/login", "application/x-www-form-urlencoded",
					url.Values{"email": {u.Email}, "password": {testPassword}}.Encode(), "X-Forwarded-For", "198.51.100."+strconv.Itoa(100+i))
				if res.StatusCode != http.StatusSeeOther {
					t.Errorf("sign-in: status %d", res.StatusCode)
				}
			})
		}
		wg.Wait()
		var live int
		if err := e.db.QueryRow(`SELECT count(*) FROM sessions WHERE user_id = $1 AND expiry > now()`, u.ID).Scan(&live); err != nil {
			t.Fatal(err)
		}
		if live != sessions.MaxPerUser {
			t.Fatalf("%d live sessions, want %d", live, sessions.MaxPerUser)
		}
	})
}

// expires is the expiry /api/session reports for the client.
func expires(t *testing.T, c *client) time.Time {
	t.Helper()
	res := c.get("/api/session")
	wantStatus(t, res, http.StatusOK)
	var body struct {
		Expires time.Time `json:"expires"`
	}
	if err := json.Unmarshal([]byte(res.body), &body); err != nil {
		t.Fatal(err)
	}
	return body.Expires
}

// TestServer_AdminSessionLimits: admins' sessions get the shorter idle
// timeout and maximum age, by their current role.
func TestServer_AdminSessionLimits(t *testing.T) {
	e := mustOpenEnvConfig(t, envConfig{sessions: sessions.Config{
		Lifetime: 100 * time.Hour, MaxAge: 200 * time.Hour, Refresh: time.Hour,
		AdminLifetime: 3 * time.Hour, AdminMaxAge: 5 * time.Hour,
	}})
	mustCreateUser(t, e, "chief@example.com", "Chief", aistat.RoleAdmin)
	u := mustCreateUser(t, e, "rising@example.com", "Rising", aistat.RoleViewer)
	admin, viewer := newClient(t, e), newClient(t, e)
	admin.login("chief@example.com")
	viewer.login(u.Email)
	near := func(got, want time.Time) bool { return got.Sub(want).Abs() < time.Minute }

	if got, want := expires(t, admin), time.Now().Add(3*time.Hour); !near(got, want) {
		t.Fatalf("admin session expires %v, want about %v", got, want)
	}
	if got, want := expires(t, viewer), time.Now().Add(100*time.Hour); !near(got, want) {
		t.Fatalf("viewer session expires %v, want about %v", got, want)
	}

	t.Run("PromotionShortensAtOnce", func(t *testing.T) {
		wantStatus(t, admin.postForm("/admin/users/"+itoa(u.ID)+"/role", url.Values{"role": {"admin"}}), http.StatusSeeOther)
		if got, want := expires(t, viewer), time.Now().Add(3*time.Hour); !near(got, want) {
			t.Fatalf("promoted session expires %v, want about %v", got, want)
		}
		// Had it signed in long ago, the admin maximum age from then holds.
		if _, err := e.db.Exec(`UPDATE sessions SET last_active = now() - interval '4 hours' WHERE user_id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
		res := viewer.get("/settings")
		wantStatus(t, res, http.StatusSeeOther)
		if loc := res.Header.Get("Location"); loc != "/login?next=%2Fsettings&signed_out=expired" {
			t.Fatalf("Location %q, want the expired sign-in", loc)
		}
	})
}
