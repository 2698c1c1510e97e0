package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/wardhealth/ward/fhir/internal/npmdefs"
)

// The committed zz_*.go files are what the generator makes from the
// definitions, when the pinned definitions are at hand (WARD_FHIR_DEFS, or
// the npm cache of a previous `go generate`); skipped otherwise. Copies
// unpacked elsewhere may be another version, so they are not looked for.
func TestGeneratedFilesUpToDate(t *testing.T) {
	defs := findDefinitions()
	if defs == "" {
		t.Skip("definitions not unpacked here; run go generate ./fhir")
	}
	out := t.TempDir()
	if err := run(defs, out); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"zz_types.go", "zz_searchparams.go", "zz_compartment.go"} {
		want, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("..", "..", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("fhir/%s is stale: run go generate ./fhir", name)
		}
	}
}

func findDefinitions() string {
	if dir := os.Getenv("WARD_FHIR_DEFS"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "search-parameters.json")); err == nil {
			return dir
		}
	}
	return npmdefs.Cached()
}
