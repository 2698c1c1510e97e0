package wire_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// The three patterns of the Medplum MSO guide (spec 5.12, issue 4 point 6),
// end to end through the HTTP API with real tokens. Each is a sequence of
// steps (what the MSO's admin does) with a table of who then sees what.

// msoPolicy is the demo's "Managed Service Organization Access Policy"
// (spec 5.12). extra is appended to every patient-data criteria (pattern b).
func msoPolicy(name, extra string) string {
	entry := func(typ string) string {
		return `{"resourceType":"` + typ + `","criteria":"` + typ + `?_compartment=%organization` + extra + `"}`
	}
	return `{"resourceType":"AccessPolicy","name":"` + name + `",
		"compartment":{"reference":"%organization"},
		"resource":[
			{"resourceType":"Organization","readonly":true},
			{"resourceType":"Practitioner","readonly":true},
			{"resourceType":"PractitionerRole","readonly":true},
			` + entry("Patient") + `,` + entry("Observation") + `,` + entry("DiagnosticReport") + `,
			` + entry("Encounter") + `,` + entry("Communication") + `]}`
}

// batchReads is a batch Bundle of GETs of urls.
func batchReads(urls ...string) string {
	entries := make([]string, len(urls))
	for i, u := range urls {
		entries[i] = `{"request":{"method":"GET","url":"` + u + `"}}`
	}
	return `{"resourceType":"Bundle","type":"batch","entry":[` + strings.Join(entries, ",") + `]}`
}

// loadSampleData posts the demo's sample data as it does: a transaction of
// conditional PUTs, the Observation naming its Patient by a conditional
// reference. It returns the references of the Patient and the Observation.
func (w *msoWorld) loadSampleData(t *testing.T) [2]string {
	t.Helper()
	const bundle = `{"resourceType":"Bundle","type":"transaction","entry":[
		{"fullUrl":"urn:uuid:7c1e5a42-0d1b-4f4e-9a51-5e0b7e1a0001",
		 "request":{"method":"PUT","url":"Patient?family=Sample&given=Patient"},
		 "resource":{"resourceType":"Patient","name":[{"family":"Sample","given":["Patient"]}]}},
		{"fullUrl":"urn:uuid:7c1e5a42-0d1b-4f4e-9a51-5e0b7e1a0002",
		 "request":{"method":"PUT","url":"Observation?identifier=http://example.org/sample|hr-1"},
		 "resource":{"resourceType":"Observation","status":"final","identifier":[{"system":"http://example.org/sample","value":"hr-1"}],
		  "code":{"text":"Heart rate"},"subject":{"reference":"Patient?family=Sample&given=Patient"}}}]}`
	r := w.as(t, "admin").do("POST", "/fhir/R4/", bundle)
	if r.status != 200 {
		t.Fatalf("sample data transaction: %d %s", r.status, r.raw)
	}
	var refs [2]string
	for i, e := range list(r.body, "entry") {
		typ, _ := field(e, "resource", "resourceType").(string)
		id, _ := field(e, "resource", "id").(string)
		if i > 1 || typ == "" || id == "" {
			t.Fatalf("sample data transaction answered %s", r.raw)
		}
		refs[i] = typ + "/" + id
	}
	obs := w.as(t, "admin").mustGet(refs[1]).body
	if got := field(obs, "subject", "reference"); got != refs[0] {
		t.Errorf("the sample Observation's conditional reference resolved to %v, want %s", got, refs[0])
	}
	return refs
}

// addPatient creates, as the admin, Patient pat-<s> and its Observation
// obs-<s> (final), before any enrollment.
func (w *msoWorld) addPatient(t *testing.T, s, family string) {
	t.Helper()
	w.create(t, "pat-"+s, `{"resourceType":"Patient","name":[{"family":"`+family+`","given":["Pat"]}],"telecom":[{"system":"phone","value":"555-0100"}]}`)
	w.create(t, "obs-"+s, `{"resourceType":"Observation","status":"final","code":{"text":"Heart rate"},"subject":{"reference":"Patient/{pat-`+s+`}"}}`)
}

// addChart creates, as the admin, the rest of pat-<s>'s record: enc-<s>,
// comm-<s> and dr-<s>, whose result lists obs-<s> and the observations
// named in results (of other patients: include targets the reader may not
// see).
func (w *msoWorld) addChart(t *testing.T, s string, results ...string) {
	t.Helper()
	subject := `"subject":{"reference":"Patient/{pat-` + s + `}"}`
	resultRefs := `{"reference":"Observation/{obs-` + s + `}"}`
	for _, r := range results {
		resultRefs += `,{"reference":"Observation/{` + r + `}"}`
	}
	w.create(t, "enc-"+s, `{"resourceType":"Encounter","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},`+subject+`}`)
	w.create(t, "comm-"+s, `{"resourceType":"Communication","status":"completed","payload":[{"contentString":"See you Monday"}],`+subject+`}`)
	w.create(t, "dr-"+s, `{"resourceType":"DiagnosticReport","status":"final","code":{"text":"Panel"},`+subject+`,"result":[`+resultRefs+`]}`)
}

// TestMSOClinicWalls is pattern (a): clinics are Organizations, the policy
// compartment is %organization, every clinician has one access entry per
// clinic, patients move between clinics with $set-accounts.
func TestMSOClinicWalls(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := newMSOWorld(t, s, "MSO Clinic Walls")
		w.run(t, clinicWallSteps())
	})
}

func clinicWallSteps() []msoStep {
	const pol = "ap-mso"
	// Writes a clinician must not make.
	const orgBody = `{"resourceType":"Organization","name":"Rogue clinic"}`
	const pracBody = `{"resourceType":"Practitioner","id":"{prac-bob}","name":[{"family":"Renamed"}]}`
	const patSBody = `{"resourceType":"Patient","id":"{pat-s}","name":[{"family":"Taken"}]}`
	const setNorth = `{"resourceType":"Parameters","parameter":[{"name":"accounts","valueReference":{"reference":"Organization/{org-north}"}},{"name":"propagate","valueBoolean":true}]}`
	return []msoStep{
		{
			name: "clinics, clinicians and patients enrolled",
			act: func(t *testing.T, w *msoWorld) {
				w.uploadPolicy(t, pol, msoPolicy("Managed Service Organization Access Policy", ""))
				w.uploadPolicy(t, pol, msoPolicy("Managed Service Organization Access Policy", "")) // the demo's re-upload: found by name, updated
				for _, c := range []string{"north", "south", "east"} {
					w.create(t, "org-"+c, `{"resourceType":"Organization","name":"Clinic `+c+`"}`)
				}
				w.invite(t, "alice", pol, "org-north")
				w.invite(t, "bob", pol, "org-south")
				w.invite(t, "carol", pol, "org-north")
				w.invite(t, "dave", pol, "org-north", "org-south")
				for s, family := range map[string]string{"n": "North", "s": "South", "ns": "Both", "later": "Later"} {
					w.addPatient(t, s, family)
				}
				w.addChart(t, "n", "obs-s")
				w.addChart(t, "s", "obs-n")
				w.addChart(t, "ns")
				w.addChart(t, "later")
				w.recordVersion(t, "pat-n", "unenrolled")
				w.setAccounts(t, "pat-n", 5, "org-north")
				w.recordVersion(t, "pat-n", "north")
				w.setAccounts(t, "pat-s", 5, "org-south")
				w.setAccounts(t, "pat-ns", 5, "org-north", "org-south")
				// A transaction that also writes to another clinic's patient
				// fails as a whole: its allowed entry is not written either.
				tx := w.expand(t, `{"resourceType":"Bundle","type":"transaction","entry":[
					{"request":{"method":"POST","url":"Observation"},"resource":{"resourceType":"Observation","status":"final","code":{"text":"tx-probe"},"subject":{"reference":"Patient/{pat-ns}"}}},
					{"request":{"method":"PUT","url":"Patient/{pat-s}"},"resource":{"resourceType":"Patient","id":"{pat-s}","name":[{"family":"Taken"}]}}]}`)
				if r := w.as(t, "alice").do("POST", "/fhir/R4/", tx); r.status < 400 {
					t.Errorf("alice's transaction writing another clinic's patient: %d %s, want it refused", r.status, r.raw)
				}
				// A conditional delete matching only another clinic's
				// records must delete nothing.
				if r := w.as(t, "alice").do("DELETE", w.expand(t, "Observation?subject=Patient/{pat-s}"), ""); r.status >= 300 {
					t.Errorf("alice's conditional delete matching nothing she can see: %d %s", r.status, r.raw)
				}
				for _, r := range []string{"obs-n", "enc-n", "comm-n", "dr-n"} {
					w.wantAccounts(t, r, "org-north")
				}
				w.wantAccounts(t, "obs-ns", "org-north", "org-south")
				w.wantAccounts(t, "obs-later")
			},
			cases: []msoCase{
				{rule: "sees exactly her clinic's patients", caller: "alice", request: "GET Patient", status: 200, ids: names("pat-", "n", "ns")},
				{rule: "reads her clinic's patient", caller: "alice", request: "GET Patient/{pat-n}", status: 200, ids: []string{"pat-n"}},
				{rule: "reads her clinic's patient's history", caller: "alice", request: "GET Patient/{pat-n}/_history", status: 200},
				{rule: "another clinic's patient is 404", caller: "alice", request: "GET Patient/{pat-s}", status: 404},
				{rule: "another clinic's patient's history is 404", caller: "alice", request: "GET Patient/{pat-s}/_history", status: 404},
				{rule: "an unenrolled patient is 404", caller: "alice", request: "GET Patient/{pat-later}", status: 404},
				{rule: "_id search lists only her clinic's", caller: "alice", request: "GET Patient?_id={pat-n},{pat-s},{pat-later}", status: 200, ids: []string{"pat-n"}},
				{rule: "patient count", caller: "alice", request: "GET Patient?_summary=count", status: 200, ids: names("pat-", "n", "ns")},
				{rule: "sees her clinic's observations", caller: "alice", request: "GET Observation", status: 200, ids: names("obs-", "n", "ns")},
				{rule: "observation count", caller: "alice", request: "GET Observation?_summary=count", status: 200, ids: names("obs-", "n", "ns")},
				{rule: "sees her clinic's encounters", caller: "alice", request: "GET Encounter", status: 200, ids: names("enc-", "n", "ns")},
				{rule: "sees her clinic's reports", caller: "alice", request: "GET DiagnosticReport", status: 200, ids: names("dr-", "n", "ns")},
				{rule: "sees her clinic's communications", caller: "alice", request: "GET Communication", status: 200, ids: names("comm-", "n", "ns")},
				{rule: "another clinic's observation is 404", caller: "alice", request: "GET Observation/{obs-s}", status: 404},
				{rule: "another clinic's encounter is 404", caller: "alice", request: "GET Encounter/{enc-s}", status: 404},
				{rule: "another clinic's report is 404", caller: "alice", request: "GET DiagnosticReport/{dr-s}", status: 404},
				{rule: "another clinic's communication is 404", caller: "alice", request: "GET Communication/{comm-s}", status: 404},
				{rule: "an unenrolled patient's observation is 404", caller: "alice", request: "GET Observation/{obs-later}", status: 404},
				{rule: "search by another clinic's patient finds nothing", caller: "alice", request: "GET Observation?subject=Patient/{pat-s}", status: 200, ids: []string{}},
				{rule: "_revinclude adds only her clinic's observations", caller: "alice", request: "GET Patient?_revinclude=Observation:subject", status: 200, ids: names("", "pat-n", "pat-ns", "obs-n", "obs-ns")},
				{rule: "_include adds the subjects", caller: "alice", request: "GET Observation?_include=Observation:subject", status: 200, ids: names("", "obs-n", "obs-ns", "pat-n", "pat-ns")},
				{rule: "_include leaves out another clinic's result", caller: "alice", request: "GET DiagnosticReport?_id={dr-n}&_include=DiagnosticReport:result", status: 200, ids: names("", "dr-n", "obs-n")},
				{rule: "_revinclude leaves out another clinic's report", caller: "alice", request: "GET Observation?_id={obs-n}&_revinclude=DiagnosticReport:result", status: 200, ids: names("", "obs-n", "dr-n")},
				{rule: "_has sees her clinic's patients", caller: "alice", request: "GET Patient?_has:Observation:subject:status=final", status: 200, ids: names("pat-", "n", "ns")},
				{rule: "type history lists only her clinic's observations", caller: "alice", request: "GET Observation/_history", status: 200, ids: names("obs-", "n", "ns")},
				{rule: "a chained hop does not pass through another clinic's observation", caller: "alice", request: "GET DiagnosticReport?result:Observation.subject=Patient/{pat-s}", status: 200, ids: []string{}},
				{rule: "a _has hop does not pass through another clinic's report", caller: "alice", request: "GET Observation?_has:DiagnosticReport:result:subject=Patient/{pat-s}", status: 200, ids: []string{}},
				{rule: "batch entries are filtered one by one", caller: "alice", request: "POST /fhir/R4/ " + batchReads("Patient/{pat-n}", "Patient/{pat-s}", "Observation/{obs-s}", "Observation?subject=Patient/{pat-s}", "Condition"), status: 200, ids: []string{"pat-n", "404", "404", "[]", "403"}},
				{rule: "vread of her clinic's patient", caller: "alice", request: "GET Patient/{pat-n}/_history/{vid-pat-n-north}", status: 200, ids: []string{"pat-n"}},
				{rule: "vread of a version from before enrollment (the current one decides)", caller: "alice", request: "GET Patient/{pat-n}/_history/{vid-pat-n-unenrolled}", status: 200, ids: []string{"pat-n"}},
				{rule: "paging counts and pages only her clinic's patients", caller: "alice", request: "GET Patient?_count=1&_total=accurate", paged: true, ids: names("pat-", "n", "ns")},
				{rule: "paging through observations sorted", caller: "alice", request: "GET Observation?_count=1&_sort=-_lastUpdated&_total=accurate", paged: true, ids: names("obs-", "n", "ns")},
				{rule: "_compartment naming another clinic finds only what she may see", caller: "alice", request: "GET Patient?_compartment=Organization/{org-south}", status: 200, ids: []string{"pat-ns"}},
				{rule: "cannot patch another clinic's patient", caller: "alice", request: `PATCH Patient/{pat-s} [{"op":"replace","path":"/active","value":false}]`, headers: []string{"Content-Type", "application/json-patch+json"}, status: 404},
				{rule: "system history leaves out other clinics' and unenrolled records", caller: "alice", request: "GET _history?_count=1000", status: 200, absent: []string{"pat-s", "obs-s", "enc-s", "dr-s", "comm-s", "pat-later", "obs-later", "enc-later", "dr-later", "comm-later"}},
				{rule: "system history has her clinic's records", caller: "alice", request: "GET _history?_count=1000", status: 200, ids: names("", "pat-n", "obs-n", "org-south"), subset: true},
				{rule: "POST _search is filtered the same", caller: "alice", request: "POST Patient/_search _compartment=Organization/{org-south}", headers: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 200, ids: []string{"pat-ns"}},
				{rule: "reads every clinic (read-only directory)", caller: "alice", request: "GET Organization", status: 200, ids: names("org-", "north", "south", "east")},
				{rule: "reads practitioner roles", caller: "alice", request: "GET PractitionerRole", status: 200, ids: []string{}},
				{rule: "lists clinicians as the demo does", caller: "alice", request: "GET Practitioner?_id={prac-alice},{prac-bob},{prac-carol}&_fields=name", status: 200, ids: names("prac-", "alice", "bob", "carol"), elements: []string{"name"}},
				{rule: "cannot create a clinic", caller: "alice", request: "POST Organization " + orgBody, status: 403},
				{rule: "cannot edit a colleague", caller: "alice", request: "PUT Practitioner/{prac-bob} " + pracBody, status: 403},
				{rule: "a type the policy does not grant is 403 to search", caller: "alice", request: "GET Condition", status: 403},
				{rule: "a type the policy does not grant is 403 to create", caller: "alice", request: `POST Condition {"resourceType":"Condition","subject":{"reference":"Patient/{pat-n}"}}`, status: 403},
				{rule: "cannot list memberships", caller: "alice", request: "GET ProjectMembership", status: 403},
				{rule: "cannot enrol patients", caller: "alice", request: "POST Patient/{pat-n}/$set-accounts " + setNorth, status: 403},
				{rule: "cannot overwrite another clinic's patient", caller: "alice", request: "PUT Patient/{pat-s} " + patSBody, status: 404},
				{rule: "cannot delete another clinic's observation", caller: "alice", request: "DELETE Observation/{obs-s}", status: 404},
				{rule: "sees exactly his clinic's patients", caller: "bob", request: "GET Patient", status: 200, ids: names("pat-", "s", "ns")},
				{rule: "another clinic's conditional delete left his observation", caller: "bob", request: "GET Observation/{obs-s}", status: 200, ids: []string{"obs-s"}},
				{rule: "another clinic's patient is 404", caller: "bob", request: "GET Patient/{pat-n}", status: 404},
				{rule: "sees his clinic's observations", caller: "bob", request: "GET Observation", status: 200, ids: names("obs-", "s", "ns")},
				{rule: "_include leaves out another clinic's result", caller: "bob", request: "GET DiagnosticReport?_id={dr-s}&_include=DiagnosticReport:result", status: 200, ids: names("", "dr-s", "obs-s")},
				{rule: "sees exactly her clinic's patients", caller: "carol", request: "GET Patient", status: 200, ids: names("pat-", "n", "ns")},
				{rule: "two clinics: sees both clinics' patients", caller: "dave", request: "GET Patient", status: 200, ids: names("pat-", "n", "s", "ns")},
				{rule: "two clinics: sees both clinics' observations", caller: "dave", request: "GET Observation", status: 200, ids: names("obs-", "n", "s", "ns")},
				{rule: "two clinics: count", caller: "dave", request: "GET Observation?_summary=count", status: 200, ids: names("obs-", "n", "s", "ns")},
				{rule: "two clinics: _include reaches both", caller: "dave", request: "GET DiagnosticReport?_id={dr-n}&_include=DiagnosticReport:result", status: 200, ids: names("", "dr-n", "obs-n", "obs-s")},
				{rule: "two clinics: still not an unenrolled patient", caller: "dave", request: "GET Patient/{pat-later}", status: 404},
				{rule: "the chained search itself finds both reports", caller: "admin", request: "GET DiagnosticReport?result:Observation.subject=Patient/{pat-s}", status: 200, ids: names("dr-", "n", "s")},
				{rule: "the _has search itself finds both observations", caller: "admin", request: "GET Observation?_has:DiagnosticReport:result:subject=Patient/{pat-s}", status: 200, ids: names("obs-", "n", "s")},
				{rule: "nothing of a refused transaction was written", caller: "admin", request: "GET Observation?code:text=tx-probe", status: 200, ids: []string{}},
				{rule: "lists a clinic's patients as the demo does", caller: "admin", request: "GET Patient?_compartment=Organization/{org-north}&_fields=name", status: 200, ids: names("pat-", "n", "ns"), elements: []string{"name"}},
				{rule: "_compartment repeated is AND", caller: "admin", request: "GET Patient?_compartment=Organization/{org-north}&_compartment=Organization/{org-south}", status: 200, ids: []string{"pat-ns"}},
				{rule: "_compartment value list is OR", caller: "admin", request: "GET Patient?_compartment=Organization/{org-north},Organization/{org-south}", status: 200, ids: names("pat-", "n", "s", "ns")},
				{rule: "_compartment:not", caller: "admin", request: "GET Patient?_compartment:not=Organization/{org-north}", status: 200, ids: names("pat-", "s", "later")},
				{rule: "an empty clinic has no patients", caller: "admin", request: "GET Patient?_compartment=Organization/{org-east}", status: 200, ids: []string{}},
				{rule: "lists every membership as the demo does", caller: "admin", request: "GET ProjectMembership", status: 200, ids: names("mem-", "alice", "bob", "carol", "dave"), subset: true},
			},
		},
		{
			name: "carol enrolled in south too",
			act:  func(t *testing.T, w *msoWorld) { w.enrollClinician(t, "carol", pol, "org-south") },
			cases: []msoCase{
				{rule: "sees both clinics' patients on the next request", caller: "carol", request: "GET Patient", status: 200, ids: names("pat-", "n", "s", "ns")},
				{rule: "reads the new clinic's patient", caller: "carol", request: "GET Patient/{pat-s}", status: 200, ids: []string{"pat-s"}},
				{rule: "sees both clinics' observations", caller: "carol", request: "GET Observation", status: 200, ids: names("obs-", "n", "s", "ns")},
				{rule: "a colleague's access is unchanged", caller: "alice", request: "GET Patient", status: 200, ids: names("pat-", "n", "ns")},
			},
		},
		{
			name: "carol unenrolled from north",
			act:  func(t *testing.T, w *msoWorld) { w.unenrollClinician(t, "carol", "org-north") },
			cases: []msoCase{
				{rule: "sees only south's patients on the next request", caller: "carol", request: "GET Patient", status: 200, ids: names("pat-", "s", "ns")},
				{rule: "north's patient is 404", caller: "carol", request: "GET Patient/{pat-n}", status: 404},
				{rule: "north's observation is 404", caller: "carol", request: "GET Observation/{obs-n}", status: 404},
				{rule: "north's report is gone from includes", caller: "carol", request: "GET Observation?_id={obs-s}&_revinclude=DiagnosticReport:result", status: 200, ids: names("", "obs-s", "dr-s")},
				{rule: "observation count", caller: "carol", request: "GET Observation?_summary=count", status: 200, ids: names("obs-", "s", "ns")},
			},
		},
		{
			name: "carol unenrolled from every clinic",
			act:  func(t *testing.T, w *msoWorld) { w.unenrollClinician(t, "carol", "org-south") },
			cases: []msoCase{
				{rule: "sees no patients", caller: "carol", request: "GET Patient", status: 200, ids: []string{}},
				{rule: "sees no observations", caller: "carol", request: "GET Observation", status: 200, ids: []string{}},
				{rule: "south's patient is 404", caller: "carol", request: "GET Patient/{pat-s}", status: 404},
				{rule: "in no clinic, cannot create a patient (the unbound %organization matches nothing)", caller: "carol", request: `POST Patient {"resourceType":"Patient","name":[{"family":"Orphan"}]}`, status: 403},
				{rule: "still reads the clinic directory", caller: "carol", request: "GET Organization", status: 200, ids: names("org-", "north", "south", "east")},
			},
		},
		{
			name: "carol re-enrolled in north through the admin API",
			act: func(t *testing.T, w *msoWorld) {
				m := w.membershipOf(t, "carol")
				m["access"] = []any{w.clinicAccess(pol, "org-north")}
				b, _ := json.Marshal(m)
				if r := w.as(t, "admin").do("POST", "/admin/projects/:projectId/members/"+m["id"].(string), string(b)); r.status != 200 {
					t.Fatalf("POST admin members: %d %s", r.status, r.raw)
				}
			},
			cases: []msoCase{
				{rule: "sees north's patients on the next request", caller: "carol", request: "GET Patient", status: 200, ids: names("pat-", "n", "ns")},
			},
		},
		{
			name: "carol unenrolled again with a JSON patch of her membership",
			act: func(t *testing.T, w *msoWorld) {
				r := w.as(t, "admin").do("PATCH", w.f.ref("mem-carol"), `[{"op":"remove","path":"/access"}]`, "Content-Type", "application/json-patch+json")
				if r.status != 200 {
					t.Fatalf("PATCH membership: %d %s", r.status, r.raw)
				}
			},
			cases: []msoCase{
				{rule: "sees no patients on the next request", caller: "carol", request: "GET Patient", status: 200, ids: []string{}},
				{rule: "north's patient is 404 again", caller: "carol", request: "GET Patient/{pat-n}", status: 404},
			},
		},
		{
			name: "a patient enrolled after their record was written",
			act:  func(t *testing.T, w *msoWorld) { w.setAccounts(t, "pat-later", 5, "org-north") },
			cases: []msoCase{
				{rule: "sees the newly enrolled patient", caller: "alice", request: "GET Patient", status: 200, ids: names("pat-", "n", "ns", "later")},
				{rule: "records written before enrollment follow the patient", caller: "alice", request: "GET Observation?subject=Patient/{pat-later}", status: 200, ids: []string{"obs-later"}},
				{rule: "the whole chart follows", caller: "alice", request: "GET DiagnosticReport?_id={dr-later}&_include=DiagnosticReport:subject", status: 200, ids: names("", "dr-later", "pat-later")},
				{rule: "another clinic still cannot read it", caller: "bob", request: "GET Patient/{pat-later}", status: 404},
			},
		},
		{
			name: "records written after enrollment",
			act: func(t *testing.T, w *msoWorld) {
				w.create(t, "obs-later-admin", `{"resourceType":"Observation","status":"final","code":{"text":"Weight"},"subject":{"reference":"Patient/{pat-later}"}}`)
				w.wantAccounts(t, "obs-later-admin", "org-north")
				w.createAs(t, "alice", "obs-later-alice", `{"resourceType":"Observation","status":"final","code":{"text":"Note"},"subject":{"reference":"Patient/{pat-later}"}}`)
				w.wantAccounts(t, "obs-later-alice", "org-north")
				w.createAs(t, "alice", "pat-alice", `{"resourceType":"Patient","name":[{"family":"Walkin"}]}`)
				w.wantAccounts(t, "pat-alice", "org-north")
				// Row 8: accounts a clinician submits are not kept.
				w.createAs(t, "alice", "pat-forged", `{"resourceType":"Patient","meta":{"accounts":[{"reference":"Organization/{org-south}"}],"account":{"reference":"Organization/{org-south}"}},"name":[{"family":"Forged"}]}`, "X-Medplum", "extended")
				w.wantAccounts(t, "pat-forged", "org-north")
				// The policy compartment is the last access entry's clinic.
				w.createAs(t, "dave", "pat-dave", `{"resourceType":"Patient","name":[{"family":"Dual"}]}`)
				w.wantAccounts(t, "pat-dave", "org-south")
				// A conditional update matching only another clinic's
				// patient creates a new one in hers; pat-s is untouched.
				before := w.as(t, "admin").mustGet(w.f.ref("pat-s")).body
				r := w.as(t, "alice").do("PUT", "Patient?family=South", `{"resourceType":"Patient","name":[{"family":"South","given":["Other"]}]}`)
				if r.status != 201 {
					t.Errorf("alice's conditional update matching only pat-s: %d %s, want 201 (a new patient)", r.status, r.raw)
				} else {
					w.f["pat-cond"] = "Patient/" + r.body["id"].(string)
					w.wantAccounts(t, "pat-cond", "org-north")
				}
				if after := w.as(t, "admin").mustGet(w.f.ref("pat-s")).body; field(after, "meta", "versionId") != field(before, "meta", "versionId") {
					t.Errorf("alice's conditional update changed pat-s: %v", after)
				}
				// Row 10: a record about a patient carries the author's
				// clinic and the patient's.
				w.createAs(t, "dave", "obs-n-dave", `{"resourceType":"Observation","status":"final","code":{"text":"Consult"},"subject":{"reference":"Patient/{pat-n}"}}`)
				w.wantAccounts(t, "obs-n-dave", "org-south", "org-north")
				// A clinician cannot move a patient out of (or into) a clinic.
				r = w.as(t, "alice").do("PUT", w.f.ref("pat-n"), w.expand(t, `{"resourceType":"Patient","id":"{pat-n}","meta":{"accounts":[{"reference":"Organization/{org-south}"}]},"name":[{"family":"North"}]}`), "X-Medplum", "extended")
				if r.status != 200 {
					t.Errorf("alice updates her clinic's patient: %d %s", r.status, r.raw)
				}
				w.wantAccounts(t, "pat-n", "org-north")
			},
			cases: []msoCase{
				{rule: "sees what the admin and she wrote after enrollment", caller: "alice", request: "GET Observation?subject=Patient/{pat-later}", status: 200, ids: names("obs-later", "", "-admin", "-alice")},
				{rule: "reads the patient she created", caller: "alice", request: "GET Patient/{pat-alice}", status: 200, ids: []string{"pat-alice"}},
				{rule: "reads the patient she tried to stamp elsewhere", caller: "alice", request: "GET Patient/{pat-forged}", status: 200, ids: []string{"pat-forged"}},
				{rule: "another clinic cannot read her note", caller: "bob", request: "GET Observation/{obs-later-alice}", status: 404},
				{rule: "another clinic cannot read her walk-in", caller: "bob", request: "GET Patient/{pat-alice}", status: 404},
				{rule: "a forged stamp gives another clinic nothing", caller: "bob", request: "GET Patient/{pat-forged}", status: 404},
				{rule: "a clinician's update does not move the patient", caller: "bob", request: "GET Patient/{pat-n}", status: 404},
				{rule: "cannot re-point her note at another clinic's patient (post-check)", caller: "alice", request: `PUT Observation/{obs-later-alice} {"resourceType":"Observation","id":"{obs-later-alice}","status":"final","code":{"text":"Note"},"subject":{"reference":"Patient/{pat-s}"}}`, status: 403},
				{rule: "her note is unchanged after the refused re-point", caller: "bob", request: "GET Observation/{obs-later-alice}", status: 404},
				{rule: "a two-clinic clinician stamps the last clinic", caller: "bob", request: "GET Patient/{pat-dave}", status: 200, ids: []string{"pat-dave"}},
				{rule: "the first clinic does not get the two-clinic clinician's patient", caller: "alice", request: "GET Patient/{pat-dave}", status: 404},
				{rule: "a record about her clinic's patient by a two-clinic clinician", caller: "alice", request: "GET Observation/{obs-n-dave}", status: 200, ids: []string{"obs-n-dave"}},
				{rule: "the author's last clinic also reads it", caller: "bob", request: "GET Observation/{obs-n-dave}", status: 200, ids: []string{"obs-n-dave"}},
				{rule: "reads the patient he created", caller: "dave", request: "GET Patient/{pat-dave}", status: 200, ids: []string{"pat-dave"}},
			},
		},
		{
			name: "pat-n moved from north to south",
			act: func(t *testing.T, w *msoWorld) {
				w.setAccounts(t, "pat-n", 6, "org-south") // the patient, its 4 records and dave's
				for _, r := range []string{"obs-n", "enc-n", "comm-n", "dr-n", "obs-n-dave"} {
					w.wantAccounts(t, r, "org-south")
				}
			},
			cases: []msoCase{
				{rule: "the old clinic loses the patient on the next request", caller: "alice", request: "GET Patient/{pat-n}", status: 404},
				{rule: "the old clinic loses the observation", caller: "alice", request: "GET Observation/{obs-n}", status: 404},
				{rule: "the old clinic loses the history", caller: "alice", request: "GET Patient/{pat-n}/_history", status: 404},
				{rule: "the old clinic loses the versions from its time", caller: "alice", request: "GET Patient/{pat-n}/_history/{vid-pat-n-north}", status: 404},
				{rule: "the new clinic reads the versions from before the move", caller: "bob", request: "GET Patient/{pat-n}/_history/{vid-pat-n-north}", status: 200, ids: []string{"pat-n"}},
				{rule: "the old clinic loses the encounter", caller: "alice", request: "GET Encounter/{enc-n}", status: 404},
				{rule: "the old clinic loses the report", caller: "alice", request: "GET DiagnosticReport/{dr-n}", status: 404},
				{rule: "the old clinic loses the communication", caller: "alice", request: "GET Communication/{comm-n}", status: 404},
				{rule: "the old clinic's list", caller: "alice", request: "GET Patient", status: 200, ids: names("pat-", "ns", "later", "alice", "forged", "cond")},
				{rule: "the old clinic's count", caller: "alice", request: "GET Observation?_summary=count", status: 200, ids: names("obs-", "ns", "later", "later-admin", "later-alice")},
				{rule: "the new clinic gains the patient", caller: "bob", request: "GET Patient/{pat-n}", status: 200, ids: []string{"pat-n"}},
				{rule: "the new clinic gains the whole chart", caller: "bob", request: "GET Patient?_id={pat-n}&_revinclude=Observation:subject&_revinclude=Encounter:subject&_revinclude=DiagnosticReport:subject&_revinclude=Communication:subject", status: 200, ids: names("", "pat-n", "obs-n", "obs-n-dave", "enc-n", "dr-n", "comm-n")},
				{rule: "the old clinic loses the record another clinic wrote about the patient", caller: "alice", request: "GET Observation/{obs-n-dave}", status: 404},
				{rule: "the new clinic's list", caller: "bob", request: "GET Patient", status: 200, ids: names("pat-", "n", "s", "ns", "dave")},
				{rule: "the demo's clinic list follows", caller: "admin", request: "GET Patient?_compartment=Organization/{org-north}&_fields=name", status: 200, ids: names("pat-", "ns", "later", "alice", "forged", "cond")},
			},
		},
		{
			name: "pat-later unenrolled from every clinic",
			act: func(t *testing.T, w *msoWorld) {
				w.setAccounts(t, "pat-later", 7) // the patient, its 4 records and the 2 written after enrollment
				w.wantAccounts(t, "obs-later-alice")
			},
			cases: []msoCase{
				{rule: "the patient is 404 on the next request", caller: "alice", request: "GET Patient/{pat-later}", status: 404},
				{rule: "a clinician's own note leaves with the patient", caller: "alice", request: "GET Observation/{obs-later-alice}", status: 404},
				{rule: "the admin's note leaves with the patient", caller: "alice", request: "GET Observation/{obs-later-admin}", status: 404},
				{rule: "nothing of the patient is searchable", caller: "alice", request: "GET Observation?subject=Patient/{pat-later}", status: 200, ids: []string{}},
				{rule: "the admin still sees it", caller: "admin", request: "GET Observation?subject=Patient/{pat-later}", status: 200, ids: names("obs-later", "", "-admin", "-alice")},
			},
		},
		{
			name: "the demo's sample data, loaded twice, then enrolled",
			act: func(t *testing.T, w *msoWorld) {
				first, second := w.loadSampleData(t), w.loadSampleData(t)
				if first != second {
					t.Fatalf("the sample data loaded twice gave %v then %v: conditional PUTs must update, not duplicate", first, second)
				}
				w.f["pat-sample"], w.f["obs-sample"] = first[0], first[1]
				w.setAccounts(t, "pat-sample", 2, "org-north")
			},
			cases: []msoCase{
				{rule: "sees the enrolled sample patient with its observation", caller: "alice", request: "GET Observation?subject=Patient/{pat-sample}&_include=Observation:subject", status: 200, ids: names("", "obs-sample", "pat-sample")},
				{rule: "one sample patient after two loads", caller: "admin", request: "GET Patient?family=Sample&given=Patient", status: 200, ids: []string{"pat-sample"}},
				{rule: "another clinic does not see the sample patient", caller: "bob", request: "GET Patient/{pat-sample}", status: 404},
			},
		},
		{
			name: "the admin acts on behalf of a clinician",
			act: func(t *testing.T, w *msoWorld) {
				r := w.as(t, "admin").do("POST", "Patient", `{"resourceType":"Patient","name":[{"family":"Proxy"}]}`, "X-Medplum-On-Behalf-Of", w.f.ref("mem-alice"))
				if r.status != 201 {
					t.Fatalf("admin creates a patient on behalf of alice: %d %s", r.status, r.raw)
				}
				w.f["pat-obo"] = "Patient/" + r.body["id"].(string)
				w.wantAccounts(t, "pat-obo", "org-north")
			},
			cases: []msoCase{
				{rule: "on behalf of alice sees alice's patients", caller: "admin", headers: []string{"X-Medplum-On-Behalf-Of", "ProjectMembership/{mem-alice}"}, request: "GET Patient", status: 200, ids: names("pat-", "ns", "alice", "forged", "cond", "obo", "sample")},
				{rule: "on behalf of alice cannot read another clinic's patient", caller: "admin", headers: []string{"X-Medplum-On-Behalf-Of", "ProjectMembership/{mem-alice}"}, request: "GET Patient/{pat-s}", status: 404},
				{rule: "on behalf of alice named by her profile", caller: "admin", headers: []string{"X-Medplum-On-Behalf-Of", "Practitioner/{prac-alice}"}, request: "GET Patient/{pat-s}", status: 404},
				{rule: "on behalf of alice has alice's (non-admin) rights", caller: "admin", headers: []string{"X-Medplum-On-Behalf-Of", "ProjectMembership/{mem-alice}"}, request: "GET ProjectMembership", status: 403},
				{rule: "on behalf of bob sees bob's patients", caller: "admin", headers: []string{"X-Medplum-On-Behalf-Of", "ProjectMembership/{mem-bob}"}, request: "GET Patient/{pat-s}", status: 200, ids: []string{"pat-s"}},
				{rule: "a clinician cannot act on behalf of another", caller: "alice", headers: []string{"X-Medplum-On-Behalf-Of", "ProjectMembership/{mem-bob}"}, request: "GET Patient/{pat-s}", status: 403},
			},
		},
		{
			name: "policy re-uploaded without Communication",
			act: func(t *testing.T, w *msoWorld) {
				w.uploadPolicy(t, pol, strings.Replace(msoPolicy("Managed Service Organization Access Policy", ""),
					`,{"resourceType":"Communication","criteria":"Communication?_compartment=%organization"}`, "", 1))
			},
			cases: []msoCase{
				{rule: "a narrowed policy applies on the next request", caller: "alice", request: "GET Communication", status: 403},
				{rule: "a narrowed policy applies to reads", caller: "bob", request: "GET Communication/{comm-s}", status: 403},
				{rule: "the rest of the policy still applies", caller: "bob", request: "GET Patient/{pat-s}", status: 200, ids: []string{"pat-s"}},
			},
		},
	}
}

// TestMSOConsentGating is pattern (b): every patient-data criteria also
// requires a Consent in the resource's compartments; consent is given and
// revoked by adding the Consent to, or removing it from, the patient's
// accounts.
func TestMSOConsentGating(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := newMSOWorld(t, s, "MSO Consent Gating")
		w.run(t, consentSteps())
	})
}

func consentSteps() []msoStep {
	const pol = "ap-consent"
	return []msoStep{
		{
			name: "patients enrolled, no consent yet",
			act: func(t *testing.T, w *msoWorld) {
				w.create(t, "consent", `{"resourceType":"Consent","status":"active",
					"scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},
					"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}]}`)
				w.uploadPolicy(t, pol, msoPolicy("MSO Consent Access Policy", "&_compartment=Consent/{consent}"))
				w.create(t, "org-north", `{"resourceType":"Organization","name":"Clinic north"}`)
				w.create(t, "org-south", `{"resourceType":"Organization","name":"Clinic south"}`)
				w.invite(t, "alice", pol, "org-north")
				w.invite(t, "bob", pol, "org-south")
				w.invite(t, "dave", pol, "org-north", "org-south")
				w.addPatient(t, "n", "North")
				w.addPatient(t, "s", "South")
				w.addChart(t, "n")
				w.addChart(t, "s")
				w.setAccounts(t, "pat-n", 5, "org-north")
				w.setAccounts(t, "pat-s", 5, "org-south")
			},
			cases: []msoCase{
				{rule: "enrolled without consent: no patients", caller: "alice", request: "GET Patient", status: 200, ids: []string{}},
				{rule: "enrolled without consent: patient 404", caller: "alice", request: "GET Patient/{pat-n}", status: 404},
				{rule: "enrolled without consent: observation 404", caller: "alice", request: "GET Observation/{obs-n}", status: 404},
				{rule: "enrolled without consent: count 0", caller: "alice", request: "GET Observation?_summary=count", status: 200, ids: []string{}},
				{rule: "enrolled without consent: no patients", caller: "bob", request: "GET Patient", status: 200, ids: []string{}},
				{rule: "two clinics without consent: no patients", caller: "dave", request: "GET Patient", status: 200, ids: []string{}},
				{rule: "clinic directory still readable", caller: "alice", request: "GET Organization", status: 200, ids: names("org-", "north", "south")},
				{rule: "the admin sees everyone", caller: "admin", request: "GET Patient", status: 200, ids: names("pat-", "n", "s")},
			},
		},
		{
			name: "pat-n consents",
			act: func(t *testing.T, w *msoWorld) {
				w.setAccounts(t, "pat-n", 5, "org-north", "consent")
				w.wantAccounts(t, "dr-n", "org-north", "consent")
			},
			cases: []msoCase{
				{rule: "consented patient of her clinic appears", caller: "alice", request: "GET Patient", status: 200, ids: []string{"pat-n"}},
				{rule: "consented patient readable", caller: "alice", request: "GET Patient/{pat-n}", status: 200, ids: []string{"pat-n"}},
				{rule: "the consented patient's chart", caller: "alice", request: "GET Patient?_revinclude=Observation:subject&_revinclude=Encounter:subject&_revinclude=DiagnosticReport:subject&_revinclude=Communication:subject", status: 200, ids: names("", "pat-n", "obs-n", "enc-n", "dr-n", "comm-n")},
				{rule: "consent without the clinic grants nothing", caller: "bob", request: "GET Patient/{pat-n}", status: 404},
				{rule: "the clinic without consent grants nothing", caller: "bob", request: "GET Patient", status: 200, ids: []string{}},
				{rule: "two clinics: the consented patient of one", caller: "dave", request: "GET Patient", status: 200, ids: []string{"pat-n"}},
			},
		},
		{
			name: "pat-s consents; alice charts pat-n",
			act: func(t *testing.T, w *msoWorld) {
				w.setAccounts(t, "pat-s", 5, "org-south", "consent")
				w.createAs(t, "alice", "obs-n-alice", `{"resourceType":"Observation","status":"final","code":{"text":"Note"},"subject":{"reference":"Patient/{pat-n}"}}`)
				w.wantAccounts(t, "obs-n-alice", "org-north", "consent")
			},
			cases: []msoCase{
				{rule: "consented patient of his clinic appears", caller: "bob", request: "GET Patient", status: 200, ids: []string{"pat-s"}},
				{rule: "another clinic's consented patient stays hidden", caller: "alice", request: "GET Patient/{pat-s}", status: 404},
				{rule: "her note on a consented patient is readable", caller: "alice", request: "GET Observation?subject=Patient/{pat-n}", status: 200, ids: names("obs-n", "", "-alice")},
				{rule: "another clinic cannot read her note", caller: "bob", request: "GET Observation/{obs-n-alice}", status: 404},
				{rule: "two clinics: both consented patients", caller: "dave", request: "GET Patient", status: 200, ids: names("pat-", "n", "s")},
				{rule: "two clinics: both charts", caller: "dave", request: "GET Observation", status: 200, ids: names("obs-", "n", "s", "n-alice")},
			},
		},
		{
			name: "pat-n revokes consent",
			act: func(t *testing.T, w *msoWorld) {
				w.setAccounts(t, "pat-n", 6, "org-north") // the patient, 4 records and alice's note
				w.wantAccounts(t, "obs-n-alice", "org-north")
			},
			cases: []msoCase{
				{rule: "revoked: patient 404 on the next request", caller: "alice", request: "GET Patient/{pat-n}", status: 404},
				{rule: "revoked: observation 404", caller: "alice", request: "GET Observation/{obs-n}", status: 404},
				{rule: "revoked: her own note 404", caller: "alice", request: "GET Observation/{obs-n-alice}", status: 404},
				{rule: "revoked: nothing listed", caller: "alice", request: "GET Patient?_summary=count", status: 200, ids: []string{}},
				{rule: "another patient's consent is untouched", caller: "bob", request: "GET Patient/{pat-s}", status: 200, ids: []string{"pat-s"}},
				{rule: "two clinics: only the patient still consenting", caller: "dave", request: "GET Patient", status: 200, ids: []string{"pat-s"}},
				{rule: "two clinics: the revoked chart is gone", caller: "dave", request: "GET Observation", status: 200, ids: []string{"obs-s"}},
				{rule: "the demo's clinic list still has the patient", caller: "admin", request: "GET Patient?_compartment=Organization/{org-north}&_fields=name", status: 200, ids: []string{"pat-n"}, elements: []string{"name"}},
			},
		},
	}
}

// TestMSOPractitionerAssignment is pattern (c): each patient is assigned
// to practitioners by putting their profile in the patient's accounts; the
// policy's criteria are <Type>?_compartment=%profile and its compartment is
// %profile, attached as membership.accessPolicy with no parameters.
func TestMSOPractitionerAssignment(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := newMSOWorld(t, s, "MSO Care Teams")
		w.run(t, assignmentSteps())
	})
}

func assignmentSteps() []msoStep {
	const pol = "ap-assigned"
	const policy = `{"resourceType":"AccessPolicy","name":"Assigned Patients Access Policy",
		"compartment":{"reference":"%profile"},
		"resource":[
			{"resourceType":"Practitioner","readonly":true},
			{"resourceType":"Patient","criteria":"Patient?_compartment=%profile"},
			{"resourceType":"Observation","criteria":"Observation?_compartment=%profile"},
			{"resourceType":"Encounter","criteria":"Encounter?_compartment=%profile"},
			{"resourceType":"DiagnosticReport","criteria":"DiagnosticReport?_compartment=%profile"},
			{"resourceType":"Communication","criteria":"Communication?_compartment=%profile"}]}`
	return []msoStep{
		{
			name: "nobody assigned",
			act: func(t *testing.T, w *msoWorld) {
				w.uploadPolicy(t, pol, policy)
				w.invite(t, "alice", pol)
				w.invite(t, "bob", pol)
				w.addPatient(t, "one", "One")
				w.addPatient(t, "two", "Two")
				w.addChart(t, "one", "obs-two")
				w.addChart(t, "two")
			},
			cases: []msoCase{
				{rule: "unassigned patients are invisible", caller: "alice", request: "GET Patient", status: 200, ids: []string{}},
				{rule: "unassigned patient is 404", caller: "alice", request: "GET Patient/{pat-one}", status: 404},
				{rule: "unassigned observation is 404", caller: "bob", request: "GET Observation/{obs-one}", status: 404},
				{rule: "colleagues are readable", caller: "alice", request: "GET Practitioner?_id={prac-alice},{prac-bob}", status: 200, ids: names("prac-", "alice", "bob")},
				{rule: "a type the policy does not grant is 403", caller: "alice", request: "GET Organization", status: 403},
			},
		},
		{
			name: "pat-one assigned to alice",
			act:  func(t *testing.T, w *msoWorld) { w.setAccounts(t, "pat-one", 5, "prac-alice") },
			cases: []msoCase{
				{rule: "sees her assigned patient", caller: "alice", request: "GET Patient", status: 200, ids: []string{"pat-one"}},
				{rule: "sees her assigned patient's chart", caller: "alice", request: "GET Patient?_revinclude=Observation:subject&_revinclude=Encounter:subject&_revinclude=DiagnosticReport:subject&_revinclude=Communication:subject", status: 200, ids: names("", "pat-one", "obs-one", "enc-one", "dr-one", "comm-one")},
				{rule: "_include leaves out an unassigned patient's result", caller: "alice", request: "GET DiagnosticReport?_include=DiagnosticReport:result", status: 200, ids: names("", "dr-one", "obs-one")},
				{rule: "unassigned patient is still 404", caller: "alice", request: "GET Patient/{pat-two}", status: 404},
				{rule: "another practitioner's patient is 404", caller: "bob", request: "GET Patient/{pat-one}", status: 404},
				{rule: "another practitioner's count", caller: "bob", request: "GET Observation?_summary=count", status: 200, ids: []string{}},
			},
		},
		{
			name: "pat-one shared with bob; alice charts",
			act: func(t *testing.T, w *msoWorld) {
				w.setAccounts(t, "pat-one", 5, "prac-alice", "prac-bob")
				w.createAs(t, "alice", "obs-one-alice", `{"resourceType":"Observation","status":"final","code":{"text":"Note"},"subject":{"reference":"Patient/{pat-one}"}}`)
				w.wantAccounts(t, "obs-one-alice", "prac-alice", "prac-bob")
				w.createAs(t, "alice", "pat-alice", `{"resourceType":"Patient","name":[{"family":"Own"}]}`)
				w.wantAccounts(t, "pat-alice", "prac-alice")
			},
			cases: []msoCase{
				{rule: "a shared patient is visible to both", caller: "bob", request: "GET Patient", status: 200, ids: []string{"pat-one"}},
				{rule: "a colleague's note on a shared patient is visible", caller: "bob", request: "GET Observation/{obs-one-alice}", status: 200, ids: []string{"obs-one-alice"}},
				{rule: "sees her patients", caller: "alice", request: "GET Patient", status: 200, ids: names("pat-", "one", "alice")},
				{rule: "a patient she created is hers alone", caller: "bob", request: "GET Patient/{pat-alice}", status: 404},
			},
		},
		{
			name: "pat-one reassigned to bob",
			act:  func(t *testing.T, w *msoWorld) { w.setAccounts(t, "pat-one", 6, "prac-bob") },
			cases: []msoCase{
				{rule: "reassigned away: patient 404 on the next request", caller: "alice", request: "GET Patient/{pat-one}", status: 404},
				{rule: "reassigned away: her own note leaves with the patient", caller: "alice", request: "GET Observation/{obs-one-alice}", status: 404},
				{rule: "reassigned away: what is left", caller: "alice", request: "GET Patient", status: 200, ids: []string{"pat-alice"}},
				{rule: "reassigned to him: the whole chart", caller: "bob", request: "GET Observation?subject=Patient/{pat-one}", status: 200, ids: names("obs-one", "", "-alice")},
			},
		},
		{
			name: "pat-two assigned to bob as well",
			act:  func(t *testing.T, w *msoWorld) { w.setAccounts(t, "pat-two", 5, "prac-bob") },
			cases: []msoCase{
				{rule: "two assigned patients", caller: "bob", request: "GET Patient", status: 200, ids: names("pat-", "one", "two")},
				{rule: "_include now reaches the other patient's result", caller: "bob", request: "GET DiagnosticReport?_id={dr-one}&_include=DiagnosticReport:result", status: 200, ids: names("", "dr-one", "obs-one", "obs-two")},
				{rule: "two assigned patients: count", caller: "bob", request: "GET Observation?_summary=count", status: 200, ids: names("obs-", "one", "one-alice", "two")},
				{rule: "not assigned to her", caller: "alice", request: "GET Patient/{pat-two}", status: 404},
			},
		},
	}
}
