package site_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"aistat"
	"aistat/internal/pgtest"
	"aistat/internal/roundtrip"
	"aistat/internal/site"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestOpen: a site opened on an empty database applies the schema, serves
// its pages, listens for changes, counts its pool's round trips when asked,
// and closes, twice without harm.
func TestOpen(t *testing.T) {
	counter := &roundtrip.Counter{}
	s, err := site.Open(t.Context(), site.Config{DSN: pgtest.URL(t), Counter: counter, HashParams: aistat.MinHashParams})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	select {
	case <-s.Hub.Ready():
	default:
		t.Fatal("Open returned before the hub listens")
	}
	if _, err := s.Users.Create(t.Context(), aistat.NewUser{Email: "a@example.com", Name: "A", Role: aistat.RoleAdmin, Password: "correct horse battery"}); err != nil {
		t.Fatalf("create a user on the migrated database: %v", err)
	}
	before := counter.Count()
	rec := httptest.NewRecorder()
	s.Server.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /healthz = %d, want 200", rec.Code)
	}
	if got := counter.Count() - before; got != 1 {
		t.Fatalf("GET /healthz took %d round trips on the counted pool, want 1", got)
	}
	s.Close()
	s.Close()
}

// TestOpen_Unreachable: a database that refuses connections fails Open
// with its error, and nothing is left running.
func TestOpen_Unreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := site.Open(ctx, site.Config{DSN: "host=127.0.0.1 port=1 user=nobody dbname=nothing sslmode=disable connect_timeout=1"})
	if err == nil {
		s.Close()
		t.Fatal("Open on a closed port succeeded")
	}
	if !strings.Contains(err.Error(), "migrate") {
		t.Fatalf("Open: %v, want the schema's failure", err)
	}
}

// TestOpen_SecureCookies: the site's SecureCookies also makes the
// session cookie a __Host- one.
func TestOpen_SecureCookies(t *testing.T) {
	s, err := site.Open(t.Context(), site.Config{DSN: pgtest.URL(t), SecureCookies: true, BaseURL: "https://example.com"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Sessions.CookieName(); got != "__Host-session" {
		t.Fatalf("cookie name %q, want __Host-session", got)
	}
}

// TestClose_Bounded: Close returns within its bounds even when the
// database stopped answering.
func TestClose_Bounded(t *testing.T) {
	proxy, dsn := pgtest.NewProxy(t, pgtest.URL(t))
	s, err := site.Open(t.Context(), site.Config{DSN: dsn, HashParams: aistat.MinHashParams})
	if err != nil {
		t.Fatal(err)
	}
	proxy.Freeze()
	defer proxy.Thaw()
	start := time.Now()
	s.Close()
	if took, bound := time.Since(start), site.BackgroundTimeout+2*site.PoolCloseTimeout+time.Second; took > bound {
		t.Fatalf("Close took %v on a frozen database, want at most %v", took, bound)
	}
}
