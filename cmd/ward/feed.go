package main

import (
	"context"
	"flag"
	"log/slog"
	"sync"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/feed"
	"github.com/wardhealth/ward/store"
)

// feedConfig is the change feed's part of the serve flags: server-wide
// sinks of every project's changes. Per-project feeds configured by a
// project's admin are still owed (issue 14).
type feedConfig struct {
	kafkaBrokers string
	kafkaTopic   string
	natsURL      string
	types        string
}

func (c *feedConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.kafkaBrokers, "feed-kafka-brokers", env("WARD_FEED_KAFKA_BROKERS", ""), "publish every committed change to Kafka at these comma-separated brokers; empty = off [WARD_FEED_KAFKA_BROKERS]")
	fs.StringVar(&c.kafkaTopic, "feed-kafka-topic", env("WARD_FEED_KAFKA_TOPIC", "ward.changes"), "the Kafka topic of the change feed, shared by every project (key project/type/id, header ward-project) [WARD_FEED_KAFKA_TOPIC]")
	fs.StringVar(&c.natsURL, "feed-nats-url", env("WARD_FEED_NATS_URL", ""), "publish every committed change to NATS JetStream at this URL (stream WARD, subjects ward.<project>.<type>); empty = off [WARD_FEED_NATS_URL]")
	fs.StringVar(&c.types, "feed-types", env("WARD_FEED_TYPES", ""), "comma-separated resource types the change feed carries; empty = all [WARD_FEED_TYPES]")
}

// start runs a publisher for each configured sink until ctx ends; the
// returned function waits for them to stop, and the metrics (nil when no
// sink is configured) go on /metrics. A sink that cannot be reached is
// retried in the background: it never keeps the server from serving or a
// write from committing.
func (c *feedConfig) start(ctx context.Context, s *store.Store, logger *slog.Logger) (func(), *feed.Metrics) {
	var types map[string]bool
	for _, t := range splitList(c.types) {
		if types == nil {
			types = map[string]bool{}
		}
		types[t] = true
	}
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
	var wg sync.WaitGroup
	for _, open := range sinks {
		wake := make(chan struct{}, 1)
		s.OnCommit(func(context.Context, []*ward.Resource) {
			select {
			case wake <- struct{}{}:
			default: // a wake is pending already
			}
		})
		wg.Go(func() {
			sink := connect(ctx, open, logger)
			if sink == nil {
				return
			}
			defer sink.Close()
			logger.Info("change feed publishing", "sink", sink.Name())
			p := &feed.Publisher{Source: s, Sink: sink, Types: types, Wake: wake, Metrics: metrics, Logger: logger}
			_ = p.Run(ctx)
		})
	}
	return wg.Wait, metrics
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
