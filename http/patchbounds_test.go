package wardhttp_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPatchShapeBounds: a JSON Patch whose values exceed a resource's shape
// limits (a Patient's name set to 100,000 entries) is a quick 400 naming
// the array, refused from the patch's bytes before it is decoded and
// applied (applying it took 1.3–2 s), and nothing is written.
func TestPatchShapeBounds(t *testing.T) {
	f := newFixture(t)
	id, vid := f.create(t, patientJSON)
	names := make([]any, 100_000)
	for i := range names {
		names[i] = map[string]any{"family": fmt.Sprint("N", i)}
	}
	patch, _ := json.Marshal([]any{map[string]any{"op": "add", "path": "/name", "value": names}})
	start := time.Now()
	w := f.do(t, "PATCH", "/fhir/R4/Patient/"+id, string(patch), "Content-Type", "application/json-patch+json")
	took := time.Since(start)
	expectStatus(t, w, 400)
	if !strings.Contains(w.Body.String(), "Too many items in array (at most 10000)") {
		t.Errorf("the 400 does not say why: %s", w.Body)
	}
	if took > 300*time.Millisecond {
		t.Errorf("refused after %s", took)
	}
	r := f.do(t, "GET", "/fhir/R4/Patient/"+id, "")
	if got := tree(t, r)["meta"].(map[string]any)["versionId"]; got != vid {
		t.Errorf("the refused patch wrote a version: %v, want %s", got, vid)
	}
}
