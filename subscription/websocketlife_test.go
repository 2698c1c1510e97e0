package subscription_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/auth"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
	"github.com/wardhealth/ward/subscription"
)

// gone reports whether Subscription/id was deleted.
func gone(t testing.TB, s *store.Store, ctx context.Context, id string) bool {
	t.Helper()
	_, err := s.Read(ctx, "Subscription", id)
	if code := ward.ErrorCode(err); code == ward.EGONE || code == ward.ENOTFOUND {
		return true
	} else if err != nil {
		t.Fatal(err)
	}
	return false
}

// eventually waits up to 10s for cond.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("not within 10s: %s", what)
}

func (k *tokens) issueUntil(project, profile, subscription string, expires time.Time) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	token := uuid.NewString()
	k.m[token] = &auth.WSBinding{SubscriptionID: subscription, ProjectID: project, Profile: profile, Expires: expires}
	return token
}

// TestWebSocketSubscriptionsRetiredWhenUnbound: as Medplum drops a
// websocket Subscription when its binding ends, Ward deletes it once the
// last socket bound to it unbinds, closes or lets its token expire — and
// not while another socket is still bound to it.
func TestWebSocketSubscriptionsRetiredWhenUnbound(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		a := admin(proj, "Practitioner/admin")
		unbound, closed, shared, expiring, untouched := createWebSocketSubscription(t, s, a, "Patient"), createWebSocketSubscription(t, s, a, "Patient"),
			createWebSocketSubscription(t, s, a, "Patient"), createWebSocketSubscription(t, s, a, "Patient"), createWebSocketSubscription(t, s, a, "Patient")
		tokens := newTokens()
		h := startWebSockets(t, s, projectAdmin(proj), tokens, 20*time.Millisecond)
		issue := func(sub string) string { return tokens.issue(proj, "Practitioner/admin", sub) }

		one, two, three := h.dial(t), h.dial(t), h.dial(t)
		unboundToken := issue(unbound)
		one.bind(t, unboundToken)
		two.bind(t, issue(closed))
		two.bind(t, issue(shared))
		three.bind(t, issue(shared))
		three.bind(t, tokens.issueUntil(proj, "Practitioner/admin", expiring, time.Now().Add(300*time.Millisecond)))

		one.write(t, `{"type":"unbind-from-token","payload":{"token":"`+unboundToken+`"}}`)
		eventually(t, "the unbound Subscription deleted", func() bool { return gone(t, s, a, unbound) })
		two.close()
		eventually(t, "the closed socket's Subscription deleted", func() bool { return gone(t, s, a, closed) })
		eventually(t, "the Subscription whose token expired deleted", func() bool { return gone(t, s, a, expiring) })
		if gone(t, s, a, shared) {
			t.Fatal("a Subscription another socket is still bound to was deleted")
		}
		if gone(t, s, a, untouched) {
			t.Fatal("a Subscription never bound was deleted at once")
		}
		three.close()
		eventually(t, "the shared Subscription deleted with its last socket", func() bool { return gone(t, s, a, shared) })
	})
}

// TestWebSocketReaperDeletesStaleSubscriptions: websocket Subscriptions
// unwritten for RetireAfter that no socket here is bound to are deleted
// by the reaper, in every project; a bound one and a rest-hook one stay.
func TestWebSocketReaperDeletesStaleSubscriptions(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		projA, projB := uuid.NewString(), uuid.NewString()
		a, b := admin(projA, "Practitioner/admin"), admin(projB, "Practitioner/adminB")
		staleA, staleB, bound := createWebSocketSubscription(t, s, a, "Patient"), createWebSocketSubscription(t, s, b, "Patient"), createWebSocketSubscription(t, s, a, "Patient")
		hook := createSubscription(t, s, a, "Patient", "https://hooks.example.com/in")
		time.Sleep(time.Second) // RetireAfter
		tokens := newTokens()
		h := serveWebSockets(t, &subscription.WebSockets{Store: s, Tokens: tokens, BaseURL: "http://ward.test/", Heartbeat: time.Hour, Poll: 5 * time.Millisecond,
			Principals:  &principals{byAuthor: map[string]*ward.Principal{"Practitioner/admin": {ProjectID: projA, Admin: true}}},
			RetireAfter: time.Second, ReapEvery: 50 * time.Millisecond})
		h.dial(t).bind(t, tokens.issue(projA, "Practitioner/admin", bound))
		fresh := createWebSocketSubscription(t, s, a, "Patient")
		eventually(t, "both projects' stale Subscriptions reaped", func() bool { return gone(t, s, a, staleA) && gone(t, s, b, staleB) })
		if gone(t, s, a, fresh) {
			t.Error("a Subscription written less than RetireAfter ago was reaped")
		}
		time.Sleep(1200 * time.Millisecond) // past RetireAfter for all
		if gone(t, s, a, bound) || gone(t, s, a, hook) {
			t.Error("the reaper deleted a bound websocket Subscription or a rest-hook one")
		}
	})
}

// TestWebSocketPerUserLimit: as Medplum's maxUserWebSocketSubscriptions,
// an author may have MaxPerUser websocket Subscriptions bound at once; one
// more is refused with Medplum's 400 text, a rebind of one already bound
// (a refreshed token) is not, and once one is unbound another binds; a
// project's systemSetting maxUserWebSocketSubscriptions overrides it.
func TestWebSocketPerUserLimit(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		a := admin(proj, "Practitioner/admin")
		tokens := newTokens()
		h := serveWebSockets(t, &subscription.WebSockets{Store: s, Tokens: tokens, BaseURL: "http://ward.test/", Heartbeat: time.Hour, Poll: 5 * time.Millisecond,
			Principals: &principals{byAuthor: map[string]*ward.Principal{"Practitioner/admin": {ProjectID: proj, Admin: true}, "Practitioner/other": {ProjectID: proj, Admin: true}}},
			MaxPerUser: 2})
		issue := func(author, sub string) string { return tokens.issue(proj, author, sub) }
		first, second, third := createWebSocketSubscription(t, s, a, "Patient"), createWebSocketSubscription(t, s, a, "Patient"), createWebSocketSubscription(t, s, a, "Patient")
		c, other := h.dial(t), h.dial(t)
		firstToken := issue("Practitioner/admin", first)
		c.bind(t, firstToken)
		c.bind(t, issue("Practitioner/admin", second))
		c.write(t, bindMessage(issue("Practitioner/admin", third)))
		if m := c.next(t); m.ResourceType != "OperationOutcome" || !strings.Contains(m.raw, "User has exceeded allotted maximum number of concurrent WebSocket subscriptions: 2") {
			t.Fatalf("a third binding answered %s, want Medplum's 400", m.raw)
		}
		c.bind(t, issue("Practitioner/admin", second)) // a refreshed token
		other.bind(t, issue("Practitioner/other", createWebSocketSubscription(t, s, admin(proj, "Practitioner/other"), "Patient")))
		c.write(t, `{"type":"unbind-from-token","payload":{"token":"`+firstToken+`"}}`)
		c.bind(t, issue("Practitioner/admin", third))

		// A project's systemSetting maxUserWebSocketSubscriptions wins.
		small := uuid.NewString()
		sys := ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: small, System: true})
		update(t, s, sys, "Project", small, fmt.Appendf(nil, `{"resourceType":"Project","id":%q,"name":"small",`+
			`"systemSetting":[{"name":"maxUserWebSocketSubscriptions","valueInteger":1}]}`, small))
		sa := admin(small, "Practitioner/admin")
		one, two := createWebSocketSubscription(t, s, sa, "Patient"), createWebSocketSubscription(t, s, sa, "Patient")
		d := h.dial(t)
		d.bind(t, tokens.issue(small, "Practitioner/admin", one))
		d.write(t, bindMessage(tokens.issue(small, "Practitioner/admin", two)))
		if m := d.next(t); m.ResourceType != "OperationOutcome" || !strings.Contains(m.raw, "concurrent WebSocket subscriptions: 1") {
			t.Fatalf("a second binding in a project allowing 1 answered %s, want Medplum's 400", m.raw)
		}
	})
}

// TestWebSocketRevokedLoginEndsTheSocket: once the login that bound a
// socket is revoked, the socket hears no more notifications: it is sent an
// OperationOutcome and closed at the next notification or heartbeat, and
// its Subscription is deleted.
func TestWebSocketRevokedLoginEndsTheSocket(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		a := admin(proj, "Practitioner/admin")
		admins := projectAdmin(proj)
		for _, tc := range []struct {
			name      string
			heartbeat time.Duration
		}{{"at the next notification", time.Hour}, {"at the next heartbeat", 50 * time.Millisecond}} {
			tokens := newTokens()
			h := startWebSockets(t, s, admins, tokens, tc.heartbeat)
			revoked, kept := createWebSocketSubscription(t, s, a, "Patient"), createWebSocketSubscription(t, s, a, "Patient")
			victim, bystander := h.dial(t), h.dial(t)
			token := tokens.issue(proj, "Practitioner/admin", revoked)
			victim.bind(t, token)
			bystander.bind(t, tokens.issue(proj, "Practitioner/admin", kept))

			tokens.revoke(token)
			p := createPatient(t, s, a)
			for { // heartbeats may come first
				m := bystander.next(t)
				if len(m.Entry) > 0 && m.Entry[0].Resource.Type == "heartbeat" {
					continue
				}
				m.isNotification(t, kept, "Patient/"+p)
				break
			}
			for {
				m := victim.next(t)
				if len(m.Entry) > 0 && m.Entry[0].Resource.Type == "heartbeat" {
					continue // sent before the revocation was seen
				}
				if m.ResourceType != "OperationOutcome" || !strings.Contains(m.raw, "no longer valid") {
					t.Fatalf("%s: the revoked socket got %s, want an OperationOutcome", tc.name, m.raw)
				}
				break
			}
			if _, open := <-victim.in; open {
				t.Fatalf("%s: the revoked socket stayed open", tc.name)
			}
			eventually(t, "the revoked binding's Subscription deleted", func() bool { return gone(t, s, a, revoked) })
		}
	})
}
