package handlers_test

import (
	"database/sql"
	"net/http"
	"strings"
	"testing"

	"aistat"
)

// TestServer_Budget counts network round trips to PostgreSQL at the
// connection: an authenticated read costs one and writes nothing, a request
// without a session cookie costs none.
func TestServer_Budget(t *testing.T) {
	e := mustOpenEnv(t)
	u := mustCreateUser(t, e, "budget@example.com", "Budget", aistat.RoleAdmin)
	c := newClient(t, e)
	c.login("budget@example.com")
	wantStatus(t, c.get("/"), http.StatusOK) // opens the pool's connection

	xmins := func() (string, string) {
		var s, usr string
		if err := e.db.QueryRow(`SELECT s.xmin::text, u.xmin::text FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.id = $1`, u.ID).Scan(&s, &usr); err != nil {
			t.Fatal(err)
		}
		return s, usr
	}
	sessionBefore, userBefore := xmins()

	tests := []struct {
		name   string
		c      *client
		path   string
		status int
		want   int64
	}{
		{"AuthenticatedHome", c, "/", http.StatusOK, 1},
		{"AuthenticatedSession", c, "/api/session", http.StatusOK, 1},
		{"AuthenticatedSettings", c, "/settings", http.StatusOK, 1},
		{"AnonymousHome", newClient(t, e), "/", http.StatusOK, 0},
		{"AnonymousSession", newClient(t, e), "/api/session", http.StatusUnauthorized, 0},
		{"AnonymousLogin", newClient(t, e), "/login", http.StatusOK, 0},
		{"Static", newClient(t, e), "/static/app.css", http.StatusOK, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.counter.Count()
			res := tt.c.get(tt.path)
			trips := e.counter.Since(before)
			wantStatus(t, res, tt.status)
			if got := int64(len(trips)); got != tt.want {
				t.Fatalf("GET %s: %d round trips to PostgreSQL, want %d:\n%s", tt.path, got, tt.want, strings.Join(trips, "\n"))
			}
			if res.Header.Get("Set-Cookie") != "" {
				t.Fatalf("GET %s re-sent the cookie: the session was written", tt.path)
			}
		})
	}

	if s, usr := xmins(); s != sessionBefore || usr != userBefore {
		t.Fatalf("reads wrote rows: session xmin %s -> %s, user xmin %s -> %s", sessionBefore, s, userBefore, usr)
	}
}

// TestServer_BudgetLiveReadsApart checks that the live hub reads what it
// pushes through a pool of its own: a change made elsewhere and pushed to
// an open page adds no round trip to the requests' pool, so the budget
// above counts the requests alone, however late the hub gets to a change.
func TestServer_BudgetLiveReadsApart(t *testing.T) {
	e := mustOpenEnv(t)
	u := mustCreateUser(t, e, "live@example.com", "Live", aistat.RoleAdmin)
	stream := newClient(t, e).openStreamAfterLogin("live@example.com")

	other, err := sql.Open("postgres", e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	before := e.counter.Count()
	if _, err := other.Exec(`UPDATE users SET name = 'Renamed' WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	if got := decodeUser(t, stream.want("profile").data); got.Name != "Renamed" {
		t.Fatalf("profile event name %q, want Renamed", got.Name)
	}
	if trips := e.counter.Since(before); len(trips) != 0 {
		t.Fatalf("pushing a change cost the requests' pool %d round trips:\n%s", len(trips), strings.Join(trips, "\n"))
	}
}
