package main

import (
	"net/http"
	"strings"
	"testing"

	"aistat/internal/pgtest"
)

// TestServe_Profiles runs serve with its metrics listener: Go's profiles are
// there only with --pprof, and the command line, which would show a
// password passed as a flag, never is.
func TestServe_Profiles(t *testing.T) {
	t.Parallel()
	dsn := pgtest.URL(t)
	start := func(t *testing.T, extra ...string) (metrics, site string) {
		t.Helper()
		s := launchServe(t, append([]string{"--database-url", dsn, "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"}, extra...)...)
		s.await(t)
		if s.metricsURL == "" {
			t.Fatal("serve printed no metrics address")
		}
		return strings.TrimSuffix(s.metricsURL, "/metrics"), s.base
	}
	c := newClient(t)

	t.Run("Off", func(t *testing.T) {
		metrics, _ := start(t)
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
			if code, _ := get(t, c, metrics+path); code != http.StatusNotFound {
				t.Errorf("metrics listener GET %s without --pprof = %d, want 404", path, code)
			}
		}
		if code, _ := get(t, c, metrics+"/metrics"); code != http.StatusOK {
			t.Errorf("GET /metrics = %d", code)
		}
	})

	t.Run("On", func(t *testing.T) {
		metrics, site := start(t, "--pprof")
		if code, body := get(t, c, metrics+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
			t.Errorf("metrics listener GET /debug/pprof/ with --pprof = %d %.200q", code, body)
		}
		if code, body := get(t, c, metrics+"/debug/pprof/cmdline"); code != http.StatusNotFound || strings.Contains(body, "--metrics-addr") {
			t.Errorf("GET /debug/pprof/cmdline with --pprof = %d %.200q, want 404", code, body)
		}
		if code, _ := get(t, c, site+"/debug/pprof/"); code != http.StatusNotFound {
			t.Errorf("site GET /debug/pprof/ = %d, want 404", code)
		}
	})
}
