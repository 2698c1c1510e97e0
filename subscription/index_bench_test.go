package subscription_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/subscription"
)

// BenchmarkSubscriptionCreatedAmong10k: the dispatcher's time per new
// Subscription (a websocket one, as each MedplumClient.subscribeToCriteria
// session creates) in a project whose 10,000 Subscriptions are indexed.
func BenchmarkSubscriptionCreatedAmong10k(b *testing.B) {
	benchStores(b, func(b *testing.B, s *store.Store) {
		proj := uuid.NewString()
		a := admin(proj, "Practitioner/admin")
		createSubscriptions(b, s, a, "Encounter", 10000)
		d := &subscription.Dispatcher{Store: s, Poll: time.Millisecond, AllowPrivateEndpoints: true,
			Principals: projectAdmin(proj)}
		skipTo(b, s)
		createPatient(b, s, a) // indexes the project (no Subscription on Patient)
		catchUp(b, s, d)
		for range b.N {
			createWebSocketSubscription(b, s, a, "Observation")
		}
		b.ResetTimer()
		catchUp(b, s, d)
		b.StopTimer()
	})
}
