package wire_test

import (
	"fmt"
	"strings"
	"testing"

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
		status, outcome := call(t, srv, "POST", "/fhir/R4/Patient/"+pid+"/$expunge?everything=true", bearer, "", "")
		// The Patient, its Observation, and the records of their creation
		// and of the read, which name the patient; the refusals above are
		// in the other project's trail or were erased with the rest.
		if status != 200 || !strings.Contains(fmt.Sprint(outcome), "Expunged 6 resources") {
			t.Errorf("expunge: %d %v", status, outcome)
		}
		for _, path := range []string{"Patient/" + pid, "Observation/" + oid, "Observation/" + oid + "/_history"} {
			if status, _ := call(t, srv, "GET", "/fhir/R4/"+path, bearer, "", ""); status != 404 {
				t.Errorf("GET %s after the erasure: %d, want 404", path, status)
			}
		}
		_, trail := call(t, srv, "GET", "/fhir/R4/AuditEvent?entity=Patient/"+pid+"&subtype=$expunge&outcome=0", bearer, "", "")
		if entries, _ := trail["entry"].([]any); len(entries) != 1 {
			t.Errorf("records of the erasure: %d, want 1: %v", len(entries), trail)
		}
		_, verify := call(t, srv, "GET", "/fhir/R4/AuditEvent/$verify", bearer, "", "")
		if !strings.Contains(fmt.Sprint(verify), "valueBoolean:true") {
			t.Errorf("$verify after the erasure: %v", verify)
		}
	})
}
