package search

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
)

func TestParse(t *testing.T) {
	cases := []struct {
		typ, query string
		check      func(q *ward.SearchQuery) bool
	}{
		{"Patient", "name=smi,jon", func(q *ward.SearchQuery) bool {
			f := q.Filters[0]
			return f.Code == "name" && f.Type == "string" && len(f.Values) == 2 && f.Values[1].Value == "jon"
		}},
		{"Patient", `name=a\,b`, func(q *ward.SearchQuery) bool { return q.Filters[0].Values[0].Value == "a,b" }},
		{"Patient", "birthdate=ge1970&birthdate=lt1980", func(q *ward.SearchQuery) bool {
			return len(q.Filters) == 2 && q.Filters[0].Values[0].Prefix == "ge" && q.Filters[1].Values[0].Value == "1980"
		}},
		{"Observation", "code:not=http://loinc.org|8867-4", func(q *ward.SearchQuery) bool { return q.Filters[0].Modifier == "not" }},
		{"Observation", "subject:Patient.name=smith", func(q *ward.SearchQuery) bool {
			f := q.Filters[0]
			return f.TargetType == "Patient" && f.Chain != nil && f.Chain.Code == "name"
		}},
		{"Observation", "patient.name=smith", func(q *ward.SearchQuery) bool { return q.Filters[0].TargetType == "Patient" }},
		{"Patient", "_has:Observation:subject:code=8867-4", func(q *ward.SearchQuery) bool {
			h := q.Filters[0].Has
			return h != nil && h.ResourceType == "Observation" && h.Reference == "subject" && h.Filter.Code == "code"
		}},
		{"Patient", "_count=5000&_offset=10&_total=accurate&_summary=count", func(q *ward.SearchQuery) bool {
			return q.Count == MaxCount && q.Offset == 10 && q.Total == "accurate" && q.Summary == "count"
		}},
		{"Patient", "_sort=-birthdate,_id", func(q *ward.SearchQuery) bool {
			return len(q.Sort) == 2 && q.Sort[0].Descending && q.Sort[0].Code == "birthdate" && q.Sort[1].Code == "_id"
		}},
		{"Observation", "_include=Observation:subject:Patient&_revinclude:iterate=Provenance:target", func(q *ward.SearchQuery) bool {
			return q.Includes[0].TargetType == "Patient" && q.RevIncludes[0].Iterate
		}},
		{"Patient", "_fields=name,gender", func(q *ward.SearchQuery) bool { return len(q.Elements) == 2 }},
		{"Observation", "value-quantity=gt5.4|http://unitsofmeasure.org|mg", func(q *ward.SearchQuery) bool {
			return q.Filters[0].Values[0].Prefix == "gt"
		}},
		{"Patient", "name:missing=true&_format=json&_pretty=true", func(q *ward.SearchQuery) bool { return len(q.Filters) == 1 }},
		{"Patient", "name=&birthdate=", func(q *ward.SearchQuery) bool { return len(q.Filters) == 0 }}, // FHIR: empty parameters are ignored
		{"Observation", "subject:identifier=urn:mrn|123", func(q *ward.SearchQuery) bool { return q.Filters[0].Modifier == "identifier" }},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			v, _ := url.ParseQuery(c.query)
			q, err := Parse(c.typ, v)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !c.check(q) {
				t.Errorf("unexpected query %+v", q)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ typ, query, want string }{
		{"Patient", "foo=bar", "Unknown search parameter: foo"},
		{"Patient", "birthdate=2020-13", "Invalid date value for parameter birthdate"},
		{"Patient", "birthdate=xx2020", "Invalid date value"},
		{"Patient", "_count=abc", "Invalid _count"},
		{"Patient", "_count=-1", "Invalid _count"},
		{"Patient", "name:foo=x", "Unsupported modifier"},
		{"Patient", "gender:exact=x", "Unsupported modifier"},
		{"Observation", "code-value-quantity=x", "not supported"},
		{"Observation", "subject.name=x", "needs a target type"},
		{"Observation", "subject:Patient.organization.name=x", "one level deep"},
		{"Observation", "code.name=x", "not a reference parameter"},
		{"Patient", "_has:Observation:code:code=x", "not a reference parameter"},
		{"Patient", "_has:Foo:subject:code=x", "Unknown resource type"},
		{"Patient", "_sort=foo", "Unknown sort parameter"},
		{"Patient", "_include=Patient:name", "not a reference parameter"},
		{"Patient", "_total=maybe", "Invalid _total"},
		{"Patient", "name:missing=yes", "use true or false"},
		{"Observation", "value-quantity=abc", "Invalid quantity value"},
		{"Patient", "_project:identifier=x", "Unsupported modifier for _project"},
		{"Patient", "_compartment:missing=true", "Unsupported modifier for _compartment"},
		{"Patient", "_lastUpdated=2020-02-30", "Invalid date value for parameter _lastUpdated"},
		{"RiskAssessment", "probability=ge1.2.3", "Invalid number value for parameter probability"},
		{"Patient", "_offset=x", "Invalid _offset"},
		{"Patient", "_summary=all", "Invalid _summary"},
		{"Patient", "_include:foo=Patient:organization", "Unknown modifier"},
		{"Patient", "_revinclude=Observation", "Invalid _revinclude"},
		{"Patient", "_has:Observation:subject:_has:Observation:subject:_has:Observation:subject:_has:Observation:subject:code=x", "nested too deeply"},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			v, _ := url.ParseQuery(c.query)
			_, err := Parse(c.typ, v)
			if err == nil || ward.ErrorCode(err) != ward.EINVALID || !strings.Contains(ward.ErrorMessage(err), c.want) {
				t.Fatalf("Parse error = %v, want EINVALID containing %q", err, c.want)
			}
			key, _, _ := strings.Cut(c.query, "=")
			if e := err.(*ward.Error); len(e.Expression) != 1 || e.Expression[0] != key {
				t.Errorf("error expression = %q, want [%q]", e.Expression, key)
			}
		})
	}
}

func TestParseCriteria(t *testing.T) {
	q, err := ParseCriteria("Patient?_compartment=Organization/1&_compartment=Consent/2")
	if err != nil || q.ResourceType != "Patient" || len(q.Filters) != 2 {
		t.Fatalf("ParseCriteria = %+v, %v", q, err)
	}
	q, err = ParseCriteria("Patient?_compartment=%organization&name=a%20b")
	if err != nil || q.Filters[0].Values[0].Value != "%organization" || q.Filters[1].Values[0].Value != "a b" {
		t.Errorf("ParseCriteria kept %+v, %v; want the variable as written", q, err)
	}
	if _, err := ParseCriteria("Nope?x=1"); err == nil {
		t.Error("criteria with an unknown type accepted")
	}
}

// FuzzParse: any query parses or fails with a *ward.Error EINVALID, never
// panics; what parses renders with String and parses back to the same text.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"name=smith", "birthdate=ge2020-01-01T00:00:00Z", "subject:Patient.name=x", "_has:Observation:subject:code=1",
		"_sort=-date&_count=10", "value-quantity=ap5|http://unitsofmeasure.org|mg", `code=a\,b\|c`, "_include:iterate=Observation:*",
	} {
		f.Add("Observation", s)
	}
	f.Fuzz(func(t *testing.T, typ, query string) {
		v, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		q, err := Parse(typ, v)
		if err != nil {
			var e *ward.Error
			if !errors.As(err, &e) || e.Code != ward.EINVALID {
				t.Fatalf("Parse(%q, %q) error is not an EINVALID *ward.Error: %v", typ, query, err)
			}
			return
		}
		rendered := String(q)
		v2, err := url.ParseQuery(rendered)
		if err != nil {
			t.Fatalf("String rendered an unparsable query %q: %v", rendered, err)
		}
		q2, err := Parse(typ, v2)
		if err != nil {
			t.Fatalf("String(%q) = %q does not parse: %v", query, rendered, err)
		}
		if again := String(q2); again != rendered {
			t.Fatalf("String is not stable for %q: %q then %q", query, rendered, again)
		}
	})
}

// TestParseTooManyParams: a search of more than maxParams parameters or
// _filter comparisons is a 400 before any SQL is written (5,000 ANDed
// name=x were a 500 on SQLite and took PostgreSQL down); maxParams of
// them are parsed.
func TestParseTooManyParams(t *testing.T) {
	for _, c := range []struct {
		name string
		q    url.Values
		ok   bool
	}{
		{"maxParams parameters", url.Values{"name": strings.Split(terms(maxParams, "x", ","), ",")}, true},
		{"one more", url.Values{"name": strings.Split(terms(maxParams, "x", ","), ","), "gender": {"male"}}, false},
		{"5,000 repeats", url.Values{"name": strings.Split(terms(5000, "x", ","), ",")}, false},
		{"maxParams _filter comparisons", url.Values{"_filter": {terms(maxParams, "name eq x", " and ")}}, true},
		{"one more _filter comparison", url.Values{"_filter": {terms(maxParams+1, "name eq x", " and ")}}, false},
		{"_filter comparisons and parameters", url.Values{"_filter": {terms(maxParams, "name eq x", " and ")}, "gender": {"male"}}, false},
		{"maxParams ored _filter comparisons", url.Values{"_filter": {terms(maxParams, "name eq x", " or ")}}, true},
		{"5,000 ored _filter comparisons", url.Values{"_filter": {terms(5000, "name eq x", " or ")}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("Patient", c.q)
			if c.ok != (err == nil) || err != nil && !strings.Contains(ward.ErrorMessage(err), "Too many search parameters") {
				t.Errorf("err = %v, want ok %v", err, c.ok)
			}
		})
	}
}
