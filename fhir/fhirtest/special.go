package fhirtest

import (
	"encoding/json"
	"fmt"

	"github.com/wardhealth/ward/fhir"
)

// special builds the datatypes whose generic filling would look wrong
// (a Coding without a real code, a Period ending before it starts); nil
// for every other type.
func (g *sampler) special(typeName, name string, pos at) map[string]any {
	switch typeName {
	case "Coding":
		return g.coding()
	case "CodeableConcept":
		c := g.coding()
		return map[string]any{"coding": []any{c}, "text": c["display"]}
	case "Identifier":
		return map[string]any{
			"use":    "official",
			"system": "https://example.com/identifiers/" + name,
			"value":  fmt.Sprintf("%s-%06d", name, g.rng.IntN(1000000)),
		}
	case "HumanName":
		family, given := g.text("family"), g.text("given")
		return map[string]any{
			"use": "official", "family": family, "given": []any{given},
			"text": given + " " + family, "prefix": []any{"Dr."},
		}
	case "ContactPoint":
		if g.rng.IntN(2) == 0 {
			return map[string]any{"system": "email", "value": g.text("email"), "use": "work"}
		}
		return map[string]any{"system": "phone", "value": fmt.Sprintf("+1-555-%04d", g.rng.IntN(10000)), "use": "home"}
	case "Address":
		return map[string]any{
			"use": "home", "line": []any{g.text("line")}, "city": g.text("city"),
			"state": "CA", "postalCode": g.text("postalCode"), "country": "US",
		}
	case "Period":
		start := g.instant()
		return map[string]any{"start": start.Format("2006-01-02T15:04:05Z07:00"), "end": start.AddDate(0, 0, 1+g.rng.IntN(30)).Format("2006-01-02T15:04:05Z07:00")}
	case "Quantity", "Age", "Duration", "Distance", "Count", "SimpleQuantity", "MoneyQuantity":
		return g.quantity(typeName)
	case "Range":
		low := g.quantity("Quantity")
		high := map[string]any{"value": json.Number("999"), "unit": low["unit"], "system": low["system"], "code": low["code"]}
		return map[string]any{"low": low, "high": high}
	case "Money":
		return map[string]any{"value": json.Number(fmt.Sprintf("%d.%02d", g.rng.IntN(1000), g.rng.IntN(100))), "currency": "USD"}
	case "Attachment":
		return map[string]any{"contentType": "application/pdf", "language": "en-US", "url": g.uri("attachment"), "title": g.text("title")}
	case "Narrative":
		return map[string]any{"status": "generated", "div": `<div xmlns="http://www.w3.org/1999/xhtml"><p>` + g.text("text") + `</p></div>`}
	case "Extension":
		return g.extension()
	}
	return nil
}

func (g *sampler) coding() map[string]any {
	c := codings[g.rng.IntN(len(codings))]
	return map[string]any{"system": c[0], "code": c[1], "display": c[2]}
}

func (g *sampler) quantity(typeName string) map[string]any {
	q := quantities[g.rng.IntN(len(quantities))]
	code := q.code
	switch typeName {
	case "Age":
		code = "a"
	case "Duration":
		code = "min"
	case "Distance":
		code = "km"
	case "Count":
		code = "1"
	}
	return map[string]any{
		"value":  json.Number(fmt.Sprint(q.value)),
		"unit":   code,
		"system": "http://unitsofmeasure.org",
		"code":   code,
	}
}

func (g *sampler) extension() map[string]any {
	return map[string]any{"url": "https://example.com/fhir/StructureDefinition/" + g.pick(words), "valueString": g.text("value")}
}

// reference points at one of targets, Patient first for seed 0, so that
// compartment and chained searches find something.
func (g *sampler) reference(targets []string) map[string]any {
	target := "Patient"
	known := targets[:0:0]
	for _, t := range targets {
		if t != "Resource" && fhir.IsResourceType(t) {
			known = append(known, t)
		}
	}
	if len(known) > 0 && !(g.seed == 0 && contains(known, "Patient")) {
		n := int64(len(known))
		target = known[((g.seed%n)+n)%n]
	}
	return map[string]any{"reference": target + "/" + g.uuid(), "display": g.text("display")}
}

// meta carries what the _lastUpdated, _tag, _security, _profile and _source
// parameters search on; a server replaces versionId and lastUpdated.
func (g *sampler) meta() map[string]any {
	return map[string]any{
		"versionId":   g.uuid(),
		"lastUpdated": g.instant().Format("2006-01-02T15:04:05.000Z07:00"),
		"source":      "https://example.com/source/" + g.pick(words),
		"profile":     []any{"https://example.com/fhir/StructureDefinition/" + g.pick(words)},
		"tag":         []any{map[string]any{"system": "https://example.com/tags", "code": g.pick(words)}},
		"security":    []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N", "display": "normal"}},
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
