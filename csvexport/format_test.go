package csvexport

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCell: what a spreadsheet shows in each cell — Medplum's formatting,
// and no cell a spreadsheet would run as a formula.
func TestCell(t *testing.T) {
	for _, c := range []struct {
		name, value, want string
	}{
		{"text is trimmed and quoted", `"  Smith "`, `"Smith"`},
		{"quotes are doubled", `"say \"hi\""`, `"say ""hi"""`},
		{"a formula is defused", `"=1+2"`, `"'=1+2"`},
		{"plus", `"+1"`, `"'+1"`},
		{"minus", `"-1"`, `"'-1"`},
		{"at", `"@SUM(A1)"`, `"'@SUM(A1)"`},
		{"a formula after spaces", `"  =cmd"`, `"'=cmd"`},
		{"a number is bare", `12.50`, `12.50`},
		{"zero is written", `0`, `0`},
		{"a boolean is bare", `false`, `false`},
		{"empty text is an empty cell", `""`, ``},
		{"a HumanName", `{"prefix":["Dr"],"given":["Ann","B"],"family":"Lee","suffix":["Jr"]}`, `"Dr Ann B Lee Jr"`},
		{"a HumanName by its text", `{"text":"Ann Lee","family":null}`, `"Ann Lee"`},
		{"an Address", `{"line":["1 Main St","Apt 2"],"city":"Springfield","postalCode":"62701"}`, `"1 Main St, Apt 2, Springfield, 62701"`},
		{"a ContactPoint", `{"system":"phone","value":"-555"}`, `"'-555"`},
		{"a Reference by display", `{"reference":"Patient/1","display":" Ann "}`, `"Ann"`},
		{"a Reference without display", `{"reference":"Patient/1"}`, `"Patient/1"`},
		{"a CodeableConcept by display", `{"coding":[{"code":"x","display":"Flu"}],"text":"t"}`, `"Flu"`},
		{"a CodeableConcept by code", `{"coding":[{"code":"x"}],"text":"t"}`, `"x"`},
		{"a CodeableConcept by text", `{"coding":[{"system":"s"}],"text":"t"}`, `"t"`},
		{"another object", `{"start":"2020"}`, ``},
		{"an array", `[1]`, ``},
	} {
		t.Run(c.name, func(t *testing.T) {
			var v any
			dec := json.NewDecoder(strings.NewReader(c.value))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			if got := Cell(v); got != c.want {
				t.Errorf("Cell(%s) = %s, want %s", c.value, got, c.want)
			}
		})
	}
}
