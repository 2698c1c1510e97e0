package access

import (
	"reflect"
	"testing"

	"github.com/wardhealth/ward"
)

// TestSmartScopes: spec 2.12 and row 50 — resource scopes intersect the
// membership's policy; patient/ scopes confine it to the login's patient.
func TestSmartScopes(t *testing.T) {
	conditionPolicy := map[string]string{"AccessPolicy/a": `{"resource":[{"resourceType":"Condition","interaction":["create","read"]},{"resourceType":"Observation"}]}`}
	starPolicy := map[string]string{"AccessPolicy/a": `{"resource":[{"resourceType":"*"}]}`}
	patientMember := `{"profile":{"reference":"Patient/p1"},"accessPolicy":{"reference":"AccessPolicy/a"}}`
	practitionerMember := `{"profile":{"reference":"Practitioner/d"},"accessPolicy":{"reference":"AccessPolicy/a"}}`
	cases := []struct {
		name, membership, scope string
		policies                map[string]string
		want                    []ruleView
	}{
		{"no resource scopes: the policy as it is", patientMember, "openid offline_access", conditionPolicy,
			append([]ruleView{{Type: "Condition", Inter: ward.InteractionCreate | ward.InteractionRead}, {Type: "Observation", Inter: ward.InteractionAll}}, definitions...)},
		{"patient/*.crud confines every entry to the patient (row 50)", patientMember, "openid launch/patient patient/*.crud", conditionPolicy,
			[]ruleView{{Type: "Condition", Criteria: "_compartment=Patient/p1", Inter: ward.InteractionCreate | ward.InteractionRead},
				{Type: "Observation", Criteria: "_compartment=Patient/p1", Inter: ward.InteractionAll},
				{Type: "SearchParameter", Criteria: "_compartment=Patient/p1", Inter: ward.InteractionReadOnly},
				{Type: "StructureDefinition", Criteria: "_compartment=Patient/p1", Inter: ward.InteractionReadOnly}}},
		{"user/Observation.read keeps only Observation, read-only", practitionerMember, "user/Observation.read", conditionPolicy,
			[]ruleView{{Type: "Observation", Inter: ward.InteractionReadOnly}}},
		{"a * entry becomes the scope's type, with its query", practitionerMember, "user/Observation.rs?status=final user/Patient.cruds", starPolicy,
			[]ruleView{{Type: "Observation", Criteria: "status=final", Inter: ward.InteractionReadOnly}, {Type: "Patient", Inter: ward.InteractionAll}}},
		{"patient/ scope without a patient grants nothing", practitionerMember, "patient/Observation.read", conditionPolicy, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := Input{Project: tree(t, `{"id":"`+projectID+`"}`), Membership: tree(t, c.membership), Policies: map[string]map[string]any{}, Scope: c.scope}
			for ref, body := range c.policies {
				in.Policies[ref] = tree(t, body)
			}
			p, js, err := Build(in)
			if err != nil {
				t.Fatal(err)
			}
			if got := view(p); !reflect.DeepEqual(got, c.want) {
				t.Errorf("rules:\n got %+v\nwant %+v", got, c.want)
			}
			if res, _ := js["resource"].([]any); len(res) != len(c.want) {
				t.Errorf("JSON form has %d entries, want %d", len(res), len(c.want))
			}
		})
	}
}
