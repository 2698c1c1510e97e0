package wire_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward/auth"
	"github.com/wardhealth/ward/internal/wire"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// startAuditedAuthServer is startAuthServer with the store's audit log
// behind both identity and the FHIR API, as ward serve wires them.
func startAuditedAuthServer(t *testing.T, s *store.Store) *httptest.Server {
	t.Helper()
	trail := s.NewAuditLog(store.AuditOptions{})
	t.Cleanup(trail.Close)
	srv := httptest.NewServer(nil)
	t.Cleanup(srv.Close)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	id := auth.New(s, auth.Config{BaseURL: srv.URL + "/", AdminPassword: adminPassword, BcryptCost: bcrypt.MinCost, Logger: logger, Audit: trail})
	if err := id.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = wire.Handler(s, wire.Config{BaseURL: srv.URL + "/", MaxBodyBytes: maxBody, Auth: id, Audit: trail}, logger)
	return srv
}

// failedLogin posts a wrong password and returns the request id.
func failedLogin(t *testing.T, srv *httptest.Server, email, projectID string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"email": email, "password": "definitely-wrong-password", "projectId": projectID})
	resp, err := srv.Client().Post(srv.URL+"/auth/login", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != http.StatusBadRequest || id == "" {
		t.Fatalf("wrong password: %d, request id %q", resp.StatusCode, id)
	}
	return id
}

// auditEvents is the raw AuditEvent search of a bearer token's project.
func auditEvents(t *testing.T, srv *httptest.Server, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+"/fhir/R4/AuditEvent?_count=1000", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("AuditEvent search: %d %s", resp.StatusCode, raw)
	}
	return string(raw)
}

// TestFailedLoginInTheRightTrail: through the store's real audit log, a
// project-scoped user's failed login is an AuditEvent of their project,
// with its reason and never the password; another project's user failing
// to sign into that project is not in its trail; and the other project's
// admin sees neither.
func TestFailedLoginInTheRightTrail(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		srv := startAuditedAuthServer(t, s)
		tokenA, projectA := registerOwner(t, srv, "owner-a@example.com", "Audit A")
		tokenB, _ := registerOwner(t, srv, "owner-b@example.com", "Audit B")
		status, out := postJSON(t, srv, "/admin/projects/"+projectA+"/invite", "Bearer "+tokenA, map[string]any{
			"resourceType": "Practitioner", "firstName": "Pam", "lastName": "Scoped", "email": "pam@example.com",
			"scope": "project", "password": "pam-real-password-1", "sendEmail": false,
		})
		if status != 200 {
			t.Fatalf("invite: %d %v", status, out)
		}

		own := failedLogin(t, srv, "pam@example.com", projectA)
		foreign := failedLogin(t, srv, "owner-b@example.com", projectA)

		trailA := auditEvents(t, srv, tokenA)
		if !strings.Contains(trailA, own) || !strings.Contains(trailA, "wrong password") {
			t.Errorf("project A's trail lacks its user's failed login %s: %s", own, trailA)
		}
		if strings.Contains(trailA, "definitely-wrong-password") {
			t.Errorf("project A's trail holds a password: %s", trailA)
		}
		if strings.Contains(trailA, foreign) {
			t.Errorf("project B's owner failing into A is in A's trail: %s", trailA)
		}
		if trailB := auditEvents(t, srv, tokenB); strings.Contains(trailB, own) || strings.Contains(trailB, foreign) {
			t.Errorf("project B's trail holds failed logins into A: %s", trailB)
		}
	})
}
