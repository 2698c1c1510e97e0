package wardhttp_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	wardhttp "github.com/wardhealth/ward/http"
)

// browserAllows is the browser's CORS check of a credentialed response
// (Fetch standard, "CORS check"): the page sees the response only when the
// origin is echoed exactly and credentials are allowed.
func browserAllows(h http.Header, origin string) bool {
	return h.Get("Access-Control-Allow-Origin") == origin && h.Get("Access-Control-Allow-Credentials") == "true"
}

// preflightAllows is the browser's check of a preflight answer for method
// and the request headers the page wants to send.
func preflightAllows(status int, h http.Header, origin, method string, headers []string) bool {
	if status < 200 || status > 299 || !browserAllows(h, origin) {
		return false
	}
	if !containsToken(h.Get("Access-Control-Allow-Methods"), method) {
		return false
	}
	for _, name := range headers {
		if !containsToken(h.Get("Access-Control-Allow-Headers"), name) {
			return false
		}
	}
	return true
}

func containsToken(list, token string) bool {
	for _, v := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(v), token) {
			return true
		}
	}
	return false
}

func withOrigins(origins ...string) func(*wardhttp.Options) {
	return func(o *wardhttp.Options) {
		o.AllowedOrigins = origins
		o.Routes = append(o.Routes, wardhttp.Route{Pattern: "/auth/", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"login":"l"}`))
		})})
	}
}

func TestCORSActualRequests(t *testing.T) {
	const app = "https://app.example.com"
	for _, tc := range []struct {
		name    string
		origins []string
		method  string
		path    string
		origin  string
		allowed bool
	}{
		{"listed origin reads a FHIR search", []string{app}, "GET", "/fhir/R4/Patient", app, true},
		{"listed origin posts a login", []string{app}, "POST", "/auth/login", app, true},
		{"listed origin reads the metadata", []string{app}, "GET", "/fhir/R4/metadata", app, true},
		{"listed origin sees the 404 of an unknown route", []string{app}, "GET", "/fhir/R4/Nope/1", app, true},
		{"trailing slash and case in config", []string{"HTTPS://App.Example.com/"}, "GET", "/fhir/R4/Patient", app, true},
		{"one of several", []string{"https://a.example", app}, "GET", "/fhir/R4/Patient", app, true},
		{"star allows any origin, echoed", []string{"*"}, "GET", "/fhir/R4/Patient", "https://other.example", true},
		{"another origin", []string{app}, "GET", "/fhir/R4/Patient", "https://evil.example", false},
		{"another port", []string{app}, "GET", "/fhir/R4/Patient", "https://app.example.com:8443", false},
		{"another scheme", []string{app}, "GET", "/fhir/R4/Patient", "http://app.example.com", false},
		{"a suffix is not a match", []string{app}, "GET", "/fhir/R4/Patient", "https://app.example.com.evil.example", false},
		{"null origin never under star", []string{"*"}, "GET", "/fhir/R4/Patient", "null", false},
		{"no origins configured", nil, "GET", "/fhir/R4/Patient", app, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, withOrigins(tc.origins...))
			w := f.do(t, tc.method, tc.path, "", "Origin", tc.origin)
			if got := browserAllows(w.Header(), tc.origin); got != tc.allowed {
				t.Fatalf("browser lets the page read the answer: %v, want %v (headers %v)", got, tc.allowed, w.Header())
			}
			h := w.Header()
			if tc.allowed && !containsToken(h.Get("Access-Control-Expose-Headers"), "Location") {
				t.Errorf("Location not exposed: %q", h.Get("Access-Control-Expose-Headers"))
			}
			if !tc.allowed && h.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("CORS header for a disallowed origin: %v", h)
			}
			if h.Get("Access-Control-Allow-Origin") == "*" {
				t.Error("Access-Control-Allow-Origin: * with credentials")
			}
			if len(tc.origins) > 0 && !containsToken(strings.Join(h.Values("Vary"), ","), "Origin") {
				t.Errorf("Vary %q lacks Origin", h.Values("Vary"))
			}
		})
	}
}

func TestCORSPreflight(t *testing.T) {
	const app = "https://app.example.com"
	fhirHeaders := []string{"authorization", "content-type", "x-medplum", "cache-control", "if-none-exist", "prefer", "if-match"}
	for _, tc := range []struct {
		name    string
		origins []string
		origin  string
		path    string
		method  string
		headers []string
		allowed bool
		status  int
	}{
		{"FHIR create from a listed origin", []string{app}, app, "/fhir/R4/Patient", "POST", fhirHeaders, true, 204},
		{"login from a listed origin", []string{app}, app, "/auth/login", "POST", []string{"content-type"}, true, 204},
		{"token exchange", []string{app}, app, "/oauth2/token", "POST", []string{"content-type"}, true, 204},
		{"admin invite", []string{app}, app, "/admin/projects/p/invite", "POST", fhirHeaders, true, 204},
		{"discovery", []string{app}, app, "/.well-known/openid-configuration", "GET", []string{"authorization"}, true, 204},
		{"PATCH and DELETE", []string{app}, app, "/fhir/R4/Patient/1", "PATCH", []string{"content-type"}, true, 204},
		{"DELETE", []string{app}, app, "/fhir/R4/Patient/1", "DELETE", []string{"authorization"}, true, 204},
		{"star", []string{"*"}, "https://x.example", "/fhir/R4/Patient", "PUT", fhirHeaders, true, 204},
		{"an unknown header is not granted", []string{app}, app, "/fhir/R4/Patient", "GET", []string{"x-evil"}, false, 204},
		{"another origin is refused", []string{app}, "https://evil.example", "/fhir/R4/Patient", "POST", fhirHeaders, false, 403},
		{"another origin on auth", []string{app}, "https://evil.example", "/auth/login", "POST", []string{"content-type"}, false, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, withOrigins(tc.origins...))
			w := f.do(t, "OPTIONS", tc.path, "",
				"Origin", tc.origin,
				"Access-Control-Request-Method", tc.method,
				"Access-Control-Request-Headers", strings.Join(tc.headers, ", "))
			expectStatus(t, w, tc.status)
			if got := preflightAllows(w.Code, w.Header(), tc.origin, tc.method, tc.headers); got != tc.allowed {
				t.Fatalf("browser sends the request: %v, want %v (headers %v)", got, tc.allowed, w.Header())
			}
			if tc.status == 204 && w.Header().Get("Access-Control-Max-Age") == "" {
				t.Error("no Access-Control-Max-Age")
			}
			if tc.status == 403 && w.Header().Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("refused preflight carries CORS headers: %v", w.Header())
			}
		})
	}
}

// A plain OPTIONS (no Access-Control-Request-Method) is not a preflight: it
// reaches the routes like any request.
func TestCORSPlainOptionsIsNotAPreflight(t *testing.T) {
	f := newFixture(t, withOrigins("https://app.example.com"))
	w := f.do(t, "OPTIONS", "/fhir/R4/Patient", "", "Origin", "https://app.example.com")
	expectStatus(t, w, 405)
}

// A configured origin that no browser can send (a path, a bare host) is
// reported when the handler is built.
func TestCORSWarnsAboutUnusableOrigins(t *testing.T) {
	for _, tc := range []struct {
		origin string
		warned bool
	}{
		{"https://app.example.com", false},
		{"https://app.example.com/", false},
		{"http://localhost:3000", false},
		{"*", false},
		{"app.example.com", true},
		{"https://app.example.com/console", true},
	} {
		var logs strings.Builder
		wardhttp.NewServer(wardhttp.Options{
			AllowedOrigins: []string{tc.origin},
			Logger:         slog.New(slog.NewTextHandler(&logs, nil)),
		}).Handler()
		if got := strings.Contains(logs.String(), "allowed origin ignored"); got != tc.warned {
			t.Errorf("%q: warned %v, want %v (%s)", tc.origin, got, tc.warned, logs.String())
		}
	}
}

// TestCORSPreflightOnEveryPath: a preflight's answer depends only on its
// origin — 204 for an allowed one, 403 for any other, also when no origin is
// allowed at all — never on which routes exist (no 404 or 405).
func TestCORSPreflightOnEveryPath(t *testing.T) {
	const app = "https://app.example.com"
	paths := []string{
		"/fhir/R4/Patient", "/fhir/R4/Patient/1", "/fhir/R4", "/fhir/R4/metadata", "/fhir/R4/$graphql",
		"/fhir/R4/Nope/1", "/auth/login", "/oauth2/token", "/admin/projects/p/invite",
		"/.well-known/openid-configuration", "/healthcheck", "/metrics",
		"/", "/signin", "/patients/123", "/no/such/path",
	}
	console := func(o *wardhttp.Options) {
		o.Fallback = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>")) })
	}
	for _, tc := range []struct {
		name    string
		origins []string
		origin  string
		want    int
	}{
		{"allowed origin", []string{app}, app, 204},
		{"unlisted origin", []string{app}, "https://evil.example", 403},
		{"no origins configured", nil, app, 403},
		{"null under star", []string{"*"}, "null", 403},
	} {
		f := newFixture(t, withOrigins(tc.origins...), console)
		for _, p := range paths {
			for _, method := range []string{"GET", "POST", "DELETE"} {
				w := f.do(t, "OPTIONS", p, "", "Origin", tc.origin,
					"Access-Control-Request-Method", method, "Access-Control-Request-Headers", "authorization")
				if w.Code != tc.want {
					t.Errorf("%s: preflight %s %s: %d, want %d", tc.name, method, p, w.Code, tc.want)
				}
				if allowed := preflightAllows(w.Code, w.Header(), tc.origin, method, []string{"authorization"}); allowed != (tc.want == 204) {
					t.Errorf("%s: preflight %s %s: browser sends the request: %v", tc.name, method, p, allowed)
				}
			}
		}
	}
}
