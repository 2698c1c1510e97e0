package subscription

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Attempt outcomes counted by Metrics.
const (
	outcomeDelivered = "delivered" // the hook answered 200–399
	outcomeFailed    = "failed"    // another answer or a transport error; retried
	outcomeGaveUp    = "gave_up"   // failed with its attempts spent
	outcomeDropped   = "dropped"   // not sent: Subscription gone, author without access, resource gone or superseded
)

// QueueReader is what Metrics reads at scrape: *store.Store.
type QueueReader interface {
	QueuedDeliveries(ctx context.Context) (int, error)
	OutboxLast(ctx context.Context) (int64, error)
	OutboxCursor(ctx context.Context, sink string) (int64, error)
}

// Metrics are the rest-hook deliveries' figures on /metrics:
// ward_subscription_deliveries_queued (deliveries waiting in the queue,
// of every process, read at scrape — a hook failing forever shows here),
// ward_subscription_dispatch_lag (committed changes the dispatcher has
// not matched yet, read at scrape) and
// ward_subscription_deliveries_total{outcome} (this process's attempts:
// delivered, failed, gave_up, and deliveries dropped unsent).
type Metrics struct {
	store    QueueReader
	outcomes *prometheus.CounterVec
	queued   *prometheus.Desc
	lag      *prometheus.Desc
}

// NewMetrics returns the metrics of the deliveries in s's queue.
func NewMetrics(s QueueReader) *Metrics {
	return &Metrics{
		store: s,
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_subscription_deliveries_total",
			Help: "Rest-hook delivery attempts of this process by outcome (delivered, failed, gave_up), and deliveries dropped unsent (dropped).",
		}, []string{"outcome"}),
		queued: prometheus.NewDesc("ward_subscription_deliveries_queued", "Rest-hook deliveries waiting in the queue (every process's).", nil, nil),
		lag:    prometheus.NewDesc("ward_subscription_dispatch_lag", "Committed changes the rest-hook dispatcher has not matched yet.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.outcomes.Describe(ch)
	ch <- m.queued
	ch <- m.lag
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.outcomes.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if n, err := m.store.QueuedDeliveries(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(m.queued, prometheus.GaugeValue, float64(n))
	}
	last, err := m.store.OutboxLast(ctx)
	if err != nil {
		return
	}
	if cursor, err := m.store.OutboxCursor(ctx, cursorName); err == nil {
		ch <- prometheus.MustNewConstMetric(m.lag, prometheus.GaugeValue, float64(max(0, last-cursor)))
	}
}

// count records one outcome; a nil *Metrics counts nothing.
func (m *Metrics) count(outcome string) {
	if m != nil {
		m.outcomes.WithLabelValues(outcome).Inc()
	}
}
