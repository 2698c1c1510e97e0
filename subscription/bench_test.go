package subscription_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/internal/egress"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
	"github.com/wardhealth/ward/subscription"
)

// benchStores runs fn on SQLite and, when configured, PostgreSQL.
func benchStores(b *testing.B, fn func(b *testing.B, s *store.Store)) {
	allow := func(s *store.Store) *store.Store { s.SetHookEndpoints(egress.Policy{AllowPrivate: true}); return s }
	b.Run("sqlite", func(b *testing.B) { fn(b, allow(storetest.OpenSQLite(b))) })
	b.Run("postgres", func(b *testing.B) { fn(b, allow(storetest.OpenPostgres(b))) })
}

// BenchmarkRestHookLatency: from a create's commit (Write returned) to
// its rest-hook request arriving, one write at a time, the dispatcher
// woken by the store's commit hook as in ward serve.
func BenchmarkRestHookLatency(b *testing.B) {
	benchStores(b, func(b *testing.B, s *store.Store) {
		arrived := map[string]time.Time{}
		var mu sync.Mutex
		got := make(chan struct{}, 1)
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			var res struct{ ID string }
			_ = json.Unmarshal(body, &res)
			mu.Lock()
			arrived[res.ID] = time.Now()
			mu.Unlock()
			got <- struct{}{}
		}))
		defer hook.Close()
		proj := uuid.NewString()
		a := admin(proj, "Practitioner/admin")
		createSubscription(b, s, a, "Patient", hook.URL, "")
		d := wokenDispatcher(s, proj)
		stop := run(b, s, d)
		defer stop()
		var lat []time.Duration
		b.ResetTimer()
		for range b.N {
			id := createPatient(b, s, a)
			committed := time.Now()
			select {
			case <-got:
			case <-time.After(10 * time.Second):
				b.Fatal("no delivery")
			}
			mu.Lock()
			lat = append(lat, arrived[id].Sub(committed))
			mu.Unlock()
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	})
}

// BenchmarkDispatchPerChange: the dispatcher's time per committed change
// of an Observation in a project without subscriptions, with none
// elsewhere, 10,000 on Observation in another project, or 10,000 on
// Patient in the same project (loaded once into the index).
func BenchmarkDispatchPerChange(b *testing.B) {
	for _, setup := range []struct {
		name      string
		otherProj bool
		sameProj  bool
	}{{"none", false, false}, {"10k-other-project", true, false}, {"10k-same-project-other-type", false, true}} {
		b.Run(setup.name, func(b *testing.B) {
			benchStores(b, func(b *testing.B, s *store.Store) {
				proj := uuid.NewString()
				a := admin(proj, "Practitioner/admin")
				switch {
				case setup.otherProj:
					createSubscriptions(b, s, admin(uuid.NewString(), "Practitioner/admin"), "Observation", 10000)
				case setup.sameProj:
					createSubscriptions(b, s, a, "Patient", 10000)
				}
				patient := createPatient(b, s, a)
				skipTo(b, s)
				d := &subscription.Dispatcher{Store: s, Poll: time.Millisecond, AllowPrivateEndpoints: true,
					Principals: projectAdmin(proj)}
				// One change first, so the index holds the project (the
				// one-time load is measured apart, in the log).
				createObservation(b, s, a, patient)
				start := time.Now()
				catchUp(b, s, d)
				b.Logf("first change (index load) %v", time.Since(start))
				for range b.N {
					createObservation(b, s, a, patient)
				}
				b.ResetTimer()
				catchUp(b, s, d)
				b.StopTimer()
			})
		})
	}
}

// createSubscriptions creates n active rest-hook Subscriptions in
// transactions of 500.
func createSubscriptions(b *testing.B, s *store.Store, ctx context.Context, criteria string, n int) {
	for done := 0; done < n; done += 500 {
		if err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
			for i := range min(500, n-done) {
				if _, err := tx.Create(ctx, "Subscription", subscriptionJSON(criteria, fmt.Sprintf("http://127.0.0.1:9/%d", done+i))); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}

func lastSeq(b *testing.B, s *store.Store) int64 {
	changes, err := s.OutboxAfter(context.Background(), 0, 10000000)
	if err != nil || len(changes) == 0 {
		b.Fatal(err)
	}
	return changes[len(changes)-1].Seq
}

// skipTo moves the dispatcher's cursor past everything written so far.
func skipTo(b *testing.B, s *store.Store) {
	if err := s.SetOutboxCursor(context.Background(), "subscriptions", lastSeq(b, s)); err != nil {
		b.Fatal(err)
	}
}

// catchUp runs d until its cursor reaches the end of the outbox.
func catchUp(b *testing.B, s *store.Store, d *subscription.Dispatcher) {
	last := lastSeq(b, s)
	stop := run(b, s, d)
	defer stop()
	for {
		if seq, _ := s.OutboxCursor(context.Background(), "subscriptions"); seq >= last {
			return
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// wokenDispatcher is a dispatcher for proj's admin woken by every commit
// to s, as in ward serve (its poll, a second, is only the fallback).
func wokenDispatcher(s *store.Store, proj string) *subscription.Dispatcher {
	wake := make(chan struct{}, 1)
	s.OnCommit(func(context.Context, []*ward.Resource) {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	return &subscription.Dispatcher{Store: s, Wake: wake, Poll: time.Second, AllowPrivateEndpoints: true, Principals: projectAdmin(proj)}
}
