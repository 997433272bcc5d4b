package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// latencyBuckets are the upper bounds, in seconds, of the request latency
// histogram: from a page served from memory to a request at the database
// deadline. Event streams, which last minutes, land in +Inf.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// sessionsRefresh is how long the count of active sessions is reused before
// it is read again, so scraping often costs the database little.
const sessionsRefresh = 15 * time.Second

// goMetrics are the Go runtime's series that /metrics shows, with their
// help. The Go collector offers dozens more; the exposition keeps to the
// ones it has always had, which dashboards read, worded as they always
// were, rather than change with every release of client_golang.
var goMetrics = map[string]string{
	"go_goroutines":                "Goroutines that currently exist.",
	"go_memstats_heap_alloc_bytes": "Bytes of allocated heap objects.",
	"go_memstats_sys_bytes":        "Bytes of memory obtained from the operating system.",
	"go_gc_heap_live_bytes":        "Bytes of heap objects the last collection found in use: allocated bytes without the garbage the collector lets accumulate.",
}

// requestMetrics counts the requests of one instance. The labels are a
// route pattern, a method the site knows and a status the site sends, so
// the number of series stays bounded.
type requestMetrics struct {
	total   *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

// requestLabels are the labels of both request metrics, in the order
// observe gives their values.
var requestLabels = []string{"route", "method", "status"}

func newRequestMetrics() *requestMetrics {
	return &requestMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aistat_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status.",
		}, requestLabels),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "aistat_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern, method and status.",
			Buckets: latencyBuckets,
		}, requestLabels),
	}
}

// observe counts one finished request.
func (m *requestMetrics) observe(method, route string, status int, d time.Duration) {
	if status == 0 {
		// The handler wrote nothing: net/http answers 200.
		status = http.StatusOK
	}
	labels := []string{route, methodLabel(method), strconv.Itoa(status)}
	m.total.WithLabelValues(labels...).Inc()
	m.latency.WithLabelValues(labels...).Observe(d.Seconds())
}

// knownMethods are the methods the site answers; any other is counted as
// "other", since clients may send any word.
var knownMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions}

func methodLabel(m string) string {
	if slices.Contains(knownMethods, m) {
		return m
	}
	return "other"
}

var activeSessionsDesc = prometheus.NewDesc("aistat_sessions_active",
	"Unexpired sessions in the database (refreshed at most every 15 s).", nil, nil)

// activeSessions caches the number of unexpired sessions. The scrape
// refreshes it with its own context before the registry is gathered, since
// a collector is given none.
type activeSessions struct {
	count  func(context.Context) (int64, error)
	logger *slog.Logger

	mu   sync.Mutex
	n    int64
	read time.Time
	ok   bool
}

var _ prometheus.Collector = (*activeSessions)(nil)

// refresh reads the number of unexpired sessions when the last read is
// older than sessionsRefresh.
func (a *activeSessions) refresh(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if time.Since(a.read) < sessionsRefresh {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	n, err := a.count(ctx)
	if err != nil {
		a.logger.Warn("metrics: count sessions", "err", err)
		// Try again on the next scrape rather than after the whole
		// interval, but keep the last value meanwhile.
		return
	}
	a.n, a.ok, a.read = n, true, time.Now()
}

// Describe implements prometheus.Collector.
func (a *activeSessions) Describe(ch chan<- *prometheus.Desc) { ch <- activeSessionsDesc }

// Collect implements prometheus.Collector: nothing until the count has been
// read once, rather than a zero that a dashboard would believe.
func (a *activeSessions) Collect(ch chan<- prometheus.Metric) {
	a.mu.Lock()
	n, ok := a.n, a.ok
	a.mu.Unlock()
	if ok {
		ch <- prometheus.MustNewConstMetric(activeSessionsDesc, prometheus.GaugeValue, float64(n))
	}
}

// newMetrics builds what /metrics serves from a registry of this server's
// own, not client_golang's global one, so that several servers in one
// process (the tests) each report their own requests.
func (s *Server) newMetrics(pool, mail prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		s.requests.total,
		s.requests.latency,
		&s.sessionCount,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "aistat_event_streams",
			Help: "Open live-event streams on this instance.",
		}, func() float64 { return float64(s.live.Len()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "aistat_session_lookups_total",
			Help: "Sessions looked up for requests.",
		}, func() float64 { lookups, _ := s.sessions.Store().LookupStats(); return float64(lookups) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "aistat_session_lookup_queries_total",
			Help: "Queries those lookups took: under load one query serves several requests.",
		}, func() float64 { _, queries := s.sessions.Store().LookupStats(); return float64(queries) }),
	)
	if pool != nil {
		reg.MustRegister(pool)
	}
	if mail != nil {
		reg.MustRegister(mail)
	}
	// The Go collector is on a registry of its own so that only its
	// series are picked. Its families are built anew at every gather, so
	// their help can be set in place.
	goReg := prometheus.NewRegistry()
	goReg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})))
	goSeries := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		families, err := goReg.Gather()
		families = slices.DeleteFunc(families, func(f *dto.MetricFamily) bool {
			help, ok := goMetrics[f.GetName()]
			f.Help = &help
			return !ok
		})
		return families, err
	})
	gatherer := prometheus.Gatherers{reg, goSeries}
	return promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		// A collector that fails leaves its series out; the others
		// still reach the monitoring system.
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// MetricsHandler serves GET /metrics in Prometheus's text format: requests
// and their latency by route and status, active sessions, open event
// streams, the database pool and the Go runtime. It carries no personal data
// but should still be reachable only by the monitoring system, so the site
// serves it on a listener of its own (--metrics-addr).
//
// With Config.Profiles it also serves Go's profiles under /debug/pprof/ (go
// tool pprof http://ADDR/debug/pprof/profile). They are off by default: the
// listener asks for no login, and a profile shows the process's internals.
// The command line (pprof's cmdline) is never served, with or without
// profiles, because it holds whatever secret an operator passed as a flag.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", s.handleMetrics)
	if !s.profiles {
		return mux
	}
	// pprof.Index also serves every named runtime profile (heap,
	// goroutine, ...) below /debug/pprof/; cmdline is not one of them, so
	// without a route of its own it is a 404.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", http.NotFound)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	s.sessionCount.refresh(r.Context())
	w.Header().Set("Cache-Control", "no-store")
	s.metrics.ServeHTTP(w, r)
}
