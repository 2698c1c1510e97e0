package access

import (
	"testing"

	"github.com/wardhealth/ward"
)

func filter(code, modifier string, values ...string) ward.SearchFilter {
	f := ward.SearchFilter{Code: code, Type: "reference", Modifier: modifier}
	for _, v := range values {
		f.Values = append(f.Values, ward.SearchValue{Value: v})
	}
	return f
}

func TestMergeRules(t *testing.T) {
	all := ward.InteractionAll
	rule := func(typ string, hidden []string, fs ...ward.SearchFilter) ward.PolicyRule {
		return ward.PolicyRule{ResourceType: typ, Interactions: all, HiddenFields: hidden, Criteria: fs}
	}
	cases := []struct {
		name  string
		rules []ward.PolicyRule
		want  int // rules after merging
	}{
		{"one clinic per entry folds into one rule", []ward.PolicyRule{
			rule("Patient", nil, filter("_compartment", "", "Organization/a")),
			rule("Observation", nil, filter("_compartment", "", "Organization/a")),
			rule("Patient", nil, filter("_compartment", "", "Organization/b")),
			rule("Observation", nil, filter("_compartment", "", "Organization/b")),
		}, 2},
		{"different hidden fields stay apart", []ward.PolicyRule{
			rule("Patient", []string{"name"}, filter("_compartment", "", "Organization/a")),
			rule("Patient", nil, filter("_compartment", "", "Organization/b")),
		}, 2},
		{"a * rule between keeps the first-match order", []ward.PolicyRule{
			rule("Patient", nil, filter("_compartment", "", "Organization/a")),
			rule("*", []string{"text"}, filter("_compartment", "", "Organization/b")),
			rule("Patient", nil, filter("_compartment", "", "Organization/b")),
		}, 3},
		{":not values are not ORed", []ward.PolicyRule{
			rule("Patient", nil, filter("_compartment", "not", "Organization/a")),
			rule("Patient", nil, filter("_compartment", "not", "Organization/b")),
		}, 2},
		{"two differing filters are not one OR", []ward.PolicyRule{
			rule("Patient", nil, filter("_compartment", "", "Organization/a"), filter("general-practitioner", "", "Practitioner/x")),
			rule("Patient", nil, filter("_compartment", "", "Organization/b"), filter("general-practitioner", "", "Practitioner/y")),
		}, 2},
		{"shared filters with one differing fold", []ward.PolicyRule{
			rule("Patient", nil, filter("_compartment", "", "Organization/a"), filter("_compartment", "", "Consent/c")),
			rule("Patient", nil, filter("_compartment", "", "Organization/b"), filter("_compartment", "", "Consent/c")),
		}, 1},
		{"a rule without criteria never folds", []ward.PolicyRule{
			rule("Patient", nil), rule("Patient", nil, filter("_compartment", "", "Organization/b")),
		}, 2},
	}
	for _, c := range cases {
		got := mergeRules(c.rules)
		if len(got) != c.want {
			t.Errorf("%s: %d rules, want %d: %+v", c.name, len(got), c.want, got)
		}
	}
	got := mergeRules([]ward.PolicyRule{
		rule("Patient", nil, filter("_compartment", "", "Organization/a")),
		rule("Patient", nil, filter("_compartment", "", "Organization/b")),
		rule("Patient", nil, filter("_compartment", "", "Organization/a")),
	})
	if v := got[0].Criteria[0].Values; len(v) != 2 || v[0].Value != "Organization/a" || v[1].Value != "Organization/b" {
		t.Errorf("merged values = %+v, want a, b once each", v)
	}
}
