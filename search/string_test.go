package search

import (
	"net/url"
	"reflect"
	"testing"
)

// TestStringRoundTrip: a Bundle link rendered from a parsed query runs the
// same search again.
func TestStringRoundTrip(t *testing.T) {
	cases := []struct{ typ, query, want string }{
		{"Patient", "name=smith", "name=smith"},
		{"Patient", `name=a\,b,c`, `name=a%5C,b,c`},
		{"Patient", "birthdate=ge1970&birthdate=lt1980-06", "birthdate=ge1970&birthdate=lt1980-06"},
		{"Observation", "code:not=http://loinc.org|8867-4", "code:not=http://loinc.org|8867-4"},
		{"Observation", `code=a\|b`, `code=a%5C|b`},
		{"Observation", "patient.name=smith", "patient:Patient.name=smith"},
		{"Observation", "subject:Patient.birthdate=lt2000", "subject:Patient.birthdate=lt2000"},
		{"Patient", "_has:Observation:subject:code:text=heart", "_has:Observation:subject:code:text=heart"},
		{"Patient", "_compartment=%25organization", "_compartment=%25organization"},
		{"Patient", "name:missing=true", "name:missing=true"},
		{"Patient", "_fields=name,gender&_count=5&_offset=10&_total=accurate&_summary=true&_format=json",
			"_count=5&_offset=10&_total=accurate&_summary=true&_elements=name,gender"},
		{"Patient", "_sort=-birthdate,_id", "_sort=-birthdate,_id"},
		{"Observation", "_include=Observation:subject:Patient&_revinclude:iterate=Provenance:target",
			"_include=Observation:subject:Patient&_revinclude:iterate=Provenance:target"},
		{"Observation", "value-quantity=5.4||mg", "value-quantity=5.4||mg"},
		{"Patient", "name=Zoë smith", "name=Zo%C3%AB+smith"},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			v, err := url.ParseQuery(c.query)
			if err != nil {
				t.Fatal(err)
			}
			q, err := Parse(c.typ, v)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got := String(q)
			if got != c.want {
				t.Errorf("String = %q, want %q", got, c.want)
			}
			v2, err := url.ParseQuery(got)
			if err != nil {
				t.Fatalf("rendered query does not parse as a URL query: %v", err)
			}
			q2, err := Parse(c.typ, v2)
			if err != nil {
				t.Fatalf("rendered query %q does not parse: %v", got, err)
			}
			if !reflect.DeepEqual(q, q2) {
				t.Errorf("round trip changed the query:\n got %+v\nwant %+v", q2, q)
			}
		})
	}
}
