package subscription_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward/store"
)

// BenchmarkWriteWithMatchingSubscriptions: creates of Patients one at a
// time while the dispatcher runs (woken by every commit, as in ward
// serve), with 0 or 100 active rest-hook Subscriptions matching every
// create — each create then queues 100 deliveries and its hooks get 100
// POSTs. ns/op is the writer's time per create; deliveries/s is how fast
// the queue drained after the last create (matching, queueing and
// sending, not timed into ns/op).
func BenchmarkWriteWithMatchingSubscriptions(b *testing.B) {
	for _, n := range []int{0, 100} {
		b.Run(fmt.Sprintf("%d-subscriptions", n), func(b *testing.B) {
			benchStores(b, func(b *testing.B, s *store.Store) {
				var posts atomic.Int64
				hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					posts.Add(1)
					w.WriteHeader(http.StatusNoContent)
				}))
				defer hook.Close()
				proj := uuid.NewString()
				a := admin(proj, "Practitioner/admin")
				for range n {
					createSubscription(b, s, a, "Patient", hook.URL, "")
				}
				d := wokenDispatcher(s, proj)
				stop := run(b, s, d)
				defer stop()
				createPatient(b, s, a) // the index holds the project before the timer starts
				for want := int64(n); posts.Load() < want; {
					time.Sleep(time.Millisecond)
				}
				posts.Store(0)
				b.ResetTimer()
				for range b.N {
					createPatient(b, s, a)
				}
				b.StopTimer()
				wrote := time.Now()
				for want := int64(n * b.N); posts.Load() < want; {
					if time.Since(wrote) > 5*time.Minute {
						b.Fatalf("%d of %d deliveries after 5 minutes", posts.Load(), want)
					}
					time.Sleep(time.Millisecond)
				}
				if n > 0 {
					b.ReportMetric(float64(n*b.N)/time.Since(wrote).Seconds(), "drain-deliveries/s")
				}
			})
		})
	}
}
