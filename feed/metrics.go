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

// OutboxMetrics are the outbox's own figures on /metrics, kept by the
// Pruner: ward_outbox_rows (the span of seqs the outbox holds, lowest to
// highest: its row count but for the seqs that never committed),
// ward_outbox_over_limit (1 for a sink whose changes were dropped at the
// last pruning because the outbox reached -outbox-max-rows before the sink
// had them), ward_outbox_dropped_total (changes so dropped per sink: its
// consumers must resync by $export) and ward_outbox_pruned_total (rows
// deleted once every live cursor had passed them, or dropped).
type OutboxMetrics struct {
	rows      prometheus.Gauge
	overLimit *prometheus.GaugeVec
	dropped   *prometheus.CounterVec
	pruned    prometheus.Counter
}

// NewOutboxMetrics returns the outbox's metrics, all at 0.
func NewOutboxMetrics() *OutboxMetrics {
	return &OutboxMetrics{
		rows: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ward_outbox_rows", Help: "Outbox rows held for the change feed's sinks (the span of seqs from the lowest to the highest).",
		}),
		overLimit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ward_outbox_over_limit", Help: "1 when the outbox reached its row limit before this sink had its changes, which were dropped for it.",
		}, []string{"sink"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_outbox_dropped_total", Help: "Changes pruned from the outbox before this sink had them (over the row limit, or the sink retired); its consumers must resync by $export.",
		}, []string{"sink"}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ward_outbox_pruned_total", Help: "Outbox rows deleted by pruning.",
		}),
	}
}

// Describe implements prometheus.Collector.
func (m *OutboxMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.rows.Describe(ch)
	m.overLimit.Describe(ch)
	m.dropped.Describe(ch)
	m.pruned.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *OutboxMetrics) Collect(ch chan<- prometheus.Metric) {
	m.rows.Collect(ch)
	m.overLimit.Collect(ch)
	m.dropped.Collect(ch)
	m.pruned.Collect(ch)
}
