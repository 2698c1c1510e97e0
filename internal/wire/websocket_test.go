package wire_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestWebSocketClinicianEndToEnd: the clinician scenario over the whole
// stack with real tokens. A clinician whose access policy reads their
// clinic's patient's Observations creates a websocket Subscription, gets
// a binding token from $get-ws-binding-token and binds: they hear their
// clinic's Observation, never the other clinic's, and nothing once their
// membership is deleted. Another project's owner may not get a token for
// the clinician's Subscription (404) and their own socket hears only
// their project.
func TestWebSocketClinicianEndToEnd(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		srv := startWebSocketServer(t, s)
		ownerA, projectA := registerOwner(t, srv, "owner-a@example.com", "Clinic A")
		ownerB, _ := registerOwner(t, srv, "owner-b@example.com", "Clinic B")
		a, b := "Bearer "+ownerA, "Bearer "+ownerB
		ours, theirs := create(t, srv, a, "Patient", `{"resourceType":"Patient"}`), create(t, srv, a, "Patient", `{"resourceType":"Patient"}`)
		policy := create(t, srv, a, "AccessPolicy", `{"resourceType":"AccessPolicy","name":"clinician","resource":[`+
			`{"resourceType":"Observation","criteria":"Observation?subject=Patient/`+ours+`"},{"resourceType":"Subscription"}]}`)
		status, invited := postJSON(t, srv, "/admin/projects/"+projectA+"/invite", a, map[string]any{
			"resourceType": "Practitioner", "firstName": "Sam", "lastName": "Subscriber", "email": "sam@example.com",
			"password": "sam-real-password-1", "sendEmail": false, "membership": map[string]any{"accessPolicy": map[string]any{"reference": "AccessPolicy/" + policy}},
		})
		if status != 200 {
			t.Fatalf("invite: %d %v", status, invited)
		}
		_, login := postJSON(t, srv, "/auth/login", "", map[string]any{"email": "sam@example.com", "password": "sam-real-password-1",
			"scope": "openid", "codeChallenge": "xyz", "codeChallengeMethod": "plain", "projectId": projectA})
		clinician := "Bearer " + exchangeCode(t, srv, login)

		subA := create(t, srv, clinician, "Subscription", `{"resourceType":"Subscription","status":"active","reason":"ws","criteria":"Observation","channel":{"type":"websocket"}}`)
		subB := create(t, srv, b, "Subscription", `{"resourceType":"Subscription","status":"active","reason":"ws","criteria":"Observation","channel":{"type":"websocket"}}`)
		if status, _ := call(t, srv, "GET", "/fhir/R4/Subscription/"+subA+"/$get-ws-binding-token", b, "", ""); status != 404 {
			t.Errorf("another project's owner got a token for the clinician's Subscription: %d, want 404", status)
		}
		if status, _ := call(t, srv, "GET", "/fhir/R4/Subscription/"+subA+"/$get-ws-binding-token", a, "", ""); status != 403 {
			t.Errorf("the owner got a token for the clinician's Subscription: %d, want 403 (only its author listens)", status)
		}
		sockA := bindSocket(t, srv, clinician, subA)
		sockB := bindSocket(t, srv, b, subB)

		observation := func(auth, patient string) string {
			return create(t, srv, auth, "Observation", `{"resourceType":"Observation","status":"final","code":{"text":"bp"},"subject":{"reference":"Patient/`+patient+`"}}`)
		}
		observation(a, theirs)
		mine := observation(a, ours)
		if got := sockA.focus(t); got != "Observation/"+mine {
			t.Fatalf("the clinician heard %s first, want Observation/%s (their clinic's)", got, mine)
		}

		var membership string
		if m, _ := invited["id"].(string); m != "" {
			membership = m
		}
		if status, _ := call(t, srv, "DELETE", "/fhir/R4/ProjectMembership/"+membership, a, "", ""); status != 200 {
			t.Fatalf("unenrol %s: %d", membership, status)
		}
		observation(a, ours)
		inB := observation(b, create(t, srv, b, "Patient", `{"resourceType":"Patient"}`))
		if got := sockB.focus(t); got != "Observation/"+inB {
			t.Fatalf("project B's socket heard %s, want only Observation/%s", got, inB)
		}
		sockA.silent(t)
		sockB.silent(t)
	})
}

// startWebSocketServer is the whole stack with websocket subscriptions
// whose heartbeat never comes within a test.
func startWebSocketServer(tb testing.TB, s *store.Store) *httptest.Server {
	tb.Helper()
	return startHeartbeatingWebSocketServer(tb, s, time.Hour)
}

func create(tb testing.TB, srv *httptest.Server, authz, typ, body string) string {
	tb.Helper()
	status, out := call(tb, srv, "POST", "/fhir/R4/"+typ, authz, "application/fhir+json", body)
	if status != 201 {
		tb.Fatalf("create %s: %d %v", typ, status, out)
	}
	return out["id"].(string)
}

type boundSocket struct{ in chan map[string]any }

// bindSocket gets a binding token for subscription as authz, opens the
// websocket-url it names, binds and waits for the handshake.
func bindSocket(t *testing.T, srv *httptest.Server, authz, subscription string) *boundSocket {
	t.Helper()
	status, params := call(t, srv, "GET", "/fhir/R4/Subscription/"+subscription+"/$get-ws-binding-token", authz, "", "")
	if status != 200 {
		t.Fatalf("$get-ws-binding-token: %d %v", status, params)
	}
	values := map[string]string{}
	for _, p := range params["parameter"].([]any) {
		p := p.(map[string]any)
		for k, v := range p {
			if strings.HasPrefix(k, "value") {
				values[p["name"].(string)] = v.(string)
			}
		}
	}
	if want := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/subscriptions-r4"; values["websocket-url"] != want || values["subscription"] != subscription {
		t.Fatalf("token parameters %v, want websocket-url %s for Subscription %s", values, want, subscription)
	}
	conn, _, err := websocket.Dial(context.Background(), values["websocket-url"], nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(websocket.StatusNormalClosure, "") })
	sock := &boundSocket{in: make(chan map[string]any, 100)}
	go func() {
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				close(sock.in)
				return
			}
			var m map[string]any
			_ = json.Unmarshal(data, &m)
			sock.in <- m
		}
	}()
	msg, _ := json.Marshal(map[string]any{"type": "bind-with-token", "payload": map[string]string{"token": values["token"]}})
	if err := conn.Write(context.Background(), websocket.MessageText, msg); err != nil {
		t.Fatal(err)
	}
	if got := sock.statusType(t); got != "handshake" {
		t.Fatalf("bind answered %q, want a handshake", got)
	}
	return sock
}

func (s *boundSocket) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case m, ok := <-s.in:
		if !ok {
			t.Fatal("socket closed")
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
	return nil
}

// statusType is the SubscriptionStatus type of the next message.
func (s *boundSocket) statusType(t *testing.T) string {
	t.Helper()
	m := s.next(t)
	typ, _ := field(m, "entry").([]any)
	if len(typ) == 0 {
		t.Fatalf("message %v is no Bundle", m)
	}
	got, _ := field(typ[0], "resource", "type").(string)
	return got
}

// focus is the resource the next event-notification is about.
func (s *boundSocket) focus(t *testing.T) string {
	t.Helper()
	m := s.next(t)
	entries, _ := m["entry"].([]any)
	if len(entries) != 2 || field(entries[0], "resource", "type") != "event-notification" {
		t.Fatalf("message %v is no event-notification", m)
	}
	events, _ := field(entries[0], "resource", "notificationEvent").([]any)
	if len(events) != 1 {
		t.Fatalf("notification %v has %d events", m, len(events))
	}
	ref, _ := field(events[0], "focus", "reference").(string)
	if id, _ := field(entries[1], "resource", "id").(string); !strings.HasSuffix(ref, "/"+id) {
		t.Fatalf("notification about %s carries resource %s", ref, id)
	}
	return ref
}

// silent fails on any message within a short wait.
func (s *boundSocket) silent(t *testing.T) {
	t.Helper()
	select {
	case m, ok := <-s.in:
		if ok {
			t.Fatalf("unexpected message %v", m)
		}
	case <-time.After(300 * time.Millisecond):
	}
}
