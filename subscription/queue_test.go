package subscription_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/internal/egress"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/postgres"
	"github.com/wardhealth/ward/store/storetest"
	"github.com/wardhealth/ward/subscription"
)

// call is one POST a scripted hook received.
type call struct {
	header http.Header
	body   string
}

// scripted is a hook whose answer to its n-th call (from 0) for one
// resource — named by X-Medplum-Deleted-Resource or the body's id — is
// status(n); hang makes it wait for the request to end instead.
type scripted struct {
	*httptest.Server
	mu     sync.Mutex
	calls  []call
	byKey  map[string]int
	status func(n int) int
	wake   chan struct{}
}

func newScripted(t *testing.T, status func(n int) int) *scripted {
	h := &scripted{byKey: map[string]int{}, status: status, wake: make(chan struct{}, 1000)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		key := r.Header.Get("X-Medplum-Deleted-Resource")
		if key == "" {
			key = idOf(string(body))
		}
		h.mu.Lock()
		h.calls = append(h.calls, call{header: r.Header.Clone(), body: string(body)})
		n := h.byKey[key]
		h.byKey[key]++
		h.mu.Unlock()
		h.wake <- struct{}{}
		code := h.status(n)
		if code == 0 {
			<-r.Context().Done() // hangs until the sender gives up
			return
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(h.Close)
	return h
}

func idOf(body string) string {
	_, rest, ok := strings.Cut(body, `"id":"`)
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, `"`)
	return id
}

func (h *scripted) received() []call {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]call(nil), h.calls...)
}

func (h *scripted) waitCalls(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for len(h.received()) < n {
		select {
		case <-h.wake:
		case <-deadline:
			t.Fatalf("hook received %d calls, want %d", len(h.received()), n)
		}
	}
}

// forEach is storetest.ForEach on stores whose Subscriptions may name
// the tests' local hooks (127.0.0.1).
// failFirst answers 500 to a hook's first call and 200 to every later one.
func failFirst(n int) int {
	if n == 0 {
		return 500
	}
	return 200
}

func forEach(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		s.SetHookEndpoints(egress.Policy{AllowPrivate: true})
		fn(t, s)
	})
}

func always(code int) func(int) int { return func(int) int { return code } }

func interactionExt(code string) string {
	return fmt.Sprintf(`"extension":[{"url":%q,"valueCode":%q}],`, subscription.SupportedInteractionURL, code)
}

func update(t testing.TB, s *store.Store, ctx context.Context, typ, id string, body []byte) {
	t.Helper()
	if err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		_, _, err := tx.Update(ctx, typ, id, body, "")
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func remove(t testing.TB, s *store.Store, ctx context.Context, typ, id string) {
	t.Helper()
	if err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error { return tx.Delete(ctx, typ, id) }); err != nil {
		t.Fatal(err)
	}
}

// TestDeletionNotifications: as Medplum, a Subscription without the
// supported-interaction extension hears creates, updates and deletions;
// with it, only the interaction it names. A deletion is POSTed as {} with
// X-Medplum-Interaction: delete and X-Medplum-Deleted-Resource, and only
// to an author who could read the resource just before it was deleted.
func TestDeletionNotifications(t *testing.T) {
	forEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		a := admin(proj, "Practitioner/admin")
		ours, theirs := createPatient(t, s, a), createPatient(t, s, a)
		every, created, deleted, clinic := newScripted(t, always(200)), newScripted(t, always(200)), newScripted(t, always(200)), newScripted(t, always(200))
		createSubscription(t, s, a, "Observation", every.URL)
		createSubscription(t, s, a, "Observation", created.URL, interactionExt("create"))
		deleteOnly := createSubscription(t, s, a, "Observation", deleted.URL, interactionExt("delete"))
		createSubscription(t, s, admin(proj, "Practitioner/clin"), "Observation", clinic.URL, interactionExt("delete"))
		principals := &principals{byAuthor: map[string]*ward.Principal{
			"Practitioner/admin": {ProjectID: proj, Admin: true},
			"Practitioner/clin":  readerOf(t, proj, "Observation?subject=Patient/"+ours),
		}}
		stop := run(t, s, &subscription.Dispatcher{Store: s, Principals: principals, Poll: 5 * time.Millisecond, AllowPrivateEndpoints: true})
		defer stop()

		// One at a time: a delivery reads the resource when it is sent,
		// and a create already deleted by then is not sent (as Medplum).
		obs := createObservation(t, s, a, ours)
		every.waitCalls(t, 1, 10*time.Second)
		update(t, s, a, "Observation", obs, fmt.Appendf(nil, `{"resourceType":"Observation","id":%q,"status":"amended","code":{"text":"bp"},"subject":{"reference":"Patient/%s"}}`, obs, ours))
		every.waitCalls(t, 2, 10*time.Second)
		remove(t, s, a, "Observation", obs)
		every.waitCalls(t, 3, 10*time.Second)
		other := createObservation(t, s, a, theirs)
		every.waitCalls(t, 4, 10*time.Second)
		remove(t, s, a, "Observation", other)
		every.waitCalls(t, 5, 10*time.Second)
		deleted.waitCalls(t, 2, 10*time.Second)
		clinic.waitCalls(t, 1, 10*time.Second)
		settle(t, s)

		var got []string
		for _, c := range every.received() {
			got = append(got, c.header.Get("X-Medplum-Interaction"))
		}
		if strings.Join(got, ",") != "create,update,delete,create,delete" {
			t.Errorf("the unfiltered subscription heard %v, want create, update, delete of each", got)
		}
		if n := len(created.received()); n != 2 {
			t.Errorf("the create-only subscription heard %d calls, want the 2 creates", n)
		}
		for _, c := range deleted.received() {
			if c.body != "{}" || c.header.Get("X-Medplum-Interaction") != "delete" || c.header.Get("X-Medplum-Subscription") != deleteOnly ||
				!strings.HasPrefix(c.header.Get("X-Medplum-Deleted-Resource"), "Observation/") {
				t.Errorf("deletion notice %q with headers %v, want {} with X-Medplum-Interaction: delete and X-Medplum-Deleted-Resource", c.body, c.header)
			}
		}
		if c := clinic.received(); len(c) != 1 || c[0].header.Get("X-Medplum-Deleted-Resource") != "Observation/"+obs {
			t.Errorf("the clinician heard %v, want the deletion of their clinic's Observation/%s only", c, obs)
		}
	})
}

// TestRetriesSurviveARestart: a delivery waiting for its retry when the
// dispatcher stops is sent by the next dispatcher, once.
func TestRetriesSurviveARestart(t *testing.T) {
	forEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		a := admin(proj, "Practitioner/admin")
		h := newScripted(t, failFirst)
		createSubscription(t, s, a, "Patient", h.URL)
		principals := projectAdmin(proj)
		newDispatcher := func() *subscription.Dispatcher {
			return &subscription.Dispatcher{Store: s, Principals: principals, Poll: 5 * time.Millisecond,
				RetryBase: 300 * time.Millisecond, AllowPrivateEndpoints: true}
		}
		stop := run(t, s, newDispatcher())
		id := createPatient(t, s, a)
		h.waitCalls(t, 1, 10*time.Second)
		time.Sleep(50 * time.Millisecond) // the failure is written back to the queue
		stop()
		if n, _ := s.QueuedDeliveries(context.Background()); n != 1 {
			t.Fatalf("%d deliveries queued after the stop, want the one waiting for its retry", n)
		}
		stop = run(t, s, newDispatcher())
		defer stop()
		h.waitCalls(t, 2, 10*time.Second)
		time.Sleep(400 * time.Millisecond)
		if c := h.received(); len(c) != 2 || idOf(c[1].body) != "" && idOf(c[1].body) != id {
			t.Fatalf("hook received %d calls, want the failed one and its retry", len(c))
		}
		if n, _ := s.QueuedDeliveries(context.Background()); n != 0 {
			t.Fatalf("%d deliveries left after success", n)
		}
	})
}

// TestFailingHooksNeverHoldUpOthers: with four slots, a hook answering
// 500 forever and one that hangs until the timeout, each with many
// deliveries due, leave a healthy hook's deliveries prompt.
func TestFailingHooksNeverHoldUpOthers(t *testing.T) {
	forEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		a := admin(proj, "Practitioner/admin")
		failing, hanging, healthy := newScripted(t, always(500)), newScripted(t, always(0)), newScripted(t, always(200))
		createSubscription(t, s, a, "Patient", failing.URL, fmt.Sprintf(`"extension":[{"url":%q,"valueInteger":18}],`, subscription.MaxAttemptsURL))
		createSubscription(t, s, a, "Patient", hanging.URL)
		createSubscription(t, s, a, "Patient", healthy.URL)
		principals := projectAdmin(proj)
		stop := run(t, s, &subscription.Dispatcher{Store: s, Principals: principals, Poll: 5 * time.Millisecond, Concurrency: 4,
			Timeout: 3 * time.Second, RetryBase: 20 * time.Millisecond, AllowPrivateEndpoints: true})
		defer stop()
		for range 10 {
			createPatient(t, s, a)
		}
		start := time.Now()
		healthy.waitCalls(t, 10, 10*time.Second)
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("the healthy hook's 10 deliveries took %v behind the failing and hanging hooks", took)
		}
		failing.waitCalls(t, 20, 10*time.Second) // its retries go on beside
	})
}

// TestDeliveryIsReadUnderTheAuthorAtSendTime: a delivery waiting for its
// retry is dropped, unsent and unaudited, when its author lost access.
func TestDeliveryIsReadUnderTheAuthorAtSendTime(t *testing.T) {
	forEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		a := admin(proj, "Practitioner/admin")
		h := newScripted(t, func(n int) int {
			if n == 0 {
				return 503
			}
			return 200
		})
		createSubscription(t, s, admin(proj, "Practitioner/clin"), "Patient", h.URL)
		principals := &principals{byAuthor: map[string]*ward.Principal{"Practitioner/clin": {ProjectID: proj, Admin: true}}}
		trail := &auditLog{}
		stop := run(t, s, &subscription.Dispatcher{Store: s, Principals: principals, Audit: trail, Poll: 5 * time.Millisecond,
			RetryBase: 300 * time.Millisecond, AllowPrivateEndpoints: true})
		defer stop()
		createPatient(t, s, a)
		h.waitCalls(t, 1, 10*time.Second)
		principals.remove("Practitioner/clin")
		time.Sleep(time.Second)
		if n := len(h.received()); n != 1 {
			t.Fatalf("hook received %d calls, want none after the author lost access", n-1)
		}
		if n, _ := s.QueuedDeliveries(context.Background()); n != 0 {
			t.Fatalf("%d deliveries left, want the dropped one removed", n)
		}
		if got := trail.outcomes(); got["4"] != 1 || got["0"] != 0 {
			t.Fatalf("audited %v, want the one failed attempt only", got)
		}
	})
}

// TestPrivateEndpointsRefusedAtDial: without AllowPrivateEndpoints a hook
// named by a host that resolves to loopback is never reached; the attempt
// is audited as refused.
func TestPrivateEndpointsRefusedAtDial(t *testing.T) {
	forEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		a := admin(proj, "Practitioner/admin")
		h := newScripted(t, always(200))
		createSubscription(t, s, a, "Patient", strings.Replace(h.URL, "127.0.0.1", "localhost", 1),
			fmt.Sprintf(`"extension":[{"url":%q,"valueInteger":0}],`, subscription.MaxAttemptsURL))
		trail := &auditLog{}
		principals := projectAdmin(proj)
		stop := run(t, s, &subscription.Dispatcher{Store: s, Principals: principals, Audit: trail, Poll: 5 * time.Millisecond})
		defer stop()
		createPatient(t, s, a)
		deadline := time.Now().Add(10 * time.Second)
		for trail.outcomes()["4"] == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := len(h.received()); n != 0 {
			t.Fatalf("a loopback hook was reached %d times with private endpoints off", n)
		}
		trail.mu.Lock()
		defer trail.mu.Unlock()
		if len(trail.recs) != 1 || !strings.Contains(trail.recs[0].Reason, "endpoint not allowed") {
			t.Fatalf("audit records %+v, want one refused attempt", trail.recs)
		}
	})
}

// TestTwoProcessesDeliverEachAttemptOnce: two dispatchers on one
// PostgreSQL database, each with its own store, never both make one
// attempt: a hook failing every first attempt sees exactly two per change.
func TestTwoProcessesDeliverEachAttemptOnce(t *testing.T) {
	url, schema := storetest.PostgresSchema(t)
	var stores []*store.Store
	for range 2 {
		s, err := postgres.Open(context.Background(), url, postgres.Options{SearchPath: schema, MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		s.SetHookEndpoints(egress.Policy{AllowPrivate: true})
		stores = append(stores, s)
	}
	proj := uuid.NewString()
	a := admin(proj, "Practitioner/admin")
	h := newScripted(t, failFirst)
	createSubscription(t, stores[0], a, "Patient", h.URL)
	principals := projectAdmin(proj)
	for _, s := range stores {
		stop := run(t, s, &subscription.Dispatcher{Store: s, Principals: principals, Poll: time.Millisecond,
			RetryBase: 10 * time.Millisecond, AllowPrivateEndpoints: true})
		defer stop()
	}
	const n = 60
	ids := map[string]bool{}
	for i := range n {
		ids[createPatient(t, stores[i%2], a)] = true
	}
	h.waitCalls(t, 2*n, 20*time.Second)
	time.Sleep(300 * time.Millisecond)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.calls) != 2*n {
		t.Fatalf("hook received %d calls, want %d (a failed attempt and its retry per change)", len(h.calls), 2*n)
	}
	for id, k := range h.byKey {
		if !ids[id] || k != 2 {
			t.Errorf("Patient/%s: %d attempts, want 2", id, k)
		}
	}
}

// TestDeliveryMetrics: /metrics counts each attempt's outcome and shows a
// delivery waiting for its retry as queued.
func TestDeliveryMetrics(t *testing.T) {
	forEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		a := admin(proj, "Practitioner/admin")
		h := newScripted(t, failFirst)
		createSubscription(t, s, a, "Patient", h.URL)
		m := subscription.NewMetrics(s)
		reg := prometheus.NewRegistry()
		reg.MustRegister(m)
		principals := projectAdmin(proj)
		stop := run(t, s, &subscription.Dispatcher{Store: s, Principals: principals, Poll: 5 * time.Millisecond,
			RetryBase: time.Second, AllowPrivateEndpoints: true, Metrics: m})
		defer stop()
		createPatient(t, s, a)
		h.waitCalls(t, 1, 10*time.Second)
		time.Sleep(100 * time.Millisecond)
		if got := gather(t, reg); got["queued"] != 1 || got["failed"] != 1 || got["delivered"] != 0 {
			t.Fatalf("while the retry waits: %v, want 1 queued, 1 failed", got)
		}
		h.waitCalls(t, 2, 10*time.Second)
		settle(t, s)
		if got := gather(t, reg); got["queued"] != 0 || got["failed"] != 1 || got["delivered"] != 1 || got["lag"] != 0 {
			t.Fatalf("after the retry: %v, want none queued, 1 failed, 1 delivered, no lag", got)
		}
	})
}

// gather reads the delivery metrics: queued, lag and each outcome.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "ward_subscription_deliveries_queued":
				out["queued"] = m.GetGauge().GetValue()
			case "ward_subscription_dispatch_lag":
				out["lag"] = m.GetGauge().GetValue()
			case "ward_subscription_deliveries_total":
				out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}
