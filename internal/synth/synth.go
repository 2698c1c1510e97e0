// Package synth makes synthetic FHIR data for benchmarks and load tests:
// Patients and vital-sign Observations with realistic spreads of codes,
// dates and values. It is deterministic for a given random source.
package synth

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// ObservationCodes are the LOINC codes generated Observations carry; a
// token search for one of them matches about 1/len of all Observations.
var ObservationCodes = []struct{ Code, Display, Unit string }{
	{"8867-4", "Heart rate", "/min"}, {"8310-5", "Body temperature", "Cel"},
	{"8302-2", "Body height", "cm"}, {"29463-7", "Body weight", "kg"},
	{"8480-6", "Systolic blood pressure", "mm[Hg]"}, {"8462-4", "Diastolic blood pressure", "mm[Hg]"},
	{"9279-1", "Respiratory rate", "/min"}, {"2708-6", "Oxygen saturation", "%"},
	{"39156-5", "BMI", "kg/m2"}, {"2339-0", "Glucose", "mg/dL"},
	{"2093-3", "Cholesterol", "mg/dL"}, {"2085-9", "HDL", "mg/dL"},
	{"2089-1", "LDL", "mg/dL"}, {"2571-8", "Triglyceride", "mg/dL"},
	{"4548-4", "Hemoglobin A1c", "%"}, {"718-7", "Hemoglobin", "g/dL"},
	{"6690-2", "Leukocytes", "10*3/uL"}, {"777-3", "Platelets", "10*3/uL"},
	{"2160-0", "Creatinine", "mg/dL"}, {"3094-0", "Urea nitrogen", "mg/dL"},
}

var families = []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Hernández", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin"}
var givens = []string{"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Chloé", "Karen"}

// Patient returns a random Patient.
func Patient(rng *rand.Rand) map[string]any {
	p := map[string]any{
		"resourceType": "Patient",
		"identifier":   []any{map[string]any{"system": "urn:ward:mrn", "value": fmt.Sprintf("MRN%09d", rng.IntN(1e9))}},
		"name":         []any{map[string]any{"family": families[rng.IntN(len(families))], "given": []any{givens[rng.IntN(len(givens))]}}},
		"gender":       []string{"male", "female", "other", "unknown"}[rng.IntN(4)],
		"birthDate":    fmt.Sprintf("%04d-%02d-%02d", 1930+rng.IntN(90), 1+rng.IntN(12), 1+rng.IntN(28)),
		"active":       true,
	}
	return p
}

// Observation returns a random vital-sign Observation about subject.
func Observation(rng *rand.Rand, subject string) map[string]any {
	c := ObservationCodes[rng.IntN(len(ObservationCodes))]
	when := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(10 * 365 * 24 * time.Hour))))
	o := map[string]any{
		"resourceType":      "Observation",
		"status":            "final",
		"category":          []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}}}},
		"code":              map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": c.Code, "display": c.Display}}, "text": c.Display},
		"subject":           map[string]any{"reference": subject},
		"effectiveDateTime": when.Format(time.RFC3339),
		"valueQuantity":     map[string]any{"value": json.Number(fmt.Sprintf("%.1f", 10+rng.Float64()*150)), "unit": c.Unit, "system": "http://unitsofmeasure.org", "code": c.Unit},
	}
	return o
}

// Entry wraps res as a transaction entry that creates it.
func Entry(fullURL string, res map[string]any) json.RawMessage {
	data, _ := json.Marshal(map[string]any{
		"fullUrl":  fullURL,
		"resource": res,
		"request":  map[string]any{"method": "POST", "url": res["resourceType"]},
	})
	return data
}

// Organization returns clinic number i of an MSO (Managed Service
// Organization): one Organization per clinic.
func Organization(i int) map[string]any {
	return map[string]any{
		"resourceType": "Organization",
		"active":       true,
		"name":         fmt.Sprintf("Clinic %03d", i),
		"identifier":   []any{map[string]any{"system": "urn:ward:clinic", "value": fmt.Sprintf("C%03d", i)}},
	}
}

// InProject sets meta.project and meta.accounts of res, so a system write
// (a super admin's) stores it in project with those accounts, as an
// enrollment by $set-accounts would have left it. An empty project or
// no accounts leaves that part of meta alone.
func InProject(res map[string]any, project string, accounts ...string) map[string]any {
	meta, _ := res["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	if project != "" {
		meta["project"] = project
	}
	if len(accounts) > 0 {
		refs := make([]any, len(accounts))
		for i, a := range accounts {
			refs[i] = map[string]any{"reference": a}
		}
		meta["accounts"] = refs
	}
	if len(meta) > 0 {
		res["meta"] = meta
	}
	return res
}

// MSOPolicyName is the name the Medplum MSO demo gives its AccessPolicy.
const MSOPolicyName = "Managed Service Organization Access Policy"

// MSOPolicy is the AccessPolicy of the Medplum MSO demo (spec 5.12):
// compartment %organization; Organization, Practitioner and
// PractitionerRole read-only; the clinical types limited to
// <Type>?_compartment=%organization.
func MSOPolicy() map[string]any {
	res := []any{
		map[string]any{"resourceType": "Organization", "readonly": true},
		map[string]any{"resourceType": "Practitioner", "readonly": true},
		map[string]any{"resourceType": "PractitionerRole", "readonly": true},
	}
	for _, t := range []string{"Patient", "Observation", "DiagnosticReport", "Encounter", "Communication"} {
		res = append(res, map[string]any{"resourceType": t, "criteria": t + "?_compartment=%organization"})
	}
	return map[string]any{
		"resourceType": "AccessPolicy",
		"name":         MSOPolicyName,
		"compartment":  map[string]any{"reference": "%organization"},
		"resource":     res,
	}
}

// ClinicAccess is the membership.access list of a clinician enrolled in
// the given clinics (Organization references): one entry per clinic with
// the policy and its organization parameter, as the MSO demo invites.
func ClinicAccess(policy string, clinics []string) []any {
	out := make([]any, len(clinics))
	for i, c := range clinics {
		out[i] = map[string]any{
			"policy":    map[string]any{"reference": policy},
			"parameter": []any{map[string]any{"name": "organization", "valueReference": map[string]any{"reference": c}}},
		}
	}
	return out
}
