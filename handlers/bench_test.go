package handlers_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"testing"
	"time"

	"aistat"
	"aistat/internal/live"
	"aistat/internal/poll"
)

// BenchmarkEventLatency measures the time from a profile PUT's response on
// instance A to the profile event on a stream of instance B; both share
// one database and talk through LISTEN/NOTIFY.
func BenchmarkEventLatency(b *testing.B) {
	a := mustOpenEnv(b)
	other := mustOpenEnvConfig(b, envConfig{dsn: a.dsn})
	mustCreateUser(b, a, "latency@example.com", "Latency", aistat.RoleViewer)
	ca, cb := newClient(b, a), newClient(b, other)
	ca.login("latency@example.com")
	cb.login("latency@example.com")
	s := cb.openStream()
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		res := ca.putJSON("/api/profile", `{"name": "Name `+itoa(int64(i))+`", "avatarUrl": ""}`)
		done := time.Now()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("PUT: %d", res.StatusCode)
		}
		s.want("profile")
		lat = append(lat, time.Since(done))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkStreamMemory opens 1,000 streams and reports the heap and the
// goroutine stacks they hold, per stream. Client and server share the
// process: the client is a bare connection per stream, with no goroutine,
// so nearly all of the figure is the site's.
func BenchmarkStreamMemory(b *testing.B) {
	const streams = 1000
	e := mustOpenEnvConfig(b, envConfig{live: live.Config{MaxStreamsPerUser: streams, MaxStreams: streams}})
	mustCreateUser(b, e, "memory@example.com", "Memory", aistat.RoleViewer)
	c := newClient(b, e)
	c.login("memory@example.com")
	for b.Loop() {
		heap0, stack0 := memInUse()
		open := make([]net.Conn, streams)
		for i := range open {
			open[i], _, _ = c.rawStream("HTTP/1.1")
		}
		waitLen(b, e, streams)
		heap1, stack1 := memInUse()
		b.ReportMetric(float64(heap1-heap0)/streams/1024, "heap-KiB/stream")
		b.ReportMetric(float64(stack1-stack0)/streams/1024, "stack-KiB/stream")
		for _, conn := range open {
			conn.Close()
		}
		waitLen(b, e, 0)
	}
}

// waitLen waits until the hub holds want streams.
func waitLen(tb testing.TB, e *env, want int) {
	tb.Helper()
	poll.Until(tb, fmt.Sprintf("the hub to hold %d streams", want), 10*time.Second, func() bool { return e.hub.Len() == want })
}

// memInUse is the heap and the goroutine stacks in use after a collection.
func memInUse() (heap, stack uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse, m.StackInuse
}

// BenchmarkRequest is the handler path of read requests, through the real
// router on the real database, one at a time: run with -benchmem for the
// allocations per request.
func BenchmarkRequest(b *testing.B) {
	e := mustOpenEnv(b)
	mustCreateUser(b, e, "request@example.com", "Сара Чен", aistat.RoleAdmin)
	if _, err := e.db.Exec(`INSERT INTO users (email, name, role, password_hash)
		SELECT 'user' || i || '@example.com', 'User ' || i, 'viewer', 'x' FROM generate_series(1, 60) i`); err != nil {
		b.Fatal(err)
	}
	c := newClient(b, e)
	c.login("request@example.com")
	cookie := &http.Cookie{Name: e.manager.CookieName(), Value: c.cookie()}
	for _, tc := range []struct {
		name, path string
		signed     bool
	}{
		{"HomeAuthenticated", "/", true},
		{"Session", "/api/session", true},
		{"HomeAnonymous", "/", false},
		{"AdminFirstPage", "/admin", true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.signed {
				req.AddCookie(cookie)
			}
			handler := e.server.Config.Handler
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
