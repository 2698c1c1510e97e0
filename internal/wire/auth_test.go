package wire_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward/auth"
	"github.com/wardhealth/ward/internal/wire"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

const adminPassword = "wire-test-admin-password"

// seededAuth is a server not yet handling requests and an auth service
// on s with its admin seeded, whose base URL is the server's.
func seededAuth(tb testing.TB, s *store.Store) (*httptest.Server, *auth.Service, *slog.Logger) {
	tb.Helper()
	return seededAuthLogging(tb, s, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// seededAuthLogging is seededAuth with logger for the auth service (and
// the caller's handler).
func seededAuthLogging(tb testing.TB, s *store.Store, logger *slog.Logger) (*httptest.Server, *auth.Service, *slog.Logger) {
	tb.Helper()
	srv := httptest.NewServer(nil)
	tb.Cleanup(srv.Close)
	id := auth.New(s, auth.Config{BaseURL: srv.URL + "/", AdminPassword: adminPassword, BcryptCost: bcrypt.MinCost, Logger: logger})
	if err := id.Seed(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return srv, id, logger
}

// startAuthServer serves the fully wired API with identity on, after the
// first-start seed, exactly as ward serve does; origins are allowed
// cross-origin (CORS). Server errors go to the test log, so that a 500
// explains itself. Against an external target (externalServer) it is
// that target, and a test needing origins it does not allow is skipped.
func startAuthServer(tb testing.TB, s *store.Store, origins ...string) *httptest.Server {
	tb.Helper()
	if srv := externalServer(tb, origins...); srv != nil {
		return srv
	}
	srv, id, logger := seededAuthLogging(tb, s, slog.New(slog.NewTextHandler(testLog{tb}, &slog.HandlerOptions{Level: slog.LevelError})))
	srv.Config.Handler = wire.Handler(s, wire.Config{BaseURL: srv.URL + "/", MaxBodyBytes: maxBody, Auth: id, AllowedOrigins: origins}, logger)
	return srv
}

// call sends one request; auth is a full Authorization header value or "".
func call(tb testing.TB, srv *httptest.Server, method, path, authz, contentType, body string) (int, map[string]any) {
	tb.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := clientOf(srv).Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

// clientOf is srv's client; an external target's stand-in has none.
func clientOf(srv *httptest.Server) *http.Client {
	if c := srv.Client(); c != nil {
		return c
	}
	return http.DefaultClient
}

func postJSON(tb testing.TB, srv *httptest.Server, path, authz string, v any) (int, map[string]any) {
	tb.Helper()
	b, _ := json.Marshal(v)
	return call(tb, srv, "POST", path, authz, "application/fhir+json", string(b))
}

func tokenGrant(tb testing.TB, srv *httptest.Server, form url.Values) map[string]any {
	tb.Helper()
	status, reply := call(tb, srv, "POST", "/oauth2/token", "", "application/x-www-form-urlencoded", form.Encode())
	if status != 200 {
		tb.Fatalf("token %s: %d %v", form.Get("grant_type"), status, reply)
	}
	return reply
}

// exchangeCode finishes a login answer {login, code} with PKCE plain "xyz".
func exchangeCode(tb testing.TB, srv *httptest.Server, login map[string]any) string {
	tb.Helper()
	code, _ := login["code"].(string)
	if code == "" {
		tb.Fatalf("no code in %v", login)
	}
	return tokenGrant(tb, srv, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {"xyz"}})["access_token"].(string)
}

// registerOwner signs up a user with a new project and returns the owner's
// bearer token and the project id. email is used as is (runEmail makes it
// unique to the run against an external target).
func registerOwner(tb testing.TB, srv *httptest.Server, email, projectName string) (token, projectID string) {
	tb.Helper()
	status, nu := postJSON(tb, srv, "/auth/newuser", "", map[string]any{
		"firstName": "Olive", "lastName": "Owner", "email": email, "password": "owner-password-1",
		"codeChallenge": "xyz", "codeChallengeMethod": "plain", "scope": "openid",
	})
	if status != 200 {
		tb.Fatalf("newuser: %d %v", status, nu)
	}
	status, np := postJSON(tb, srv, "/auth/newproject", "", map[string]any{"login": nu["login"], "projectName": projectName})
	if status != 200 {
		tb.Fatalf("newproject: %d %v", status, np)
	}
	token = exchangeCode(tb, srv, np)
	_, me := call(tb, srv, "GET", "/auth/me", "Bearer "+token, "", "")
	project, _ := me["project"].(map[string]any)
	projectID, _ = project["id"].(string)
	if projectID == "" {
		tb.Fatalf("/auth/me: %v", me)
	}
	return token, projectID
}

// TestAuthEndToEnd: the seeded super admin and a registered project owner
// sign in, a client of the owner's project gets a token with its secret,
// and FHIR calls work with a token, 401 without, and stop after logout.
func TestAuthEndToEnd(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		srv := startAuthServer(t, s)

		if status, body := call(t, srv, "GET", "/fhir/R4/Patient", "", "", ""); status != 401 || body["id"] != "unauthorized" {
			t.Errorf("FHIR without a token: %d %v", status, body)
		}
		if status, _ := call(t, srv, "GET", "/fhir/R4/Patient", "Bearer not.a.token", "", ""); status != 401 {
			t.Errorf("FHIR with a bad token: %d", status)
		}
		if status, body := call(t, srv, "GET", "/.well-known/openid-configuration", "", "", ""); status != 200 || body["issuer"] != srv.URL+"/" {
			t.Errorf("discovery: %d %v", status, body)
		}
		for _, path := range []string{"/.well-known/smart-configuration", "/fhir/R4/.well-known/smart-configuration"} {
			if status, body := call(t, srv, "GET", path, "", "", ""); status != 200 || body["token_endpoint"] != srv.URL+"/oauth2/token" {
				t.Errorf("%s: %d %v", path, status, body)
			}
		}
		// One key as seeded; a long-lived external target may have
		// rotated (the old key stays published for its tokens).
		if status, body := call(t, srv, "GET", "/.well-known/jwks.json", "", "", ""); status != 200 || len(body["keys"].([]any)) != 1 && (externalTarget() == "" || len(body["keys"].([]any)) == 0) {
			t.Errorf("jwks: %d %v", status, body)
		}
		if status, body := call(t, srv, "GET", "/fhir/R4/metadata", "", "", ""); status != 200 || body["resourceType"] != "CapabilityStatement" {
			t.Errorf("metadata stays public: %d", status)
		}

		// Row 87: the seeded admin signs in as super admin.
		adminEmail, adminPass := superAdmin()
		status, login := postJSON(t, srv, "/auth/login", "", map[string]any{
			"email": adminEmail, "password": adminPass, "scope": "openid", "codeChallenge": "xyz", "codeChallengeMethod": "plain",
		})
		if status != 200 {
			t.Fatalf("admin login: %d %v", status, login)
		}
		admin := "Bearer " + exchangeCode(t, srv, login)
		_, me := call(t, srv, "GET", "/auth/me", admin, "", "")
		if p, _ := me["project"].(map[string]any); p["name"] != "Super Admin" || p["superAdmin"] != true {
			t.Errorf("admin /auth/me project = %v", me["project"])
		}
		status, adminPatient := postJSON(t, srv, "/fhir/R4/Patient", admin, map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": "Root"}}})
		if status != 201 {
			t.Fatalf("super admin create: %d %v", status, adminPatient)
		}

		owner, projectID := registerOwner(t, srv, runEmail("olive@example.com"), "Olive Clinic")
		ownerAuth := "Bearer " + owner
		status, patient := postJSON(t, srv, "/fhir/R4/Patient", ownerAuth, map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": "Olive"}}})
		if status != 201 {
			t.Fatalf("owner create: %d %v", status, patient)
		}
		if meta, _ := patient["meta"].(map[string]any); meta != nil && meta["project"] != nil && meta["project"] != projectID {
			t.Errorf("patient landed in %v, want %s", meta["project"], projectID)
		}
		patientPath := "/fhir/R4/Patient/" + patient["id"].(string)
		if status, _ := call(t, srv, "GET", patientPath, ownerAuth, "", ""); status != 200 {
			t.Errorf("owner read: %d", status)
		}
		if status, _ := call(t, srv, "GET", patientPath, "", "", ""); status != 401 {
			t.Errorf("read without a token: %d", status)
		}
		if status, _ := call(t, srv, "GET", "/fhir/R4/Patient/"+adminPatient["id"].(string), ownerAuth, "", ""); status != 404 {
			t.Errorf("owner reads the Super Admin project's patient: %d, want 404", status)
		}

		// A client of the owner's project, by client credentials and by Basic.
		status, client := postJSON(t, srv, "/admin/projects/"+projectID+"/client", ownerAuth, map[string]any{"name": "Olive Service"})
		if status != 201 && status != 200 {
			t.Fatalf("create client: %d %v", status, client)
		}
		clientID, secret := client["id"].(string), client["secret"].(string)
		cc := tokenGrant(t, srv, url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}})
		if status, _ := call(t, srv, "GET", patientPath, "Bearer "+cc["access_token"].(string), "", ""); status != 200 {
			t.Errorf("client token read: %d", status)
		}
		basic := "Basic " + base64Std(clientID+":"+secret)
		if status, _ := call(t, srv, "GET", patientPath, basic, "", ""); status != 200 {
			t.Errorf("Basic read: %d", status)
		}
		if status, _ := call(t, srv, "GET", patientPath, "Basic "+base64Std(clientID+":wrong"), "", ""); status != 401 {
			t.Errorf("Basic with a wrong secret: %d", status)
		}

		// Logout ends the owner's token at once.
		if status, body := postJSON(t, srv, "/oauth2/logout", ownerAuth, map[string]any{}); status != 200 || body["id"] != "ok" {
			t.Errorf("logout: %d %v", status, body)
		}
		if status, _ := call(t, srv, "GET", patientPath, ownerAuth, "", ""); status != 401 {
			t.Errorf("read after logout: %d, want 401", status)
		}
	})
}

// TestAuthMembershipChangeTakesEffect: a membership written through the
// FHIR API (an admin deactivating a member) is seen by the member's very
// next request, although callers are cached.
func TestAuthMembershipChangeTakesEffect(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		srv := startAuthServer(t, s)
		owner, projectID := registerOwner(t, srv, runEmail("olive.member@example.com"), "Olive Clinic")
		status, client := postJSON(t, srv, "/admin/projects/"+projectID+"/client", "Bearer "+owner, map[string]any{"name": "Olive Service"})
		if status >= 300 {
			t.Fatalf("create client: %d %v", status, client)
		}
		cc := "Bearer " + tokenGrant(t, srv, url.Values{"grant_type": {"client_credentials"}, "client_id": {client["id"].(string)}, "client_secret": {client["secret"].(string)}})["access_token"].(string)
		if status, _ := call(t, srv, "GET", "/fhir/R4/Patient", cc, "", ""); status != 200 {
			t.Fatalf("client search: %d", status)
		}
		status, bundle := call(t, srv, "GET", "/fhir/R4/ProjectMembership?user=ClientApplication/"+client["id"].(string), "Bearer "+owner, "", "")
		entries, _ := bundle["entry"].([]any)
		if status != 200 || len(entries) != 1 {
			t.Skipf("owner cannot search memberships through FHIR yet (%d, %d entries)", status, len(entries))
		}
		m := entries[0].(map[string]any)["resource"].(map[string]any)
		m["active"] = false
		b, _ := json.Marshal(m)
		if status, body := call(t, srv, "PUT", "/fhir/R4/ProjectMembership/"+m["id"].(string), "Bearer "+owner, "application/fhir+json", string(b)); status != 200 {
			t.Fatalf("deactivate: %d %v", status, body)
		}
		status, _ = call(t, srv, "GET", "/fhir/R4/Patient", cc, "", "")
		// Through a fleet the next request may reach a process the change
		// has not yet: it must refuse within staleGrantWindow.
		for start := time.Now(); status != 401 && externalTarget() != "" && time.Since(start) < staleGrantWindow; {
			time.Sleep(20 * time.Millisecond)
			if status, _ = call(t, srv, "GET", "/fhir/R4/Patient", cc, "", ""); status == 401 {
				t.Logf("refused %v after the first try: a process served the old grant meanwhile", time.Since(start).Round(time.Millisecond))
			}
		}
		if status != 401 {
			t.Errorf("deactivated client's next request: %d, want 401", status)
		}
	})
}

func base64Std(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// benchRead measures GET Patient/{id} through the whole handler.
func benchRead(b *testing.B, h http.Handler, path string, header ...string) {
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 200 {
		b.Fatalf("warm-up read: %d %s", w.Code, w.Body)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("read: %d", w.Code)
		}
	}
}

// readFixture seeds a server, registers a project with a client and one
// Patient, and returns the handler, the project, the patient path and a
// client-credentials token.
func readFixture(b *testing.B) (srv *httptest.Server, s *store.Store, projectID, path, token string) {
	s = storetest.OpenSQLite(b)
	srv = startAuthServer(b, s)
	owner, projectID := registerOwner(b, srv, fmt.Sprintf("bench%d@example.com", b.N), "Bench Clinic")
	_, patient := postJSON(b, srv, "/fhir/R4/Patient", "Bearer "+owner, map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": "Bench"}}})
	_, client := postJSON(b, srv, "/admin/projects/"+projectID+"/client", "Bearer "+owner, map[string]any{"name": "Bench"})
	cc := tokenGrant(b, srv, url.Values{"grant_type": {"client_credentials"}, "client_id": {client["id"].(string)}, "client_secret": {client["secret"].(string)}})
	return srv, s, projectID, "/fhir/R4/Patient/" + patient["id"].(string), cc["access_token"].(string)
}

// BenchmarkAuthenticatedRead: read by id with a bearer token (identity
// cached after the first request).
func BenchmarkAuthenticatedRead(b *testing.B) {
	srv, _, _, path, token := readFixture(b)
	benchRead(b, srv.Config.Handler, path, "Authorization", "Bearer "+token)
}

// BenchmarkUnauthenticatedRead: the same read of the same row, the caller
// taken from a header (authentication off, as in a test build).
func BenchmarkUnauthenticatedRead(b *testing.B) {
	_, s, projectID, path, _ := readFixture(b)
	h := wire.Handler(s, wire.Config{BaseURL: "http://bench/", MaxBodyBytes: maxBody, Authenticate: wire.HeaderProject}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	benchRead(b, h, path, "X-Ward-Test-Project", projectID)
}

// BenchmarkLoginAndToken: POST /auth/login (bcrypt at cost 10, as ward
// serve defaults) and the PKCE code exchange, end to end through the
// handler. Accounts and client addresses rotate so the login rate limits
// (10 per account, 60 per address in a burst) never answer instead.
// Reports p50 and p99 of the pair.
func BenchmarkLoginAndToken(b *testing.B) {
	s := storetest.OpenSQLite(b)
	srv := httptest.NewServer(nil)
	b.Cleanup(srv.Close)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	id := auth.New(s, auth.Config{BaseURL: srv.URL + "/", AdminPassword: adminPassword, BcryptCost: 10, Logger: logger})
	if err := id.Seed(context.Background()); err != nil {
		b.Fatal(err)
	}
	h := wire.Handler(s, wire.Config{BaseURL: srv.URL + "/", MaxBodyBytes: maxBody, Auth: id}, logger)
	srv.Config.Handler = h
	accounts := b.N/5 + 1
	for i := range accounts {
		registerOwner(b, srv, fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("Clinic %d", i))
	}
	serve := func(i int, method, path, contentType, body string) (int, map[string]any) {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		r.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:40000", i>>16&255, i>>8&255, i&255)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var m map[string]any
		json.Unmarshal(w.Body.Bytes(), &m)
		return w.Code, m
	}
	durations := make([]time.Duration, 0, b.N)
	exchanges := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		body, _ := json.Marshal(map[string]any{"email": fmt.Sprintf("user%d@example.com", i%accounts), "password": "owner-password-1",
			"scope": "openid offline", "codeChallenge": "xyz", "codeChallengeMethod": "plain"})
		status, login := serve(i, "POST", "/auth/login", "application/fhir+json", string(body))
		if status != 200 {
			b.Fatalf("login %d: %d %v", i, status, login)
		}
		form := url.Values{"grant_type": {"authorization_code"}, "code": {login["code"].(string)}, "code_verifier": {"xyz"}}
		exchangeStart := time.Now()
		if status, reply := serve(i, "POST", "/oauth2/token", "application/x-www-form-urlencoded", form.Encode()); status != 200 {
			b.Fatalf("token %d: %d %v", i, status, reply)
		}
		durations = append(durations, time.Since(start))
		exchanges = append(exchanges, time.Since(exchangeStart))
	}
	b.StopTimer()
	slices.Sort(durations)
	slices.Sort(exchanges)
	b.ReportMetric(float64(exchanges[len(exchanges)/2].Microseconds())/1000, "token-p50-ms")
	b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(durations[(len(durations)*99)/100].Microseconds())/1000, "p99-ms")
}
