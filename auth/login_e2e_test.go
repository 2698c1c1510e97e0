package auth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
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

// TestAuthorizeThroughWire: signInWithRedirect's path as ward serve routes
// it. Without a session /oauth2/authorize sends the browser to the built-in
// sign-in page; after a sign-in whose code was exchanged, the client cookie
// gives a silent re-login whose code exchanges for tokens (PKCE S256).
func TestAuthorizeThroughWire(t *testing.T) {
	s := storetest.OpenSQLite(t)
	e := startE2E(t, s)
	nu := e.mustCall(e.post("/auth/newuser", "", map[string]any{
		"firstName": "Rae", "lastName": "Redirect", "email": "rae@example.com", "password": "rae-password-1",
		"codeChallenge": "xyz", "codeChallengeMethod": "plain", "scope": "openid",
	}))(200, "newuser")
	np := e.mustCall(e.post("/auth/newproject", "", map[string]any{"login": nu["login"], "projectName": "Redirect Project"}))(200, "newproject")
	admin := e.exchange(np["code"].(string))["access_token"].(string)
	const redirect = "https://app.example.test/signed-in"
	app := e.mustCall(e.post("/admin/projects/:projectId/client", admin, map[string]any{"name": "Web App", "redirectUri": redirect}))(201, "create client")
	clientID := app["id"].(string)

	// code_verifier "verifier-0123456789" hashed: S256 as MedplumClient sends it.
	const verifier = "verifier-0123456789"
	challenge := s256(verifier)
	query := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "state": {"state-1"},
		"scope": {"openid"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	noFollow := *e.srv.Client()
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get := func(path string, cookies ...*http.Cookie) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	resp := get("/oauth2/authorize?" + query.Encode())
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Path != "/oauth" {
		t.Fatalf("authorize without a session: %d %s", resp.StatusCode, loc)
	}
	if page := get(loc.RequestURI()); page.StatusCode != 200 || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("sign-in page: %d %s", page.StatusCode, page.Header.Get("Content-Type"))
	}

	// What the sign-in page does: /auth/login with the query's client and
	// challenge, then the app exchanges the code.
	body, _ := json.Marshal(map[string]any{"email": "rae@example.com", "password": "rae-password-1", "clientId": clientID,
		"scope": "openid", "codeChallenge": challenge, "codeChallengeMethod": "S256"})
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/auth/login", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/fhir+json")
	loginResp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var login map[string]any
	_ = json.NewDecoder(loginResp.Body).Decode(&login)
	loginResp.Body.Close()
	var cookie *http.Cookie
	for _, c := range loginResp.Cookies() {
		if c.Name == "medplum-"+clientID {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatalf("no client cookie from /auth/login: %v", loginResp.Header)
	}
	e.exchangeWith(login["code"].(string), verifier)

	resp = get("/oauth2/authorize?"+query.Encode(), cookie)
	loc, _ = url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Scheme+"://"+loc.Host+loc.Path != redirect || loc.Query().Get("state") != "state-1" {
		t.Fatalf("silent re-login: %d %s", resp.StatusCode, loc)
	}
	tokens := e.exchangeWith(loc.Query().Get("code"), verifier)
	if tokens["access_token"] == nil {
		t.Fatalf("tokens %v", tokens)
	}
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (e *e2e) exchangeWith(code, verifier string) map[string]any {
	e.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}}
	return e.mustCall(e.call(http.MethodPost, "/oauth2/token", "", "application/x-www-form-urlencoded", form.Encode()))(200, "token exchange")
}
