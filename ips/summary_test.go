package ips

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wardhealth/ward"
)

func res(typ, id, body string) *ward.Resource {
	content := `{"resourceType":"` + typ + `","id":"` + id + `"` + body + `}`
	return &ward.Resource{Type: typ, ID: id, Content: []byte(content), LastUpdated: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// TestSections: each record lands in the section Medplum files it under;
// records another lists appear under it only; the optional sections
// appear only with entries.
func TestSections(t *testing.T) {
	const cat = `"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"%s"}]}]`
	obs := func(id, category, code string) *ward.Resource {
		body := `,"code":{"coding":[{"code":"` + code + `"}]}`
		if category != "" {
			body += "," + strings.Replace(cat, "%s", category, 1)
		}
		return res("Observation", id, body)
	}
	in := Input{
		Patient:   res("Patient", "p", `,"managingOrganization":{"reference":"Organization/o"}`),
		AuthorRef: "Practitioner/a",
		Author:    res("Practitioner", "a", ""),
		Now:       time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		Resources: []*ward.Resource{
			res("Patient", "p", ""), // $everything lists the patient too: once in the document
			obs("smoke", "social-history", "72166-2"),
			obs("phq", "survey", "44249-1"),
			obs("disab", "survey", "89571-4"),
			obs("hr", "vital-signs", "8867-4"),
			obs("lab", "laboratory", "2345-7"),
			obs("member", "", "x"),
			res("Observation", "panel", `,"hasMember":[{"reference":"Observation/member"}]`),
			res("Condition", "c1", `,"code":{"text":"Asthma"}`),
			res("Condition", "c2", `,"category":[{"coding":[{"system":"http://loinc.org","code":"75310-3"}]}]`),
			res("ClinicalImpression", "note", `,"code":{"coding":[{"code":"34109-9"}]},"summary":"<b>ok</b>"`),
			res("ClinicalImpression", "assess", `,"summary":"fine"`),
			res("ServiceRequest", "ref", `,"code":{"coding":[{"code":"310449005"}]}`),
			res("ServiceRequest", "sr", `,"code":{"text":"X-ray"}`),
			res("CarePlan", "cp", `,"activity":[{"reference":{"reference":"ServiceRequest/sr"}}]`),
			res("Goal", "g", `,"description":{"text":"Walk"}`),
			res("Account", "acct", `,"name":"Plan A"`),
			res("Organization", "o", ""),
		},
	}
	data, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Type  string
		Entry []struct{ Resource json.RawMessage }
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	var comp struct {
		Date    string
		Event   []struct{ Period struct{ Start, End string } }
		Section []struct {
			Title string
			Text  struct{ Div string }
			Entry []struct{ Reference string }
		}
	}
	json.Unmarshal(doc.Entry[0].Resource, &comp)
	got := map[string]string{}
	for _, s := range comp.Section {
		var refs []string
		for _, e := range s.Entry {
			refs = append(refs, e.Reference)
		}
		got[s.Title] = strings.Join(refs, " ")
	}
	want := map[string]string{
		"Allergies": "", "Immunizations": "", "Medications": "", "Procedures": "", "Encounters": "", "Devices": "",
		"Problem List":        "Condition/c1",
		"Health Concerns":     "Condition/c2",
		"Results":             "Observation/lab Observation/panel",
		"Social History":      "Observation/smoke Observation/phq",
		"Functional Status":   "Observation/disab",
		"Vital Signs":         "Observation/hr",
		"Notes":               "ClinicalImpression/note",
		"Assessments":         "ClinicalImpression/assess",
		"Reason for Referral": "ServiceRequest/ref",
		"Plan of Treatment":   "CarePlan/cp",
		"Goals":               "Goal/g",
		"Insurance":           "Account/acct",
	}
	for title, refs := range want {
		if g, ok := got[title]; !ok || g != refs {
			t.Errorf("section %s: %q (present %v), want %q", title, g, ok, refs)
		}
	}
	if len(got) != len(want) {
		t.Errorf("sections %v", got)
	}
	// The patient once, then the author, then the rest; the Composition first.
	if n := strings.Count(string(data), `"resourceType":"Patient"`); n != 1 || !strings.Contains(string(doc.Entry[1].Resource), `"Patient"`) ||
		!strings.Contains(string(doc.Entry[2].Resource), `"Practitioner"`) || len(doc.Entry) != 2+len(in.Resources) {
		t.Errorf("entries: %d patients, %d entries", n, len(doc.Entry))
	}
	if comp.Date != "2024-05-06T07:08:09.000Z" || comp.Event[0].Period.Start != "2024-01-02T03:04:05.000Z" {
		t.Errorf("date %s, event %+v", comp.Date, comp.Event)
	}
	if !strings.Contains(string(data), "&lt;b&gt;ok&lt;/b&gt;") || strings.Contains(string(data), "<b>ok</b></td>") {
		t.Errorf("narrative does not escape record text")
	}
}

// TestResultLoops: an Observation listing itself (malformed data) is
// written once, not followed forever.
func TestResultLoops(t *testing.T) {
	in := Input{Patient: res("Patient", "p", ""), Now: time.Now(), Resources: []*ward.Resource{
		res("DiagnosticReport", "dr", `,"result":[{"reference":"Observation/o"}]`),
		res("Observation", "o", `,"code":{"text":"Loop"},"hasMember":[{"reference":"Observation/o"}]`),
	}}
	data, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "<td>Loop</td>"); n != 1 {
		t.Errorf("the looping observation is listed %d times", n)
	}
}

// TestCareDates: start and end keep the records whose care date is in
// [start, end), and those without one.
func TestCareDates(t *testing.T) {
	records := []*ward.Resource{
		res("Patient", "p", ""),
		res("Observation", "early", `,"issued":"2024-02-28T23:59:59Z"`),
		res("Observation", "march", `,"issued":"2024-03-15T10:00:00Z"`),
		res("Observation", "undated", ``),
		res("Encounter", "enc", `,"period":{"start":"2024-03-01"}`),
		res("Condition", "april", `,"recordedDate":"2024-04-01T00:00:00Z"`),
	}
	start, _ := parseDate("2024-03-01")
	end, _ := parseDate("2024-04-01")
	for _, c := range []struct {
		name string
		r    careRange
		want string
	}{
		{"no range", careRange{}, "p early march undated enc april"},
		{"March", careRange{start, end}, "p march undated enc"},
		{"from March", careRange{start: start}, "p march undated enc april"},
		{"before April", careRange{end: end}, "p early march undated enc"},
	} {
		var got []string
		for _, r := range c.r.inCare(records) {
			got = append(got, r.ID)
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s: %v, want %s", c.name, got, c.want)
		}
	}
}
