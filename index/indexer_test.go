package index

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/wardhealth/ward/fhir"
	"github.com/wardhealth/ward/fhir/fhirtest"
)

const observationJSON = `{
  "resourceType": "Observation",
  "id": "00000000-0000-4000-8000-000000000001",
  "meta": {
    "versionId": "00000000-0000-4000-8000-000000000002",
    "lastUpdated": "2024-05-01T10:00:00.000Z",
    "project": "11111111-1111-4111-8111-111111111111",
    "tag": [{"system": "http://example.org/tags", "code": "vip"}],
    "profile": ["http://hl7.org/fhir/StructureDefinition/vitalsigns"]
  },
  "status": "final",
  "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs", "display": "Vital Signs"}]}],
  "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body Weight"}], "text": "Weight"},
  "subject": {"reference": "Patient/22222222-2222-4222-8222-222222222222", "display": "Jane"},
  "encounter": {"reference": "Encounter/66666666-6666-4666-8666-666666666666"},
  "performer": [{"reference": "Practitioner/77777777-7777-4777-8777-777777777777"}, {"identifier": {"system": "urn:npi", "value": "1234"}}],
  "effectiveDateTime": "2024-04-30T08:15:00+02:00",
  "issued": "2024-04-30T09:00:00.000Z",
  "valueQuantity": {"value": 72.50, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
  "identifier": [{"system": "urn:lab", "value": "A-1", "type": {"text": "Lab ID"}}],
  "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]}, "valueQuantity": {"value": 180, "unit": "cm"}}]
}`

func decodeResource(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestExtractObservation(t *testing.T) {
	x := &Indexer{strict: true}
	rows, err := x.Extract(context.Background(), "Observation", decodeResource(t, observationJSON))
	if err != nil {
		t.Fatal(err)
	}
	has := func(what string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("missing %s", what)
		}
	}
	has("code token", slices.Contains(rows.Tokens, Token{"code", "http://loinc.org", "29463-7", "body weight"}))
	has("code text row", slices.Contains(rows.Tokens, Token{"code", "", "", "weight"}))
	has("category", slices.Contains(rows.Tokens, Token{"category", "http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs", "vital signs"}))
	has("status", slices.Contains(rows.Tokens, Token{"status", "", "final", ""}))
	has("identifier", slices.Contains(rows.Tokens, Token{"identifier", "urn:lab", "A-1", "lab id"}))
	has("_tag", slices.Contains(rows.Tokens, Token{"_tag", "http://example.org/tags", "vip", ""}))
	has("performer:identifier", slices.Contains(rows.Tokens, Token{"performer:identifier", "urn:npi", "1234", ""}))
	has("subject", slices.Contains(rows.References, Reference{"subject", "Patient", "22222222-2222-4222-8222-222222222222"}))
	has("patient", slices.Contains(rows.References, Reference{"patient", "Patient", "22222222-2222-4222-8222-222222222222"}))
	has("performer", slices.Contains(rows.References, Reference{"performer", "Practitioner", "77777777-7777-4777-8777-777777777777"}))
	has("encounter", slices.Contains(rows.References, Reference{"encounter", "Encounter", "66666666-6666-4666-8666-666666666666"}))
	low, high, _ := DateRange("2024-04-30T08:15:00+02:00")
	has("date", slices.Contains(rows.Dates, Date{"date", low, high}))
	has("value-quantity", slices.Contains(rows.Quantities, Quantity{"value-quantity", "http://unitsofmeasure.org", "kg", "kg", 72.5, 72.495, 72.505}))
	has("component-value-quantity", slices.Contains(rows.Quantities, Quantity{"component-value-quantity", "", "", "cm", 180, 179.5, 180.5}))
	has("_profile", slices.Contains(rows.URIs, URI{"_profile", "http://hl7.org/fhir/StructureDefinition/vitalsigns"}))
	for _, p := range rows.Params() {
		switch p {
		case "_id", "_lastUpdated", "_compartment", "_project":
			t.Errorf("%s must not be indexed", p)
		}
	}

	refs, _ := Compartments("11111111-1111-4111-8111-111111111111", "Observation", "00000000-0000-4000-8000-000000000001",
		decodeResource(t, observationJSON), rows)
	want := []string{"Project/11111111-1111-4111-8111-111111111111", "Patient/22222222-2222-4222-8222-222222222222"}
	if !slices.Equal(refs, want) {
		t.Errorf("compartments = %q, want %q", refs, want)
	}
}

func TestExtractIsDeterministic(t *testing.T) {
	x := New()
	a, _ := x.Extract(context.Background(), "Observation", decodeResource(t, observationJSON))
	b, _ := x.Extract(context.Background(), "Observation", decodeResource(t, observationJSON))
	if !equalRows(a, b) {
		t.Error("two extractions of the same resource differ")
	}
}

func equalRows(a, b *Rows) bool {
	return slices.Equal(a.Tokens, b.Tokens) && slices.Equal(a.Strings, b.Strings) && slices.Equal(a.Dates, b.Dates) &&
		slices.Equal(a.Numbers, b.Numbers) && slices.Equal(a.Quantities, b.Quantities) &&
		slices.Equal(a.References, b.References) && slices.Equal(a.URIs, b.URIs)
}

func TestExtractUnknownType(t *testing.T) {
	if _, err := New().Extract(context.Background(), "Nope", map[string]any{}); err == nil {
		t.Error("unknown type: want an error")
	}
}

func TestExtractCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := New().Extract(ctx, "Observation", map[string]any{}); err == nil {
		t.Error("cancelled context: want an error")
	}
}

// TestExtractSamples indexes samples of every resource type and reports
// how many of the indexable parameters found values in at least one of
// them (the rest are choices or filters the samples do not happen to fill).
func TestExtractSamples(t *testing.T) {
	x := &Indexer{strict: true}
	ctx := context.Background()
	var total, covered int
	var empty []string
	for _, typ := range fhir.ResourceTypes() {
		seen := map[string]bool{}
		for seed := int64(1); seed <= 3; seed++ {
			res := withMeta(fhirtest.Sample(typ, seed))
			rows, err := x.Extract(ctx, typ, res)
			if err != nil {
				t.Errorf("%s (seed %d): %v", typ, seed, err)
				continue
			}
			if rows.Len() == 0 {
				t.Errorf("%s (seed %d): no rows", typ, seed)
			}
			for _, p := range rows.Params() {
				seen[p] = true
			}
			id, _ := res["id"].(string)
			refs, uuids := Compartments("11111111-1111-4111-8111-111111111111", typ, id, res, rows)
			if len(refs) == 0 || len(refs) < len(uuids) {
				t.Errorf("%s: compartments %q, %q", typ, refs, uuids)
			}
		}
		for _, p := range fhir.SearchParams(typ) {
			if !indexable(p) {
				continue
			}
			total++
			if seen[p.Code] {
				covered++
			} else {
				empty = append(empty, typ+"."+p.Code)
			}
		}
	}
	ratio := float64(covered) / math.Max(1, float64(total))
	t.Logf("samples: %d of %d indexable parameters have rows (%.1f%%)", covered, total, 100*ratio)
	if testing.Verbose() {
		t.Logf("without rows: %s", strings.Join(empty, " "))
	}
	if ratio < 0.9 {
		t.Errorf("only %.0f%% of parameters produced rows", 100*ratio)
	}
}

func TestExtractConcurrently(t *testing.T) {
	x := New()
	done := make(chan error)
	for _, typ := range []string{"Observation", "Patient", "Encounter", "Observation"} {
		go func() {
			_, err := x.Extract(context.Background(), typ, fhirtest.Sample(typ, 2))
			done <- err
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// withMeta adds the meta elements the Resource parameters index, as a
// client (tags, profiles) and the store (source) would.
func withMeta(res map[string]any) map[string]any {
	meta, _ := res["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		res["meta"] = meta
	}
	meta["tag"] = []any{map[string]any{"system": "http://example.org/tags", "code": "t"}}
	meta["security"] = []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}}
	meta["profile"] = []any{"http://example.org/StructureDefinition/p"}
	meta["source"] = "http://example.org/source"
	return res
}

func BenchmarkExtractObservation(b *testing.B) {
	benchmarkExtract(b, "Observation", decodeResource(b, observationJSON))
}

func BenchmarkExtractPatient(b *testing.B) {
	benchmarkExtract(b, "Patient", fhirtest.Sample("Patient", 1))
}

func benchmarkExtract(b *testing.B, typ string, res map[string]any) {
	x := New()
	ctx := context.Background()
	if _, err := x.Extract(ctx, typ, res); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := x.Extract(ctx, typ, res); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzExtract feeds arbitrary JSON objects to Extract: odd shapes give
// fewer rows, never a panic.
func FuzzExtract(f *testing.F) {
	f.Add("Observation", observationJSON)
	f.Add("Patient", `{"resourceType":"Patient","name":[{"given":"x","family":["a"]}],"birthDate":7,"telecom":{"value":1}}`)
	f.Add("Observation", `{"valueQuantity":{"value":"1"},"effectivePeriod":{"start":1},"subject":[{"reference":5}]}`)
	x := New()
	f.Fuzz(func(t *testing.T, typ, doc string) {
		dec := json.NewDecoder(strings.NewReader(doc))
		dec.UseNumber()
		var res map[string]any
		if dec.Decode(&res) != nil {
			return
		}
		if !fhir.IsResourceType(typ) {
			typ = "Observation"
		}
		rows, err := x.Extract(context.Background(), typ, res)
		if err == nil {
			Compartments("11111111-1111-4111-8111-111111111111", typ, "x", res, rows)
		}
	})
}
