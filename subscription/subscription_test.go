package subscription_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/search"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
	"github.com/wardhealth/ward/subscription"
)

// TestClinicianHearsOnlyTheirClinic: a clinician subscribed to
// Observation hears about their clinic's patient, never another clinic's;
// once unenrolled (no membership) nothing more; another project's writes
// reach only that project's hook; the hook gets the channel's headers.
func TestClinicianHearsOnlyTheirClinic(t *testing.T) {
	forEach(t, func(t *testing.T, s *store.Store) {
		projA, projB := uuid.NewString(), uuid.NewString()
		adminA := admin(projA, "Practitioner/admin")
		ours := createPatient(t, s, adminA)
		theirs := createPatient(t, s, adminA)
		clinician := readerOf(t, projA, "Observation?subject=Patient/"+ours)
		principals := &principals{byAuthor: map[string]*ward.Principal{
			"Practitioner/clin":   clinician,
			"Practitioner/adminB": {ProjectID: projB, Admin: true},
		}}
		hookA, hookB := newHook(t, http.StatusOK), newHook(t, http.StatusOK)
		createSubscription(t, s, admin(projA, "Practitioner/clin"), "Observation", hookA.URL, `"header":["Authorization: Bearer clinic-a"],`)
		createSubscription(t, s, admin(projB, "Practitioner/adminB"), "Observation", hookB.URL, "")
		stop := run(t, s, &subscription.Dispatcher{Store: s, Principals: principals, Poll: 5 * time.Millisecond, AllowPrivateEndpoints: true})
		defer stop()

		mine := createObservation(t, s, adminA, ours)
		createObservation(t, s, adminA, theirs)
		waitDelivered(t, hookA, 1)
		settle(t, s)
		if got := hookA.received(); len(got) != 1 || got[0].id != mine || got[0].header.Get("Authorization") != "Bearer clinic-a" ||
			got[0].header.Get("Content-Type") != "application/fhir+json" || got[0].header.Get("X-Medplum-Interaction") != "create" {
			t.Fatalf("clinic A's hook received %+v, want only Observation/%s with its headers", got, mine)
		}
		if n := len(hookB.received()); n != 0 {
			t.Fatalf("project B's hook heard %d of project A's writes", n)
		}

		principals.remove("Practitioner/clin") // unenrolled
		createObservation(t, s, adminA, ours)
		inB := createObservation(t, s, admin(projB, "Practitioner/adminB"), createPatient(t, s, admin(projB, "Practitioner/adminB")))
		waitDelivered(t, hookB, 1)
		settle(t, s)
		if n := len(hookA.received()); n != 1 {
			t.Fatalf("clinic A's hook heard %d deliveries, want none after unenrolment", n-1)
		}
		if got := hookB.received(); len(got) != 1 || got[0].id != inB {
			t.Fatalf("project B's hook received %+v, want only Observation/%s", got, inB)
		}
	})
}

// TestRestHookRetriesUpToMaxAttempts: a hook answering 500 gets the first
// attempt plus max-attempts retries, each audited as a failure, while a
// healthy hook is delivered to at once.
func TestRestHookRetriesUpToMaxAttempts(t *testing.T) {
	forEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		a := admin(proj, "Practitioner/admin")
		broken, healthy := newHook(t, http.StatusInternalServerError), newHook(t, http.StatusOK)
		createSubscription(t, s, a, "Patient", broken.URL, `"header":["X-Hook: broken"],`,
			fmt.Sprintf(`"extension":[{"url":%q,"valueInteger":2}],`, subscription.MaxAttemptsURL))
		createSubscription(t, s, a, "Patient", healthy.URL, "")
		trail := &auditLog{}
		d := &subscription.Dispatcher{Store: s, AllowPrivateEndpoints: true, Principals: projectAdmin(proj),
			Audit: trail, RetryBase: 100 * time.Millisecond, Poll: 5 * time.Millisecond}
		stop := run(t, s, d)
		defer stop()
		start := time.Now()
		createPatient(t, s, a)
		waitDelivered(t, healthy, 1)
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("healthy hook waited %v behind the failing one", took)
		}
		waitDelivered(t, broken, 3)
		time.Sleep(500 * time.Millisecond) // a fourth attempt would come after 400ms
		if n := len(broken.received()); n != 3 {
			t.Fatalf("failing hook got %d attempts, want 1 + 2 retries", n)
		}
		if got := trail.outcomes(); got["4"] != 3 || got["0"] != 1 {
			t.Fatalf("audited outcomes %v, want 3 failures and 1 success", got)
		}
	})
}

// TestSubscriptionWriteRefusesWhatCannotBeDelivered: criteria that do not
// parse and endpoints that are not http(s) are 400 at create.
func TestSubscriptionWriteRefusesWhatCannotBeDelivered(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		a := admin(uuid.NewString(), "Practitioner/admin")
		for _, tc := range []struct {
			criteria, endpoint string
			ok                 bool
		}{
			{"Observation?code=x", "https://hooks.example.com/in", true},
			{"Observation", "http://localhost:9/in", true},
			{"Observation?no-such-param=x", "https://hooks.example.com/in", false},
			{"NotAType?code=x", "https://hooks.example.com/in", false},
			{"", "https://hooks.example.com/in", false},
			{"Observation", "ftp://hooks.example.com/in", false},
			{"Observation", "hooks.example.com/in", false},
		} {
			err := s.Write(a, func(ctx context.Context, tx ward.ResourceTx) error {
				_, err := tx.Create(ctx, "Subscription", subscriptionJSON(tc.criteria, tc.endpoint))
				return err
			})
			if tc.ok && err != nil || !tc.ok && ward.ErrorCode(err) != ward.EINVALID {
				t.Errorf("create %q → %q: %v, want ok=%v (else 400)", tc.criteria, tc.endpoint, err, tc.ok)
			}
		}
	})
}

func admin(project, author string) context.Context {
	return ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: project, Admin: true, Author: author})
}

// readerOf is a clinician's principal: Observations matching criteria only.
func readerOf(t *testing.T, project, criteria string) *ward.Principal {
	q, err := search.ParseCriteria(criteria)
	if err != nil {
		t.Fatal(err)
	}
	return &ward.Principal{ProjectID: project, Author: "Practitioner/clin", Policy: &ward.Policy{Rules: []ward.PolicyRule{
		{ResourceType: "Observation", Criteria: q.Filters, Interactions: ward.InteractionReadOnly},
	}}}
}

func create(t testing.TB, s *store.Store, ctx context.Context, typ string, body []byte) string {
	t.Helper()
	var id string
	if err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		r, err := tx.Create(ctx, typ, body)
		if err == nil {
			id = r.ID
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

func createPatient(t testing.TB, s *store.Store, ctx context.Context) string {
	return create(t, s, ctx, "Patient", []byte(`{"resourceType":"Patient"}`))
}

func createObservation(t testing.TB, s *store.Store, ctx context.Context, patient string) string {
	return create(t, s, ctx, "Observation", fmt.Appendf(nil, `{"resourceType":"Observation","status":"final","code":{"text":"bp"},"subject":{"reference":"Patient/%s"}}`, patient))
}

func subscriptionJSON(criteria, endpoint string, extra ...string) []byte {
	body := `{"resourceType":"Subscription","status":"active","reason":"test","criteria":%q,`
	for _, e := range extra {
		if len(e) > 0 && e[0] == '"' && len(e) > 12 && e[:12] == `"extension":` {
			body += e
		}
	}
	body += `"channel":{"type":"rest-hook",`
	for _, e := range extra {
		if len(e) > 9 && e[:9] == `"header":` {
			body += e
		}
	}
	body += `"endpoint":%q,"payload":"application/fhir+json"}}`
	return fmt.Appendf(nil, body, criteria, endpoint)
}

func createSubscription(t testing.TB, s *store.Store, ctx context.Context, criteria, endpoint string, extra ...string) string {
	return create(t, s, ctx, "Subscription", subscriptionJSON(criteria, endpoint, extra...))
}

// principals is a membership table the test can unenrol from.
// projectAdmin resolves Practitioner/admin as an admin of project.
func projectAdmin(project string) *principals {
	return &principals{byAuthor: map[string]*ward.Principal{"Practitioner/admin": {ProjectID: project, Admin: true}}}
}

type principals struct {
	mu       sync.Mutex
	byAuthor map[string]*ward.Principal
}

func (p *principals) SubscriberPrincipal(_ context.Context, project, author string) (*ward.Principal, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pr, ok := p.byAuthor[author]; ok && pr.ProjectID == project {
		out := *pr
		return &out, nil
	}
	return nil, errors.New("no membership")
}

func (p *principals) remove(author string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.byAuthor, author)
}

type delivery struct {
	id     string
	header http.Header
}

// hook is a local rest-hook endpoint answering status.
type hook struct {
	*httptest.Server
	mu   sync.Mutex
	got  []delivery
	wake chan struct{}
}

func newHook(t *testing.T, status int) *hook {
	h := &hook{wake: make(chan struct{}, 100)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var res struct{ ID string }
		_ = json.Unmarshal(body, &res)
		h.mu.Lock()
		h.got = append(h.got, delivery{id: res.ID, header: r.Header.Clone()})
		h.mu.Unlock()
		h.wake <- struct{}{}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) received() []delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]delivery(nil), h.got...)
}

func waitDelivered(t *testing.T, h *hook, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for len(h.received()) < n {
		select {
		case <-h.wake:
		case <-deadline:
			t.Fatalf("hook received %d deliveries, want %d", len(h.received()), n)
		}
	}
}

// settle waits until the dispatcher's cursor reached the end of the
// outbox and the deliveries it queued had time to land.
func settle(t *testing.T, s *store.Store) {
	t.Helper()
	changes, err := s.OutboxAfter(context.Background(), 0, 1000000)
	if err != nil {
		t.Fatal(err)
	}
	last := changes[len(changes)-1].Seq
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if seq, _ := s.OutboxCursor(context.Background(), "subscriptions"); seq >= last {
			time.Sleep(200 * time.Millisecond)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("dispatcher did not reach seq %d", last)
}

func run(t testing.TB, s *store.Store, d *subscription.Dispatcher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	return func() { cancel(); <-done }
}

// auditLog collects the records of delivery attempts.
type auditLog struct {
	mu   sync.Mutex
	recs []*ward.AuditRecord
}

func (a *auditLog) Record(_ context.Context, rec *ward.AuditRecord) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recs = append(a.recs, rec)
	return nil
}

func (a *auditLog) outcomes() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]int{}
	for _, r := range a.recs {
		out[r.Outcome]++
	}
	return out
}
