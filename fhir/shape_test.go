package fhir

import (
	"encoding/json"
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
		{"100,000 names", map[string]any{"resourceType": "Patient", "name": names(100_000)}, "Patient.name", "Too many items in array (at most 10000)"},
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

// TestCheckShapeJSON: the byte-level check refuses the oversized and
// over-nested resources ValidateResource refuses, naming the same path,
// and lets every other resource through to it.
func TestCheckShapeJSON(t *testing.T) {
	items := func(n int, item string) string {
		return strings.TrimSuffix(strings.Repeat(item+",", n), ",")
	}
	cases := []struct {
		name, body string
		path       string // "" = passes
	}{
		{"100,000 names", `{"resourceType":"Patient","name":[` + items(100_000, `{"family":"F"}`) + `]}`, "Patient.name"},
		{"10,001 numbers", `{"resourceType":"Patient","x":[` + items(10_001, "1") + `]}`, "Patient.x"},
		{"10,001 given in the second name", `{"resourceType":"Patient","name":[{"family":"A"},{"given":[` + items(10_001, `"a\"b"`) + `]}]}`, "Patient.name[1].given"},
		{"10,000 given", `{"resourceType":"Patient","name":[{"given":[` + items(10_000, `"G"`) + `]}]}`, ""},
		{"too many values", `{"resourceType":"Patient","name":[` + items(9_000, `{"given":[`+items(50, "true")+`]}`) + `]}`, "Patient.name["},
		{"nested 200 levels", `{"resourceType":"Patient",` + strings.Repeat(`"extension":[{"url":"u",`, 100) + `"valueBoolean":true` + strings.Repeat(`}]`, 100) + `}`, "Patient.extension[0]"},
		{"strings that look like structure", `{"resourceType":"Patient","name":[{"family":"[[[{{{,,,\\\"]]]"}],"active":false}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckShapeJSON([]byte(c.body), "Patient")
			full := ValidateResource(decode(t, c.body))
			if c.path == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			var e, fe *ward.Error
			if !errors.As(err, &e) || e.Code != ward.EINVALID || len(e.Expression) != 1 || !strings.HasPrefix(e.Expression[0], c.path) {
				t.Fatalf("got %v, want EINVALID at %s", err, c.path)
			}
			if !errors.As(full, &fe) || !strings.HasPrefix(fe.Expression[0], c.path) {
				t.Errorf("ValidateResource: %v, want an error at %s like %v", full, c.path, err)
			}
		})
	}
}

// FuzzCheckShapeJSON: the byte-level check never refuses a resource that
// ValidateResource's shape check accepts, and never panics on valid JSON.
func FuzzCheckShapeJSON(f *testing.F) {
	for _, s := range []string{`{"resourceType":"Patient","name":[{"given":["a","b"]}]}`, `{"a":[[1,2],[3]],"b":{"c":"\"]"}}`, `{"x":[true,false,null,-1.5e3]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !json.Valid([]byte(s)) {
			return
		}
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		if dec.Decode(&m) != nil || m == nil {
			return
		}
		if err := CheckShapeJSON([]byte(s), "Patient"); err != nil && checkShape(m) == nil {
			t.Errorf("%s: refused from bytes (%v) but not by checkShape", s, err)
		}
	})
}

// BenchmarkShapeChecks prices the shape checks against the work every
// write already does on the same resource: json.Valid on the bytes (http)
// and ValidateResource on the decoded tree (store).
func BenchmarkShapeChecks(b *testing.B) {
	concepts := strings.TrimSuffix(strings.Repeat(`{"code":"c123","display":"A display text"},`, 6_000), ",")
	for _, c := range []struct{ name, body string }{
		{"Patient", `{"resourceType":"Patient","id":"p1","active":true,"gender":"female","birthDate":"1970-02-28",
		  "name":[{"use":"official","family":"Smith","given":["Alice","B."]}],"identifier":[{"system":"http://x","value":"1"}],
		  "telecom":[{"system":"phone","value":"+1 555"}],"address":[{"line":["1 Main St"],"city":"X","postalCode":"1"}]}`},
		{"ValueSet-6000-concepts", `{"resourceType":"ValueSet","status":"active","compose":{"include":[{"system":"http://x","concept":[` + concepts + `]}]}}`},
	} {
		data := []byte(c.body)
		tree := decode(b, c.body)
		b.Run(c.name+"/json.Valid", func(b *testing.B) {
			for b.Loop() {
				json.Valid(data)
			}
		})
		b.Run(c.name+"/CheckShapeJSON", func(b *testing.B) {
			for b.Loop() {
				if err := CheckShapeJSON(data, "Patient"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/checkShape", func(b *testing.B) {
			for b.Loop() {
				if err := checkShape(tree); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/ValidateResource", func(b *testing.B) {
			for b.Loop() {
				if err := ValidateResource(tree); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
