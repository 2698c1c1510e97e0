package console_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward/auth"
	"github.com/wardhealth/ward/internal/wire"
	"github.com/wardhealth/ward/store/storetest"
)

// TestServedByWard: the console answers the GET and HEAD requests no API
// route takes, and never shadows the API or the identity pages.
func TestServedByWard(t *testing.T) {
	st := storetest.OpenSQLite(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := auth.New(st, auth.Config{BaseURL: "http://ward.test/", AdminPassword: "console-wire-password", BcryptCost: bcrypt.MinCost, Logger: logger})
	h := wire.Handler(st, wire.Config{BaseURL: "http://ward.test/", Auth: svc}, logger)
	tests := []struct {
		method, path string
		status       int
		contentType  string // prefix
		console      bool   // the console's index.html
	}{
		{"GET", "/", 200, "text/html", true},
		{"GET", "/patients/123", 200, "text/html", true},
		{"GET", "/audit?patient=123&outcome=4", 200, "text/html", true},
		{"GET", "/signin?project=abc", 200, "text/html", true},
		{"HEAD", "/clinics", 200, "text/html", false},
		{"GET", "/fhir/R4/NoSuchType", 401, "application/fhir+json", false},
		{"GET", "/fhir/R4/Patient", 401, "application/fhir+json", false},
		{"GET", "/auth/nothing-here", 404, "application/fhir+json", false},
		{"POST", "/auth/nothing-here", 404, "application/fhir+json", false},
		{"GET", "/oauth2/nothing-here", 404, "application/fhir+json", false},
		{"GET", "/.well-known/nothing-here", 404, "application/fhir+json", false},
		{"GET", "/fhir/R4/Patient/123/$no-such-operation", 404, "application/fhir+json", false},
		{"GET", "/fhir/R5/Patient", 404, "application/fhir+json", false},
		{"DELETE", "/patients/123", 404, "application/fhir+json", false},
		{"BREW", "/", 404, "application/fhir+json", false},
		{"GET", "/admin/projects/x", 401, "", false},
		{"GET", "/healthcheck", 200, "application/json", false},
		{"GET", "/fhir", 404, "application/fhir+json", false},
		{"GET", "/metrics/x", 404, "application/fhir+json", false},
		{"GET", "/fhirish", 200, "text/html", true},
		{"POST", "/clinics", 404, "application/fhir+json", false},
		{"GET", "/assets/missing-0000.js", 404, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %.200s", rec.Code, tt.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.contentType) {
				t.Errorf("Content-Type %q, want %q…", ct, tt.contentType)
			}
			if got := strings.Contains(rec.Body.String(), `<div id="root">`); got != tt.console {
				t.Errorf("console page served: %v, want %v", got, tt.console)
			}
		})
	}
	// /oauth is the identity service's sign-in page for /oauth2/authorize.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/oauth", nil))
	if strings.Contains(rec.Body.String(), `<div id="root">`) {
		t.Errorf("GET /oauth served the console, not the identity sign-in page")
	}
}
