package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"aistat"
	"aistat/handlers"
	"aistat/internal/live"
	"aistat/internal/postgres"
	"aistat/internal/roundtrip"
	"aistat/sessions"
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

// measureHandlers builds the real server on dsn with a counting dialer and
// measures a few read requests through it, in this process.
func measureHandlers(ctx context.Context, dsn string) ([]handlerCost, error) {
	counter := &roundtrip.Counter{}
	db, err := postgres.Open(dsn, counter)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	users := aistat.NewUsers(db)
	manager := sessions.New(db, sessions.Config{Lifetime: 336 * time.Hour, MaxAge: 720 * time.Hour, Refresh: time.Hour})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub := live.New(users, manager.Store(), dsn, live.Config{MaxStreamsPerUser: 1, MaxStreams: 1}, logger)
	// The requests measured here hand out no link: the base URL is moot.
	srv, err := handlers.New(handlers.Config{DB: db, Users: users, Sessions: manager, Live: hub, Logger: logger, BaseURL: "http://127.0.0.1"})
	if err != nil {
		return nil, err
	}
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
