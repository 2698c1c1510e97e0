package wire_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// The exports of Medplum's app (issue 13): a chart's $everything by POST and
// its $summary (the IPS document), and a list's $csv, with real tokens in
// an MSO project: a clinician's export holds only what its policy lets it
// read, another clinic's patient is 404, another project's too.

// chartWorld is two clinics with a patient each; alice works at north,
// bob at south, under the MSO policy (which grants neither Condition nor
// AllergyIntolerance), and a stranger owns another project.
func chartWorld(t *testing.T, s *store.Store, name string) *msoWorld {
	w := newMSOWorld(t, s, name)
	w.uploadPolicy(t, "ap-chart", msoPolicy("Chart Export Policy", ""))
	w.create(t, "org-north", `{"resourceType":"Organization","name":"Clinic north"}`)
	w.create(t, "org-south", `{"resourceType":"Organization","name":"Clinic south"}`)
	w.invite(t, "alice", "ap-chart", "org-north")
	w.invite(t, "bob", "ap-chart", "org-south")
	for _, c := range []struct{ s, family, org string }{{"n", "Northwood", "org-north"}, {"s", "Southey", "org-south"}} {
		sub := `"subject":{"reference":"Patient/{pat-` + c.s + `}"}`
		w.create(t, "pat-"+c.s, `{"resourceType":"Patient","name":[{"given":["Pat"],"family":"`+c.family+`"}],"gender":"female","birthDate":"1980-02-03",
			"managingOrganization":{"reference":"Organization/{`+c.org+`}"}}`)
		w.create(t, "obs-"+c.s, `{"resourceType":"Observation","status":"final","code":{"text":"Glucose `+c.family+`"},`+sub+`,
			"valueQuantity":{"value":5.4,"unit":"mmol/L"},"effectiveDateTime":"2024-03-04T10:00:00Z"}`)
		w.create(t, "vital-"+c.s, `{"resourceType":"Observation","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],
			"code":{"text":"Heart rate `+c.family+`"},`+sub+`,"valueQuantity":{"value":72,"unit":"/min"}}`)
		w.create(t, "dr-"+c.s, `{"resourceType":"DiagnosticReport","status":"final","code":{"text":"Panel `+c.family+`"},`+sub+`,"result":[{"reference":"Observation/{obs-`+c.s+`}"}]}`)
		w.create(t, "enc-"+c.s, `{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},`+sub+`,"participant":[{"individual":{"reference":"Practitioner/{prac-alice}"}}]}`)
		w.create(t, "cond-"+c.s, `{"resourceType":"Condition","code":{"text":"Asthma `+c.family+`"},`+sub+`}`)
		w.create(t, "alg-"+c.s, `{"resourceType":"AllergyIntolerance","code":{"text":"Peanut `+c.family+`"},"patient":{"reference":"Patient/{pat-`+c.s+`}"}}`)
		w.setAccounts(t, "pat-"+c.s, 7, c.org)
	}
	w.callers["stranger"] = registerProject(t, w.srv, "stranger@"+w.project+".example.com", name+" stranger").owner
	return w
}

// TestChartExports: $everything by POST, $summary and the refusals, as
// table cases; the summary's contents are checked below them.
func TestChartExports(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := chartWorld(t, s, "Chart Exports")
		clinicalN := []string{"pat-n", "obs-n", "vital-n", "dr-n", "enc-n"}
		w.run(t, []msoStep{{
			name: "exports from a chart",
			cases: []msoCase{
				{rule: "POST $everything with {} (Medplum's export form)", caller: "alice",
					request: "POST /fhir/R4/Patient/{pat-n}/$everything {}", status: 200, ids: clinicalN},
				{rule: "POST $everything with a plain object", caller: "alice",
					request: `POST /fhir/R4/Patient/{pat-n}/$everything {"_type":["Observation"],"_count":50}`, status: 200, ids: []string{"pat-n", "obs-n", "vital-n"}},
				{rule: "POST $everything of another clinic's patient is 404", caller: "alice",
					request: "POST /fhir/R4/Patient/{pat-s}/$everything {}", status: 404},
				{rule: "POST $everything of another project's patient is 404", caller: "stranger",
					request: "POST /fhir/R4/Patient/{pat-n}/$everything {}", status: 404},
				{rule: "POST $everything with malformed Parameters is 400", caller: "alice",
					request: `POST /fhir/R4/Patient/{pat-n}/$everything {"resourceType":"Parameters","parameter":[{"name":"_count"}]}`, status: 400},
				{rule: "$summary: everything the admin may read, the author's profile", caller: "admin",
					request: "GET /fhir/R4/Patient/{pat-n}/$summary", status: 200, subset: true,
					ids: []string{"pat-n", "obs-n", "vital-n", "dr-n", "enc-n", "cond-n", "alg-n", "org-north", "prac-alice"}, absent: []string{"pat-s", "obs-s", "cond-s", "alg-s"}},
				{rule: "$summary: a clinician's holds only the types its policy grants", caller: "alice",
					request: "GET /fhir/R4/Patient/{pat-n}/$summary", status: 200, subset: true,
					ids: []string{"pat-n", "obs-n", "vital-n", "dr-n", "enc-n", "prac-alice"}, absent: []string{"cond-n", "alg-n", "pat-s", "obs-s"}},
				{rule: "POST $summary with an author and authoredOn", caller: "bob",
					request: `POST /fhir/R4/Patient/{pat-s}/$summary {"author":{"reference":"Organization/{org-south}"},"authoredOn":"2024-05-01T00:00:00Z"}`,
					status:  200, subset: true, ids: []string{"pat-s", "org-south"}, absent: []string{"pat-n", "obs-n"}},
				{rule: "$summary of another clinic's patient is 404", caller: "bob", request: "GET /fhir/R4/Patient/{pat-n}/$summary", status: 404},
				{rule: "$summary of another clinic's patient by POST is 404", caller: "alice", request: "POST /fhir/R4/Patient/{pat-s}/$summary {}", status: 404},
				{rule: "$summary of another project's patient is 404", caller: "stranger", request: "GET /fhir/R4/Patient/{pat-n}/$summary", status: 404},
				{rule: "$summary with an author in the query is 400", caller: "alice", request: "GET /fhir/R4/Patient/{pat-n}/$summary?author=Practitioner/x", status: 400},
				{rule: "$summary with a text author is 400", caller: "alice", request: `POST /fhir/R4/Patient/{pat-n}/$summary {"author":"Practitioner/x"}`, status: 400},
				{rule: "$summary with a bad authoredOn is 400", caller: "alice", request: `POST /fhir/R4/Patient/{pat-n}/$summary {"authoredOn":"yesterday"}`, status: 400},
				{rule: "$summary with a bad care date is 400", caller: "alice", request: `POST /fhir/R4/Patient/{pat-n}/$summary {"start":"last spring"}`, status: 400},
				{rule: "$summary of a care period", caller: "alice", request: `POST /fhir/R4/Patient/{pat-n}/$summary {"start":"2024-01-01","end":"2025-01-01"}`,
					status: 200, subset: true, ids: []string{"pat-n", "obs-n", "dr-n"}, absent: []string{"pat-s", "obs-s"}},
				{rule: "$summary with malformed Parameters is 400", caller: "alice",
					request: `POST /fhir/R4/Patient/{pat-n}/$summary {"resourceType":"Parameters","parameter":"author"}`, status: 400},
				{rule: "$summary naming an author the caller cannot read is 404", caller: "alice",
					request: `POST /fhir/R4/Patient/{pat-n}/$summary {"author":{"reference":"Practitioner/00000000-0000-4000-8000-000000000000"}}`, status: 404},
			},
		}})

		t.Run("the summary document", func(t *testing.T) {
			doc := w.as(t, "alice").mustGet("Patient/" + w.f.id("pat-n") + "/$summary")
			if doc.body["type"] != "document" || doc.body["timestamp"] == nil {
				t.Fatalf("not a document Bundle: %s", doc.raw)
			}
			comp := field(list(doc.body, "entry")[0], "resource")
			if field(comp, "resourceType") != "Composition" || field(comp, "subject", "reference") != w.f.ref("pat-n") ||
				field(comp, "author").([]any)[0].(map[string]any)["reference"] != w.f.ref("prac-alice") ||
				field(comp, "custodian", "reference") != w.f.ref("org-north") || field(comp, "title") != "Medical Summary" {
				t.Errorf("Composition %v", comp)
			}
			if field(list(comp, "type", "coding")[0], "code") != "60591-5" {
				t.Errorf("Composition type %v", field(comp, "type"))
			}
			sections := map[string]any{}
			var titles []string
			for _, s := range list(comp, "section") {
				sections[field(list(s, "code", "coding")[0], "code").(string)] = s
				titles = append(titles, field(s, "title").(string))
			}
			want := "Allergies|Immunizations|Medications|Problem List|Results|Social History|Vital Signs|Procedures|Encounters|Devices|Assessments|Plan of Treatment"
			if strings.Join(titles, "|") != want {
				t.Errorf("sections %v, want %s (the empty optional ones left out)", titles, want)
			}
			sectionRefs := func(code string) []string {
				var out []string
				for _, e := range list(sections[code], "entry") {
					out = append(out, field(e, "reference").(string))
				}
				return w.f.names(out)
			}
			// The report's result sits under the report, not beside it.
			if got := sectionRefs("30954-2"); strings.Join(got, ",") != "dr-n" {
				t.Errorf("Results entries %v, want [dr-n]", got)
			}
			if got := sectionRefs("8716-3"); strings.Join(got, ",") != "vital-n" {
				t.Errorf("Vital Signs entries %v, want [vital-n]", got)
			}
			if got := sectionRefs("48765-2"); len(got) != 0 {
				t.Errorf("alice's Allergies list %v: her policy does not grant AllergyIntolerance", got)
			}
			results := field(sections["30954-2"], "text", "div").(string)
			for _, s := range []string{"Panel Northwood", "Glucose Northwood", "5.4 mmol/L", "3/4/2024"} {
				if !strings.Contains(results, s) {
					t.Errorf("Results table lacks %q: %s", s, results)
				}
			}
			for _, leak := range []string{"Southey", "Peanut", "Asthma"} {
				if strings.Contains(string(doc.raw), leak) {
					t.Errorf("alice's summary shows %q", leak)
				}
			}
			admin := w.as(t, "admin").mustGet("Patient/" + w.f.id("pat-n") + "/$summary")
			for _, s := range []string{"Peanut Northwood", "Asthma Northwood"} {
				if !strings.Contains(string(admin.raw), s) {
					t.Errorf("the admin's summary lacks %q", s)
				}
			}
			post := w.as(t, "bob").do("POST", "Patient/"+w.f.id("pat-s")+"/$summary", `{"resourceType":"Parameters","parameter":[{"name":"authoredOn","valueDateTime":"2024-05-01T00:00:00Z"}]}`)
			if c := field(list(post.body, "entry")[0], "resource"); post.status != 200 || field(c, "date") != "2024-05-01T00:00:00Z" {
				t.Errorf("POST Parameters authoredOn: %d %v", post.status, c)
			}
		})
	})
}

// TestListCSV: GET {type}/$csv, the app list's "Export → CSV": the
// caller's search as CSV (Medplum's columns and escaping), a clinician's
// holding only its clinic's patients, another project's none, and 400s
// for what cannot be exported.
func TestListCSV(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := chartWorld(t, s, "List CSV")
		w.create(t, "pat-evil", `{"resourceType":"Patient","name":[{"family":"Eve \"Quote\"","given":["=HYPERLINK(\"http://evil.example\")"]}],
			"address":[{"line":["1 Main St"],"city":"Springfield","state":"IL","postalCode":"62701"}],"telecom":[{"system":"email","value":"@eve"}]}`)
		csv := func(caller, query string) reply {
			t.Helper()
			return w.as(t, caller).get(w.expand(t, query))
		}
		r := csv("admin", "Patient/$csv?_fields=id,name,birthdate,gender,address,telecom,organization&_sort=family")
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") ||
			r.header.Get("Content-Disposition") != "attachment; filename=export.csv" {
			t.Fatalf("%d %v %s", r.status, r.header, r.raw)
		}
		want := "\uFEFFid,name,birthdate,gender,address,telecom,organization\n" +
			`"` + w.f.id("pat-evil") + `","'=HYPERLINK(""http://evil.example"") Eve ""Quote""",,,"1 Main St, Springfield, IL, 62701","'@eve",` + "\n" +
			`"` + w.f.id("pat-n") + `","Pat Northwood","1980-02-03","female",,,"` + w.f.ref("org-north") + `"` + "\n" +
			`"` + w.f.id("pat-s") + `","Pat Southey","1980-02-03","female",,,"` + w.f.ref("org-south") + `"`
		if string(r.raw) != want {
			t.Errorf("admin's export:\n%s\nwant:\n%s", r.raw, want)
		}

		r = csv("alice", "Patient/$csv?_fields=name,birthDate&_count=1")
		if got := string(r.raw); r.status != 200 || got != "\uFEFFname,birthDate\n\"Pat Northwood\",\"1980-02-03\"" {
			t.Errorf("alice's export (her clinic only, _count ignored): %d %q", r.status, got)
		}
		// The app's list: formatSearchQuery of its SearchControl definition.
		r = csv("alice", "Patient/$csv?_fields=id,_lastUpdated,name,birthDate,gender&name:contains=pat&_sort=-_lastUpdated&_count=20&_total=accurate")
		lines := strings.Split(strings.TrimPrefix(string(r.raw), "\uFEFF"), "\n")
		if r.status != 200 || len(lines) != 2 || lines[0] != "id,_lastUpdated,name,birthDate,gender" ||
			!regexp.MustCompile(`^"`+w.f.id("pat-n")+`","20\d\d-\d\d-\d\dT[0-9:.]+Z","Pat Northwood","1980-02-03","female"$`).MatchString(lines[1]) {
			t.Errorf("the app's export: %d %q", r.status, r.raw)
		}
		r = csv("bob", "Observation/$csv?_fields=code,subject,value,status&_sort=_id")
		if got := string(r.raw); r.status != 200 || strings.Contains(got, "Northwood") || !strings.Contains(got, `"Glucose Southey","Patient/`+w.f.id("pat-s")+`",5.4,"final"`) {
			t.Errorf("bob's Observation export: %d %q", r.status, got)
		}
		r = csv("stranger", "Patient/$csv?_fields=name")
		if got := string(r.raw); r.status != 200 || got != "\uFEFFname" {
			t.Errorf("another project's export: %d %q", r.status, got)
		}

		for _, c := range []struct{ name, query, want string }{
			{"no _fields", "Patient/$csv?name=Pat", "Missing _fields"},
			{"an unknown field", "Patient/$csv?_fields=name,nonsense", "nonsense"},
			{"an unknown field under the type", "Patient/$csv?_fields=Patient.nonsense", "nonsense"},
			{"a field that does not parse", "Patient/$csv?_fields=name.where(", "name.where("},
			{"an unknown type", "Nonsense/$csv?_fields=id", "Unsupported resource type"},
			{"an unknown search parameter", "Patient/$csv?_fields=id&nonsense=1", "nonsense"},
			{"an unknown sort", "Patient/$csv?_fields=id&_sort=nonsense", "nonsense"},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := csv("alice", c.query)
				if r.status != 400 || !isOutcome(r.body) || !strings.Contains(outcomeText(r.body), c.want) {
					t.Errorf("%d %s, want a 400 OperationOutcome naming %q", r.status, r.raw, c.want)
				}
			})
		}
	})
}

// TestMedplumStatusStrings: batch and transaction entries carry Medplum's
// bare status codes (the app's form page compares with '200'), and an
// unknown API route answers a FHIR OperationOutcome, never plain text.
func TestMedplumStatusStrings(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := chartWorld(t, s, "Status Strings")
		alice := w.as(t, "alice")
		r := alice.do("POST", "", w.expand(t, `{"resourceType":"Bundle","type":"batch","entry":[
			{"request":{"method":"GET","url":"Patient/{pat-n}"}},
			{"request":{"method":"GET","url":"Patient/{pat-s}"}},
			{"request":{"method":"POST","url":"Observation"},"resource":{"resourceType":"Observation","status":"final","code":{"text":"new"},"subject":{"reference":"Patient/{pat-n}"}}},
			{"request":{"method":"DELETE","url":"Observation/{obs-n}"}}]}`))
		var got []string
		for _, e := range list(r.body, "entry") {
			got = append(got, field(e, "response", "status").(string))
		}
		if r.status != 200 || strings.Join(got, " ") != "200 404 201 200" {
			t.Errorf("batch statuses %v (another clinic's patient 404): %d %s", got, r.status, r.raw)
		}
		if loc := field(list(r.body, "entry")[0], "response", "location"); loc != w.f.ref("pat-n") {
			t.Errorf("location %v, want %s", loc, w.f.ref("pat-n"))
		}
		r = alice.do("POST", "", w.expand(t, `{"resourceType":"Bundle","type":"transaction","entry":[
			{"request":{"method":"POST","url":"Observation"},"resource":{"resourceType":"Observation","status":"final","code":{"text":"tx"},"subject":{"reference":"Patient/{pat-n}"}}}]}`))
		if s, _ := field(list(r.body, "entry")[0], "response", "status").(string); r.status != 200 || s != "201" {
			t.Errorf("transaction entry status %q: %d %s", s, r.status, r.raw)
		}

		for _, c := range []struct{ method, path string }{
			{"GET", "/auth/no-such-page"}, {"POST", "/auth/no-such-page"}, {"GET", "/admin/no/such/page"},
			{"GET", "/oauth2/no-such-page"}, {"GET", "/fhir/R4/Patient/x/$no-such-operation"}, {"PUT", "/no-such-page"},
		} {
			r := alice.do(c.method, c.path, "")
			if (r.status != 404 && r.status != 405) || !strings.HasPrefix(r.header.Get("Content-Type"), "application/fhir+json") || !isOutcome(r.body) {
				t.Errorf("%s %s: %d %s %q, want a 404 OperationOutcome", c.method, c.path, r.status, r.header.Get("Content-Type"), r.raw)
			}
		}
	})
}
