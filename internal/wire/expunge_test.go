package wire_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestExpungeOverHTTP: a project admin erases a patient with its
// compartment through POST Patient/{id}/$expunge?everything=true; the
// data is gone, the erasure is one record of the trail (the request is not
// recorded twice), the chain verifies; another project's admin and a bad
// parameter change nothing.
func TestExpungeOverHTTP(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		srv := startAuditedAuthServer(t, s)
		owner, _ := registerOwner(t, srv, "erase-owner@example.com", "Erasure")
		other, _ := registerOwner(t, srv, "erase-other@example.com", "Other")
		bearer := "Bearer " + owner
		_, patient := postJSON(t, srv, "/fhir/R4/Patient", bearer, map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": "Erased"}}})
		pid := patient["id"].(string)
		_, obs := postJSON(t, srv, "/fhir/R4/Observation", bearer, map[string]any{"resourceType": "Observation", "status": "final",
			"code": map[string]any{"text": "x"}, "subject": map[string]any{"reference": "Patient/" + pid}})
		oid := obs["id"].(string)
		if status, _ := call(t, srv, "GET", "/fhir/R4/Observation/"+oid, bearer, "", ""); status != 200 {
			t.Fatalf("read: %d", status)
		}
		for _, c := range []struct {
			name, path, authz string
			want              int
		}{
			{"another project's admin", "/fhir/R4/Patient/" + pid + "/$expunge?everything=true", "Bearer " + other, 404},
			{"a bad everything", "/fhir/R4/Patient/" + pid + "/$expunge?everything=yes", bearer, 400},
			{"everything on an Observation", "/fhir/R4/Observation/" + oid + "/$expunge?everything=true", bearer, 400},
		} {
			if status, body := call(t, srv, "POST", c.path, c.authz, "", ""); status != c.want {
				t.Errorf("%s: %d %v, want %d", c.name, status, body, c.want)
			}
		}
		ownerClient := fhirClient{t: t, base: srv.URL, authz: bearer}
		manifest, _ := exportAndWait(t, ownerClient, "Patient/$export?_type=Patient")
		file := manifest["output"].([]any)[0].(map[string]any)["url"].(string)
		if !strings.Contains(string(ownerClient.do("GET", file, "").raw), pid) {
			t.Fatalf("the export before the erasure lacks the patient")
		}
		job := expungeAndWait(t, srv, "/fhir/R4/Patient/"+pid+"/$expunge?everything=true", bearer)
		if r := ownerClient.do("GET", file, ""); strings.Contains(string(r.raw), pid) {
			t.Errorf("an export file still holds the erased patient: %d", r.status)
		}
		// The Patient, its Observation, and the records of their creation
		// and of the read, which name the patient, and of the refused
		// attempt above that named it too.
		if !strings.Contains(fmt.Sprint(job), "valueInteger:6") {
			t.Errorf("the erasure's job: %v, want 6 resources", job)
		}
		for _, path := range []string{"Patient/" + pid, "Observation/" + oid, "Observation/" + oid + "/_history"} {
			if status, _ := call(t, srv, "GET", "/fhir/R4/"+path, bearer, "", ""); status != 404 {
				t.Errorf("GET %s after the erasure: %d, want 404", path, status)
			}
		}
		// Two records remain: the request, accepted (202), and the erasure
		// the job did (with how many resources went), same request id.
		_, trail := call(t, srv, "GET", "/fhir/R4/AuditEvent?entity=Patient/"+pid+"&subtype=$expunge&outcome=0", bearer, "", "")
		if entries, _ := trail["entry"].([]any); len(entries) != 2 || strings.Count(fmt.Sprint(trail), "type:results valueString:6") != 1 {
			t.Errorf("records of the erasure: %d, want the request's and the erasure's: %v", len(entries), trail)
		}
		_, verify := call(t, srv, "GET", "/fhir/R4/AuditEvent/$verify", bearer, "", "")
		if !strings.Contains(fmt.Sprint(verify), "valueBoolean:true") {
			t.Errorf("$verify after the erasure: %v", verify)
		}
	})
}

// TestEraseProjectOverHTTP: the super admin erases a project with POST
// Project/{id}/$expunge?everything=true; its owner's token is dead at
// once, its project-scoped user can no longer sign in, its data is gone;
// the project's own admin may not do it.
func TestEraseProjectOverHTTP(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		srv := startAuditedAuthServer(t, s)
		owner, projectID := registerOwner(t, srv, "tenant-owner@example.com", "Leaving Tenant")
		bearer := "Bearer " + owner
		if status, out := postJSON(t, srv, "/admin/projects/"+projectID+"/invite", bearer, map[string]any{
			"resourceType": "Practitioner", "firstName": "Sam", "lastName": "Scoped", "email": "sam@example.com",
			"scope": "project", "password": "sam-real-password-1", "sendEmail": false,
		}); status != 200 {
			t.Fatalf("invite: %d %v", status, out)
		}
		_, patient := postJSON(t, srv, "/fhir/R4/Patient", bearer, map[string]any{"resourceType": "Patient"})
		login := func() int {
			status, _ := postJSON(t, srv, "/auth/login", "", map[string]any{"email": "sam@example.com", "password": "sam-real-password-1",
				"projectId": projectID, "scope": "openid", "codeChallenge": "xyz", "codeChallengeMethod": "plain"})
			return status
		}
		if status := login(); status != 200 {
			t.Fatalf("the scoped user signs in before: %d", status)
		}
		erase := "/fhir/R4/Project/" + projectID + "/$expunge?everything=true"
		if status, _ := call(t, srv, "POST", erase, bearer, "", ""); status != 403 {
			t.Errorf("the project's own admin erasing it: %d, want 403", status)
		}
		root := "Bearer " + signIn(t, srv, "admin@example.com", adminPassword)["access_token"].(string)
		expungeAndWait(t, srv, erase, root)
		if status, _ := call(t, srv, "GET", "/fhir/R4/Patient/"+patient["id"].(string), bearer, "", ""); status != 401 {
			t.Errorf("the owner's token after the erasure: %d, want 401", status)
		}
		if status := login(); status == 200 {
			t.Errorf("the project-scoped user still signs in")
		}
		if status, _ := call(t, srv, "GET", "/fhir/R4/Patient/"+patient["id"].(string), root, "", ""); status != 404 {
			t.Errorf("the super admin reads the erased Patient: %d, want 404", status)
		}
	})
}

// expungeAndWait kicks off an erasure of a compartment or a project (202
// and the job's status URL, as Medplum) and polls the job until it is
// completed, returning it.
func expungeAndWait(t *testing.T, srv *httptest.Server, path, authz string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+path, nil)
	req.Header.Set("Authorization", authz)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	status := resp.Header.Get("Content-Location")
	if resp.StatusCode != 202 || !strings.Contains(status, "/job/") {
		t.Fatalf("POST %s: %d, Content-Location %q; want 202 and the job's status", path, resp.StatusCode, status)
	}
	statusPath := strings.TrimPrefix(status, srv.URL)
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, job := call(t, srv, "GET", statusPath, authz, "", "")
		if code == 200 {
			if job["status"] != "completed" {
				t.Fatalf("the erasure's job: %v", job)
			}
			return job
		}
		if code != 202 || time.Now().After(deadline) {
			t.Fatalf("the erasure's job: %d %v", code, job)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
