// Package ips builds the International Patient Summary of a patient
// (Patient/{id}/$summary) as Medplum's patientsummary.ts generates it: a
// "document" Bundle whose first entry is a Composition (LOINC 60591-5
// "Patient Summary") with one section per kind of record — allergies,
// immunizations, medications, problems, results, social history, vital
// signs, procedures, encounters, devices, assessments, plan of treatment,
// and, when they have entries, goals, health concerns, functional status,
// notes, reason for referral and insurance — each with a generated XHTML
// table and references to its resources, which follow as entries with the
// patient and the author.
//
// The package owns the choice of section for each resource and the
// narrative. It reads nothing itself: the handler (http.go) gathers the
// resources through the caller's store — the patient's $everything under
// the caller's walls and policy, and reads of what they reference — so a
// summary holds only what its caller may read.
package ips

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/wardhealth/ward"
)

// LOINC codes of the document and its sections (as Medplum's @medplum/ccda).
const (
	loinc                  = "http://loinc.org"
	loincPatientSummary    = "60591-5"
	loincAllergies         = "48765-2"
	loincImmunizations     = "11369-6"
	loincMedications       = "10160-0"
	loincProblems          = "11450-4"
	loincResults           = "30954-2"
	loincSocialHistory     = "29762-2"
	loincVitalSigns        = "8716-3"
	loincProcedures        = "47519-4"
	loincEncounters        = "46240-8"
	loincDevices           = "46264-8"
	loincAssessments       = "51848-0"
	loincPlanOfTreatment   = "18776-5"
	loincGoals             = "61146-7"
	loincHealthConcerns    = "75310-3"
	loincFunctionalStatus  = "47420-5"
	loincNotes             = "11488-4"
	loincReasonForReferral = "42349-1"
	loincInsurance         = "48768-6"
	loincNoteDocument      = "34109-9"
	loincDisabilityStatus  = "89571-4"

	observationCategory = "http://terminology.hl7.org/CodeSystem/observation-category"
	// snomedReferralToHospital is the ServiceRequest code Medplum files
	// under "Reason for Referral".
	snomedReferralToHospital = "310449005"
)

// Types are the resource types a summary gathers from $everything
// (besides the Patient), as Medplum's.
var Types = []string{
	"Account", "AllergyIntolerance", "CarePlan", "ClinicalImpression", "Coverage", "Condition",
	"DeviceUseStatement", "DiagnosticReport", "Encounter", "Goal", "Immunization",
	"MedicationRequest", "Observation", "Procedure", "RelatedPerson", "ServiceRequest",
}

// Input is what a summary is built from, every resource as its caller
// may see it (the store's output gate applied).
type Input struct {
	Patient *ward.Resource
	// Author is the Composition's author; nil when it could not be read
	// (AuthorRef is still named).
	Author    *ward.Resource
	AuthorRef string
	// Resources are the patient's records and what they reference.
	Resources []*ward.Resource
	// AuthoredOn is Composition.date; "" for Now.
	AuthoredOn string
	Now        time.Time
}

// item is one gathered resource, decoded for the section choice.
type item struct {
	res *ward.Resource
	m   obj
}

// builder sorts the resources into sections.
type builder struct {
	in       Input
	items    []item
	byID     map[string]obj
	nested   map[string]bool
	sections map[string][]item // by LOINC section code
}

// Build returns the document Bundle.
func Build(in Input) ([]byte, error) {
	b := &builder{in: in, byID: map[string]obj{}, nested: map[string]bool{}, sections: map[string][]item{}}
	for _, r := range in.Resources {
		m, err := decode(r.Content)
		if err != nil {
			return nil, ward.Errorf(ward.EINTERNAL, "decode %s: %v", r.Reference(), err)
		}
		b.items = append(b.items, item{r, m})
		b.byID[r.ID] = m
	}
	b.findNested()
	for _, it := range b.items {
		if !b.nested[it.res.ID] {
			b.choose(it)
		}
	}
	return b.bundle()
}

func decode(data []byte) (obj, error) {
	var m obj
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return m, dec.Decode(&m)
}

// refID is the id a Reference points at ("Observation/123" → "123").
func refID(ref obj) string {
	s := str(ref["reference"])
	if i := strings.Index(s, "/_history/"); i >= 0 {
		s = s[:i]
	}
	return s[strings.LastIndex(s, "/")+1:]
}

// findNested marks the resources another one lists (an Observation's
// members, a report's results, a care plan's activities, an encounter's
// diagnoses, a condition's evidence, an account's coverage): they appear
// under their parent, not in a section of their own.
func (b *builder) findNested() {
	mark := func(ref obj) {
		if ref != nil && str(ref["reference"]) != "" {
			b.nested[refID(ref)] = true
		}
	}
	each := func(m obj, key string, f func(obj)) {
		for _, v := range list(m, key) {
			if c, ok := v.(map[string]any); ok {
				f(c)
			}
		}
	}
	for _, it := range b.items {
		m := it.m
		switch it.res.Type {
		case "Observation":
			each(m, "hasMember", mark)
		case "DiagnosticReport":
			each(m, "result", mark)
		case "CarePlan":
			each(m, "activity", func(a obj) { mark(child(a, "reference")) })
		case "Encounter":
			each(m, "diagnosis", func(d obj) { mark(child(d, "condition")) })
		case "Condition":
			each(m, "evidence", func(e obj) { each(e, "detail", mark) })
		case "Account":
			each(m, "coverage", func(c obj) { mark(child(c, "coverage")) })
		}
	}
}

// choose files a resource under its section, as Medplum does; types no
// section takes (the patient, referenced practitioners, …) are only entries.
func (b *builder) choose(it item) {
	section := ""
	switch it.res.Type {
	case "Account":
		section = loincInsurance
	case "AllergyIntolerance":
		section = loincAllergies
	case "CarePlan":
		section = loincPlanOfTreatment
	case "DeviceUseStatement":
		section = loincDevices
	case "DiagnosticReport":
		section = loincResults
	case "Encounter":
		section = loincEncounters
	case "Goal":
		section = loincGoals
	case "Immunization":
		section = loincImmunizations
	case "MedicationRequest":
		section = loincMedications
	case "Procedure":
		section = loincProcedures
	case "ClinicalImpression":
		section = loincAssessments
		if str(first(child(it.m, "code"), "coding")["code"]) == loincNoteDocument {
			section = loincNotes
		}
	case "Condition":
		section = loincProblems
		if codeOf(list(it.m, "category"), loinc) == loincHealthConcerns {
			section = loincHealthConcerns
		}
	case "Observation":
		section = observationSection(it.m)
	case "ServiceRequest":
		section = loincPlanOfTreatment
		if str(first(child(it.m, "code"), "coding")["code"]) == snomedReferralToHospital {
			section = loincReasonForReferral
		}
	}
	if section != "" {
		b.sections[section] = append(b.sections[section], it)
	}
}

func observationSection(m obj) string {
	code := str(first(child(m, "code"), "coding")["code"])
	switch codeOf(list(m, "category"), observationCategory) {
	case "social-history":
		return loincSocialHistory
	case "survey":
		if code == "d5" || code == loincDisabilityStatus {
			return loincFunctionalStatus
		}
		return loincSocialHistory
	case "vital-signs":
		return loincVitalSigns
	}
	return loincResults
}

// codeOf is the first code of system among concepts' codings.
func codeOf(concepts []any, system string) string {
	for _, c := range concepts {
		cc, _ := c.(map[string]any)
		for _, cd := range list(cc, "coding") {
			coding, _ := cd.(map[string]any)
			if str(coding["system"]) == system {
				return str(coding["code"])
			}
		}
	}
	return ""
}
