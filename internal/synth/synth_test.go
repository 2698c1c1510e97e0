package synth

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestInProjectSetsProjectAndAccounts(t *testing.T) {
	tests := []struct {
		name     string
		project  string
		accounts []string
		want     string
	}{
		{"project and one clinic", "p1", []string{"Organization/c1"}, `{"accounts":[{"reference":"Organization/c1"}],"project":"p1"}`},
		{"two accounts", "", []string{"Organization/a", "Organization/b"}, `{"accounts":[{"reference":"Organization/a"},{"reference":"Organization/b"}]}`},
		{"nothing leaves meta out", "", nil, `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := InProject(map[string]any{"resourceType": "Patient"}, tt.project, tt.accounts...)
			got, _ := json.Marshal(res["meta"])
			if string(got) != tt.want {
				t.Errorf("meta = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestMSOPolicyLimitsClinicalTypesToTheClinic(t *testing.T) {
	pol := MSOPolicy()
	if c := pol["compartment"].(map[string]any)["reference"]; c != "%organization" {
		t.Errorf("compartment %v", c)
	}
	for _, r := range pol["resource"].([]any) {
		rule := r.(map[string]any)
		typ := rule["resourceType"].(string)
		crit, _ := rule["criteria"].(string)
		switch typ {
		case "Organization", "Practitioner", "PractitionerRole":
			if rule["readonly"] != true || crit != "" {
				t.Errorf("%s: want read-only without criteria, got %v", typ, rule)
			}
		default:
			if crit != typ+"?_compartment=%organization" {
				t.Errorf("%s criteria %q", typ, crit)
			}
		}
	}
}

func TestClinicAccessHasOneEntryPerClinic(t *testing.T) {
	got, _ := json.Marshal(ClinicAccess("AccessPolicy/p", []string{"Organization/a", "Organization/b"}))
	want := `[{"parameter":[{"name":"organization","valueReference":{"reference":"Organization/a"}}],"policy":{"reference":"AccessPolicy/p"}},` +
		`{"parameter":[{"name":"organization","valueReference":{"reference":"Organization/b"}}],"policy":{"reference":"AccessPolicy/p"}}]`
	if string(got) != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if !strings.Contains(Organization(7)["name"].(string), "007") {
		t.Errorf("clinic 7 is named %v", Organization(7)["name"])
	}
}
