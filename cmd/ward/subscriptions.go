package main

import (
	"context"
	"log/slog"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/auth"
	wardhttp "github.com/wardhealth/ward/http"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/subscription"
)

// startSubscriptions runs the rest-hook Subscription dispatcher and the
// WebSocket subscriptions until ctx ends. It returns the WebSocket routes
// (/ws/subscriptions-r4) and operations ($get-ws-binding-token) to serve,
// the rest-hook deliveries' metrics, and a function waiting for both to
// stop. Without active Subscriptions
// the dispatcher costs one outbox read per batch of commits and one
// Subscription search per project the first time that project writes;
// the WebSocket follower reads nothing while no socket is bound.
// Register it before the store serves (it adds a commit hook).
func startSubscriptions(ctx context.Context, s *store.Store, identity *auth.Service, trail ward.AuditLog, baseURL string, privateHooks bool, logger *slog.Logger) (routes, operations []wardhttp.Route, metrics *subscription.Metrics, wait func()) {
	wake := make(chan struct{}, 1)
	sockets := &subscription.WebSockets{Store: s, Principals: identity, Tokens: identity, BaseURL: baseURL, Logger: logger}
	s.OnOutbox(func() {
		select {
		case wake <- struct{}{}:
		default:
		}
		sockets.Notify()
	})
	metrics = subscription.NewMetrics(s)
	d := &subscription.Dispatcher{Store: s, Principals: identity, Audit: trail, Wake: wake, AllowPrivateEndpoints: privateHooks, Metrics: metrics, Logger: logger}
	dispatched, socketsDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(dispatched)
		if err := d.Run(ctx); err != nil && ctx.Err() == nil {
			logger.Error("subscriptions: dispatcher stopped", "err", err)
		}
	}()
	go func() {
		defer close(socketsDone)
		_ = sockets.Run(ctx) // ends only with ctx
	}()
	routes, operations = sockets.Routes()
	return routes, operations, metrics, func() { <-dispatched; <-socketsDone }
}
