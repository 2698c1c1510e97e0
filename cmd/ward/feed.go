package main

import (
	"context"
	"flag"
	"log/slog"
	"sync"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/auth"
	"github.com/wardhealth/ward/feed"
	"github.com/wardhealth/ward/store"
)

// feedConfig is the change feed's part of the serve flags: the brokers
// the server connects to, and the server-wide feed's configuration until a
// super admin stores one (/admin/feed). Each project's own feed is
// configured by its admins (/admin/projects/{id}/feed) over these sinks.
type feedConfig struct {
	kafkaBrokers string
	kafkaTopic   string
	natsURL      string
	types        string
	audit        bool
}

func (c *feedConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.kafkaBrokers, "feed-kafka-brokers", env("WARD_FEED_KAFKA_BROKERS", ""), "publish every committed change to Kafka at these comma-separated brokers; empty = off [WARD_FEED_KAFKA_BROKERS]")
	fs.StringVar(&c.kafkaTopic, "feed-kafka-topic", env("WARD_FEED_KAFKA_TOPIC", "ward.changes"), "the Kafka topic of the server-wide change feed, shared by every project (key project/type/id, header ward-project); a project's own feed goes to <topic>.<project id>, the audit trail to <topic>.audit and <topic>.<project id>.audit [WARD_FEED_KAFKA_TOPIC]")
	fs.StringVar(&c.natsURL, "feed-nats-url", env("WARD_FEED_NATS_URL", ""), "publish every committed change to NATS JetStream at this URL (stream WARD, subjects ward.<project>.<type>); empty = off [WARD_FEED_NATS_URL]")
	fs.StringVar(&c.types, "feed-types", env("WARD_FEED_TYPES", ""), "comma-separated resource types the change feed carries; empty = all [WARD_FEED_TYPES]")
	fs.BoolVar(&c.audit, "feed-audit", envBool("WARD_FEED_AUDIT", false), "the server-wide feed carries the audit trail too (Kafka <topic>.audit, NATS ward.<project>.AuditEvent) [WARD_FEED_AUDIT]")
}

// sinkNames are the sinks the flags connect.
func (c *feedConfig) sinkNames() []string {
	var names []string
	if len(splitList(c.kafkaBrokers)) > 0 {
		names = append(names, "kafka")
	}
	if c.natsURL != "" {
		names = append(names, "nats")
	}
	return names
}

// settings are what the admin API needs to know of the feed: the sinks a
// configuration may name and the flags' server-wide configuration.
func (c *feedConfig) settings() auth.FeedSettings {
	names := c.sinkNames()
	return auth.FeedSettings{Sinks: names, Default: &ward.FeedConfig{
		Enabled: len(names) > 0, Sinks: names, Types: splitList(c.types), Audit: c.audit,
	}}
}

// start runs a publisher and an audit feed for each configured sink until
// ctx ends; the returned function waits for them to stop, and the metrics
// (nil when no sink is configured) go on /metrics. A sink that cannot be
// reached is retried in the background: it never keeps the server from
// serving or a write from committing.
func (c *feedConfig) start(ctx context.Context, s *store.Store, logger *slog.Logger) (func(), *feed.Metrics) {
	routes := &feed.Routes{Configs: s, Default: c.settings().Default}
	var sinks []func(context.Context) (feed.Sink, error)
	var names []string
	if brokers := splitList(c.kafkaBrokers); len(brokers) > 0 {
		sinks = append(sinks, func(context.Context) (feed.Sink, error) { return feed.NewKafka(brokers, c.kafkaTopic) })
		names = append(names, "kafka")
	}
	if c.natsURL != "" {
		sinks = append(sinks, func(ctx context.Context) (feed.Sink, error) { return feed.NewNATS(ctx, c.natsURL) })
		names = append(names, "nats")
	}
	if len(sinks) == 0 {
		return func() {}, nil
	}
	metrics := feed.NewMetrics(s.OutboxLast, names...)
	// One process of a fleet publishes each sink (lease.go): the others
	// wait and take over from the stored cursors when it dies.
	l := &leaser{s: s, holder: processID(), ttl: leaseTTL, logger: logger}
	var wg sync.WaitGroup
	for i, open := range sinks {
		wake := commitWake(s)
		ref := store.LeaseRef{ProjectID: ward.SystemProjectID, Name: "feed/" + names[i]}
		wg.Go(func() {
			l.runLeased(ctx, ref, func(ctx context.Context) { publish(ctx, s, open, routes, wake, metrics, logger) })
		})
	}
	return wg.Wait, metrics
}

// publish runs a sink's publisher and audit feed until ctx ends.
func publish(ctx context.Context, s *store.Store, open func(context.Context) (feed.Sink, error), routes *feed.Routes,
	wake <-chan struct{}, metrics *feed.Metrics, logger *slog.Logger) {
	sink := connect(ctx, open, logger)
	if sink == nil {
		return
	}
	defer sink.Close()
	logger.Info("change feed publishing", "sink", sink.Name())
	var both sync.WaitGroup
	both.Go(func() {
		p := &feed.Publisher{Source: s, Sink: sink, Routes: routes, Wake: wake, Metrics: metrics, Logger: logger}
		_ = p.Run(ctx)
	})
	if a, ok := sink.(feed.AuditSink); ok {
		both.Go(func() {
			// No wake: a record is fed once projected, ≈ 50 ms after its
			// commit, and a round per commit would read every
			// project's mark that often; it polls every 50 ms.
			_ = (&feed.AuditFeed{Source: s, Sink: a, Routes: routes, Logger: logger}).Run(ctx)
		})
	}
	both.Wait()
}

// commitWake is a channel signalled after every commit of s that appended
// to the outbox.
func commitWake(s *store.Store) <-chan struct{} {
	wake := make(chan struct{}, 1)
	s.OnOutbox(func() {
		select {
		case wake <- struct{}{}:
		default: // a wake is pending already
		}
	})
	return wake
}

// connect opens a sink, retrying every few seconds until ctx ends (nil).
func connect(ctx context.Context, open func(context.Context) (feed.Sink, error), logger *slog.Logger) feed.Sink {
	for {
		sink, err := open(ctx)
		if err == nil {
			return sink
		}
		logger.Warn("change feed: cannot reach the broker; retrying", "error", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Second):
		}
	}
}
