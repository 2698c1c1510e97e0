package subscription_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/subscription"
)

// BenchmarkWebSocketLatency: from a create's commit (Write returned) to
// its event-notification arriving at a bound WebSocket client, one write
// at a time, the follower woken by the store's commit hook as in ward
// serve.
func BenchmarkWebSocketLatency(b *testing.B) {
	benchStores(b, func(b *testing.B, s *store.Store) {
		proj := uuid.NewString()
		a := admin(proj, "Practitioner/admin")
		sub := createWebSocketSubscription(b, s, a, "Patient")
		tokens := newTokens()
		w := &subscription.WebSockets{Store: s, Tokens: tokens, BaseURL: "http://ward.test/", Heartbeat: time.Hour, Poll: time.Second,
			Principals: projectAdmin(proj)}
		s.OnCommit(func(context.Context, []*ward.Resource) { w.Notify() })
		c := serveWebSockets(b, w).dial(b)
		c.bind(b, tokens.issue(proj, "Practitioner/admin", sub))
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			id := createPatient(b, s, a)
			committed := time.Now()
			m := c.next(b)
			lat = append(lat, time.Since(committed))
			m.isNotification(b, sub, "Patient/"+id)
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	})
}
