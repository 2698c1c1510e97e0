package main

import (
	"context"
	"log/slog"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/auth"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/subscription"
)

// startSubscriptions runs the rest-hook Subscription dispatcher until ctx
// ends and returns a function waiting for it to stop. Without active
// Subscriptions it costs one outbox read per batch of commits and one
// Subscription search per project the first time that project writes.
// Register it before the store serves (it adds a commit hook).
func startSubscriptions(ctx context.Context, s *store.Store, identity *auth.Service, trail ward.AuditLog, logger *slog.Logger) (wait func()) {
	wake := make(chan struct{}, 1)
	s.OnCommit(func(context.Context, []*ward.Resource) {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	d := &subscription.Dispatcher{Store: s, Principals: identity, Audit: trail, Wake: wake, Logger: logger}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Run(ctx); err != nil && ctx.Err() == nil {
			logger.Error("subscriptions: dispatcher stopped", "err", err)
		}
	}()
	return func() { <-done }
}
