package leakfuzz

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/auth"
	"github.com/wardhealth/ward/internal/egress"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/subscription"
)

// Rest-hook Subscriptions under the walls (issue 14). Random callers of
// both projects subscribe to random clinical types, each Subscription
// with a hook of its own; the server's dispatcher runs as ward serve runs
// it. After every step the fuzzer waits until the dispatcher has matched
// every committed change and sent every queued delivery, and checks each
// delivery against the model as it is then: the resource is in the
// author's project, the model lets the author read it (for a deletion:
// read it just before), and it shows no field the author's policy hides.
// As for the audit trail, this checks the direction that matters: nothing
// reaches a hook that its author could not read.

// hookCall is one POST a subscription's hook received.
type hookCall struct {
	subscription string
	ref          string
	deleted      bool
	body         map[string]any
}

// hooks is the fuzzer's Subscriptions and the calls their hooks received.
type hooks struct {
	s       *store.Store
	srv     *httptest.Server
	authors map[string]*caller // by Subscription id
	mu      sync.Mutex
	calls   []hookCall
	checked int // calls already checked
}

// startDispatcher runs the rest-hook dispatcher over s as ward serve does
// (woken by every commit; private endpoints allowed: the hooks are local)
// until the test ends. Call it before the store serves.
func startDispatcher(t *testing.T, s *store.Store, id *auth.Service) {
	s.SetHookEndpoints(egress.Policy{AllowPrivate: true})
	wake := make(chan struct{}, 1)
	s.OnCommit(func(context.Context, []*ward.Resource) {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	d := &subscription.Dispatcher{Store: s, Principals: id, Wake: wake, AllowPrivateEndpoints: true,
		RetryBase: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// subscribe creates 6 to 9 Subscriptions, authored by random members of
// A and by the owner of B, to random clinical types.
func (f *fuzzer) subscribe(t *testing.T, s *store.Store) {
	h := &hooks{s: s, authors: map[string]*caller{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.receive))
	t.Cleanup(h.srv.Close)
	f.hooks = h
	type authorOf struct {
		c       *caller
		profile string
	}
	authors := []authorOf{{f.ownerB, profileOf(t, f.ownerB)}}
	for _, c := range f.callers {
		if c.profile != "" {
			authors = append(authors, authorOf{c, c.profile})
		}
	}
	for i := range 6 + f.rng.IntN(4) {
		a := pick(f.rng, authors)
		author, typ := a.c, pick(f.rng, clinicalTypes)
		ctx := ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: author.project, Admin: true, Author: a.profile})
		body := fmt.Sprintf(`{"resourceType":"Subscription","status":"active","reason":"leakfuzz","criteria":%q,
			"channel":{"type":"rest-hook","endpoint":%q}}`, typ, fmt.Sprintf("%s/hook/%d", h.srv.URL, i))
		err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
			r, err := tx.Create(ctx, "Subscription", []byte(body))
			if err == nil {
				h.authors[r.ID] = author
			}
			return err
		})
		if err != nil {
			t.Fatalf("subscribe %s to %s: %v", author.name, typ, err)
		}
	}
}

func profileOf(t *testing.T, c *caller) string {
	me := c.must(200, "GET", "/auth/me", nil)
	profile, _ := me["profile"].(map[string]any)
	typ, _ := profile["resourceType"].(string)
	id, _ := profile["id"].(string)
	if typ == "" || id == "" {
		t.Fatalf("/auth/me of %s has no profile: %v", c.name, me)
	}
	return typ + "/" + id
}

func (h *hooks) receive(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	call := hookCall{subscription: r.Header.Get("X-Medplum-Subscription")}
	if del := r.Header.Get("X-Medplum-Deleted-Resource"); del != "" {
		call.ref, call.deleted = del, true
	} else {
		_ = json.Unmarshal(raw, &call.body)
		typ, _ := call.body["resourceType"].(string)
		id, _ := call.body["id"].(string)
		call.ref = typ + "/" + id
	}
	h.mu.Lock()
	h.calls = append(h.calls, call)
	h.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// settled reports whether the dispatcher matched every committed change
// and no delivery waits.
func (h *hooks) settled(ctx context.Context) bool {
	last, err1 := h.s.OutboxLast(ctx)
	cursor, err2 := h.s.OutboxCursor(ctx, "subscriptions")
	queued, err3 := h.s.QueuedDeliveries(ctx)
	return err1 == nil && err2 == nil && err3 == nil && cursor >= last && queued == 0
}

// checkDeliveries waits for the dispatcher to settle and checks the calls
// the hooks received since the last check against the model.
func (f *fuzzer) checkDeliveries() {
	h := f.hooks
	if h == nil {
		return
	}
	ctx := context.Background()
	for end := time.Now().Add(10 * time.Second); !h.settled(ctx); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			f.report(diff, nil, "rest-hook", "the dispatcher did not settle within 10 s")
			return
		}
	}
	h.mu.Lock()
	calls := h.calls[h.checked:]
	h.checked = len(h.calls)
	h.mu.Unlock()
	for _, call := range calls {
		f.checkDelivery(call)
	}
}

// checkDelivery reports a delivery its author may not have.
func (f *fuzzer) checkDelivery(call hookCall) {
	author := f.hooks.authors[call.subscription]
	req := fmt.Sprintf("rest-hook Subscription/%s %s", call.subscription, call.ref)
	if call.deleted {
		req += " (deleted)"
	}
	f.count("rest-hook", 200)
	if author == nil {
		f.report(leak, nil, req, "a hook was called for a Subscription the fuzzer did not make")
		return
	}
	r := f.m.res[call.ref]
	switch {
	case r == nil:
		f.report(diff, author, req, "delivered a resource the model does not know")
	case r.project != author.project:
		f.report(leak, author, req, "delivered a resource of project %s to an author of %s", r.project, author.project)
	case r.tainted:
	case !author.can(iRead, r):
		f.report(leak, author, req, "delivered a resource the author may not read: %s", explain(author, r))
	case call.deleted != r.deleted:
		f.report(diff, author, req, "deletion notice=%v, model deleted=%v", call.deleted, r.deleted)
	case !call.deleted:
		f.checkShown(author, req, r, call.body)
	}
}

// checkSubscriptionsRan fails a run in which no hook was called: the
// check above would have checked nothing.
func (f *fuzzer) checkSubscriptionsRan(t *testing.T) {
	if f.hooks == nil {
		return
	}
	f.hooks.mu.Lock()
	n := len(f.hooks.calls)
	f.hooks.mu.Unlock()
	byKind := map[bool]int{}
	for _, c := range f.hooks.calls {
		byKind[c.deleted]++
	}
	t.Logf("rest-hook: %d deliveries (%d deletions) to %d Subscriptions", n, byKind[true], len(f.hooks.authors))
	if n == 0 {
		f.report(diff, nil, "rest-hook", "no hook was called in the whole run: the Subscription check checked nothing")
	}
}
