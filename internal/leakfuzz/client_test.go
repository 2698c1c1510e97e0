package leakfuzz

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
)

const adminPassword = "leakfuzz-admin-password"

// startServer serves the fully wired API with identity on, seeded as ward
// serve does.
func startServer(t *testing.T, s *store.Store) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(nil)
	t.Cleanup(srv.Close)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	id := auth.New(s, auth.Config{BaseURL: srv.URL + "/", AdminPassword: adminPassword, BcryptCost: bcrypt.MinCost, Logger: logger})
	if err := id.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	startDispatcher(t, s, id) // rest-hook Subscriptions (subscription_test.go)
	// The trail is on, as ward serve runs: the run's own requests are the
	// records checkAuditTrail searches.
	trail := s.NewAuditLog(store.AuditOptions{})
	t.Cleanup(trail.Close)
	srv.Config.Handler = wire.Handler(s, wire.Config{BaseURL: srv.URL + "/", MaxBodyBytes: 1 << 20, Auth: id, Audit: trail}, logger)
	return srv
}

// client calls the API with one bearer token.
type client struct {
	t     *testing.T
	srv   *httptest.Server
	authz string
}

// answer is one HTTP response, its JSON body decoded (nil when not JSON).
type answer struct {
	status int
	body   map[string]any
	raw    string
}

// do sends a request; a path not starting with "/" or "http" is relative
// to /fhir/R4/. headers are name, value pairs.
func (c client) do(method, path, body string, headers ...string) answer {
	c.t.Helper()
	u := path
	switch {
	case strings.HasPrefix(path, "http"):
	case strings.HasPrefix(path, "/"):
		u = c.srv.URL + path
	default:
		u = c.srv.URL + "/fhir/R4/" + path
	}
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if c.authz != "" {
		req.Header.Set("Authorization", c.authz)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: string(raw)}
	json.Unmarshal(raw, &a.body)
	return a
}

// must sends a request that has to answer want.
func (c client) must(want int, method, path string, body any, headers ...string) map[string]any {
	c.t.Helper()
	text, ok := body.(string)
	if !ok && body != nil {
		b, _ := json.Marshal(body)
		text = string(b)
	}
	a := c.do(method, path, text, headers...)
	if a.status != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, a.status, a.raw, want)
	}
	return a.body
}

func postForm(t *testing.T, srv *httptest.Server, path string, form url.Values) map[string]any {
	t.Helper()
	resp, err := srv.Client().PostForm(srv.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %d %v", path, resp.StatusCode, out)
	}
	return out
}

// exchange finishes a login answer with PKCE plain "xyz".
func exchange(t *testing.T, srv *httptest.Server, login map[string]any) string {
	t.Helper()
	code, _ := login["code"].(string)
	if code == "" {
		t.Fatalf("no code in %v", login)
	}
	tok := postForm(t, srv, "/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {"xyz"}})
	return "Bearer " + tok["access_token"].(string)
}

// register signs up an owner with a new project: the owner's client and
// the project id.
func register(t *testing.T, srv *httptest.Server, email, projectName string) (client, string) {
	t.Helper()
	anon := client{t: t, srv: srv}
	nu := anon.must(200, "POST", "/auth/newuser", map[string]any{
		"firstName": "Olive", "lastName": "Owner", "email": email, "password": "owner-password-1",
		"codeChallenge": "xyz", "codeChallengeMethod": "plain", "scope": "openid",
	})
	np := anon.must(200, "POST", "/auth/newproject", map[string]any{"login": nu["login"], "projectName": projectName})
	owner := client{t: t, srv: srv, authz: exchange(t, srv, np)}
	me := owner.must(200, "GET", "/auth/me", nil)
	project, _ := me["project"].(map[string]any)
	id, _ := project["id"].(string)
	return owner, id
}

// signIn logs a member in through the code flow.
func signIn(t *testing.T, srv *httptest.Server, email, password string) client {
	t.Helper()
	anon := client{t: t, srv: srv}
	login := anon.must(200, "POST", "/auth/login", map[string]any{
		"email": email, "password": password, "scope": "openid", "codeChallenge": "xyz", "codeChallengeMethod": "plain",
	})
	return client{t: t, srv: srv, authz: exchange(t, srv, login)}
}
