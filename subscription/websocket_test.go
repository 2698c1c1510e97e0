package subscription_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/auth"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
	"github.com/wardhealth/ward/subscription"
)

// TestWebSocketClinicianHearsOnlyTheirClinic: over a bound socket, a
// clinician subscribed to Observation hears about their clinic's patient
// in Medplum's event-notification Bundle, never another clinic's; once
// unenrolled, nothing more; project B's socket hears only project B.
func TestWebSocketClinicianHearsOnlyTheirClinic(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		projA, projB := uuid.NewString(), uuid.NewString()
		adminA, adminB := admin(projA, "Practitioner/admin"), admin(projB, "Practitioner/adminB")
		ours, theirs := createPatient(t, s, adminA), createPatient(t, s, adminA)
		principals := &principals{byAuthor: map[string]*ward.Principal{
			"Practitioner/clin":   readerOf(t, projA, "Observation?subject=Patient/"+ours),
			"Practitioner/adminB": {ProjectID: projB, Admin: true},
		}}
		subA := createWebSocketSubscription(t, s, admin(projA, "Practitioner/clin"), "Observation")
		subB := createWebSocketSubscription(t, s, adminB, "Observation")
		tokens := newTokens()
		h := startWebSockets(t, s, principals, tokens, time.Hour)
		clinician := h.dial(t)
		clinician.bind(t, tokens.issue(projA, "Practitioner/clin", subA))
		other := h.dial(t)
		other.bind(t, tokens.issue(projB, "Practitioner/adminB", subB))

		createObservation(t, s, adminA, theirs)
		mine := createObservation(t, s, adminA, ours)
		n := clinician.next(t)
		n.isNotification(t, subA, "Observation/"+mine)
		if n.Entry[1].FullURL != "http://ward.test/fhir/R4/Observation/"+mine || n.Entry[1].Resource.ID != mine {
			t.Errorf("notified entry %+v, want Observation/%s with its fullUrl", n.Entry[1], mine)
		}

		principals.remove("Practitioner/clin") // unenrolled
		createObservation(t, s, adminA, ours)
		inB := createObservation(t, s, adminB, createPatient(t, s, adminB))
		other.next(t).isNotification(t, subB, "Observation/"+inB) // project A's writes came first and reached no one here
		clinician.nothing(t)
		other.nothing(t)
	})
}

// TestWebSocketRefusesBadBindings: garbage and unverifiable tokens, a
// token naming another project's Subscription, a token of someone other
// than the author and a rest-hook Subscription each get an
// OperationOutcome and no data; ping gets pong; after an unbind nothing
// more arrives; heartbeats name the bound Subscription.
func TestWebSocketRefusesBadBindings(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		projA, projB := uuid.NewString(), uuid.NewString()
		adminA, adminB := admin(projA, "Practitioner/admin"), admin(projB, "Practitioner/adminB")
		principals := &principals{byAuthor: map[string]*ward.Principal{
			"Practitioner/admin":  {ProjectID: projA, Admin: true},
			"Practitioner/adminB": {ProjectID: projB, Admin: true},
		}}
		subA := createWebSocketSubscription(t, s, adminA, "Patient")
		subB := createWebSocketSubscription(t, s, adminB, "Patient")
		restHook := createSubscription(t, s, adminA, "Patient", "https://hooks.example.com/in")
		tokens := newTokens()
		h := startWebSockets(t, s, principals, tokens, time.Hour)

		c := h.dial(t)
		for name, msg := range map[string]string{
			"garbage token":                  bindMessage("garbage"),
			"another project's Subscription": bindMessage(tokens.issue(projA, "Practitioner/admin", subB)),
			"not the author":                 bindMessage(tokens.issue(projA, "Practitioner/someone", subA)),
			"rest-hook Subscription":         bindMessage(tokens.issue(projA, "Practitioner/admin", restHook)),
			"no token":                       `{"type":"bind-with-token","payload":{}}`,
			"not JSON":                       `bind me`,
		} {
			c.write(t, msg)
			if got := c.next(t); got.ResourceType != "OperationOutcome" {
				t.Errorf("%s: answered %+v, want an OperationOutcome", name, got)
			}
		}
		c.write(t, `{"type":"ping"}`)
		if got := c.next(t); got.Type != "pong" {
			t.Errorf("ping answered %+v, want pong", got)
		}
		listener := h.dial(t)
		token := tokens.issue(projB, "Practitioner/adminB", subB)
		listener.bind(t, token)
		createPatient(t, s, adminA)
		sentinel := createPatient(t, s, adminB)
		listener.next(t).isNotification(t, subB, "Patient/"+sentinel)
		c.nothing(t)

		listener.write(t, `{"type":"unbind-from-token","payload":{"token":"`+token+`"}}`)
		listener.write(t, `{"type":"ping"}`) // answered after the unbind is done
		if got := listener.next(t); got.Type != "pong" {
			t.Fatalf("ping answered %+v, want pong", got)
		}
		createPatient(t, s, adminB)
		listener.nothing(t)

		beating := startWebSockets(t, s, principals, tokens, 20*time.Millisecond).dial(t)
		beating.bind(t, tokens.issue(projA, "Practitioner/admin", subA))
		beat := beating.next(t)
		if len(beat.Entry) != 1 || beat.Entry[0].Resource.Type != "heartbeat" || beat.Entry[0].Resource.Subscription.Reference != "Subscription/"+subA {
			t.Errorf("heartbeat %+v, want one SubscriptionStatus heartbeat of Subscription/%s", beat, subA)
		}
	})
}

// TestWebSocketFollowerIdleWithoutSockets: the outbox is read only while
// a socket is bound.
func TestWebSocketFollowerIdleWithoutSockets(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		a := admin(proj, "Practitioner/admin")
		sub := createWebSocketSubscription(t, s, a, "Patient")
		counting := &countingStore{Store: s}
		tokens := newTokens()
		h := startWebSockets(t, counting, projectAdmin(proj), tokens, time.Hour)
		createPatient(t, s, a)
		time.Sleep(100 * time.Millisecond)
		if n := counting.reads.Load(); n != 0 {
			t.Fatalf("the follower read the outbox %d times with no socket bound", n)
		}
		c := h.dial(t)
		c.bind(t, tokens.issue(proj, "Practitioner/admin", sub))
		p := createPatient(t, s, a)
		c.next(t).isNotification(t, sub, "Patient/"+p)
		c.close()
		time.Sleep(200 * time.Millisecond) // the server sees the close and stops its follower
		before := counting.reads.Load()
		time.Sleep(100 * time.Millisecond)
		if after := counting.reads.Load(); after != before {
			t.Fatalf("the follower read the outbox %d times after its last socket closed", after-before)
		}
	})
}

// TestWebSocketSubscriptionChangesKeepTheIndexCurrent: once a project's
// Subscriptions are indexed, a Subscription created after is heard, one
// turned off is not, one deleted is not: its socket is told and closed.
func TestWebSocketSubscriptionChangesKeepTheIndexCurrent(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		a := admin(proj, "Practitioner/admin")
		tokens := newTokens()
		h := startWebSockets(t, s, projectAdmin(proj), tokens, time.Hour)
		first := createWebSocketSubscription(t, s, a, "Patient")
		early := h.dial(t)
		early.bind(t, tokens.issue(proj, "Practitioner/admin", first))
		p := createPatient(t, s, a) // the project is indexed now
		early.next(t).isNotification(t, first, "Patient/"+p)

		second := createWebSocketSubscription(t, s, a, "Patient")
		late := h.dial(t)
		late.bind(t, tokens.issue(proj, "Practitioner/admin", second))
		p = createPatient(t, s, a)
		early.next(t).isNotification(t, first, "Patient/"+p)
		late.next(t).isNotification(t, second, "Patient/"+p)

		if err := s.Write(a, func(ctx context.Context, tx ward.ResourceTx) error {
			_, _, err := tx.Update(ctx, "Subscription", first, fmt.Appendf(nil,
				`{"resourceType":"Subscription","id":%q,"status":"off","reason":"test","criteria":"Patient","channel":{"type":"websocket"}}`, first), "")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		p = createPatient(t, s, a)
		late.next(t).isNotification(t, second, "Patient/"+p)
		early.nothing(t)

		if err := s.Write(a, func(ctx context.Context, tx ward.ResourceTx) error { return tx.Delete(ctx, "Subscription", second) }); err != nil {
			t.Fatal(err)
		}
		late.closedWith(t, "Subscription/"+second+" was deleted")
		createPatient(t, s, a)
		early.nothing(t)
	})
}

func createWebSocketSubscription(t testing.TB, s *store.Store, ctx context.Context, criteria string) string {
	return create(t, s, ctx, "Subscription", fmt.Appendf(nil,
		`{"resourceType":"Subscription","status":"active","reason":"test","criteria":%q,"channel":{"type":"websocket"}}`, criteria))
}

// tokens is a token table standing in for the identity service; a
// revoked token's login is no longer valid.
type tokens struct {
	mu      sync.Mutex
	m       map[string]*auth.WSBinding
	revoked map[string]bool
	checks  atomic.Int64
}

func newTokens() *tokens { return &tokens{m: map[string]*auth.WSBinding{}, revoked: map[string]bool{}} }

func (k *tokens) revoke(token string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.revoked[token] = true
}

func (k *tokens) CheckWSBinding(_ context.Context, token string, _ *auth.WSBinding) error {
	k.checks.Add(1)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.revoked[token] || k.m[token] == nil {
		return ward.Errorf(ward.EUNAUTHORIZED, "Unauthorized")
	}
	return nil
}

func (k *tokens) issue(project, profile, subscription string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	token := uuid.NewString()
	k.m[token] = &auth.WSBinding{SubscriptionID: subscription, ProjectID: project, Profile: profile, Expires: time.Now().Add(time.Hour)}
	return token
}

func (k *tokens) IssueWSBindingToken(context.Context, *ward.Principal, string) (string, time.Time, error) {
	return "", time.Time{}, errors.New("not used")
}

func (k *tokens) VerifyWSBindingToken(_ context.Context, token string) (*auth.WSBinding, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if b, ok := k.m[token]; ok && !k.revoked[token] {
		return b, nil
	}
	return nil, ward.Errorf(ward.EUNAUTHORIZED, "Unauthorized")
}

// countingStore counts the follower's outbox reads.
type countingStore struct {
	*store.Store
	reads atomic.Int64
}

func (c *countingStore) OutboxAfter(ctx context.Context, seq int64, limit int) ([]store.Change, error) {
	c.reads.Add(1)
	return c.Store.OutboxAfter(ctx, seq, limit)
}

type wsServer struct{ url string }

func startWebSockets(t testing.TB, s subscription.WebSocketStore, p subscription.Principals, k subscription.Tokens, heartbeat time.Duration) *wsServer {
	return serveWebSockets(t, &subscription.WebSockets{Store: s, Principals: p, Tokens: k, BaseURL: "http://ward.test/", Heartbeat: heartbeat, Poll: 5 * time.Millisecond})
}

// serveWebSockets runs w until the test ends and serves its socket.
func serveWebSockets(t testing.TB, w *subscription.WebSockets) *wsServer {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	srv := httptest.NewServer(w)
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	return &wsServer{url: "ws" + strings.TrimPrefix(srv.URL, "http") + subscription.WebSocketPath}
}

type client struct {
	conn *websocket.Conn
	in   chan message
}

// message is any server message: a Bundle, an OperationOutcome or pong.
type message struct {
	raw          string
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Entry        []struct {
		FullURL  string `json:"fullUrl"`
		Resource struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
			Type         string `json:"type"`
			Subscription struct {
				Reference string `json:"reference"`
			} `json:"subscription"`
			NotificationEvent []struct {
				Focus struct {
					Reference string `json:"reference"`
				} `json:"focus"`
			} `json:"notificationEvent"`
		} `json:"resource"`
	} `json:"entry"`
}

func (h *wsServer) dial(t testing.TB) *client {
	t.Helper()
	conn, _, err := websocket.Dial(context.Background(), h.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{conn: conn, in: make(chan message, 100)}
	go func() {
		defer close(c.in)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var m message
			_ = json.Unmarshal(data, &m)
			m.raw = string(data)
			c.in <- m
		}
	}()
	t.Cleanup(c.close)
	return c
}

func (c *client) close() { _ = c.conn.Close(websocket.StatusNormalClosure, "") }

func (c *client) write(t testing.TB, msg string) {
	t.Helper()
	if err := c.conn.Write(context.Background(), websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

func bindMessage(token string) string {
	return `{"type":"bind-with-token","payload":{"token":"` + token + `"}}`
}

// bind binds and waits for the handshake.
func (c *client) bind(t testing.TB, token string) {
	t.Helper()
	c.write(t, bindMessage(token))
	m := c.next(t)
	for m.Type == "history" && len(m.Entry) > 0 && m.Entry[0].Resource.Type == "heartbeat" {
		m = c.next(t) // a heartbeat may come between the binding and its handshake
	}
	if m.Type != "history" || len(m.Entry) != 1 || m.Entry[0].Resource.Type != "handshake" {
		t.Fatalf("bind answered %s, want a handshake", m.raw)
	}
}

func (c *client) next(t testing.TB) message {
	t.Helper()
	select {
	case m, ok := <-c.in:
		if !ok {
			t.Fatal("socket closed")
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
	return message{}
}

// nothing fails on any message arriving within a short wait.
func (c *client) nothing(t testing.TB) {
	t.Helper()
	select {
	case m, ok := <-c.in:
		if ok {
			t.Fatalf("unexpected message %+v", m)
		}
	case <-time.After(300 * time.Millisecond):
	}
}

// closedWith waits for an OperationOutcome saying text, then the close.
func (c *client) closedWith(t testing.TB, text string) {
	t.Helper()
	if m := c.next(t); m.ResourceType != "OperationOutcome" || !strings.Contains(m.raw, text) {
		t.Fatalf("got %s, want an OperationOutcome saying %q", m.raw, text)
	}
	select {
	case m, ok := <-c.in:
		if ok {
			t.Fatalf("got %s after the OperationOutcome, want the socket closed", m.raw)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the socket stayed open")
	}
}

// isNotification checks Medplum's event-notification shape.
func (m message) isNotification(t testing.TB, subscription, focus string) {
	t.Helper()
	if m.ResourceType != "Bundle" || m.Type != "history" || len(m.Entry) != 2 {
		t.Fatalf("got %+v, want a history Bundle of 2 entries", m)
	}
	st := m.Entry[0].Resource
	if st.ResourceType != "SubscriptionStatus" || st.Type != "event-notification" || st.Subscription.Reference != "Subscription/"+subscription ||
		len(st.NotificationEvent) != 1 || st.NotificationEvent[0].Focus.Reference != focus {
		t.Fatalf("status %+v, want an event-notification of Subscription/%s about %s", st, subscription, focus)
	}
	if got := m.Entry[1].Resource.ResourceType + "/" + m.Entry[1].Resource.ID; got != focus {
		t.Fatalf("resource %s, want %s", got, focus)
	}
}
