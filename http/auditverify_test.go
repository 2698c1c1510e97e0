package wardhttp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	wardhttp "github.com/wardhealth/ward/http"
)

// fakeVerifier answers as the store would for one caller.
type fakeVerifier struct {
	asked string
	res   ward.AuditVerification
	err   error
}

func (f *fakeVerifier) VerifyAudit(_ context.Context, project string) (ward.AuditVerification, error) {
	f.asked = project
	f.res.ProjectID = project
	return f.res, f.err
}

// TestAuditVerifyRoute: the caller's own project by default, ?project=
// for another, a broken link named in the Parameters, refusals as
// OperationOutcomes.
func TestAuditVerifyRoute(t *testing.T) {
	const own, other = "0a000000-0000-4000-8000-00000000000a", "0b000000-0000-4000-8000-00000000000b"
	cases := []struct {
		name       string
		query      string
		verifier   *fakeVerifier
		wantStatus int
		wantAsked  string
		wantBody   []string
	}{
		{"own project", "", &fakeVerifier{res: ward.AuditVerification{OK: true, Checked: 7}}, 200, own,
			[]string{`"name":"ok","valueBoolean":true`, `"name":"checked","valueInteger":7`}},
		{"another project", "?project=" + other, &fakeVerifier{res: ward.AuditVerification{Checked: 2, BrokenSeq: 3, Problem: "content changed", EventID: "e1"}}, 200, other,
			[]string{`"name":"ok","valueBoolean":false`, `"name":"brokenSeq","valueInteger":3`, `"valueString":"content changed"`, `"reference":"AuditEvent/e1"`}},
		{"refused by the store", "?project=" + other, &fakeVerifier{err: ward.Errorf(ward.EFORBIDDEN, "Forbidden")}, 403, other,
			[]string{`"resourceType":"OperationOutcome"`}},
		{"not a project id", "?project=not-an-id", &fakeVerifier{}, 400, "",
			[]string{`"resourceType":"OperationOutcome"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			route := wardhttp.AuditVerifyRoute(c.verifier)
			req := httptest.NewRequest(http.MethodGet, "/fhir/R4/AuditEvent/$verify"+c.query, nil)
			req = req.WithContext(ward.NewContextWithPrincipal(req.Context(), &ward.Principal{ProjectID: own, Admin: true}))
			rec := httptest.NewRecorder()
			route.Handler.ServeHTTP(rec, req)
			if rec.Code != c.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.wantStatus, rec.Body)
			}
			if c.verifier.asked != c.wantAsked {
				t.Errorf("verified %q, want %q", c.verifier.asked, c.wantAsked)
			}
			body := rec.Body.String()
			if !json.Valid([]byte(body)) {
				t.Fatalf("not JSON: %s", body)
			}
			for _, want := range c.wantBody {
				if !strings.Contains(body, want) {
					t.Errorf("body lacks %s: %s", want, body)
				}
			}
		})
	}
}

// countingVerifier counts walks, each taking a while.
type countingVerifier struct {
	mu    sync.Mutex
	walks int
}

func (v *countingVerifier) VerifyAudit(context.Context, string) (ward.AuditVerification, error) {
	v.mu.Lock()
	v.walks++
	v.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	return ward.AuditVerification{OK: true, Checked: 1}, nil
}

// TestAuditVerifyIsNotAFlood: an admin asking fifty times at once, then
// fifty times more, costs one walk of the chain; another admin's question
// is its own walk.
func TestAuditVerifyIsNotAFlood(t *testing.T) {
	const project = "0a000000-0000-4000-8000-00000000000a"
	v := &countingVerifier{}
	route := wardhttp.AuditVerifyRoute(v)
	ask := func(user string) int {
		req := httptest.NewRequest(http.MethodGet, "/fhir/R4/AuditEvent/$verify", nil)
		req = req.WithContext(ward.NewContextWithPrincipal(req.Context(), &ward.Principal{ProjectID: project, Admin: true, User: user}))
		rec := httptest.NewRecorder()
		route.Handler.ServeHTTP(rec, req)
		return rec.Code
	}
	for range 2 {
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if code := ask("User/a"); code != 200 {
					t.Errorf("status %d", code)
				}
			}()
		}
		wg.Wait()
	}
	if v.walks != 1 {
		t.Errorf("100 questions walked the chain %d times, want 1", v.walks)
	}
	ask("User/b")
	if v.walks != 2 {
		t.Errorf("another admin's question walked %d times in all, want its own walk", v.walks)
	}
}
