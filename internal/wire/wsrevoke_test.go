package wire_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/internal/wire"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
	"github.com/wardhealth/ward/subscription"
)

// TestWebSocketLogoutEndsTheSocket: with real tokens, a socket bound by
// a login that then signs out (POST /oauth2/logout revokes it) is sent an
// OperationOutcome and closed within a heartbeat, before it hears anything
// more, and its websocket Subscription is deleted; another login's socket
// keeps hearing.
func TestWebSocketLogoutEndsTheSocket(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		srv := startHeartbeatingWebSocketServer(t, s, 100*time.Millisecond)
		owner, project := registerOwner(t, srv, "owner-ws@example.com", "Clinic WS")
		_, other := postJSON(t, srv, "/auth/login", "", map[string]any{"email": "owner-ws@example.com", "password": "owner-password-1",
			"scope": "openid", "codeChallenge": "xyz", "codeChallengeMethod": "plain", "projectId": project})
		second := "Bearer " + exchangeCode(t, srv, other)
		a := "Bearer " + owner
		wsSub := `{"resourceType":"Subscription","status":"active","reason":"ws","criteria":"Patient","channel":{"type":"websocket"}}`
		revokedSub, keptSub := create(t, srv, a, "Subscription", wsSub), create(t, srv, second, "Subscription", wsSub)
		revoked, kept := bindSocket(t, srv, a, revokedSub), bindSocket(t, srv, second, keptSub)

		if status, out := call(t, srv, "POST", "/oauth2/logout", a, "application/json", "{}"); status != 200 {
			t.Fatalf("logout: %d %v", status, out)
		}
		deadline := time.After(5 * time.Second)
	wait:
		for {
			select {
			case m, ok := <-revoked.in:
				if !ok {
					t.Fatal("closed without an OperationOutcome")
				}
				if m["resourceType"] == "OperationOutcome" {
					break wait
				}
				if entries, _ := m["entry"].([]any); len(entries) != 1 || field(entries[0], "resource", "type") != "heartbeat" {
					t.Fatalf("the signed-out socket got %v, want heartbeats then an OperationOutcome", m)
				}
			case <-deadline:
				t.Fatal("the signed-out socket was not told within 5s")
			}
		}
		if _, open := <-revoked.in; open {
			t.Fatal("the signed-out socket stayed open")
		}
		create(t, srv, second, "Patient", `{"resourceType":"Patient"}`)
		for {
			if got := kept.statusType(t); got == "event-notification" {
				break
			}
		}
		walls := ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: project, Admin: true})
		for end := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if _, err := s.Read(walls, "Subscription", revokedSub); ward.ErrorCode(err) == ward.EGONE {
				break
			}
			if time.Now().After(end) {
				t.Fatal("the signed-out socket's Subscription was not deleted")
			}
		}
	})
}

// startHeartbeatingWebSocketServer is the whole stack with websocket
// subscriptions sending a heartbeat every heartbeat.
func startHeartbeatingWebSocketServer(tb testing.TB, s *store.Store, heartbeat time.Duration) *httptest.Server {
	tb.Helper()
	srv, id, logger := seededAuth(tb, s)
	sockets := &subscription.WebSockets{Store: s, Principals: id, Tokens: id, BaseURL: srv.URL + "/", Heartbeat: heartbeat, Logger: logger}
	s.OnCommit(func(context.Context, []*ward.Resource) { sockets.Notify() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = sockets.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
	routes, operations := sockets.Routes()
	srv.Config.Handler = wire.Handler(s, wire.Config{BaseURL: srv.URL + "/", MaxBodyBytes: maxBody, Auth: id, Routes: routes, Operations: operations}, logger)
	return srv
}
