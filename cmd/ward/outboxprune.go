package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"time"

	"github.com/wardhealth/ward/feed"
	"github.com/wardhealth/ward/store"
)

// pruneConfig is the outbox pruning's part of the serve flags.
type pruneConfig struct {
	maxRows      int64
	retiredAfter time.Duration
	every        time.Duration
}

// defaultOutboxMaxRows holds about three hours of changes at 1,000
// writes/s for a sink whose broker is down, a few GB on disk; past it the
// sink's oldest changes are dropped (and its consumers resync by $export)
// rather than the disk filled.
const defaultOutboxMaxRows = 10_000_000

func (c *pruneConfig) flags(fs *flag.FlagSet) {
	fs.Int64Var(&c.maxRows, "outbox-max-rows", envInt("WARD_OUTBOX_MAX_ROWS", defaultOutboxMaxRows), "the most outbox rows kept for a change feed sink or subscription dispatcher that lags (its broker down); past it the oldest are dropped for it with an ERROR, ward_outbox_over_limit and ward_outbox_dropped_total, and its consumers must resync by $export; 0 = no limit [WARD_OUTBOX_MAX_ROWS]")
	fs.DurationVar(&c.retiredAfter, "feed-retired-after", envDuration("WARD_FEED_RETIRED_AFTER", 24*time.Hour), "an outbox cursor no running server confirmed for this long (its sink removed from every server's flags) stops holding outbox rows [WARD_FEED_RETIRED_AFTER]")
	fs.DurationVar(&c.every, "outbox-prune-every", envDuration("WARD_OUTBOX_PRUNE_EVERY", 10*time.Second), "how often the outbox rows every live cursor has passed are deleted [WARD_OUTBOX_PRUNE_EVERY]")
}

// start prunes the outbox until ctx ends, holding rows for the sinks
// named (those the feed flags connect) from the start; the returned function waits for
// it to stop, and the metrics go on /metrics. Every server prunes: the
// outbox is written whether or not a sink is configured here.
func (c *pruneConfig) start(ctx context.Context, s *store.Store, sinks []string, logger *slog.Logger) (func(), *feed.OutboxMetrics) {
	metrics := feed.NewOutboxMetrics()
	p := &feed.Pruner{Source: s, Sinks: sinks, MaxRows: c.maxRows, RetiredAfter: c.retiredAfter, Every: c.every, Metrics: metrics, Logger: logger}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.Run(ctx)
	}()
	return func() { <-done }, metrics
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}
