package fhirpath

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/wardhealth/ward/fhir"
	"github.com/wardhealth/ward/fhir/fhirtest"
)

var writeFixtures = flag.Bool("write-fixtures", false, "write testdata/fixtures/samples-seed*.json from fhir/fhirtest")

// fixtureSeeds are the fhirtest seeds dumped: seed 0 takes the first type
// of every choice element, seed 1 others.
var fixtureSeeds = []int64{0, 1}

// TestWriteFixtures dumps a sample of every resource type per seed. Run it
// with -write-fixtures, then regenerate golden.json (see doc.go).
func TestWriteFixtures(t *testing.T) {
	if !*writeFixtures {
		t.Skip("run with -write-fixtures to regenerate the sample fixtures")
	}
	for _, seed := range fixtureSeeds {
		var samples []map[string]any
		for _, rt := range fhir.ResourceTypes() {
			samples = append(samples, fhirtest.Sample(rt, seed))
		}
		b, err := json.MarshalIndent(samples, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join("testdata", "fixtures", "samples-seed"+strconv.FormatInt(seed, 10)+".json")
		if err := os.WriteFile(name, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fixture is one resource of a fixture file.
type fixture struct {
	Name     string // file#index
	Resource map[string]any
}

// loadFixtures reads every testdata/fixtures/*.json (arrays of resources)
// in file name order, as eval.mjs does.
func loadFixtures(t testing.TB) []fixture {
	files, err := filepath.Glob(filepath.Join("testdata", "fixtures", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []fixture
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var resources []map[string]any
		if err := d.Decode(&resources); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i, r := range resources {
			out = append(out, fixture{Name: filepath.Base(f) + "#" + itoa(i), Resource: r})
		}
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }
