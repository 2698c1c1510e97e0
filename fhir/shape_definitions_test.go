package fhir_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/wardhealth/ward/fhir"
	"github.com/wardhealth/ward/fhir/definitions"
)

// TestDefinitionsFitTheShapeLimits: every R4 definition Ward loads through
// the store passes validation, shape limits included (system writes are
// not exempt from them).
func TestDefinitionsFitTheShapeLimits(t *testing.T) {
	d, err := definitions.R4()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range d.Resources {
		dec := json.NewDecoder(bytes.NewReader(r.Content))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("%s/%s: %v", r.Type, r.ID, err)
		}
		if err := fhir.ValidateResource(m); err != nil {
			t.Errorf("%s/%s: %v", r.Type, r.ID, err)
		}
	}
}
