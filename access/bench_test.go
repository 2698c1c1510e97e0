package access

import (
	"fmt"
	"testing"
)

// BenchmarkBuild500: the effective policy of a clinician with 500 access
// entries (one per clinic) over one MSO clinic policy.
func BenchmarkBuild500(b *testing.B) {
	in := clinicianInput(500)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Build(in); err != nil {
			b.Fatal(err)
		}
	}
}

// clinicianInput is a membership with n access entries of the MSO clinic
// policy (spec 5.12), each with its own organization.
func clinicianInput(n int) Input {
	var resources []any
	for _, typ := range []string{"Patient", "Observation", "DiagnosticReport", "Encounter", "Communication"} {
		resources = append(resources, map[string]any{"resourceType": typ, "criteria": typ + "?_compartment=%organization"})
	}
	for _, typ := range []string{"Organization", "Practitioner", "PractitionerRole"} {
		resources = append(resources, map[string]any{"resourceType": typ, "readonly": true})
	}
	policy := map[string]any{"resourceType": "AccessPolicy", "compartment": map[string]any{"reference": "%organization"}, "resource": resources}
	access := make([]any, n)
	for i := range access {
		access[i] = map[string]any{
			"policy":    map[string]any{"reference": "AccessPolicy/clinic"},
			"parameter": []any{map[string]any{"name": "organization", "valueReference": map[string]any{"reference": fmt.Sprintf("Organization/%08d-0000-4000-8000-000000000000", i)}}},
		}
	}
	return Input{
		Project:    map[string]any{"id": "p"},
		Membership: map[string]any{"profile": map[string]any{"reference": "Practitioner/me"}, "access": access},
		Policies:   map[string]map[string]any{"AccessPolicy/clinic": policy},
	}
}
