package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/wardhealth/ward"
)

// FuzzValidateResource: arbitrary JSON never panics, and every rejection is
// an EINVALID *ward.Error naming at least one path. Seeds are in
// testdata/fuzz/FuzzValidateResource.
func FuzzValidateResource(f *testing.F) {
	f.Add([]byte(`{"resourceType":"Patient","name":[{"given":["a"]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var resource map[string]any
		if dec.Decode(&resource) != nil {
			return
		}
		err := ValidateResource(resource)
		if err == nil {
			return
		}
		var e *ward.Error
		if !errors.As(err, &e) || e.Code != ward.EINVALID || len(e.Expression) == 0 || e.Message == "" {
			t.Fatalf("error %#v is not an EINVALID *ward.Error with a path", err)
		}
	})
}
