package fhirtest_test

import (
	"bytes"
	"encoding/json"
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
