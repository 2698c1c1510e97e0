package ips

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/wardhealth/ward"
)

// reference is a FHIR Reference.
type reference struct {
	Reference string `json:"reference"`
}

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type concept struct {
	Coding []coding `json:"coding"`
}

type narrative struct {
	Status string `json:"status"`
	Div    string `json:"div"`
}

type section struct {
	Title string      `json:"title"`
	Code  concept     `json:"code"`
	Text  narrative   `json:"text"`
	Entry []reference `json:"entry,omitempty"`
}

type period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

type event struct {
	Period period `json:"period"`
}

type composition struct {
	ResourceType    string          `json:"resourceType"`
	ID              string          `json:"id"`
	Status          string          `json:"status"`
	Type            concept         `json:"type"`
	Subject         reference       `json:"subject"`
	Date            string          `json:"date"`
	Author          []reference     `json:"author,omitempty"`
	Title           string          `json:"title"`
	Confidentiality string          `json:"confidentiality"`
	Custodian       json.RawMessage `json:"custodian,omitempty"`
	Event           []event         `json:"event,omitempty"`
	Section         []section       `json:"section"`
}

// sectionSpec is one section: its code, title, whether it is written when
// empty, and its table.
type sectionSpec struct {
	code, title string
	always      bool
	headings    []string
	rows        func(b *builder, items []item) [][]string
}

// specs are the sections in Medplum's order.
var specs = []sectionSpec{
	{loincAllergies, "Allergies", true, []string{"Substance", "Reaction", "Severity", "Status"}, func(_ *builder, items []item) [][]string {
		return rowsOf(items, func(m obj) []string {
			reaction := first(m, "reaction")
			return []string{formatCodeableConcept(child(m, "code")), formatCodeableConcept(first(reaction, "manifestation")),
				str(reaction["severity"]), formatCodeableConcept(child(m, "clinicalStatus"))}
		})
	}},
	{loincImmunizations, "Immunizations", true, []string{"Vaccine", "Date", "Status"}, func(_ *builder, items []item) [][]string {
		return rowsOf(items, func(m obj) []string {
			return []string{formatCodeableConcept(child(m, "vaccineCode")), formatDate(m["occurrenceDateTime"]), str(m["status"])}
		})
	}},
	{loincMedications, "Medications", true, []string{"Medication", "Directions", "Start Date", "End Date"}, func(_ *builder, items []item) [][]string {
		return rowsOf(items, func(m obj) []string {
			validity := child(child(m, "dispenseRequest"), "validityPeriod")
			return []string{formatCodeableConcept(child(m, "medicationCodeableConcept")), str(first(m, "dosageInstruction")["text"]),
				formatDate(validity["start"]), formatDate(validity["end"])}
		})
	}},
	{loincProblems, "Problem List", true, []string{"Problem", "Start Date", "Status"}, conditionRows},
	{loincResults, "Results", true, resultHeadings, resultRows},
	{loincSocialHistory, "Social History", true, resultHeadings, resultRows},
	{loincVitalSigns, "Vital Signs", true, resultHeadings, resultRows},
	{loincProcedures, "Procedures", true, []string{"Procedure", "Date", "Target Site", "Status"}, func(_ *builder, items []item) [][]string {
		return rowsOf(items, func(m obj) []string {
			return []string{formatCodeableConcept(child(m, "code")), formatDate(m["performedDateTime"]),
				formatCodeableConcept(first(m, "bodySite")), str(m["status"])}
		})
	}},
	{loincEncounters, "Encounters", true, []string{"Encounter", "Date", "Type", "Status"}, func(_ *builder, items []item) [][]string {
		return rowsOf(items, func(m obj) []string {
			return []string{formatCodeableConcept(first(m, "type")), formatDate(child(m, "period")["start"]),
				formatCodeableConcept(first(m, "reasonCode")), str(m["status"])}
		})
	}},
	{loincDevices, "Devices", true, []string{"Device", "Status"}, func(b *builder, items []item) [][]string {
		return rowsOf(items, func(m obj) []string {
			return []string{formatCodeableConcept(child(b.lookup(child(m, "device")), "type")), str(m["status"])}
		})
	}},
	{loincAssessments, "Assessments", true, []string{"Summary", "Date"}, impressionRows},
	{loincPlanOfTreatment, "Plan of Treatment", true, planHeadings, planRows},
	{loincGoals, "Goals", false, []string{"Goal", "Date"}, func(_ *builder, items []item) [][]string {
		return rowsOf(items, func(m obj) []string {
			return []string{formatCodeableConcept(child(m, "description")), formatDate(m["startDate"])}
		})
	}},
	{loincHealthConcerns, "Health Concerns", false, []string{"Concern", "Start Date", "Status"}, conditionRows},
	{loincFunctionalStatus, "Functional Status", false, resultHeadings, resultRows},
	{loincNotes, "Notes", false, []string{"Note", "Date"}, impressionRows},
	{loincReasonForReferral, "Reason for Referral", false, planHeadings, planRows},
	{loincInsurance, "Insurance", false, []string{"Coverage", "Status", "Type"}, func(_ *builder, items []item) [][]string {
		return rowsOf(items, func(m obj) []string {
			return []string{str(m["name"]), str(m["status"]), formatCodeableConcept(child(m, "type"))}
		})
	}},
}

var (
	resultHeadings = []string{"Name", "Result", "Date"}
	planHeadings   = []string{"Planned Care", "Start Date"}
)

func rowsOf(items []item, row func(obj) []string) [][]string {
	rows := make([][]string, 0, len(items))
	for _, it := range items {
		rows = append(rows, row(it.m))
	}
	return rows
}

func conditionRows(_ *builder, items []item) [][]string {
	return rowsOf(items, func(m obj) []string {
		return []string{formatCodeableConcept(child(m, "code")), formatDate(m["onsetDateTime"]), formatCodeableConcept(child(m, "clinicalStatus"))}
	})
}

func impressionRows(_ *builder, items []item) [][]string {
	return rowsOf(items, func(m obj) []string { return []string{str(m["summary"]), formatDate(m["date"])} })
}

// resultRows lists reports and observations, each followed by the
// observations it lists (results, members), depth first; a loop of
// references is followed once.
func resultRows(b *builder, items []item) [][]string {
	var rows [][]string
	seen := map[string]bool{}
	var add func(m obj)
	add = func(m obj) {
		id := str(m["id"])
		if seen[id] {
			return
		}
		seen[id] = true
		switch str(m["resourceType"]) {
		case "DiagnosticReport":
			rows = append(rows, []string{formatCodeableConcept(child(m, "code")), "", formatDate(m["effectiveDateTime"])})
			b.eachReferenced(m, "result", "Observation", add)
		case "Observation":
			rows = append(rows, []string{formatCodeableConcept(child(m, "code")), formatObservationValue(m), formatDate(m["effectiveDateTime"])})
			b.eachReferenced(m, "hasMember", "Observation", add)
		}
	}
	for _, it := range items {
		add(it.m)
	}
	return rows
}

// planRows lists care plans (with the service requests of their
// activities), goals and service requests.
func planRows(b *builder, items []item) [][]string {
	var rows [][]string
	for _, it := range items {
		m := it.m
		switch it.res.Type {
		case "CarePlan":
			rows = append(rows, []string{formatCodeableConcept(first(m, "category")), formatDate(child(m, "period")["start"])})
			for _, a := range list(m, "activity") {
				activity, _ := a.(map[string]any)
				if sr := b.lookup(child(activity, "reference")); str(sr["resourceType"]) == "ServiceRequest" {
					rows = append(rows, []string{formatCodeableConcept(child(sr, "code")), formatDate(sr["authoredOn"])})
				}
			}
		case "Goal":
			rows = append(rows, []string{formatCodeableConcept(child(m, "description")), formatDate(first(m, "target")["dueDate"])})
		case "ServiceRequest":
			rows = append(rows, []string{formatCodeableConcept(child(m, "code")), formatDate(m["authoredOn"])})
		}
	}
	return rows
}

// lookup is the gathered resource ref points at; nil when not gathered
// (outside the summary's types, or not readable by the caller).
func (b *builder) lookup(ref obj) obj {
	if ref == nil || str(ref["reference"]) == "" {
		return nil
	}
	return b.byID[refID(ref)]
}

// eachReferenced calls f with each gathered resource of type typ that
// m[key] references.
func (b *builder) eachReferenced(m obj, key, typ string, f func(obj)) {
	for _, v := range list(m, key) {
		ref, _ := v.(map[string]any)
		if target := b.lookup(ref); str(target["resourceType"]) == typ {
			f(target)
		}
	}
}

func (b *builder) composition() composition {
	c := composition{
		ResourceType:    "Composition",
		ID:              uuid.NewString(),
		Status:          "final",
		Type:            concept{[]coding{{System: loinc, Code: loincPatientSummary, Display: "Patient Summary"}}},
		Subject:         reference{b.in.Patient.Reference()},
		Date:            b.in.AuthoredOn,
		Title:           "Medical Summary",
		Confidentiality: "N",
	}
	if c.Date == "" {
		c.Date = b.in.Now.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	if b.in.AuthorRef != "" {
		c.Author = []reference{{b.in.AuthorRef}}
	}
	if patient, err := decode(b.in.Patient.Content); err == nil {
		if org, ok := patient["managingOrganization"]; ok {
			c.Custodian, _ = json.Marshal(org)
		}
	}
	c.Event = b.event()
	for _, spec := range specs {
		items := b.sections[spec.code]
		if len(items) == 0 && !spec.always {
			continue
		}
		s := section{
			Title: spec.title,
			Code:  concept{[]coding{{System: loinc, Code: spec.code}}},
			Text:  narrative{"generated", `<div xmlns="http://www.w3.org/1999/xhtml">` + table(spec.headings, spec.rows(b, items)) + `</div>`},
		}
		for _, it := range items {
			s.Entry = append(s.Entry, reference{it.res.Reference()})
		}
		c.Section = append(c.Section, s)
	}
	return c
}

// event is the period the gathered resources were last updated in.
func (b *builder) event() []event {
	var start, end time.Time
	for _, r := range b.resources() {
		t := r.LastUpdated
		if t.IsZero() {
			continue
		}
		if start.IsZero() || t.Before(start) {
			start = t
		}
		if end.IsZero() || t.After(end) {
			end = t
		}
	}
	if start.IsZero() {
		return nil
	}
	return []event{{period{instant(start), instant(end)}}}
}

func instant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// resources are the document's entries after the Composition: the
// patient, the author (when read), then every other gathered resource,
// each once.
func (b *builder) resources() []*ward.Resource {
	out := []*ward.Resource{b.in.Patient}
	seen := map[string]bool{b.in.Patient.Reference(): true}
	add := func(r *ward.Resource) {
		if r != nil && !seen[r.Reference()] {
			seen[r.Reference()] = true
			out = append(out, r)
		}
	}
	add(b.in.Author)
	for _, r := range b.in.Resources {
		add(r)
	}
	return out
}

// bundle writes the document: the Composition, the patient, the author,
// then every other gathered resource once.
func (b *builder) bundle() ([]byte, error) {
	// The narrative is XHTML: written as is, not as \u003c escapes.
	var enc bytes.Buffer
	e := json.NewEncoder(&enc)
	e.SetEscapeHTML(false)
	if err := e.Encode(b.composition()); err != nil {
		return nil, err
	}
	comp := bytes.TrimSpace(enc.Bytes())
	var out bytes.Buffer
	out.WriteString(`{"resourceType":"Bundle","type":"document","timestamp":"` + instant(b.in.Now) + `","entry":[{"resource":`)
	out.Write(comp)
	out.WriteByte('}')
	for _, r := range b.resources() {
		out.WriteString(`,{"resource":`)
		out.Write(r.Content)
		out.WriteByte('}')
	}
	out.WriteString("]}")
	return out.Bytes(), nil
}
