package feed

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the change feed's figures on /metrics, per sink:
// ward_feed_published_total (changes the broker acknowledged),
// ward_feed_cursor (the last seq acknowledged) and ward_feed_lag (changes
// committed and not yet acknowledged, read from the outbox at scrape).
type Metrics struct {
	last      func(ctx context.Context) (int64, error)
	published *prometheus.CounterVec
	cursors   map[string]*atomic.Int64
	lag       *prometheus.Desc
	cursor    *prometheus.Desc
}

// NewMetrics returns the metrics of the sinks named, reading the outbox's
// highest seq with last.
func NewMetrics(last func(ctx context.Context) (int64, error), sinks ...string) *Metrics {
	m := &Metrics{
		last: last,
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_feed_published_total", Help: "Changes a change feed sink's broker acknowledged.",
		}, []string{"sink"}),
		cursors: map[string]*atomic.Int64{},
		lag:     prometheus.NewDesc("ward_feed_lag", "Committed changes a change feed sink has not had acknowledged yet.", []string{"sink"}, nil),
		cursor:  prometheus.NewDesc("ward_feed_cursor", "The last outbox seq a change feed sink's broker acknowledged.", []string{"sink"}, nil),
	}
	for _, s := range sinks {
		m.cursors[s] = &atomic.Int64{}
	}
	return m
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.published.Describe(ch)
	ch <- m.lag
	ch <- m.cursor
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.published.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	last, err := m.last(ctx)
	for sink, c := range m.cursors {
		cursor := c.Load()
		ch <- prometheus.MustNewConstMetric(m.cursor, prometheus.GaugeValue, float64(cursor), sink)
		if err == nil {
			ch <- prometheus.MustNewConstMetric(m.lag, prometheus.GaugeValue, float64(max(0, last-cursor)), sink)
		}
	}
}

// moved records that sink's broker acknowledged n changes up to cursor.
func (m *Metrics) moved(sink string, cursor int64, n int) {
	if m == nil {
		return
	}
	if c, ok := m.cursors[sink]; ok {
		c.Store(cursor)
	}
	m.published.WithLabelValues(sink).Add(float64(n))
}
