package search

import (
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
)

// TestFilterParam: a _filter of comparisons joined by and is the plain
// search it means.
func TestFilterParam(t *testing.T) {
	cases := []struct {
		typ, filter string
		want        string // search.String of the translated query
	}{
		{"StructureDefinition", "name eq Patient", "name:exact=Patient"},
		{"StructureDefinition", `name eq "Patient"`, "name:exact=Patient"},
		{"StructureDefinition", `name eq 'Patient'`, "name:exact=Patient"},
		{"Patient", "name sw smi and birthdate ge 1970-01-01", "name=smi&birthdate=ge1970-01-01"},
		{"Patient", "name co mit AND gender eq female", "name:contains=mit&gender=female"},
		{"Patient", "gender ne male", "gender:not=male"},
		{"Patient", "gender pr true", "gender:missing=false"},
		{"Patient", "gender pr false", "gender:missing=true"},
		{"Observation", "value-quantity lt 5.4", "value-quantity=lt5.4"},
		{"Observation", "subject eq Patient/123", "subject=Patient/123"},
		{"Observation", "subject re Patient/123", "subject=Patient/123"},
		{"Observation", "subject identifier http://x|9", "subject:identifier=http://x|9"},
		{"Observation", "code eq http://loinc.org|1234-5", "code=http://loinc.org|1234-5"},
		{"Observation", "subject:Patient.name eq Smith", "subject:Patient.name:exact=Smith"},
		{"Patient", "_has:Observation:subject:code eq 1234-5", "_has:Observation:subject:code=1234-5"},
		{"Patient", `name eq "a,b"`, `name:exact=a\,b`},
		{"Patient", `name eq "say \"hi\"\u0021"`, `name:exact=say "hi"!`},
		{"Patient", "_id eq abc", "_id=abc"},
		{"Patient", "(name eq a and (gender eq male))", "name:exact=a&gender=male"},
	}
	for _, c := range cases {
		t.Run(c.filter, func(t *testing.T) {
			q, err := Parse(c.typ, url.Values{"_filter": {c.filter}})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want, _ := Parse(c.typ, mustQuery(t, c.want))
			if got, w := sortedParts(String(q)), sortedParts(String(want)); got != w {
				t.Errorf("_filter=%q → %s, want %s", c.filter, got, w)
			}
		})
	}
}

// TestFilterExpr: or, not and parentheses make a tree, nested from the
// right where the filter does not say (as Medplum reads it).
func TestFilterExpr(t *testing.T) {
	cases := []struct {
		typ, filter, want string
	}{
		{"Task", "based-on eq Patient/1 or focus eq Patient/1 or subject eq Patient/1",
			"or(based-on=Patient/1, focus=Patient/1, subject=Patient/1)"},
		{"Patient", "not (name eq a)", "not(name:exact=a)"},
		{"Patient", "not(name eq a)", "not(name:exact=a)"},
		{"Patient", "NOT (gender eq male) OR name eq a", "or(not(gender=male), name:exact=a)"},
		{"Patient", "name eq a and gender eq male or gender eq female", "and(name:exact=a, or(gender=male, gender=female))"},
		{"Patient", "name eq a or gender eq male and gender eq female", "or(name:exact=a, and(gender=male, gender=female))"},
		{"Patient", "(name eq a or name eq b) and (gender eq male or gender eq female)",
			"and(or(name:exact=a, name:exact=b), or(gender=male, gender=female))"},
		{"Patient", "(name eq a and gender eq male) or (name eq b and gender eq female)",
			"or(and(name:exact=a, gender=male), and(name:exact=b, gender=female))"},
		{"Patient", "name ne a", "not(name:exact=a)"},
		{"Patient", "not (not (name eq a))", "not(not(name:exact=a))"},
		{"Patient", "\tname eq a\n or\r\nname eq b ", "or(name:exact=a, name:exact=b)"},
		{"Observation", "date ge 2020 or date lt 2000-01-01T00:00:00Z", "or(date=ge2020, date=lt2000-01-01T00:00:00Z)"},
	}
	for _, c := range cases {
		t.Run(c.filter, func(t *testing.T) {
			e, err := ParseFilter(c.typ, c.filter)
			if err != nil {
				t.Fatalf("ParseFilter: %v", err)
			}
			if got := sexpr(e); got != c.want {
				t.Errorf("%q\n got %s\nwant %s", c.filter, got, c.want)
			}
			// Bundle links render it back: the same tree.
			again, err := ParseFilter(c.typ, FormatFilter(e))
			if err != nil || sexpr(again) != c.want {
				t.Errorf("FormatFilter %q read back as %v, %v", FormatFilter(e), sexpr(again), err)
			}
		})
	}
}

// sexpr shows a tree with each comparison as the parameter it means.
func sexpr(e *ward.FilterExpr) string {
	if e == nil {
		return "<nil>"
	}
	if e.Op == ward.FilterCompare {
		f := &e.Compare.Filter
		return filterKey(f) + "=" + filterValue(f)
	}
	parts := make([]string, len(e.Operands))
	for i := range e.Operands {
		parts[i] = sexpr(&e.Operands[i])
	}
	return string(e.Op) + "(" + strings.Join(parts, ", ") + ")"
}

// TestFilterParamErrors: a _filter that is not understood is a 400 naming
// _filter and where in it the fault is.
func TestFilterParamErrors(t *testing.T) {
	cases := []struct{ filter, want string }{
		{"name eq", "position 8: expected a value, found the end"},
		{"name xx a", "position 6: Invalid operator: xx"},
		{"name ew th", "position 6: the ew operator is not supported"},
		{"name eq a and", "position 14: expected a comparison, found the end"},
		{"name eq a nand name eq b", `position 11: expected "and", "or" or the end, found 'n'`},
		{"(name eq a", `position 1: "(" is not closed`},
		{"name eq a)", `position 10: unexpected ")"`},
		{"()", `position 2: expected a search parameter, found ')'`},
		{"not name eq a", "position 5: Invalid operator: name"},
		{"gender gt x", "position 1: the gt operator does not apply to a token parameter"},
		{"name eq a or unknown eq 1", "position 14: Unknown search parameter: unknown"},
		{"name:exact eq a", "position 1: Unsupported _filter parameter: name:exact"},
		{"birthdate eq notadate", "position 1: Invalid date value"},
		{`name eq "open`, "position 9: the string is not closed"},
		{"name.given eq a", "position 1: Cannot chain on name"},
		{"link[type eq seealso].other pr true", "position 5: filters inside a parameter path"},
		{"gender pr maybe", "position 1: pr takes true or false"},
		{`name eq "\u0000"`, "position 1: the value of name contains a NUL character"},
		{"name eq \"é\" or é", "position 17: expected an operator after é, found the end"},
		{strings.Repeat("(", maxFilterDepth+1) + "name eq a" + strings.Repeat(")", maxFilterDepth+1), "nested too deeply"},
		{strings.Repeat("not (", maxFilterDepth+1) + "name eq a" + strings.Repeat(")", maxFilterDepth+1), "nested too deeply"},
		{terms(maxParams+1, "name eq x", " or "), "Too many search parameters"},
	}
	for _, c := range cases {
		t.Run(c.filter[:min(len(c.filter), 40)], func(t *testing.T) {
			_, err := Parse("Patient", url.Values{"_filter": {c.filter}})
			e, ok := err.(*ward.Error)
			if !ok || e.Code != ward.EINVALID || len(e.Expression) != 1 || e.Expression[0] != "_filter" {
				t.Fatalf("_filter=%q: got %v, want an EINVALID error naming _filter", c.filter, err)
			}
			if !strings.Contains(e.Message, c.want) {
				t.Errorf("_filter=%q: %q, want it to say %q", c.filter, e.Message, c.want)
			}
		})
	}
}

// TestFilterParamCounts: each comparison counts as a search parameter,
// for the search's limit and for $graphql's budget (ParamCount).
func TestFilterParamCounts(t *testing.T) {
	q, err := Parse("Patient", url.Values{"_filter": {"name eq a or (name eq b and not (gender eq male))"}, "gender": {"female"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := q.ParamCount(); n != 4 {
		t.Errorf("ParamCount = %d, want 4", n)
	}
	_, err = Parse("Patient", url.Values{"_filter": {terms(maxParams/2, "name eq x", " or "), terms(maxParams/2+1, "name eq y", " or ")}})
	if err == nil || !strings.Contains(err.Error(), "Too many") {
		t.Errorf("two _filter of %d comparisons in all: %v, want too many", maxParams+1, err)
	}
}

// sortedParts ignores the order of parameters: Parse sorts keys, _filter
// keeps its own order.
func sortedParts(q string) string {
	parts := strings.Split(q, "&")
	sort.Strings(parts)
	return strings.Join(parts, "&")
}

func mustQuery(t *testing.T, s string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// FuzzFilterParam: any _filter is either parsed — and then renders to a
// _filter that parses to the same query — or refused with an EINVALID
// error naming _filter and a position; it never panics.
func FuzzFilterParam(f *testing.F) {
	for _, s := range []string{
		"name eq Patient", `name eq "a b" and birthdate ge 1970`, "(x)", `a eq "\"`, "gender ne male and and",
		"based-on eq Task/1 or focus eq Task/1 or subject eq Patient/1", "not (name eq a) or (gender eq male and name co 'x')",
		"general-practitioner:Practitioner.name sw a", "_has:Observation:subject:code eq 1 or gender pr false", `name eq "\u00e9\q"`,
		"((((name eq a))))", "name ne a and birthdate ap 2000 or _id eq 1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse("Patient", url.Values{"_filter": {s}})
		if err != nil {
			e, ok := err.(*ward.Error)
			if !ok || e.Code != ward.EINVALID || len(e.Expression) != 1 || e.Expression[0] != "_filter" {
				t.Fatalf("_filter=%q: %v (%+v)", s, err, e)
			}
			if !strings.Contains(e.Message, "position") && !strings.Contains(e.Message, "Too many") && !strings.Contains(e.Message, "UTF-8") && !strings.Contains(e.Message, "NUL") {
				t.Fatalf("_filter=%q: %q names no position", s, e.Message)
			}
			return
		}
		if q.ParamCount() > maxParams {
			t.Fatalf("_filter=%q: %d parameters accepted", s, q.ParamCount())
		}
		rendered := String(q)
		v, err := url.ParseQuery(rendered)
		if err != nil {
			t.Fatalf("String %q: %v", rendered, err)
		}
		again, err := Parse("Patient", v)
		if err != nil {
			t.Fatalf("_filter=%q renders as %q, which is refused: %v", s, rendered, err)
		}
		if !reflect.DeepEqual(sortedParts(String(again)), sortedParts(rendered)) {
			t.Fatalf("_filter=%q: %q then %q", s, rendered, String(again))
		}
	})
}

// terms is n copies of term joined by sep.
func terms(n int, term, sep string) string {
	return strings.TrimSuffix(strings.Repeat(term+sep, n), sep)
}
