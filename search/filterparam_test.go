package search

import (
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
)

func TestFilterParam(t *testing.T) {
	cases := []struct {
		typ, filter string
		want        string // search.String of the translated query
	}{
		{"StructureDefinition", "name eq Patient", "name:exact=Patient"},
		{"StructureDefinition", `name eq "Patient"`, "name:exact=Patient"},
		{"Patient", "name sw smi and birthdate ge 1970-01-01", "name=smi&birthdate=ge1970-01-01"},
		{"Patient", "name co mit AND gender eq female", "name:contains=mit&gender=female"},
		{"Patient", "gender ne male", "gender:not=male"},
		{"Observation", "value-quantity lt 5.4", "value-quantity=lt5.4"},
		{"Observation", "subject eq Patient/123", "subject=Patient/123"},
		{"Patient", `name eq "a,b"`, `name:exact=a\,b`},
		{"Patient", "_id eq abc", "_id=abc"},
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

func TestFilterParamErrors(t *testing.T) {
	for _, f := range []string{
		"name eq a or name eq b",
		"(name eq a)",
		"name eq",
		"name xx a",
		"name eq a and",
		"name ew th",
		"gender gt x",
		"unknown eq 1",
		"name:exact eq a",
		"birthdate eq notadate",
		`name eq "open`,
		"name.given eq a",
	} {
		t.Run(f, func(t *testing.T) {
			_, err := Parse("Patient", url.Values{"_filter": {f}})
			e, ok := err.(*ward.Error)
			if !ok || e.Code != ward.EINVALID || len(e.Expression) != 1 || e.Expression[0] != "_filter" {
				t.Fatalf("_filter=%q: got %v, want an EINVALID error naming _filter", f, err)
			}
		})
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

// FuzzFilterParam: any _filter is either translated or refused with an
// EINVALID error naming _filter; it never panics.
func FuzzFilterParam(f *testing.F) {
	for _, s := range []string{"name eq Patient", `name eq "a b" and birthdate ge 1970`, "(x)", `a eq "\"`, "gender ne male and and"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := Parse("Patient", url.Values{"_filter": {s}})
		if err == nil {
			return
		}
		e, ok := err.(*ward.Error)
		if !ok || e.Code != ward.EINVALID || len(e.Expression) != 1 || e.Expression[0] != "_filter" {
			t.Fatalf("_filter=%q: %v (%+v)", s, err, e)
		}
	})
}
