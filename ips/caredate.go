package ips

import (
	"strings"
	"time"

	"github.com/wardhealth/ward"
)

// careDatePaths are where each type holds the date of the care it records
// (Medplum's careDateExpressions): start and end select records by it.
var careDatePaths = map[string]string{
	"AllergyIntolerance": "recordedDate",
	"CarePlan":           "created",
	"ClinicalImpression": "date",
	"Condition":          "recordedDate",
	"DeviceUseStatement": "recordedOn",
	"DiagnosticReport":   "issued",
	"Encounter":          "period.start",
	"Goal":               "startDate",
	"Immunization":       "occurrenceDateTime",
	"MedicationRequest":  "authoredOn",
	"Observation":        "issued",
	"Procedure":          "performedDateTime",
	"ServiceRequest":     "occurrenceDateTime",
}

// careRange is [start, end) of care dates; a zero bound is open.
type careRange struct{ start, end time.Time }

// inCare keeps, as Medplum does, the records whose care date is in r and
// those that have none (the patient, a record without the date).
func (r careRange) inCare(records []*ward.Resource) []*ward.Resource {
	if r.start.IsZero() && r.end.IsZero() {
		return records
	}
	out := records[:0:0]
	for _, rec := range records {
		path, ok := careDatePaths[rec.Type]
		if !ok {
			out = append(out, rec)
			continue
		}
		m, err := decode(rec.Content)
		if err != nil {
			continue
		}
		steps := strings.Split(path, ".")
		for _, s := range steps[:len(steps)-1] {
			m = child(m, s)
		}
		when, ok := parseDate(str(m[steps[len(steps)-1]]))
		if !ok || (r.start.IsZero() || !when.Before(r.start)) && (r.end.IsZero() || when.Before(r.end)) {
			out = append(out, rec)
		}
	}
	return out
}

// parseDate reads a FHIR date, dateTime or instant (a partial date is its
// first instant, in UTC).
func parseDate(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02", "2006-01", "2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
