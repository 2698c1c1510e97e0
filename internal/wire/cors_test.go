package wire_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

const corsApp = "https://app.example.com"

// startCORSServer is startAuthServer with corsApp allowed cross-origin.
func startCORSServer(tb testing.TB, s *store.Store) *httptest.Server {
	tb.Helper()
	return startAuthServer(tb, s, corsApp)
}

// fromOrigin sends one request as a page of origin would; headers alternate
// name, value.
func fromOrigin(tb testing.TB, srv *httptest.Server, origin, method, path, body string, headers ...string) *http.Response {
	tb.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	req.Header.Set("Origin", origin)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := clientOf(srv).Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// readable is the browser's check of a credentialed cross-origin answer.
func readable(resp *http.Response, origin string) bool {
	return resp.Header.Get("Access-Control-Allow-Origin") == origin && resp.Header.Get("Access-Control-Allow-Credentials") == "true"
}

// TestCORSAcrossRoutes: a page of the allowed origin signs in and writes
// FHIR through preflights and credentialed requests on every route family;
// a page of another origin is refused at the preflight and gets no CORS
// header on anything it manages to send.
func TestCORSAcrossRoutes(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		srv := startCORSServer(t, s)
		adminEmail, adminPass := superAdmin()
		status, login := postJSON(t, srv, "/auth/login", "", map[string]any{
			"email": adminEmail, "password": adminPass, "scope": "openid",
			"codeChallenge": "xyz", "codeChallengeMethod": "plain",
		})
		if status != 200 {
			t.Fatalf("login: %d %v", status, login)
		}
		bearer := "Bearer " + exchangeCode(t, srv, login)
		loginBody := `{"email":"` + adminEmail + `","password":"` + adminPass + `","codeChallenge":"xyz","codeChallengeMethod":"plain"}`
		token := url.Values{"grant_type": {"authorization_code"}, "code": {"0"}, "code_verifier": {"xyz"}}.Encode()

		type exchange struct {
			name, method, path, body string
			headers                  []string
			// requestHeaders is what the page's preflight asks for; "" =
			// a simple request (no preflight).
			requestHeaders string
		}
		exchanges := []exchange{
			{"login", "POST", "/auth/login", loginBody, []string{"Content-Type", "application/json"}, "content-type"},
			{"auth method", "POST", "/auth/method", `{"email":"a@example.com"}`, []string{"Content-Type", "application/json"}, "content-type"},
			{"token", "POST", "/oauth2/token", token, []string{"Content-Type", "application/x-www-form-urlencoded"}, ""},
			{"me", "GET", "/auth/me", "", []string{"Authorization", bearer}, "authorization"},
			{"FHIR create", "POST", "/fhir/R4/Patient", `{"resourceType":"Patient"}`,
				[]string{"Authorization", bearer, "Content-Type", "application/fhir+json", "X-Medplum", "extended"}, "authorization,content-type,x-medplum"},
			{"FHIR search", "GET", "/fhir/R4/Patient", "", []string{"Authorization", bearer, "Cache-Control", "no-cache"}, "authorization,cache-control"},
			{"admin", "GET", "/admin/projects/x", "", []string{"Authorization", bearer}, "authorization"},
			{"discovery", "GET", "/.well-known/openid-configuration", "", nil, ""},
			{"metadata", "GET", "/fhir/R4/metadata", "", nil, ""},
		}
		for _, ex := range exchanges {
			method := ex.method
			if ex.requestHeaders != "" {
				pre := fromOrigin(t, srv, corsApp, "OPTIONS", ex.path, "",
					"Access-Control-Request-Method", method, "Access-Control-Request-Headers", ex.requestHeaders)
				if pre.StatusCode != 204 || !readable(pre, corsApp) {
					t.Errorf("%s: preflight from the allowed origin %d %v", ex.name, pre.StatusCode, pre.Header)
				}
				for _, h := range strings.Split(ex.requestHeaders, ",") {
					if !strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), h) {
						t.Errorf("%s: %s not allowed: %q", ex.name, h, pre.Header.Get("Access-Control-Allow-Headers"))
					}
				}
				pre = fromOrigin(t, srv, "https://evil.example", "OPTIONS", ex.path, "",
					"Access-Control-Request-Method", method, "Access-Control-Request-Headers", ex.requestHeaders)
				if pre.StatusCode != 403 || pre.Header.Get("Access-Control-Allow-Origin") != "" {
					t.Errorf("%s: preflight from another origin %d %v", ex.name, pre.StatusCode, pre.Header)
				}
			}
			resp := fromOrigin(t, srv, corsApp, method, ex.path, ex.body, ex.headers...)
			if !readable(resp, corsApp) {
				t.Errorf("%s: %d from the allowed origin without CORS headers: %v", ex.name, resp.StatusCode, resp.Header)
			}
			if ex.name == "FHIR create" && (resp.StatusCode != 201 || !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Location")) {
				t.Errorf("create: %d, exposed %q", resp.StatusCode, resp.Header.Get("Access-Control-Expose-Headers"))
			}
			other := fromOrigin(t, srv, "https://evil.example", method, ex.path, ex.body, ex.headers...)
			if other.Header.Get("Access-Control-Allow-Origin") != "" || other.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("%s: another origin got CORS headers: %v", ex.name, other.Header)
			}
		}
	})
}

// TestCORSPreflightEveryRoute: on the assembled server, a preflight from an
// unlisted origin is 403 on every route family — also when no origin is
// allowed at all — and one from the allowed origin is 204.
func TestCORSPreflightEveryRoute(t *testing.T) {
	skipExternal(t, "compares servers started with different -allowed-origins")
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		paths := []string{
			"/fhir/R4/Patient", "/fhir/R4/Patient/1", "/fhir/R4", "/fhir/R4/$graphql", "/fhir/R4/metadata",
			"/fhir/R4/Patient/1/$everything", "/auth/login", "/auth/me", "/oauth2/token", "/oauth2/authorize",
			"/admin/projects/p/invite", "/.well-known/jwks.json", "/.well-known/openid-configuration",
			"/healthcheck", "/metrics", "/", "/signin", "/oauth", "/clinics/1", "/no/such/path",
		}
		for _, tc := range []struct {
			name    string
			origins []string
			origin  string
			want    int
		}{
			{"allowed origin", []string{corsApp}, corsApp, 204},
			{"unlisted origin", []string{corsApp}, "https://evil.example", 403},
			{"no origins configured", nil, corsApp, 403},
		} {
			srv := startAuthServer(t, s, tc.origins...)
			for _, p := range paths {
				for _, method := range []string{"GET", "POST", "PUT", "DELETE"} {
					resp := fromOrigin(t, srv, tc.origin, "OPTIONS", p, "",
						"Access-Control-Request-Method", method, "Access-Control-Request-Headers", "authorization")
					if resp.StatusCode != tc.want {
						t.Errorf("%s: preflight %s %s: %d, want %d", tc.name, method, p, resp.StatusCode, tc.want)
					}
					if got := readable(resp, tc.origin); got != (tc.want == 204) {
						t.Errorf("%s: preflight %s %s: the browser may send the request: %v", tc.name, method, p, got)
					}
				}
			}
		}
	})
}
