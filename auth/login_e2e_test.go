package auth_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward/auth"
	"github.com/wardhealth/ward/internal/wire"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// e2e is the fully wired server, as ward serve runs it.
type e2e struct {
	t   *testing.T
	srv *httptest.Server
}

func startE2E(t *testing.T, s *store.Store) *e2e {
	srv := httptest.NewServer(nil)
	t.Cleanup(srv.Close)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	id := auth.New(s, auth.Config{BaseURL: srv.URL + "/", AdminPassword: "e2e-admin-password", BcryptCost: bcrypt.MinCost, Logger: logger})
	if err := id.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = wire.Handler(s, wire.Config{BaseURL: srv.URL + "/", MaxBodyBytes: 1 << 20, Auth: id}, logger)
	return &e2e{t: t, srv: srv}
}

func (e *e2e) call(method, path, bearer, contentType, body string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

func (e *e2e) post(path, bearer string, v any) (int, map[string]any) {
	e.t.Helper()
	b, _ := json.Marshal(v)
	return e.call(http.MethodPost, path, bearer, "application/fhir+json", string(b))
}

func (e *e2e) must(status int, body map[string]any, want int, what string) map[string]any {
	e.t.Helper()
	if status != want {
		e.t.Fatalf("%s: status %d, want %d: %v", what, status, want, body)
	}
	return body
}

func (e *e2e) exchange(code string) map[string]any {
	e.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {"xyz"}}
	return e.mustCall(e.call(http.MethodPost, "/oauth2/token", "", "application/x-www-form-urlencoded", form.Encode()))(200, "token exchange")
}

// mustCall lets e.must take a call's two results directly.
func (e *e2e) mustCall(status int, body map[string]any) func(int, string) map[string]any {
	return func(want int, what string) map[string]any { return e.must(status, body, want, what) }
}

// TestInvitedMemberWithPolicyLogsIn is spec §6 row 86: an invited member
// whose access policy allows only Patient logs in with PKCE plain "xyz"
// and scope "openid offline_access", exchanges the code, and may create a
// Patient but not an Observation.
func TestInvitedMemberWithPolicyLogsIn(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		e := startE2E(t, s)

		// Alice registers a project.
		nu := e.mustCall(e.post("/auth/newuser", "", map[string]any{
			"firstName": "Alice", "lastName": "Owner", "email": "alice@example.com", "password": "alice-password-1",
			"codeChallenge": "xyz", "codeChallengeMethod": "plain", "scope": "openid",
		}))(200, "newuser")
		np := e.mustCall(e.post("/auth/newproject", "", map[string]any{"login": nu["login"], "projectName": "Alice Project"}))(200, "newproject")
		alice := e.exchange(np["code"].(string))["access_token"].(string)

		policy := e.mustCall(e.post("/fhir/R4/AccessPolicy", alice, map[string]any{
			"resourceType": "AccessPolicy", "name": "Patients only", "resource": []any{map[string]any{"resourceType": "Patient"}},
		}))(201, "create AccessPolicy")
		e.mustCall(e.post("/admin/projects/:projectId/invite", alice, map[string]any{
			"resourceType": "Practitioner", "firstName": "Bob", "lastName": "Member", "email": "bob@example.com",
			"password": "bob-password-1", "sendEmail": false,
			"membership": map[string]any{"accessPolicy": map[string]any{"reference": "AccessPolicy/" + policy["id"].(string)}},
		}))(200, "invite")

		login := e.mustCall(e.post("/auth/login", "", map[string]any{
			"email": "bob@example.com", "password": "bob-password-1", "scope": "openid offline_access",
			"codeChallenge": "xyz", "codeChallengeMethod": "plain",
		}))(200, "login")
		tokens := e.exchange(login["code"].(string))
		if tokens["token_type"] != "Bearer" || tokens["expires_in"] != float64(3600) {
			t.Errorf("token_type %v, expires_in %v", tokens["token_type"], tokens["expires_in"])
		}
		for _, k := range []string{"id_token", "access_token", "refresh_token"} {
			if v, _ := tokens[k].(string); v == "" {
				t.Errorf("no %s in %v", k, tokens)
			}
		}
		bob := tokens["access_token"].(string)
		e.mustCall(e.post("/fhir/R4/Patient", bob, map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": "Doe"}}}))(201, "create Patient")
		e.mustCall(e.post("/fhir/R4/Observation", bob, map[string]any{
			"resourceType": "Observation", "status": "final", "code": map[string]any{"text": "x"},
		}))(403, "create Observation")
	})
}
