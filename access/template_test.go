package access

import (
	"reflect"
	"testing"
)

// The parsed-once template gives exactly what parsing the substituted
// criteria gives, for values that need escaping and for criteria it must
// not handle (date prefixes, variables inside a value).
func TestTemplateMatchesFullParse(t *testing.T) {
	vars := newVariables([]any{
		map[string]any{"name": "organization", "valueReference": map[string]any{"reference": "Organization/o1"}},
		map[string]any{"name": "status", "valueString": "a,b"},
		map[string]any{"name": "when", "valueString": "ge2020-01-01"},
		map[string]any{"name": "odd", "valueString": `x\y`},
	}, "Patient/me")
	criteria := []struct{ typ, c string }{
		{"Patient", "Patient?_compartment=%organization&_id=%patient.id"},
		{"Task", "Task?status=%status"},
		{"Task", "Task?status=%odd"},
		{"Observation", "Observation?date=%when"},
		{"Observation", "Observation?subject=Patient/%patient.id"},
		{"Observation", "Observation?code=%unknown"},
		{"*", "*?_compartment=%organization,%profile"},
		{"Patient", "Patient?name:contains=%status"},
	}
	b := &builder{templates: map[templateKey]*template{}}
	for _, c := range criteria {
		for range 2 { // the second call uses the stored template
			got := b.criteria(c.typ, c.c, vars)
			want := parseCriteria(c.typ, c.c, vars)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s:\n template %+v\n parse    %+v", c.c, got, want)
			}
		}
	}
}
