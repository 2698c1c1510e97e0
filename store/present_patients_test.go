package store

import (
	"slices"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
)

// storedObservation is an Observation as the store keeps it: meta first,
// with its compartments.
const storedObservation = `{"resourceType":"Observation","id":"o1","meta":{"versionId":"v1","lastUpdated":"2024-01-02T03:04:05.000Z","author":{"reference":"Practitioner/a"},"project":"p1","compartment":[{"reference":"Project/p1"},{"reference":"Patient/x"},{"reference":"Patient/y"}]},"status":"final","code":{"text":"heart rate"},"subject":{"reference":"Patient/x"},"performer":[{"reference":"Patient/y"}],"valueQuantity":{"value":72,"unit":"/min"}}`

// TestCompartmentPatients: the audit trail learns a resource's patients
// from its stored meta.compartment, other compartments left out.
func TestCompartmentPatients(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		want          []string
	}{
		{"observation", storedObservation, []string{"Patient/x", "Patient/y"}},
		{"no patient", `{"resourceType":"Organization","id":"o","meta":{"compartment":[{"reference":"Project/p1"}]}}`, nil},
		{"no meta", `{"resourceType":"Organization","id":"o"}`, nil},
		{"malformed", `{"resourceType":"Organization","meta":{"compartment":[{]}}`, nil},
	} {
		if got := compartmentPatients([]byte(tc.content)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// BenchmarkCompartmentPatients prices reading the patients for the audit
// trail against the gate's own work on the same non-extended read.
// Run: go test -run '^$' -bench CompartmentPatients ./store/
func BenchmarkCompartmentPatients(b *testing.B) {
	content := []byte(strings.Replace(storedObservation, `"status"`, `"text":{"div":"`+strings.Repeat("x", 1800)+`"},"status"`, 1))
	p := &ward.Principal{ProjectID: "p1"}
	b.Run("gate", func(b *testing.B) {
		for b.Loop() {
			if _, err := visibleContent(p, "Observation", content); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("patients", func(b *testing.B) {
		for b.Loop() {
			if len(compartmentPatients(content)) != 2 {
				b.Fatal("patients not found")
			}
		}
	})
}
