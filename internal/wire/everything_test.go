package wire_test

import (
	"strings"
	"testing"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestMSOEverything: Patient/$everything with real tokens in an MSO
// project (issue 5's console reads a chart with it). The admin's answer is
// what $set-accounts counted (row 54); a clinician sees its clinic's
// patients' records as each type's rules allow (Communication is not
// granted: skipped, not 403), with hidden fields hidden, and another
// clinic's patient is 404.
func TestMSOEverything(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := newMSOWorld(t, s, "MSO Everything")
		const pol = "ap-chart"
		// The demo's policy without Communication, the Patient's telecom
		// hidden.
		policy := strings.Replace(msoPolicy("Chart Policy", ""),
			`{"resourceType":"Patient","criteria":"Patient?_compartment=%organization"}`,
			`{"resourceType":"Patient","criteria":"Patient?_compartment=%organization","hiddenFields":["telecom"]}`, 1)
		policy = strings.Replace(policy, `,{"resourceType":"Communication","criteria":"Communication?_compartment=%organization"}`, "", 1)
		if strings.Contains(policy, "Communication") || !strings.Contains(policy, "hiddenFields") {
			t.Fatalf("test bug: policy %s", policy)
		}
		chart := func(s string) []string {
			return []string{"pat-" + s, "obs-" + s, "enc-" + s, "comm-" + s, "dr-" + s}
		}
		clinical := func(s string) []string { return []string{"pat-" + s, "obs-" + s, "enc-" + s, "dr-" + s} }
		w.run(t, []msoStep{{
			name: "two clinics, a patient in each",
			act: func(t *testing.T, w *msoWorld) {
				w.uploadPolicy(t, pol, policy)
				w.create(t, "org-north", `{"resourceType":"Organization","name":"Clinic north"}`)
				w.create(t, "org-south", `{"resourceType":"Organization","name":"Clinic south"}`)
				w.invite(t, "alice", pol, "org-north")
				w.invite(t, "bob", pol, "org-south")
				w.addPatient(t, "n", "North")
				w.addPatient(t, "s", "South")
				w.addChart(t, "n", "obs-s")
				w.addChart(t, "s")
				w.setAccounts(t, "pat-n", 5, "org-north")
				w.setAccounts(t, "pat-s", 5, "org-south")
			},
			cases: []msoCase{
				{rule: "row 54: the match entries are what $set-accounts counted", caller: "admin",
					request: "GET /fhir/R4/Patient/{pat-n}/$everything", status: 200, ids: chart("n")},
				{rule: "pages of two follow next links", caller: "admin",
					request: "GET /fhir/R4/Patient/{pat-n}/$everything?_count=2", status: 200, ids: chart("n"), paged: true},
				{rule: "own clinic's patient: the granted types only", caller: "alice",
					request: "GET /fhir/R4/Patient/{pat-n}/$everything", status: 200, ids: clinical("n")},
				{rule: "own clinic's patient, paged", caller: "alice",
					request: "GET /fhir/R4/Patient/{pat-n}/$everything?_count=1", status: 200, ids: clinical("n"), paged: true},
				{rule: "_type", caller: "alice",
					request: "GET /fhir/R4/Patient/{pat-n}/$everything?_type=Observation,Communication", status: 200, ids: []string{"pat-n", "obs-n"}},
				{rule: "POST", caller: "bob",
					request: `POST /fhir/R4/Patient/{pat-s}/$everything {"resourceType":"Parameters","parameter":[{"name":"_count","valueInteger":10}]}`,
					status:  200, ids: clinical("s")},
				{rule: "another clinic's patient is 404", caller: "alice", request: "GET /fhir/R4/Patient/{pat-s}/$everything", status: 404},
				{rule: "another clinic's patient is 404", caller: "bob", request: "GET /fhir/R4/Patient/{pat-n}/$everything", status: 404},
			},
		}})
		for _, caller := range []string{"admin", "alice"} {
			r := w.as(t, caller).mustGet("Patient/" + w.f.id("pat-n") + "/$everything")
			hidden := caller == "alice"
			if strings.Contains(string(r.raw), "555-0100") == hidden {
				t.Errorf("%s: the Patient's telecom shown = %v, want %v: %s", caller, !hidden, !hidden, r.raw)
			}
		}
	})
}
