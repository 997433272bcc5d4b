// Package poolmetrics exposes the statistics of a database/sql pool as
// Prometheus metrics, read from the pool at every scrape.
package poolmetrics

import (
	"database/sql"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector reports one pool's statistics. client_golang has a collector of
// its own for this (collectors.NewDBStatsCollector), but it names the
// series go_sql_* with a db_name label: dashboards and alerts already read
// the aistat_db_* names below, so they stay.
type Collector struct {
	stats func() sql.DBStats
}

var _ prometheus.Collector = (*Collector)(nil)

// New returns the collector of db's pool.
func New(db *sql.DB) *Collector {
	return &Collector{stats: db.Stats}
}

var (
	maxOpen     = desc("aistat_db_max_open_connections", "Maximum number of open database connections.")
	open        = desc("aistat_db_open_connections", "Open database connections, in use or idle.")
	inUse       = desc("aistat_db_in_use_connections", "Database connections in use.")
	idle        = desc("aistat_db_idle_connections", "Idle database connections.")
	waits       = desc("aistat_db_wait_count_total", "Times a request waited for a free database connection.")
	waited      = desc("aistat_db_wait_duration_seconds_total", "Time spent waiting for a free database connection.")
	idleExpired = desc("aistat_db_closed_max_idle_time_total", "Connections closed for being idle too long.")
)

func desc(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{maxOpen, open, inUse, idle, waits, waited, idleExpired} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. It reads the pool's statistics
// once, so the series of one scrape agree with each other.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(maxOpen, float64(st.MaxOpenConnections))
	gauge(open, float64(st.OpenConnections))
	gauge(inUse, float64(st.InUse))
	gauge(idle, float64(st.Idle))
	counter(waits, float64(st.WaitCount))
	counter(waited, st.WaitDuration.Seconds())
	counter(idleExpired, float64(st.MaxIdleTimeClosed))
}
