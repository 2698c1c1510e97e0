package wire_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fairshare"
	"github.com/wardhealth/ward/internal/wire"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// startFairShareServer is startAuthServer with per-project fair shares.
func startFairShareServer(tb testing.TB, s *store.Store, defaults fairshare.Limits) (*httptest.Server, *fairshare.Shares) {
	tb.Helper()
	srv, id, logger := seededAuth(tb, s)
	shares := fairshare.New(fairshare.Options{Defaults: defaults, Load: fairshare.ProjectLimits(s), Wait: 50 * time.Millisecond, Logger: logger})
	srv.Config.Handler = wire.Handler(s, wire.Config{BaseURL: srv.URL + "/", MaxBodyBytes: maxBody, Auth: id, FairShare: shares}, logger)
	return srv, shares
}

// callHeader is call returning the response headers too.
func callHeader(tb testing.TB, srv *httptest.Server, method, path, authz, body string) (int, http.Header, map[string]any) {
	tb.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", authz)
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, resp.Header, m
}

// putSystemSetting reads Project/id as authz and puts it back with
// systemSetting replaced; it returns the PUT's status.
func putSystemSetting(t *testing.T, srv *httptest.Server, authz, id string, settings []any) int {
	t.Helper()
	status, _, project := callHeader(t, srv, "GET", "/fhir/R4/Project/"+id, authz, "")
	if status != 200 {
		t.Fatalf("GET Project/%s: %d %v", id, status, project)
	}
	project["systemSetting"] = settings
	body, _ := json.Marshal(project)
	status, _, _ = callHeader(t, srv, "PUT", "/fhir/R4/Project/"+id, authz, string(body))
	return status
}

func superAdminToken(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	status, login := postJSON(t, srv, "/auth/login", "", map[string]any{
		"email": "admin@example.com", "password": adminPassword, "scope": "openid", "codeChallenge": "xyz", "codeChallengeMethod": "plain",
	})
	if status != 200 {
		t.Fatalf("admin login: %d %v", status, login)
	}
	return "Bearer " + exchangeCode(t, srv, login)
}

// TestFairShareRateLimit: past its project's requests per minute a caller
// gets 429 with Retry-After and Medplum's too-many-requests outcome;
// another project is unaffected; a project admin cannot lift the limit
// (systemSetting is read-only to it, and its own settings are not
// systemSetting); a super admin's override applies at once.
func TestFairShareRateLimit(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		const perMinute = 6
		srv, _ := startFairShareServer(t, s, fairshare.Limits{RequestsPerMinute: perMinute})
		tokenA, projectA := registerOwner(t, srv, "alma@example.com", "Alma Clinic")
		tokenB, _ := registerOwner(t, srv, "bert@example.com", "Bert Clinic")
		ownerA, ownerB := "Bearer "+tokenA, "Bearer "+tokenB

		// Two requests of A's minute: the owner tries to raise its own limit.
		if status := putSystemSetting(t, srv, ownerA, projectA, []any{map[string]any{"name": "rateLimit", "valueInteger": 100000}}); status >= 500 {
			t.Fatalf("project admin's PUT of systemSetting: %d", status)
		}
		if status, body := postJSON(t, srv, "/admin/projects/"+projectA+"/settings", ownerA, []any{map[string]any{"name": "rateLimit", "valueInteger": 100000}}); status != 200 {
			t.Fatalf("project admin's settings: %d %v", status, body)
		}
		for i := 3; i <= perMinute; i++ {
			if status, _, body := callHeader(t, srv, "GET", "/fhir/R4/Patient", ownerA, ""); status != 200 {
				t.Fatalf("A's request %d of %d: %d %v", i, perMinute, status, body)
			}
		}
		status, header, body := callHeader(t, srv, "GET", "/fhir/R4/Patient", ownerA, "")
		if status != 429 {
			t.Fatalf("A's request %d: %d, want 429 (the project admin's change must not lift the limit)", perMinute+1, status)
		}
		if after, err := strconv.Atoi(header.Get("Retry-After")); err != nil || after < 1 || after > 60 {
			t.Errorf("Retry-After = %q, want 1..60 seconds", header.Get("Retry-After"))
		}
		issue, _ := list(body, "issue")[0].(map[string]any)
		if body["resourceType"] != "OperationOutcome" || body["id"] != "too-many-requests" || issue["code"] != "throttled" {
			t.Errorf("429 body = %v, want Medplum's too-many-requests OperationOutcome", body)
		}

		if status, _, body := callHeader(t, srv, "GET", "/fhir/R4/Patient", ownerB, ""); status != 200 {
			t.Errorf("B while A is throttled: %d %v", status, body)
		}

		root := superAdminToken(t, srv)
		_, _, stored := callHeader(t, srv, "GET", "/fhir/R4/Project/"+projectA, root, "")
		if stored["systemSetting"] != nil {
			t.Errorf("a project admin changed its systemSetting: %v", stored["systemSetting"])
		}
		if status := putSystemSetting(t, srv, root, projectA, []any{map[string]any{"name": "rateLimit", "valueInteger": 1000}}); status != 200 {
			t.Fatalf("super admin's PUT of systemSetting: %d", status)
		}
		for i := range perMinute + 2 {
			if status, _, body := callHeader(t, srv, "GET", "/fhir/R4/Patient", ownerA, ""); status != 200 {
				t.Fatalf("A after the super admin's override, request %d: %d %v", i+1, status, body)
			}
		}
	})
}

// TestFairShareConcurrency: a project's expensive requests beyond its
// slots wait, then get 429; another project's are admitted meanwhile; a
// super admin's concurrentExpensiveRequests override applies.
func TestFairShareConcurrency(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		srv, shares := startFairShareServer(t, s, fairshare.Limits{Concurrent: 1})
		tokenA, projectA := registerOwner(t, srv, "cora@example.com", "Cora Clinic")
		tokenB, _ := registerOwner(t, srv, "dirk@example.com", "Dirk Clinic")
		ctx := context.Background()

		// A search of A holds A's only slot (as a long search would).
		held, err := shares.Admit(ctx, projectA, true)
		if err != nil {
			t.Fatal(err)
		}
		status, header, body := callHeader(t, srv, "GET", "/fhir/R4/Patient", "Bearer "+tokenA, "")
		if status != 429 || header.Get("Retry-After") == "" || body["id"] != "too-many-requests" {
			t.Errorf("A's second search: %d Retry-After %q %v, want 429", status, header.Get("Retry-After"), body)
		}
		if status, _, _ := callHeader(t, srv, "GET", "/fhir/R4/Patient/"+projectA, "Bearer "+tokenA, ""); status == 429 {
			t.Errorf("A's read is not expensive work, yet got 429")
		}
		if status, _, body := callHeader(t, srv, "GET", "/fhir/R4/Patient", "Bearer "+tokenB, ""); status != 200 {
			t.Errorf("B's search while A's slot is taken: %d %v", status, body)
		}

		root := superAdminToken(t, srv)
		if status := putSystemSetting(t, srv, root, projectA, []any{map[string]any{"name": "concurrentExpensiveRequests", "valueInteger": 2}}); status != 200 {
			t.Fatalf("super admin's PUT: %d", status)
		}
		if status, _, body := callHeader(t, srv, "GET", "/fhir/R4/Patient", "Bearer "+tokenA, ""); status != 200 {
			t.Errorf("A's second search after the override to 2 slots: %d %v", status, body)
		}
		held.Done()
	})
}

// TestUsageReport: request counts survive a restart (flushed by one
// process, added to by the next), storage, resources and users are
// measured from the tables, and only a super admin reads the report.
func TestUsageReport(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		srv, shares := startFairShareServer(t, s, fairshare.Limits{})
		tokenA, projectA := registerOwner(t, srv, "erin@example.com", "Erin Clinic")
		ownerA := "Bearer " + tokenA
		for range 3 {
			if status, _ := postJSON(t, srv, "/fhir/R4/Patient", ownerA, map[string]any{"resourceType": "Patient"}); status != 201 {
				t.Fatalf("create: %d", status)
			}
		}
		sys := ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
		if err := shares.Flush(sys, s); err != nil {
			t.Fatal(err)
		}
		// A restarted process counts anew and adds to the stored day.
		again := fairshare.New(fairshare.Options{})
		for range 2 {
			ticket, err := again.Admit(sys, projectA, false)
			if err != nil {
				t.Fatal(err)
			}
			ticket.Done()
		}
		if err := again.Flush(sys, s); err != nil {
			t.Fatal(err)
		}
		if err := again.Measure(sys, s); err != nil {
			t.Fatal(err)
		}

		root := superAdminToken(t, srv)
		status, _, report := callHeader(t, srv, "GET", "/admin/usage?project="+projectA, root, "")
		if status != 200 {
			t.Fatalf("usage: %d %v", status, report)
		}
		days := list(report, "usage")
		if len(days) != 1 {
			t.Fatalf("usage days = %v, want today's", report)
		}
		day := days[0].(map[string]any)
		if day["day"] != fairshare.Day(time.Now()) || day["requests"] != float64(5) || day["users"] != float64(1) ||
			day["resources"].(float64) < 3 || day["storageBytes"].(float64) <= 0 {
			t.Errorf("usage = %v, want today, 5 requests, 1 user, ≥ 3 resources, some bytes", day)
		}
		resp, err := srv.Client().Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := `ward_project_requests_total{project="` + projectA + `"} 3`; !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
		if status, _, _ := callHeader(t, srv, "GET", "/admin/usage", ownerA, ""); status != 403 {
			t.Errorf("a project admin's usage request: %d, want 403", status)
		}
		if status, _, _ := callHeader(t, srv, "GET", "/admin/usage?from=yesterday", root, ""); status != 400 {
			t.Errorf("a bad from: %d, want 400", status)
		}
	})
}
