package fhirtest_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wardhealth/ward/fhir"
	"github.com/wardhealth/ward/fhir/fhirtest"
)

// Every sample of every resource type passes validation, also after a JSON
// round trip as the server would see it.
func TestSamplesAreValid(t *testing.T) {
	for _, rt := range fhir.ResourceTypes() {
		for seed := int64(0); seed < 3; seed++ {
			data := fhirtest.SampleJSON(rt, seed)
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.UseNumber()
			var decoded map[string]any
			if err := dec.Decode(&decoded); err != nil {
				t.Fatalf("%s seed %d: %v", rt, seed, err)
			}
			if err := fhir.ValidateResource(decoded); err != nil {
				t.Errorf("%s seed %d: %v", rt, seed, err)
			}
		}
	}
}

func TestSampleDeterministic(t *testing.T) {
	for _, rt := range []string{"Patient", "Observation", "Bundle"} {
		a, b := fhirtest.SampleJSON(rt, 7), fhirtest.SampleJSON(rt, 7)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two samples of seed 7 differ", rt)
		}
		if bytes.Equal(a, fhirtest.SampleJSON(rt, 8)) {
			t.Errorf("%s: seeds 7 and 8 give the same sample", rt)
		}
	}
	if fhirtest.Sample("NotAType", 0) != nil {
		t.Error("Sample of an unknown type is not nil")
	}
}

// What tests of search rely on: seed 0 has the first choice type and points
// at Patients, other seeds vary; every sample has an id and searchable meta.
func TestSampleShape(t *testing.T) {
	obs := fhirtest.Sample("Observation", 0)
	if _, ok := obs["valueQuantity"]; !ok {
		t.Errorf("Observation seed 0 has no valueQuantity: %v", keys(obs))
	}
	if ref, _ := obs["subject"].(map[string]any)["reference"].(string); !strings.HasPrefix(ref, "Patient/") {
		t.Errorf("Observation seed 0 subject = %q, want a Patient", ref)
	}
	if _, ok := fhirtest.Sample("Observation", 1)["valueCodeableConcept"]; !ok {
		t.Errorf("Observation seed 1 has no valueCodeableConcept: %v", keys(fhirtest.Sample("Observation", 1)))
	}
	p := fhirtest.Sample("Patient", 0)
	meta, _ := p["meta"].(map[string]any)
	if p["id"] == nil || meta["tag"] == nil || meta["lastUpdated"] == nil {
		t.Errorf("Patient sample lacks id or meta: %v", p)
	}
	name := p["name"].([]any)[0].(map[string]any)
	if name["family"] == nil || name["given"] == nil {
		t.Errorf("Patient name = %v, want family and given", name)
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
