package fhirtest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

var (
	givenNames  = []string{"Alice", "Bob", "Carol", "David", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy"}
	familyNames = []string{"Smith", "Jones", "García", "Müller", "Nguyen", "O'Brien", "Kowalski", "Tanaka"}
	cities      = []string{"Springfield", "Riverside", "Franklin", "Greenville", "Madison"}
	words       = []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"}
)

// codings are plausible terminology codes: system, code, display.
var codings = [][3]string{
	{"http://loinc.org", "8867-4", "Heart rate"},
	{"http://loinc.org", "8480-6", "Systolic blood pressure"},
	{"http://loinc.org", "29463-7", "Body weight"},
	{"http://snomed.info/sct", "38341003", "Hypertensive disorder"},
	{"http://snomed.info/sct", "73211009", "Diabetes mellitus"},
	{"http://www.nlm.nih.gov/research/umls/rxnorm", "1049502", "Acetaminophen 325 MG Oral Tablet"},
	{"http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB", "ambulatory"},
}

// quantities are plausible UCUM amounts: unit code and a typical value.
var quantities = []struct {
	code  string
	value float64
}{{"kg", 72.5}, {"/min", 68}, {"mm[Hg]", 120}, {"cm", 172}, {"mg", 500}, {"%", 98}}

// codes gives a plausible value for code elements by name; others get a word.
var codes = map[string][]string{
	"gender": {"female", "male", "other", "unknown"}, "language": {"en-US", "fr", "de"},
	"use": {"official", "usual", "home", "work"}, "system": {"phone", "email", "url"},
	"priority": {"routine", "urgent", "stat", "asap"}, "intent": {"order", "plan", "proposal"},
	"currency": {"USD", "EUR"}, "contentType": {"application/pdf", "text/plain", "image/png"},
	"mimeType": {"application/pdf"},
}

// statuses are per resource type where the generic "active" is unusual.
var statuses = map[string]string{
	"Observation": "final", "DiagnosticReport": "final", "Encounter": "finished",
	"Condition": "active", "Procedure": "completed", "Appointment": "booked",
	"MedicationRequest": "active", "ServiceRequest": "active", "Task": "requested",
	"Communication": "completed", "Immunization": "completed", "QuestionnaireResponse": "completed",
	"Narrative": "generated",
}

func (g *sampler) pick(list []string) string { return list[g.rng.IntN(len(list))] }

func (g *sampler) primitive(parent, name, typ string) any {
	switch typ {
	case "boolean":
		return g.rng.IntN(2) == 0
	case "integer", "integer64":
		return json.Number(fmt.Sprint(g.rng.IntN(100)))
	case "unsignedInt":
		return json.Number(fmt.Sprint(g.rng.IntN(100)))
	case "positiveInt":
		return json.Number(fmt.Sprint(1 + g.rng.IntN(100)))
	case "decimal":
		return json.Number(fmt.Sprintf("%d.%d", g.rng.IntN(200), 1+g.rng.IntN(9)))
	case "date":
		return g.instant().Format("2006-01-02")
	case "dateTime":
		return g.instant().Format(time.RFC3339)
	case "instant":
		return g.instant().Format("2006-01-02T15:04:05.000Z07:00")
	case "time":
		return fmt.Sprintf("%02d:%02d:00", 8+g.rng.IntN(10), 15*g.rng.IntN(4))
	case "id":
		return g.uuid()
	case "uuid":
		return "urn:uuid:" + g.uuid()
	case "oid":
		return fmt.Sprintf("urn:oid:1.2.840.%d", 10000+g.rng.IntN(90000))
	case "uri", "url", "canonical":
		return g.uri(name)
	case "base64Binary":
		return "SGVsbG8sIFdhcmQh"
	case "markdown":
		return "Some **" + g.pick(words) + "** notes"
	case "xhtml":
		return `<div xmlns="http://www.w3.org/1999/xhtml"><p>` + g.pick(words) + `</p></div>`
	case "code":
		return g.code(parent, name)
	}
	return g.text(name)
}

func (g *sampler) code(parent, name string) string {
	if name == "status" {
		if s, ok := statuses[strings.SplitN(parent, ".", 2)[0]]; ok {
			return s
		}
		return "active"
	}
	if parent == "Bundle" && name == "type" {
		return "collection" // other types ask the server to process the entries
	}
	if list, ok := codes[name]; ok {
		return g.pick(list)
	}
	return g.pick(words)
}

// text is a plausible string for an element of that name.
func (g *sampler) text(name string) string {
	switch name {
	case "family":
		return g.pick(familyNames)
	case "given", "firstName":
		return g.pick(givenNames)
	case "lastName":
		return g.pick(familyNames)
	case "city":
		return g.pick(cities)
	case "state":
		return "CA"
	case "postalCode":
		return fmt.Sprintf("%05d", g.rng.IntN(100000))
	case "country":
		return "US"
	case "line":
		return fmt.Sprintf("%d Main Street", 1+g.rng.IntN(999))
	case "email":
		return fmt.Sprintf("%s.%d@example.com", strings.ToLower(g.pick(givenNames)), g.rng.IntN(10000))
	case "name", "title", "display", "text":
		return g.pick(words) + " " + g.pick(words)
	}
	return fmt.Sprintf("%s %d", g.pick(words), g.rng.IntN(1000))
}

func (g *sampler) uri(name string) string {
	return fmt.Sprintf("https://example.com/%s/%s-%d", strings.ToLower(name), g.pick(words), g.rng.IntN(1000))
}

func (g *sampler) instant() time.Time {
	base := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	return base.Add(time.Duration(g.rng.Int64N(int64(10 * 365 * 24 * time.Hour)))).Truncate(time.Second)
}

func (g *sampler) uuid() string {
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte(g.rng.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
