package fhirtest_test

import (
	"strings"
	"testing"

	"github.com/wardhealth/ward/fhir"
	"github.com/wardhealth/ward/fhir/fhirtest"
)

// Search parameters whose expression is a plain path (with where/ofType/as
// filters dropped) find a value in the samples of seeds 0..3: seeds rotate
// through choice types and reference targets.
func TestSamplesCoverSearchParams(t *testing.T) {
	var missing []string
	checked := 0
	for _, rt := range fhir.ResourceTypes() {
		samples := make([]map[string]any, 4)
		for seed := range samples {
			samples[seed] = fhirtest.Sample(rt, int64(seed))
		}
		for _, p := range fhir.SearchParams(rt) {
			paths := simplePaths(p.Expression, rt)
			if len(paths) == 0 {
				continue
			}
			checked++
			if !anyFound(samples, paths) {
				missing = append(missing, rt+"?"+p.Code+" ("+p.Expression+")")
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d search parameters find nothing in samples:\n%s", len(missing), checked, strings.Join(missing, "\n"))
	}
}

func anyFound(samples []map[string]any, paths [][]string) bool {
	for _, s := range samples {
		for _, path := range paths {
			if found(s, path) {
				return true
			}
		}
	}
	return false
}

// simplePaths skips parts about particular extensions (the samples carry
// none) and meta.author (the server sets it); otherwise it turns "Observation.subject.where(resolve() is Patient) |
// (Observation.value as Quantity)" into [[subject] [value]]; nil when some
// part is not a path the test can follow.
func simplePaths(expr, rt string) [][]string {
	var out [][]string
	for _, part := range strings.Split(expr, " | ") {
		part = strings.Trim(part, "() ")
		if i := strings.Index(part, " as "); i > 0 {
			part = part[:i]
		}
		for _, filter := range []string{".where(", ".ofType(", ".as(", ".exists("} {
			if i := strings.Index(part, filter); i > 0 {
				part = part[:i]
			}
		}
		segs := strings.Split(part, ".")
		if len(segs) < 2 || (segs[0] != rt && segs[0] != "Resource" && segs[0] != "DomainResource") {
			return nil
		}
		for _, s := range segs[1:] {
			if s == "" || s == "extension" || s == "author" && segs[1] == "meta" || strings.ContainsAny(s, "()[]' =") {
				return nil
			}
		}
		out = append(out, segs[1:])
	}
	return out
}

// found follows path through objects and arrays; a name also matches the
// typed keys of a choice element (value → valueQuantity).
func found(v any, path []string) bool {
	if len(path) == 0 {
		return v != nil
	}
	switch x := v.(type) {
	case []any:
		for _, item := range x {
			if found(item, path) {
				return true
			}
		}
	case map[string]any:
		for key, child := range x {
			if key == path[0] || (strings.HasPrefix(key, path[0]) && len(key) > len(path[0]) && key[len(path[0])] >= 'A' && key[len(path[0])] <= 'Z') {
				if found(child, path[1:]) {
					return true
				}
			}
		}
	}
	return false
}
