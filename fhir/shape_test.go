package fhir

import (
	"errors"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
)

// TestValidateResourceShape: a resource too large to index in reasonable
// time, or holding text PostgreSQL refuses (NUL, invalid UTF-8), is one
// clear EINVALID naming where, before any other check.
func TestValidateResourceShape(t *testing.T) {
	names := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = map[string]any{"family": "F"}
		}
		return out
	}
	deep := map[string]any{"linkId": "x", "type": "group"}
	deepRoot := map[string]any{"resourceType": "Questionnaire", "status": "active", "item": []any{deep}}
	for i := 0; i < 100; i++ {
		child := map[string]any{"linkId": "x", "type": "group"}
		deep["item"] = []any{child}
		deep = child
	}
	many := make([]any, 50)
	for i := range many {
		many[i] = map[string]any{"given": make([]any, 5000)}
		for j := range many[i].(map[string]any)["given"].([]any) {
			many[i].(map[string]any)["given"].([]any)[j] = "G"
		}
	}
	cases := []struct {
		name     string
		resource map[string]any
		path     string
		message  string
	}{
		{"100,000 names", map[string]any{"resourceType": "Patient", "name": names(100_000)}, "Patient.name", "Too many items in array (100000, at most 10000)"},
		{"10,001 names", map[string]any{"resourceType": "Patient", "name": names(MaxArrayItems + 1)}, "Patient.name", "Too many items"},
		{"250,000 values in small arrays", map[string]any{"resourceType": "Patient", "name": many}, "Patient.name[", "too many values"},
		{"nested 200 levels", deepRoot, "Questionnaire.item[0].item[0]", "Too deeply nested"},
		{"NUL in a string", decode(t, `{"resourceType":"Patient","name":[{"family":"a\u0000b"}]}`), "Patient.name[0].family", "NUL"},
		{"NUL in an extension", decode(t, `{"resourceType":"Patient","extension":[{"url":"http://x","valueString":"\u0000"}]}`), "Patient.extension[0].valueString", "NUL"},
		{"NUL in a property name", decode(t, `{"resourceType":"Patient","name":[{"fam\u0000ily":"x"}]}`), `Patient.name[0].fam\x00ily`, "Property name contains a NUL"},
		{"NUL in a contained resource", decode(t, `{"resourceType":"Patient","contained":[{"resourceType":"Organization","name":"\u0000"}]}`), "Patient.contained[0].name", "NUL"},
		{"invalid UTF-8", map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": "\xff"}}}, "Patient.name[0].family", "not valid UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var e *ward.Error
			if err := ValidateResource(c.resource); !errors.As(err, &e) || e.Code != ward.EINVALID {
				t.Fatalf("got %v, want EINVALID", err)
			}
			if len(e.Expression) != 1 || !strings.HasPrefix(e.Expression[0], c.path) || !strings.Contains(strings.ToLower(e.Message), strings.ToLower(c.message)) {
				t.Errorf("got %q %q, want a path starting %q and %q", e.Expression, e.Message, c.path, c.message)
			}
		})
	}
	if err := ValidateResource(map[string]any{"resourceType": "Patient", "name": names(MaxArrayItems)}); err != nil {
		t.Errorf("%d names refused: %v", MaxArrayItems, err)
	}
}
