package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"aistat/internal/roundtrip"
	"aistat/internal/site"
)

// handlerCost is what one request costs on the handler path, measured in
// this process: round trips to PostgreSQL counted at the connection, and
// Go's allocations.
type handlerCost struct {
	name       string
	roundTrips int64
	nsPerOp    int64
	allocs     int64
	bytes      int64
}

// measureHandlers opens the site on dsn with a counting dialer and
// measures a few read requests through its server, in this process. It
// runs no cleanup: the expired sessions are for measureCleanup, and its
// statements would count as the requests'.
func measureHandlers(ctx context.Context, dsn string) ([]handlerCost, error) {
	counter := &roundtrip.Counter{}
	// The requests measured here hand out no link: the base URL is moot.
	s, err := site.Open(ctx, site.Config{DSN: dsn, Counter: counter, NoCleanup: true})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	srv := s.Server
	login := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(url.Values{"email": {"bench@example.com"}, "password": {benchPassword}}.Encode()))
	login.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, login)
	var cookie *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == "session" {
			cookie = c
		}
	}
	var costs []handlerCost
	for _, tc := range []struct {
		name   string
		path   string
		signed bool
	}{
		{"GET / authenticated", "/", true},
		{"GET /api/session", "/api/session", true},
		{"GET / anonymous", "/", false},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil).WithContext(ctx)
		if tc.signed && cookie != nil {
			req.AddCookie(cookie)
		}
		srv.ServeHTTP(httptest.NewRecorder(), req) // opens the pool's connection
		before := counter.Count()
		srv.ServeHTTP(httptest.NewRecorder(), req)
		trips := counter.Count() - before
		res := testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				srv.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
		costs = append(costs, handlerCost{
			name:       tc.name,
			roundTrips: trips,
			nsPerOp:    res.NsPerOp(),
			allocs:     res.AllocsPerOp(),
			bytes:      res.AllocedBytesPerOp(),
		})
	}
	return costs, nil
}
