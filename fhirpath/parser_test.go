package fhirpath

import (
	"strings"
	"testing"

	"github.com/wardhealth/ward"
)

func TestParseValid(t *testing.T) {
	tests := []struct{ src, want string }{
		{"Patient.name", "Patient.name"},
		{"(Observation.value.ofType(Quantity)) | (Observation.value.ofType(SampledData))", "Observation.value.ofType(Quantity) | Observation.value.ofType(SampledData)"},
		{"Account.subject.where(resolve() is Patient)", "Account.subject.where(resolve() is Patient)"},
		{"a + b * c", "a + b * c"},
		{"(a + b) * c", "(a + b) * c"},
		{"a - (b - c)", "a - (b - c)"},
		{"a - b - c", "a - b - c"},
		{"a and b or c implies d", "a and b or c implies d"},
		{"a implies (b implies c)", "a implies (b implies c)"},
		{"-x.y", "-x.y"},
		{"-(-5)", "- -5"},
		{"-(a + b)", "-(a + b)"},
		{"(a | b).count()", "(a | b).count()"},
		{"x is FHIR.Patient", "x is FHIR.Patient"},
		{"(x as Quantity).value", "(x as Quantity).value"},
		{"x.as(Quantity)", "x.as(Quantity)"},
		{"Bundle.entry[0].resource", "Bundle.entry[0].resource"},
		{"iif(a = 'x', 1, 2.5)", "iif(a = 'x', 1, 2.5)"},
		{"'it''s'", "'it'"}, // juxtaposed strings are not one string
		{`'a\'b\\c\n'`, `'a\'b\\c\n'`},
		{"5 'mg' + 3 days", "5 'mg' + 3 days"},
		{"@2020-01-01 < @2020-01-02T10:00:00Z and @T10:00 > @T09:00", "@2020-01-01 < @2020-01-02T10:00:00Z and @T10:00 > @T09:00"},
		{"%resource.id = %`vs-x`", "%resource.id = %`vs-x`"},
		{"name.where($this.given.exists())", "name.where($this.given.exists())"},
		{"`div`.`and` contains 'x'", "`div`.and contains 'x'"},
		{"a.contains('x') and b.div", "a.contains('x') and b.div"},
		{"{}.empty()", "{}.empty()"},
		{"true and false", "true and false"},
		{"a div 2 mod 3", "a div 2 mod 3"},
		{"a xor b", "a xor b"},
		{"a ~ b and c !~ d", "a ~ b and c !~ d"},
		{"x in (1 | 2)", "x in 1 | 2"},
		{"a & b", "a & b"},
		{"// comment\nPatient /* x */ .name", "Patient.name"},
	}
	for _, tt := range tests {
		e, err := Parse(tt.src)
		if tt.src == "'it''s'" {
			if err == nil {
				t.Errorf("Parse(%q) = %s, want an error", tt.src, e)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.src, err)
			continue
		}
		if got := e.String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.src, got, tt.want)
		}
		assertRoundTrip(t, e)
	}
}

// assertRoundTrip checks that e.String() parses to an expression printing
// the same.
func assertRoundTrip(t *testing.T, e *Expr) {
	t.Helper()
	again, err := Parse(e.String())
	if err != nil {
		t.Errorf("Parse(%q) (String of %q): %v", e.String(), e.Source(), err)
		return
	}
	if again.String() != e.String() {
		t.Errorf("round trip of %q: %q became %q", e.Source(), e.String(), again.String())
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct{ src, want string }{
		{"", `1:1: expected an expression, found end of expression`},
		{"Patient.", `1:9: expected a name after ., found end of expression`},
		{"Patient.name.where(", `1:20: expected an expression, found end of expression`},
		{"(a | b", `1:7: expected ")", found end of expression`},
		{"a[0", `1:4: expected "]", found end of expression`},
		{"a b", `1:3: expected an operator or the end of the expression, found "b"`},
		{"a and", `1:6: expected an expression, found end of expression`},
		{"a is 'x'", `1:6: expected a type name, found string "x"`},
		{"Patient.name.foo()", `1:14: unknown function foo()`},
		{"name.where()", `1:6: where() takes 1 argument, found 0 arguments`},
		{"iif(a)", `1:1: iif() takes 2 or 3 arguments, found 1 argument`},
		{"x.ofType('Quantity')", `1:10: ofType() expects a type name, found "'Quantity'"`},
		{"$foo", `1:1: unknown special variable $foo`},
		{"a\n  | ^", `2:5: unexpected character '^'`},
		{"'open", `1:1: string not terminated`},
		{strings.Repeat("(", 200) + "a" + strings.Repeat(")", 200), "nested too deeply"},
		{strings.Repeat("-", 300) + "1", "nested too deeply"},
		{strings.Repeat("a.where(", 150) + "b" + strings.Repeat(")", 150), "nested too deeply"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.src)
		if err == nil {
			t.Errorf("Parse(%q): no error, want %q", tt.src, tt.want)
			continue
		}
		if ward.ErrorCode(err) != ward.EINVALID {
			t.Errorf("Parse(%q): code %s, want %s", tt.src, ward.ErrorCode(err), ward.EINVALID)
		}
		if msg := ward.ErrorMessage(err); !strings.Contains(msg, tt.want) {
			t.Errorf("Parse(%q): %q, want it to contain %q", tt.src, msg, tt.want)
		}
	}
}

func TestParseLongInput(t *testing.T) {
	_, err := Parse(strings.Repeat("a | ", 20000) + "a")
	if ward.ErrorCode(err) != ward.EINVALID || !strings.Contains(ward.ErrorMessage(err), "longer than") {
		t.Errorf("long expression: %v", err)
	}
}

// TestParseSearchParameters parses every expression of golden.json (all R4
// and Medplum search parameters) and checks the String round trip.
func TestParseSearchParameters(t *testing.T) {
	for _, src := range loadGolden(t).Expressions {
		e, err := Parse(src)
		if err != nil {
			t.Errorf("Parse(%q): %v", src, err)
			continue
		}
		assertRoundTrip(t, e)
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParse of a bad expression did not panic")
		}
	}()
	MustParse("a.")
}
