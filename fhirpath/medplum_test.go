package fhirpath

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// golden is testdata/medplum/golden.json, written by eval.mjs.
type golden struct {
	MedplumCore string         `json:"medplumCore"`
	Expressions []string       `json:"expressions"`
	Fixtures    []string       `json:"fixtures"`
	Records     []goldenRecord `json:"records"`
}

type goldenRecord struct {
	X   int           `json:"x"` // index into Expressions
	F   int           `json:"f"` // index into Fixtures
	R   []goldenValue `json:"r"`
	Err string        `json:"err"`
}

type goldenValue struct {
	T string `json:"t"`
	V any    `json:"v"`
}

// knownDifferences are expressions where this package deliberately departs
// from Medplum, with the reason.
var knownDifferences = map[string]string{
	// Medplum boxes a primitive that has extensions (_given) into a String
	// object, which its string functions then reject.
	"Patient.name.given.exists($this.startsWith('M'))": "boxed primitive",
	"Patient.name.given.where(length() > 3)":           "boxed primitive",
	// JavaScript's + concatenates a string and a number ("hello1",
	// "[object Object]1"); here + needs numbers or two strings.
	"Observation.value + 1": "JavaScript +",
}

func loadGolden(t testing.TB) *golden {
	b, err := os.ReadFile(filepath.Join("testdata", "medplum", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var g golden
	if err := d.Decode(&g); err != nil {
		t.Fatal(err)
	}
	return &g
}

// TestAgainstMedplum evaluates every (expression, fixture) pair of
// golden.json and compares values, types and order with Medplum's.
func TestAgainstMedplum(t *testing.T) {
	g := loadGolden(t)
	fixtures := loadFixtures(t)
	if len(fixtures) != len(g.Fixtures) {
		t.Fatalf("golden.json has %d fixtures, testdata/fixtures %d: regenerate golden.json (see doc.go)", len(g.Fixtures), len(fixtures))
	}
	for i, f := range fixtures {
		if f.Name != g.Fixtures[i] {
			t.Fatalf("fixture %d is %s, golden.json has %s: regenerate golden.json", i, f.Name, g.Fixtures[i])
		}
	}
	exprs := make([]*Expr, len(g.Expressions))
	for i, src := range g.Expressions {
		e, err := Parse(src)
		if err != nil {
			t.Errorf("Parse(%q): %v", src, err)
			continue
		}
		exprs[i] = e
	}
	ctx := context.Background()
	compared, nonEmpty, failures := 0, 0, 0
	for _, rec := range g.Records {
		e, fx := exprs[rec.X], fixtures[rec.F]
		if e == nil {
			continue
		}
		src := g.Expressions[rec.X]
		if _, known := knownDifferences[src]; known {
			continue
		}
		compared++
		if len(rec.R) > 0 {
			nonEmpty++
		}
		got, err := e.Eval(ctx, fx.Resource, nil)
		if diff := compareWithGolden(got, err, rec); diff != "" {
			failures++
			if failures <= 40 {
				t.Errorf("%s on %s (%s):\n%s", src, fx.Name, fx.Resource["resourceType"], diff)
			}
		}
	}
	if failures > 40 {
		t.Errorf("… %d differences in all", failures)
	}
	t.Logf("compared %d expression×fixture pairs with Medplum %s (%d with results, %d expressions, %d fixtures)",
		compared, g.MedplumCore, nonEmpty, len(g.Expressions), len(fixtures))
}

// compareWithGolden returns "" when got matches Medplum's record.
func compareWithGolden(got []Value, err error, rec goldenRecord) string {
	if rec.Err != "" {
		if err == nil {
			return "Medplum fails (" + rec.Err + "), got " + showValues(got)
		}
		return ""
	}
	if err != nil {
		return "got error " + err.Error() + ", Medplum " + showGolden(rec.R)
	}
	if len(got) != len(rec.R) {
		return "got " + showValues(got) + "\nMedplum " + showGolden(rec.R)
	}
	for i, v := range got {
		if medplumTypeName(v.Type) != rec.R[i].T || !deepEqualJSON(v.Data, rec.R[i].V) {
			return "item " + itoa(i) + ": got " + showValues(got) + "\nMedplum " + showGolden(rec.R)
		}
	}
	return ""
}

// medplumTypeName names backbone types as Medplum does: "Patient.contact"
// is "PatientContact".
func medplumTypeName(t string) string {
	if !strings.Contains(t, ".") {
		return t
	}
	parts := strings.Split(t, ".")
	for i, p := range parts {
		parts[i] = strings.ToUpper(p[:1]) + p[1:]
	}
	return strings.Join(parts, "")
}

func showValues(vs []Value) string {
	out := make([]goldenValue, len(vs))
	for i, v := range vs {
		out[i] = goldenValue{T: medplumTypeName(v.Type), V: v.Data}
	}
	return showGolden(out)
}

func showGolden(vs []goldenValue) string {
	b, _ := json.Marshal(vs)
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}
