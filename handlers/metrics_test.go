package handlers_test

import (
	"bufio"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"aistat"
	"aistat/handlers"
	"aistat/internal/poll"
)

// sample is one line of a Prometheus text exposition.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelPair  = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// scrape reads /metrics and checks the text format as it goes: HELP and
// TYPE before a family's samples, well-formed names, labels and values,
// and histograms whose buckets add up.
func scrape(t *testing.T, e *env) []sample {
	t.Helper()
	samples, _ := scrapeFamilies(t, e)
	return samples
}

// family is what the exposition says of one metric family: its type, help
// and the names of its samples' labels, le aside.
type family struct {
	kind, help string
	labels     []string
}

// scrapeFamilies is scrape that also returns the families, by name.
func scrapeFamilies(t *testing.T, e *env) ([]sample, map[string]family) {
	t.Helper()
	srv := e.server.Config.Handler.(*handlers.Server)
	rec := httptest.NewRecorder()
	srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("Content-Type %q", ct)
	}
	types := map[string]string{}
	families := map[string]family{}
	var samples []sample
	sc := bufio.NewScanner(rec.Body)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			kind, rest, _ := strings.Cut(rest, " ")
			name, arg, _ := strings.Cut(rest, " ")
			if !metricName.MatchString(name) || (kind != "HELP" && kind != "TYPE") {
				t.Fatalf("line %d: bad comment %q", n, line)
			}
			f := families[name]
			if kind == "HELP" {
				f.help = arg
			} else {
				if !slices.Contains([]string{"counter", "gauge", "histogram"}, arg) {
					t.Fatalf("line %d: unknown type %q", n, arg)
				}
				types[name], f.kind = arg, arg
			}
			families[name] = f
			continue
		}
		s := parseSample(t, n, line)
		family := s.name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(s.name, suffix); ok && types[base] == "histogram" {
				family = base
			}
		}
		if types[family] == "" {
			t.Fatalf("line %d: sample %s before its TYPE", n, s.name)
		}
		f := families[family]
		for k := range s.labels {
			if k != "le" && !slices.Contains(f.labels, k) {
				f.labels = append(f.labels, k)
			}
		}
		slices.Sort(f.labels)
		families[family] = f
		samples = append(samples, s)
	}
	checkHistograms(t, samples, types)
	return samples, families
}

func parseSample(t *testing.T, n int, line string) sample {
	t.Helper()
	s := sample{labels: map[string]string{}}
	end := strings.IndexAny(line, "{ ")
	if end < 0 {
		t.Fatalf("line %d: no value in %q", n, line)
	}
	s.name, line = line[:end], line[end:]
	if !metricName.MatchString(s.name) {
		t.Fatalf("line %d: bad metric name %q", n, s.name)
	}
	if rest, ok := strings.CutPrefix(line, "{"); ok {
		for !strings.HasPrefix(rest, "}") {
			m := labelPair.FindStringSubmatch(rest)
			if m == nil {
				t.Fatalf("line %d: bad labels at %q", n, rest)
			}
			s.labels[m[1]] = strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\n`, "\n").Replace(m[2])
			rest = strings.TrimPrefix(rest[len(m[0]):], ",")
		}
		line = rest[1:]
	}
	v, err := strconv.ParseFloat(strings.TrimPrefix(line, " "), 64)
	if err != nil || !strings.HasPrefix(line, " ") {
		t.Fatalf("line %d: bad value %q", n, line)
	}
	s.value = v
	return s
}

// checkHistograms checks that every histogram's buckets grow with le and
// that its +Inf bucket equals its count.
func checkHistograms(t *testing.T, samples []sample, types map[string]string) {
	t.Helper()
	// series names one histogram series: its name and labels but le.
	series := func(base string, s sample) string {
		var parts []string
		for k, v := range s.labels {
			if k != "le" {
				parts = append(parts, k+"="+v)
			}
		}
		slices.Sort(parts)
		return base + "{" + strings.Join(parts, ",") + "}"
	}
	last := map[string]float64{} // the latest bucket of each series
	inf := map[string]float64{}  // the +Inf bucket of each series
	counts := map[string]float64{}
	for _, s := range samples {
		if base, ok := strings.CutSuffix(s.name, "_bucket"); ok && types[base] == "histogram" {
			k := series(base, s)
			le, err := strconv.ParseFloat(s.labels["le"], 64)
			if err != nil {
				t.Fatalf("%s: bad le %q", k, s.labels["le"])
			}
			if prev, ok := last[k]; ok && s.value < prev {
				t.Fatalf("%s: bucket le=%v holds %v, less than the one before", k, le, s.value)
			}
			last[k] = s.value
			if math.IsInf(le, 1) {
				inf[k] = s.value
			}
		} else if base, ok := strings.CutSuffix(s.name, "_count"); ok && types[base] == "histogram" {
			counts[series(base, s)] = s.value
		}
	}
	if len(counts) == 0 {
		t.Fatal("no histogram")
	}
	for k, n := range counts {
		if got, ok := inf[k]; !ok || got != n {
			t.Fatalf("%s: +Inf bucket %v, count %v", k, got, n)
		}
	}
}

// value is the sample with name and exactly these labels, -1 when missing.
func value(samples []sample, name string, labels ...string) float64 {
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, s := range samples {
		if s.name != name || len(s.labels) != len(want) {
			continue
		}
		match := true
		for k, v := range want {
			match = match && s.labels[k] == v
		}
		if match {
			return s.value
		}
	}
	return -1
}

func TestServer_Metrics(t *testing.T) {
	e := mustOpenEnv(t)
	mustCreateUser(t, e, "admin@example.com", "Admin", aistat.RoleAdmin)
	c := newClient(t, e)
	c.login("admin@example.com")
	wantStatus(t, c.get("/api/session"), http.StatusOK)
	wantStatus(t, c.get("/no/such/page"), http.StatusNotFound)
	wantStatus(t, c.postForm("/admin/users/987654/revoke", nil), http.StatusNotFound)
	stream := c.openStream()

	before, families := scrapeFamilies(t, e)
	session := []string{"route", "/api/session", "method", "GET", "status", "200"}
	for _, m := range []struct {
		name   string
		labels []string
	}{
		{"aistat_http_requests_total", session},
		{"aistat_http_request_duration_seconds_count", session},
		{"aistat_http_requests_total", []string{"route", "unmatched", "method", "GET", "status", "404"}},
		// The route's pattern, not the raw path.
		{"aistat_http_requests_total", []string{"route", "/admin/users/:id/revoke", "method", "POST", "status", "404"}},
		{"aistat_http_requests_total", []string{"route", "/login", "method", "POST", "status", "303"}},
		{"aistat_sessions_active", nil},
		{"aistat_db_open_connections", nil},
		{"aistat_db_max_open_connections", nil},
		{"go_goroutines", nil},
	} {
		if v := value(before, m.name, m.labels...); v < 1 {
			t.Errorf("%s%v = %v, want at least 1", m.name, m.labels, v)
		}
	}
	for _, name := range []string{"aistat_db_in_use_connections", "aistat_db_idle_connections", "aistat_db_wait_count_total", "go_memstats_heap_alloc_bytes", "go_gc_heap_live_bytes"} {
		if v := value(before, name); v < 0 {
			t.Errorf("%s missing", name)
		}
	}
	if v := value(before, "aistat_event_streams"); v != 1 {
		t.Errorf("aistat_event_streams = %v, want 1", v)
	}

	t.Run("Families", func(t *testing.T) {
		for name, want := range wantFamilies {
			got, ok := families[name]
			if !ok {
				t.Errorf("%s missing", name)
				continue
			}
			if got.kind != want.kind || got.help != want.help || !slices.Equal(got.labels, want.labels) {
				t.Errorf("%s: got %s %q labels %v, want %s %q labels %v", name, got.kind, got.help, got.labels, want.kind, want.help, want.labels)
			}
		}
		for name := range families {
			if _, ok := wantFamilies[name]; !ok {
				t.Errorf("unexpected family %s", name)
			}
		}
	})

	t.Run("CountersIncrease", func(t *testing.T) {
		for range 3 {
			wantStatus(t, c.get("/api/session"), http.StatusOK)
		}
		after := scrape(t, e)
		for _, name := range []string{"aistat_http_requests_total", "aistat_http_request_duration_seconds_count"} {
			if got, want := value(after, name, session...), value(before, name, session...)+3; got != want {
				t.Errorf("%s = %v, want %v", name, got, want)
			}
		}
		if got, was := value(after, "aistat_http_request_duration_seconds_sum", session...), value(before, "aistat_http_request_duration_seconds_sum", session...); got <= was {
			t.Errorf("latency sum %v, was %v: want it to grow", got, was)
		}
		// One after another, each request's lookup is a query of its own.
		for _, name := range []string{"aistat_session_lookups_total", "aistat_session_lookup_queries_total"} {
			if got, want := value(after, name), value(before, name)+3; got != want {
				t.Errorf("%s = %v, want %v", name, got, want)
			}
		}
	})

	t.Run("StreamsClosed", func(t *testing.T) {
		stream.close()
		poll.Until(t, "aistat_event_streams to fall to 0 after the stream closed", 3*time.Second, func() bool {
			return value(scrape(t, e), "aistat_event_streams") == 0
		})
	})
}

// TestServer_Profiles: Go's profiles are served only when asked for
// (--pprof), then only on the metrics listener and never the command line,
// which shows any secret passed as a flag.
func TestServer_Profiles(t *testing.T) {
	get := func(h http.Handler, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	profiles := []string{"/debug/pprof/", "/debug/pprof/heap?debug=1", "/debug/pprof/goroutine?debug=1", "/debug/pprof/symbol"}

	t.Run("Off", func(t *testing.T) {
		srv := mustOpenEnv(t).server.Config.Handler.(*handlers.Server)
		for _, path := range append(profiles, "/debug/pprof/cmdline", "/debug/pprof/profile?seconds=1", "/debug/pprof/trace?seconds=1") {
			if rec := get(srv.MetricsHandler(), path); rec.Code != http.StatusNotFound {
				t.Errorf("metrics listener GET %s without profiles: status %d, want 404", path, rec.Code)
			}
		}
		if rec := get(srv.MetricsHandler(), "/metrics"); rec.Code != http.StatusOK {
			t.Errorf("GET /metrics without profiles: status %d", rec.Code)
		}
	})

	t.Run("On", func(t *testing.T) {
		srv := mustOpenEnvConfig(t, envConfig{profiles: true}).server.Config.Handler.(*handlers.Server)
		for _, path := range profiles {
			if rec := get(srv.MetricsHandler(), path); rec.Code != http.StatusOK || rec.Body.Len() == 0 {
				t.Errorf("metrics listener GET %s: status %d, %d bytes", path, rec.Code, rec.Body.Len())
			}
			if rec := get(srv, path); rec.Code != http.StatusNotFound {
				t.Errorf("site GET %s: status %d, want 404", path, rec.Code)
			}
		}
		for _, path := range []string{"/debug/pprof/cmdline", "/debug/pprof/cmdline?debug=1", "/debug/pprof//cmdline"} {
			rec := get(srv.MetricsHandler(), path)
			if rec.Code == http.StatusOK || strings.Contains(rec.Body.String(), "test") {
				t.Errorf("metrics listener GET %s: status %d, body %.200q; want no command line", path, rec.Code, rec.Body.String())
			}
		}
		if rec := get(srv.MetricsHandler(), "/debug/pprof/cmdline"); rec.Code != http.StatusNotFound {
			t.Errorf("GET /debug/pprof/cmdline: status %d, want 404", rec.Code)
		}
	})
}

// requestLabelNames label both request families.
var requestLabelNames = []string{"method", "route", "status"}

// wantFamilies are the families /metrics shows, with the types, help texts
// and label names that dashboards and alerts were written against; the Go
// collector's other series stay out.
var wantFamilies = map[string]family{
	"aistat_http_requests_total":            {"counter", "HTTP requests answered, by route pattern, method and status.", requestLabelNames},
	"aistat_http_request_duration_seconds":  {"histogram", "Time to answer HTTP requests, by route pattern, method and status.", requestLabelNames},
	"aistat_sessions_active":                {"gauge", "Unexpired sessions in the database (refreshed at most every 15 s).", nil},
	"aistat_event_streams":                  {"gauge", "Open live-event streams on this instance.", nil},
	"aistat_mail":                           {"gauge", "Mails in the outbox by state: queued (waiting or being retried), sent and failed (given up), as long as they are kept.", []string{"state"}},
	"aistat_session_lookups_total":          {"counter", "Sessions looked up for requests.", nil},
	"aistat_session_lookup_queries_total":   {"counter", "Queries those lookups took: under load one query serves several requests.", nil},
	"aistat_db_max_open_connections":        {"gauge", "Maximum number of open database connections.", nil},
	"aistat_db_open_connections":            {"gauge", "Open database connections, in use or idle.", nil},
	"aistat_db_in_use_connections":          {"gauge", "Database connections in use.", nil},
	"aistat_db_idle_connections":            {"gauge", "Idle database connections.", nil},
	"aistat_db_wait_count_total":            {"counter", "Times a request waited for a free database connection.", nil},
	"aistat_db_wait_duration_seconds_total": {"counter", "Time spent waiting for a free database connection.", nil},
	"aistat_db_closed_max_idle_time_total":  {"counter", "Connections closed for being idle too long.", nil},
	"go_goroutines":                         {"gauge", "Goroutines that currently exist.", nil},
	"go_memstats_heap_alloc_bytes":          {"gauge", "Bytes of allocated heap objects.", nil},
	"go_memstats_sys_bytes":                 {"gauge", "Bytes of memory obtained from the operating system.", nil},
	"go_gc_heap_live_bytes":                 {"gauge", "Bytes of heap objects the last collection found in use: allocated bytes without the garbage the collector lets accumulate.", nil},
}
