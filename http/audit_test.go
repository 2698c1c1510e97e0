package wardhttp_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
	wardhttp "github.com/wardhealth/ward/http"
	"github.com/wardhealth/ward/mock"
)

// concretePath turns a route pattern into a request path.
func concretePath(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	path = strings.NewReplacer("{type}", "Patient", "{id}", "x", "{vid}", "1", "{$}", "").Replace(path)
	return method, path
}

// TestEveryFHIRRouteIsAudited walks every pattern the server registers:
// each FHIR route but the public CapabilityStatement must hand a record to
// the audit log, refused (401, in the server's own trail) and allowed.
func TestEveryFHIRRouteIsAudited(t *testing.T) {
	audit := &mock.AuditRecorder{}
	op := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	f := newFixture(t, func(o *wardhttp.Options) {
		o.Audit = audit
		o.Operations = []wardhttp.Route{{Pattern: "POST /fhir/R4/$graphql", Handler: op}, {Pattern: "GET /fhir/R4/ValueSet/$expand", Handler: op}}
		o.Routes = []wardhttp.Route{{Pattern: "POST /auth/login", Handler: op}}
	})
	walked := 0
	for _, pattern := range f.server.Patterns() {
		method, path := concretePath(pattern)
		if !strings.HasPrefix(path, "/fhir/") || path == "/fhir/R4/metadata" {
			continue
		}
		walked++
		for _, anonymous := range []bool{true, false} {
			headers := []string{}
			if anonymous { // each from its own address: one address's 401s are rate limited (auditflood.go)
				headers = []string{"X-Test-Anonymous", "1", remoteAddr, fmt.Sprintf("192.0.2.%d:1234", walked)}
			}
			w := f.do(t, method, path, "", headers...)
			recs := audit.Take()
			if len(recs) == 0 {
				t.Errorf("%s (anonymous %v): status %d, no audit record", pattern, anonymous, w.Code)
				continue
			}
			rec := recs[0]
			if rec.Status != w.Code || rec.RequestID != w.Header().Get("X-Request-Id") || rec.RequestID == "" {
				t.Errorf("%s: record status %d request %q, answer %d request %q", pattern, rec.Status, rec.RequestID, w.Code, w.Header().Get("X-Request-Id"))
			}
			wantProject := "p1"
			if anonymous {
				wantProject = ward.SystemProjectID
			}
			if rec.ProjectID != wantProject {
				t.Errorf("%s (anonymous %v): record in project %q, want %q", pattern, anonymous, rec.ProjectID, wantProject)
			}
		}
	}
	if walked < 20 {
		t.Errorf("walked %d FHIR routes, want the whole API", walked)
	}
	for _, public := range []string{"/fhir/R4/metadata", "/healthcheck"} {
		f.do(t, "GET", public, "")
		if recs := audit.Take(); len(recs) != 0 {
			t.Errorf("GET %s recorded %d access records; it serves no data", public, len(recs))
		}
	}
}

// TestAuditFailureWithholdsTheAnswer: an access the audit log cannot
// record is answered 500 and its body never leaves.
func TestAuditFailureWithholdsTheAnswer(t *testing.T) {
	audit := &mock.AuditRecorder{}
	flushFirst := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).Flush()
		_, _ = w.Write([]byte(`{"secret":"Secretname"}`))
	})
	f := newFixture(t, func(o *wardhttp.Options) {
		o.Audit = audit
		o.Operations = []wardhttp.Route{{Pattern: "GET /fhir/R4/$flush-first", Handler: flushFirst}}
	})
	id, _ := f.create(t, `{"resourceType":"Patient","name":[{"family":"Secretname"}]}`)
	audit.SetFail(errors.New("disk full"))
	for _, tc := range []struct{ method, path string }{
		{"GET", "/fhir/R4/Patient/" + id},
		{"GET", "/fhir/R4/Patient?name=Secretname"},
		{"GET", "/fhir/R4/Patient/" + id + "/_history"},
		{"GET", "/fhir/R4/$flush-first"},
	} {
		w := f.do(t, tc.method, tc.path, "")
		if w.Code != http.StatusInternalServerError {
			t.Errorf("%s %s with a failing audit log: status %d, want 500", tc.method, tc.path, w.Code)
		}
		if strings.Contains(w.Body.String(), "Secretname") || w.Header().Get("ETag") != "" || w.Header().Get("X-Request-Id") == "" {
			t.Errorf("%s %s: the unrecorded answer leaked: %s", tc.method, tc.path, w.Body)
		}
	}
}

// TestRequestIDInLogLine: the request id of the record is the response's
// X-Request-Id and appears in the request log line.
func TestRequestIDInLogLine(t *testing.T) {
	audit := &mock.AuditRecorder{}
	var logs bytes.Buffer
	f := newFixture(t, func(o *wardhttp.Options) {
		o.Audit = audit
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		o.AllowedOrigins = []string{"https://app.example"}
	})
	w := f.do(t, "GET", "/fhir/R4/Patient/missing", "")
	id := w.Header().Get("X-Request-Id")
	recs := audit.Take()
	if id == "" || len(recs) != 1 || recs[0].RequestID != id {
		t.Fatalf("X-Request-Id %q, records %+v", id, recs)
	}
	if !strings.Contains(logs.String(), "request_id="+id) {
		t.Errorf("request log does not name request %s:\n%s", id, logs.String())
	}
	cross := f.do(t, "GET", "/fhir/R4/Patient/missing", "", "Origin", "https://app.example")
	if !strings.Contains(cross.Header().Get("Access-Control-Expose-Headers"), "X-Request-Id") {
		t.Errorf("a browser app cannot read X-Request-Id: exposed %q", cross.Header().Get("Access-Control-Expose-Headers"))
	}
	if recs[0].Outcome != "4" || recs[0].Status != 404 || recs[0].Reason == "" {
		t.Errorf("refused read recorded as outcome %q status %d reason %q", recs[0].Outcome, recs[0].Status, recs[0].Reason)
	}
}
