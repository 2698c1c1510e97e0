package nodetest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/wardhealth/ward/auth"
	wardhttp "github.com/wardhealth/ward/http"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/subscription"
)

// startWebSockets runs the WebSocket subscriptions over st until the test
// ends, woken by every commit as in ward serve, and returns their routes.
func startWebSockets(t testing.TB, st *store.Store, svc *auth.Service, baseURL string, logger *slog.Logger) (routes, operations []wardhttp.Route) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	w := &subscription.WebSockets{Store: st, Principals: svc, Tokens: svc, BaseURL: baseURL, Poll: 10 * time.Millisecond, Logger: logger}
	st.OnOutbox(w.Notify)
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return w.Routes()
}
