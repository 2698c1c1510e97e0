package index

import (
	"reflect"
	"testing"
)

const (
	project  = "11111111-1111-4111-8111-111111111111"
	patient1 = "22222222-2222-4222-8222-222222222222"
	patient2 = "33333333-3333-4333-8333-333333333333"
	org      = "44444444-4444-4444-8444-444444444444"
	selfID   = "55555555-5555-4555-8555-555555555555"
)

func TestCompartments(t *testing.T) {
	tests := []struct {
		name     string
		typ      string
		resource map[string]any
		rows     *Rows
		refs     []string
		uuids    []string
	}{
		{
			name:     "patient is its own compartment",
			typ:      "Patient",
			resource: map[string]any{},
			refs:     []string{"Project/" + project, "Patient/" + selfID},
			uuids:    []string{project, selfID},
		},
		{
			name:     "patient linked to another patient",
			typ:      "Patient",
			resource: map[string]any{},
			rows: &Rows{References: []Reference{
				{"general-practitioner", "Practitioner", org},
				{"link", "Patient", patient1},
				{"link", "RelatedPerson", patient2},
			}},
			refs:  []string{"Project/" + project, "Patient/" + selfID, "Patient/" + patient1},
			uuids: []string{project, selfID, patient1},
		},
		{
			name: "observation: subject and performer patients, accounts, not the encounter",
			typ:  "Observation",
			resource: map[string]any{"meta": map[string]any{
				"accounts": []any{
					map[string]any{"reference": "Organization/" + org},
					map[string]any{"reference": "Project/" + project},
					map[string]any{"reference": "Organization/not-a-uuid"},
				},
				"account": map[string]any{"reference": "Organization/ignored-when-accounts-present"},
			}},
			rows: &Rows{References: []Reference{
				{"encounter", "Encounter", "66666666-6666-4666-8666-666666666666"},
				{"patient", "Patient", patient2}, // not a compartment param of Observation
				{"performer", "Patient", patient1},
				{"performer", "Practitioner", "77777777-7777-4777-8777-777777777777"},
				{"subject", "Patient", patient1},
				{"subject", "Patient", "not-a-uuid"},
				{"subject", "", "http://x/Patient/" + patient2},
			}},
			refs:  []string{"Project/" + project, "Organization/" + org, "Patient/" + patient1},
			uuids: []string{project, org, patient1},
		},
		{
			name:     "meta.account when accounts is absent",
			typ:      "Observation",
			resource: map[string]any{"meta": map[string]any{"account": map[string]any{"reference": "Organization/" + org}}},
			refs:     []string{"Project/" + project, "Organization/" + org},
			uuids:    []string{project, org},
		},
		{
			name:     "user's project",
			typ:      "User",
			resource: map[string]any{"project": map[string]any{"reference": "Project/" + org}},
			refs:     []string{"Project/" + project, "Project/" + org},
			uuids:    []string{project, org},
		},
		{
			name:     "type outside the patient compartment",
			typ:      "Organization",
			resource: map[string]any{},
			rows:     &Rows{References: []Reference{{"partof", "Patient", patient1}}},
			refs:     []string{"Project/" + project},
			uuids:    []string{project},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refs, uuids := Compartments(project, tt.typ, selfID, tt.resource, tt.rows)
			if !reflect.DeepEqual(refs, tt.refs) || !reflect.DeepEqual(uuids, tt.uuids) {
				t.Errorf("Compartments = %q, %q; want %q, %q", refs, uuids, tt.refs, tt.uuids)
			}
		})
	}
}

func TestCompartmentsWithoutProject(t *testing.T) {
	refs, uuids := Compartments("", "Patient", selfID, nil, nil)
	if want := []string{"Patient/" + selfID}; !reflect.DeepEqual(refs, want) || !reflect.DeepEqual(uuids, []string{selfID}) {
		t.Errorf("Compartments = %q, %q; want %q", refs, uuids, want)
	}
}

func TestIsUUID(t *testing.T) {
	for s, want := range map[string]bool{
		project:                                true,
		"ABCDEF01-2345-6789-ABCD-EF0123456789": true,
		"abcdef0123456789abcdef0123456789":     false,
		"urn:uuid:" + project:                  false,
		"":                                     false,
		"gggggggg-1111-4111-8111-111111111111": false,
	} {
		if got := IsUUID(s); got != want {
			t.Errorf("IsUUID(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestPatientRefs: the Patients whose accounts a resource inherits are
// those of its Patient compartment parameters, UUIDs only, once each.
func TestPatientRefs(t *testing.T) {
	for _, tt := range []struct {
		name string
		typ  string
		rows *Rows
		want []string
	}{
		{"observation subject and performer, once each", "Observation", &Rows{References: []Reference{
			{"subject", "Patient", patient1},
			{"performer", "Patient", patient2},
			{"performer", "Patient", patient1},
			{"patient", "Patient", org}, // not an Observation compartment parameter
			{"subject", "Group", selfID},
			{"subject", "Patient", "not-a-uuid"},
		}}, []string{patient1, patient2}},
		{"patient links, not itself", "Patient", &Rows{References: []Reference{{"link", "Patient", patient1}}}, []string{patient1}},
		{"type outside the compartment", "Organization", &Rows{References: []Reference{{"partof", "Patient", patient1}}}, nil},
		{"no rows", "Observation", nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := PatientRefs(tt.typ, tt.rows)
			if len(got) != len(tt.want) || len(got) > 0 && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("PatientRefs = %q, want %q", got, tt.want)
			}
		})
	}
}
