package wire_test

import (
	"context"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestAuditVerifyEndpoint: a project's admin walks its own trail through
// GET /fhir/R4/AuditEvent/$verify; another project's admin may not, nor
// may an anonymous caller.
func TestAuditVerifyEndpoint(t *testing.T) {
	skipExternal(t, "reads the audit log from the store")
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		srv := startAuthServer(t, s)
		tokenA, projectA := registerOwner(t, srv, "a@verify.test", "Verify A")
		tokenB, _ := registerOwner(t, srv, "b@verify.test", "Verify B")
		log := s.NewAuditLog(store.AuditOptions{})
		for range 3 {
			if err := log.Record(context.Background(), &ward.AuditRecord{Time: time.Now(), ProjectID: projectA, Kind: "rest", Action: "R", Interaction: "read", Outcome: "0"}); err != nil {
				t.Fatal(err)
			}
		}
		log.Close()
		status, body := call(t, srv, "GET", "/fhir/R4/AuditEvent/$verify", "Bearer "+tokenA, "", "")
		checked, _ := param(body, "checked").(float64)
		if status != 200 || param(body, "ok") != true || checked < 3 {
			t.Errorf("owner A verifies A: %d %v, want ok with ≥ 3 links", status, body)
		}
		if status, body := call(t, srv, "GET", "/fhir/R4/AuditEvent/$verify?project="+projectA, "Bearer "+tokenB, "", ""); status != 403 {
			t.Errorf("owner B verifies A: %d %v, want 403", status, body)
		}
		if status, _ := call(t, srv, "GET", "/fhir/R4/AuditEvent/$verify", "", "", ""); status != 401 {
			t.Errorf("anonymous: %d, want 401", status)
		}
	})
}

// param is the value of a Parameters resource's parameter name.
func param(body map[string]any, name string) any {
	params, _ := body["parameter"].([]any)
	for _, p := range params {
		m, _ := p.(map[string]any)
		if m["name"] != name {
			continue
		}
		for k, v := range m {
			if k != "name" {
				return v
			}
		}
	}
	return nil
}
