package wardhttp

import (
	"strings"
	"testing"
)

func BenchmarkStripMeta(b *testing.B) {
	content := []byte(`{"resourceType":"Observation","id":"0b9a0f7e-7c1e-4c1e-9d8e-6d2b7c1a2b3c","meta":{"versionId":"1f9e5c62-0b7e-4c55-9a4e-5b0f5d1d2a01","lastUpdated":"2024-01-01T00:00:00.000Z","author":{"reference":"Practitioner/1"},"project":"p","compartment":[{"reference":"Patient/1"}]},` +
		`"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"note":[{"text":"` + strings.Repeat("x", 1500) + `"}]}`)
	b.SetBytes(int64(len(content)))
	for b.Loop() {
		stripMeta(content)
	}
}
