package wire_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// Issue 5's new surfaces ($graphql, ValueSet/$expand, Patient/$everything,
// AsyncJob status and cancel, _filter) attacked over HTTP with real tokens:
// an MSO project with two clinics, a clinician of the north one whose
// policy hides the Patient's telecom, and another project's owner. Each
// case names what a caller must get (status) and what its answer must and
// must not hold, so a leak (another clinic's or project's resource, a
// hidden field, a password hash) or a bad input answered with a 500 fails
// it. Cases run in order: the mutations' effects are checked by the cases
// after them.

// review5Case is one request. request is "METHOD path" or "METHOD path
// body" with {name} placeholders; has and lacks are substrings of the
// answer (placeholders expanded). A status >= 400 must be an
// OperationOutcome.
type review5Case struct {
	rule    string
	caller  string
	request string
	status  int
	has     []string
	lacks   []string
	headers []string
	// atMost: substrings the answer may hold at most so many times.
	atMost map[string]int
}

// gql is a $graphql POST of query (with {name} placeholders).
func gql(query string) string {
	return "POST /fhir/R4/$graphql " + fmt.Sprintf(`{"query":%q}`, query)
}

// review5World: org-north and org-south, pat-n (north) and pat-s (south)
// with their charts (dr-n lists obs-s), alice a clinician of the north
// with telecom hidden, "other" another project's owner, "job" the admin's
// async $set-accounts of pat-s.
func review5World(t *testing.T, s *store.Store) *msoWorld {
	w := newMSOWorld(t, s, "MSO Review Five")
	policy := strings.Replace(msoPolicy("Review Policy", ""),
		`{"resourceType":"Patient","criteria":"Patient?_compartment=%organization"}`,
		`{"resourceType":"Patient","criteria":"Patient?_compartment=%organization","hiddenFields":["telecom"]}`, 1)
	policy = strings.Replace(policy, `{"resourceType":"Observation","criteria":"Observation?_compartment=%organization"}`,
		`{"resourceType":"Observation","criteria":"Observation?_compartment=%organization","writeConstraint":[`+
			`{"language":"text/fhirpath","expression":"%before.exists() implies %before.status != 'final'"},`+
			`{"language":"text/fhirpath","expression":"status != 'cancelled'"}]}`, 1)
	if !strings.Contains(policy, "hiddenFields") || !strings.Contains(policy, "writeConstraint") {
		t.Fatal("test bug: policy without hiddenFields")
	}
	w.uploadPolicy(t, "ap", policy)
	w.create(t, "org-north", `{"resourceType":"Organization","name":"Clinic north"}`)
	w.create(t, "org-south", `{"resourceType":"Organization","name":"Clinic south"}`)
	w.invite(t, "alice", "ap", "org-north")
	w.addPatient(t, "n", "North")
	w.addPatient(t, "s", "South")
	w.addChart(t, "n", "obs-s")
	w.addChart(t, "s")
	w.setAccounts(t, "pat-n", 5, "org-north")
	// An Observation about the north patient filed under the south clinic
	// only (an admin's explicit accounts): hidden from alice although she
	// reads its subject.
	w.createAs(t, "admin", "obs-hid", `{"resourceType":"Observation","status":"final","code":{"text":"South-only note"},"subject":{"reference":"Patient/{pat-n}"},`+
		`"meta":{"accounts":[{"reference":"Organization/{org-south}"}]}}`, "X-Medplum", "extended")
	w.wantAccounts(t, "obs-hid", "org-south")
	w.create(t, "vs", `{"resourceType":"ValueSet","status":"active","url":"http://mso.example/vs","compose":{"include":[{"system":"http://mso.example/cs"}]}}`)
	w.create(t, "cs", `{"resourceType":"CodeSystem","status":"active","content":"complete","url":"http://mso.example/cs","concept":[{"code":"north-code"}]}`)
	body := `{"resourceType":"Parameters","parameter":[{"name":"accounts","valueReference":{"reference":"Organization/{org-south}"}},{"name":"propagate","valueBoolean":true}]}`
	r := w.as(t, "admin").do("POST", w.f.ref("pat-s")+"/$set-accounts", w.expand(t, body), "Prefer", "respond-async")
	loc := r.header.Get("Content-Location")
	_, id, _ := strings.Cut(loc, "/fhir/R4/job/")
	id, _, _ = strings.Cut(id, "/")
	if r.status != 202 || id == "" {
		t.Fatalf("async $set-accounts: %d %s (Content-Location %q)", r.status, r.raw, loc)
	}
	w.f["job"] = "AsyncJob/" + id
	w.f["project"] = "Project/" + w.project
	// A definition of the FHIR R4 project, as fhir/definitions loads them.
	sys := ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
	err := s.Write(sys, func(ctx context.Context, tx ward.ResourceTx) error {
		res, err := tx.Create(ctx, "ValueSet", []byte(`{"resourceType":"ValueSet","status":"active","url":"http://hl7.org/fhir/ValueSet/review5",`+
			`"meta":{"project":"`+ward.R4ProjectID+`"},"compose":{"include":[{"system":"http://x","concept":[{"code":"r4-code"}]}]}}`))
		if err == nil {
			w.f["r4vs"] = res.Reference()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	other := registerProject(t, w.srv, "owner@review5-other.example.com", "Review Five Other")
	w.callers["other"] = other.owner
	return w
}

func review5Cases() []review5Case {
	const notFound = `"message":"Not found"`
	gqlBody := func(b string) string { return "POST /fhir/R4/$graphql " + b }
	return []review5Case{
		// $graphql: project walls.
		{rule: "another project's Patient by id is not found", caller: "other", request: gql(`{ Patient(id: "{pat-n}") { id name { family } } }`),
			status: 200, has: []string{notFound}, lacks: []string{"North"}},
		{rule: "another project's Patient by _id is an empty list", caller: "other", request: gql(`{ PatientList(_id: "{pat-n}") { id } }`),
			status: 200, has: []string{`{"data":{"PatientList":[]}}`}},
		{rule: "another project's count is 0", caller: "other", request: gql(`{ PatientConnection(_id: "{pat-n}") { count } }`),
			status: 200, has: []string{`"count":0`}},
		{rule: "_project of another project counts nothing", caller: "other", request: gql(`{ PatientConnection(_project: "Project/{project}") { count } }`),
			status: 200, has: []string{`"count":0`}},
		{rule: "_compartment of another project's patient counts nothing", caller: "other", request: gql(`{ ObservationConnection(_compartment: "Patient/{pat-n}") { count } }`),
			status: 200, has: []string{`"count":0`}},
		{rule: "a reverse lookup from the own Patient does not reach another project", caller: "other", request: gql(`{ PatientList { ObservationList(_reference: subject) { id } } }`),
			status: 200, lacks: []string{"{obs-n}"}},
		{rule: "another project's ValueSet by url is not listed", caller: "other", request: gql(`{ ValueSetList(url: "http://mso.example/vs") { id } }`),
			status: 200, has: []string{`{"data":{"ValueSetList":[]}}`}},

		// $graphql: clinic walls and hidden fields.
		{rule: "another clinic's Patient by id is not found", caller: "alice", request: gql(`{ Patient(id: "{pat-s}") { id name { family } } }`),
			status: 200, has: []string{notFound}, lacks: []string{"South"}},
		{rule: "counts only the own clinic's rows", caller: "alice", request: gql(`{ PatientConnection { count } ObservationConnection { count } }`),
			status: 200, has: []string{`"ObservationConnection":{"count":1}`, `"PatientConnection":{"count":1}`}},
		{rule: "_compartment of another clinic finds nothing", caller: "alice", request: gql(`{ PatientList(_compartment: "Organization/{org-south}") { id } }`),
			status: 200, has: []string{`{"data":{"PatientList":[]}}`}},
		{rule: "_filter on another clinic's compartment finds nothing", caller: "alice", request: gql(`{ PatientList(_filter: "_compartment eq Organization/{org-south}") { id } }`),
			status: 200, has: []string{`{"data":{"PatientList":[]}}`}},
		{rule: "a nested reference into another clinic is null", caller: "alice", request: gql(`{ DiagnosticReport(id: "{dr-n}") { result { reference resource { ... on Observation { id status } } } } }`),
			status: 200, has: []string{`{"reference":"Observation/{obs-s}","resource":null}`, `"resource":{"id":"{obs-n}"`}},
		{rule: "a reverse lookup lists the own clinic's rows only", caller: "alice", request: gql(`{ Patient(id: "{pat-n}") { ObservationList(_reference: subject) { id } } }`),
			status: 200, has: []string{`"ObservationList":[{"id":"{obs-n}"}]`}},
		{rule: "a reverse lookup leaves out the subject's rows of another clinic", caller: "alice", request: gql(`{ Patient(id: "{pat-n}") { ObservationList(_reference: subject) { id } } }`),
			status: 200, lacks: []string{"{obs-hid}"}},
		{rule: "a reverse connection does not count them", caller: "alice", request: gql(`{ ObservationConnection(subject: "Patient/{pat-n}") { count } }`),
			status: 200, has: []string{`"count":1`}},
		{rule: "the admin sees both", caller: "admin", request: gql(`{ ObservationConnection(subject: "Patient/{pat-n}") { count } }`),
			status: 200, has: []string{`"count":2`}},
		{rule: "hidden fields stay hidden in lists", caller: "alice", request: gql(`{ PatientList { telecom { value } } }`),
			status: 200, lacks: []string{"555-0100"}},
		{rule: "hidden fields stay hidden in nested references", caller: "alice", request: gql(`{ Observation(id: "{obs-n}") { subject { resource { ... on Patient { telecom { value } } } } } }`),
			status: 200, has: []string{`"telecom":null`}, lacks: []string{"555-0100"}},
		{rule: "an admin never reads password hashes", caller: "admin", request: gql(`{ UserList { email passwordHash mfaSecret } }`),
			status: 200, has: []string{`"passwordHash":null`}, lacks: []string{`"$2`}},
		{rule: "without extended mode meta.author, project, account and compartment are not shown (as REST)", caller: "alice",
			request: gql(`{ Patient(id: "{pat-n}") { meta { author { reference } project account { reference } compartment { reference } accounts { reference } } } }`),
			status:  200, has: []string{`"accounts":[{"reference":"Organization/{org-north}"}]`, `"author":null`, `"project":null`, `"account":null`, `"compartment":null`}},
		{rule: "extended mode shows them", caller: "admin", headers: []string{"X-Medplum", "extended"},
			request: gql(`{ Patient(id: "{pat-n}") { meta { project compartment { reference } } } }`),
			status:  200, has: []string{`"project":"{project}"`, `{"reference":"Organization/{org-north}"}`}},
		{rule: "introspection of the schema is for admins", caller: "alice", request: gql(`{ __schema { types { name } } }`), status: 403},

		// $graphql mutations: the policy and the walls apply, nothing leaks.
		{rule: "a readonly type cannot be created", caller: "alice", request: gql(`mutation { OrganizationCreate(res: {name: "Rogue"}) { id } }`),
			status: 200, has: []string{`"message":"Forbidden"`}},
		{rule: "another clinic's Patient cannot be updated", caller: "alice", request: gql(`mutation { PatientUpdate(id: "{pat-s}", res: {id: "{pat-s}", gender: "male"}) { id } }`),
			status: 200, has: []string{notFound}},
		{rule: "another clinic's Patient cannot be deleted", caller: "alice", request: gql(`mutation { PatientDelete(id: "{pat-s}") { id } }`),
			status: 200, has: []string{notFound}},
		{rule: "another project's Patient cannot be updated", caller: "other", request: gql(`mutation { PatientUpdate(id: "{pat-n}", res: {id: "{pat-n}", gender: "male"}) { id } }`),
			status: 200, has: []string{notFound}},
		{rule: "…so pat-s is unchanged", caller: "admin", request: "GET /fhir/R4/Patient/{pat-s}", status: 200, has: []string{"South"}, lacks: []string{"male"}},
		{rule: "an update without the hidden field answers without it", caller: "alice",
			request: gql(`mutation { PatientUpdate(id: "{pat-n}", res: {id: "{pat-n}", name: [{family: "North"}], gender: "female"}) { id telecom { value } } }`),
			status:  200, has: []string{`"telecom":null`}, lacks: []string{"555-0100"}},
		{rule: "…and keeps it", caller: "admin", request: "GET /fhir/R4/Patient/{pat-n}", status: 200, has: []string{"555-0100", "female"}},
		{rule: "meta.accounts of another clinic are not taken", caller: "alice",
			request: gql(`mutation { PatientCreate(res: {name: [{family: "Rogue"}], meta: {accounts: [{reference: "Organization/{org-south}"}]}}) { meta { accounts { reference } } } }`),
			status:  200, has: []string{"Organization/{org-north}"}, lacks: []string{"{org-south}"}},

		{rule: "a writeConstraint refuses the update of a final Observation", caller: "alice",
			request: gql(`mutation { ObservationUpdate(id: "{obs-n}", res: {id: "{obs-n}", status: "amended", code: {text: "Heart rate"}, subject: {reference: "Patient/{pat-n}"}}) { id status } }`),
			status:  200, has: []string{`"ObservationUpdate":null`, `"errors"`}, lacks: []string{`"status":"amended"`, "Internal server error"}},
		{rule: "a writeConstraint refuses a create", caller: "alice",
			request: gql(`mutation { ObservationCreate(res: {status: "cancelled", code: {text: "Refused"}, subject: {reference: "Patient/{pat-n}"}}) { id } }`),
			status:  200, has: []string{`"ObservationCreate":null`, `"errors"`}, lacks: []string{"Internal server error"}},
		{rule: "…so nothing was written", caller: "admin", request: gql(`{ ObservationConnection(subject: "Patient/{pat-n}") { count edges { resource { ... on Observation { status } } } } }`),
			status: 200, has: []string{`"count":2`}, lacks: []string{"amended", "cancelled"}},

		// $graphql: bad input is a 400 (or 413) OperationOutcome.
		{rule: "a JSON array body", caller: "alice", request: gqlBody(`[1]`), status: 400},
		{rule: "a null body", caller: "alice", request: gqlBody(`null`), status: 400},
		{rule: "a query that is not a string", caller: "alice", request: gqlBody(`{"query":5}`), status: 400},
		{rule: "variables that are not an object", caller: "alice", request: gqlBody(`{"query":"{ PatientList { id } }","variables":[1]}`), status: 400},
		{rule: "GET variables that are not an object", caller: "alice", request: "GET /fhir/R4/$graphql?query=%7BPatientList%7Bid%7D%7D&variables=5", status: 400},
		{rule: "GET without a query", caller: "alice", request: "GET /fhir/R4/$graphql", status: 400},
		{rule: "a mutation over GET", caller: "alice", request: "GET /fhir/R4/$graphql?query=mutation%7BPatientCreate(res:%7Bgender:%22male%22%7D)%7Bid%7D%7D", status: 400},
		{rule: "a syntax error", caller: "alice", request: gql(`{ PatientList { id }`), status: 400},
		{rule: "an unknown field", caller: "alice", request: gql(`{ PatientList { nope } }`), status: 400},
		{rule: "a _reference that is not a reference parameter", caller: "alice", request: gql(`{ Patient(id: "{pat-n}") { ObservationList(_reference: "_id") { id } } }`), status: 400},
		{rule: "too deep", caller: "alice", request: gql(`{ PatientList ` + strings.Repeat(`{ link { other `, 7) + `{ id }` + strings.Repeat(` } }`, 7) + ` }`), status: 400, has: []string{"depth"}},
		{rule: "an aliased field repeated past the limit", caller: "alice", request: gql(`{ ` + strings.Repeat("PatientList { id } ", 12) + `}`), status: 400, has: []string{"more than 10 times"}},
		{rule: "an oversized body", caller: "alice", request: gqlBody(`{"query":"{ PatientList(name: \"` + strings.Repeat("a", maxBody) + `\") { id } }"}`), status: 413},
		{rule: "aliases do not multiply searches of many parameters", caller: "alice", request: gql(`{ ` + aliasedFilters(20, 100, "and") + `}`),
			status: 200, has: []string{"Too many search parameters in one query"}, atMost: map[string]int{`:[]`: 2}},
		{rule: "lists of a few parameters each are not counted", caller: "alice", request: gql(`{ ` + aliasedFilters(100, 5, "and") + `}`),
			status: 200, has: []string{`"a99":[]`}, lacks: []string{`"errors"`}},
		{rule: "or'ed _filter comparisons count as much as and'ed ones", caller: "alice", request: gql(`{ ` + aliasedFilters(20, 100, "or") + `}`),
			status: 200, has: []string{"Too many search parameters in one query"}, atMost: map[string]int{`:[]`: 2}},
		{rule: "a _filter nested too deeply is a field error naming where", caller: "alice",
			request: gql(`{ PatientList(_filter: "` + strings.Repeat("not (", 17) + "name eq x" + strings.Repeat(")", 17) + `") { id } }`),
			status:  200, has: []string{"Invalid _filter at position 85: nested too deeply"}},
		{rule: "a bad search value is a field error, not a 500", caller: "alice", request: gql(`{ PatientList(birthdate: "notadate") { id } }`),
			status: 200, has: []string{"Invalid date value for parameter birthdate"}},

		// The FHIR R4 project's definitions: read by every project, written by none.
		{rule: "an R4 definition is read", caller: "other", request: "GET /fhir/R4/ValueSet/{r4vs}", status: 200, has: []string{"r4-code"}},
		{rule: "a policy without ValueSet cannot expand an R4 definition", caller: "alice", request: "GET /fhir/R4/ValueSet/{r4vs}/$expand", status: 403},
		{rule: "an R4 definition expands by url", caller: "other", request: "GET /fhir/R4/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/review5", status: 200, has: []string{"r4-code"}},
		{rule: "an R4 definition cannot be replaced", caller: "admin",
			request: `PUT /fhir/R4/ValueSet/{r4vs} {"resourceType":"ValueSet","id":"{r4vs}","status":"active","url":"http://hl7.org/fhir/ValueSet/review5","compose":{"include":[{"system":"http://x","concept":[{"code":"hijacked"}]}]}}`,
			status:  403},
		{rule: "an R4 definition cannot be patched", caller: "admin", request: `PATCH /fhir/R4/ValueSet/{r4vs} [{"op":"add","path":"/title","value":"x"}]`, headers: ct(jsonPatch), status: 403},
		{rule: "an R4 definition cannot be deleted", caller: "other", request: "DELETE /fhir/R4/ValueSet/{r4vs}", status: 403},
		{rule: "an R4 definition cannot be updated by a mutation", caller: "other", request: gql(`mutation { ValueSetUpdate(id: "{r4vs}", res: {status: "retired"}) { id } }`),
			status: 200, has: []string{`"message":"Forbidden"`}},
		{rule: "an R4 definition cannot be deleted by a mutation", caller: "admin", request: gql(`mutation { ValueSetDelete(id: "{r4vs}") { id } }`),
			status: 200, has: []string{`"message":"Forbidden"`}},
		{rule: "…so it is unchanged", caller: "other", request: "GET /fhir/R4/ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/review5", status: 200, has: []string{"r4-code"}, lacks: []string{"hijacked"}},

		// ValueSet/$expand.
		{rule: "another project's ValueSet by url is not found", caller: "other", request: "GET /fhir/R4/ValueSet/$expand?url=http://mso.example/vs", status: 404},
		{rule: "another project's ValueSet by id is not found", caller: "other", request: "GET /fhir/R4/ValueSet/{vs}/$expand", status: 404},
		{rule: "another project's CodeSystem does not expand an inline ValueSet", caller: "other",
			request: `POST /fhir/R4/ValueSet/$expand {"resourceType":"Parameters","parameter":[{"name":"valueSet","resource":{"resourceType":"ValueSet","compose":{"include":[{"system":"http://mso.example/cs"},{"valueSet":["http://mso.example/vs"]}]}}}]}`,
			status:  200, has: []string{`"total":0`}, lacks: []string{"north-code"}},
		{rule: "the own project's ValueSet expands", caller: "admin", request: "GET /fhir/R4/ValueSet/$expand?url=http://mso.example/vs", status: 200, has: []string{"north-code"}},
		{rule: "an offset near MaxInt is an empty page, not a 500", caller: "admin", request: "GET /fhir/R4/ValueSet/$expand?url=http://mso.example/vs&offset=" + strconv.Itoa(math.MaxInt),
			status: 200, has: []string{`"total":1`}, lacks: []string{"north-code"}},
		{rule: "count 0", caller: "admin", request: "GET /fhir/R4/ValueSet/$expand?url=http://mso.example/vs&count=0", status: 400},
		{rule: "count not a number", caller: "admin", request: "GET /fhir/R4/ValueSet/$expand?url=http://mso.example/vs&count=x", status: 400},
		{rule: "a repeated url", caller: "admin", request: "GET /fhir/R4/ValueSet/$expand?url=a&url=b", status: 400},
		{rule: "a JSON array body", caller: "admin", request: `POST /fhir/R4/ValueSet/$expand [1]`, status: 400},
		{rule: "an inline ValueSet of the wrong shape", caller: "admin",
			request: `POST /fhir/R4/ValueSet/$expand {"resourceType":"Parameters","parameter":[{"name":"valueSet","resource":{"resourceType":"ValueSet","compose":{"include":"x"}}}]}`, status: 400},
		{rule: "a count that is not an integer", caller: "admin",
			request: `POST /fhir/R4/ValueSet/$expand {"resourceType":"Parameters","parameter":[{"name":"url","valueUri":"http://mso.example/vs"},{"name":"count","valueInteger":1.5}]}`, status: 400},
		{rule: "a text body", caller: "admin", request: `POST /fhir/R4/ValueSet/$expand url=x`, headers: ct("text/plain"), status: 415},
		{rule: "an oversized body", caller: "admin",
			request: `POST /fhir/R4/ValueSet/$expand {"resourceType":"Parameters","parameter":[{"name":"filter","valueString":"` + strings.Repeat("a", maxBody) + `"}]}`, status: 413},

		// Patient/$everything.
		{rule: "another clinic's patient is not found", caller: "alice", request: "GET /fhir/R4/Patient/{pat-s}/$everything", status: 404},
		{rule: "another project's patient is not found", caller: "other", request: "GET /fhir/R4/Patient/{pat-n}/$everything", status: 404},
		{rule: "the own clinic's chart without another clinic's result or the hidden telecom", caller: "alice", request: "GET /fhir/R4/Patient/{pat-n}/$everything",
			status: 200, has: []string{"{obs-n}", "{dr-n}"}, lacks: []string{`"id":"{obs-s}"`, "555-0100"}},
		{rule: "$everything leaves out the patient's rows of another clinic", caller: "alice", request: "GET /fhir/R4/Patient/{pat-n}/$everything?_type=Observation",
			status: 200, has: []string{"{obs-n}"}, lacks: []string{"{obs-hid}", "South-only"}},
		{rule: "$everything of the admin holds them", caller: "admin", request: "GET /fhir/R4/Patient/{pat-n}/$everything?_type=Observation",
			status: 200, has: []string{"{obs-n}", "{obs-hid}"}},
		{rule: "an ungranted _type adds nothing", caller: "alice", request: "GET /fhir/R4/Patient/{pat-n}/$everything?_type=AuditEvent",
			status: 200, has: []string{"{pat-n}"}, lacks: []string{"AuditEvent/"}},
		{rule: "an unknown _type", caller: "alice", request: "GET /fhir/R4/Patient/{pat-n}/$everything?_type=Foo", status: 400},
		{rule: "_count not a number", caller: "alice", request: "GET /fhir/R4/Patient/{pat-n}/$everything?_count=x", status: 400},
		{rule: "a negative _offset", caller: "alice", request: "GET /fhir/R4/Patient/{pat-n}/$everything?_offset=-1", status: 400},
		{rule: "_offset near MaxInt is an empty page", caller: "alice", request: "GET /fhir/R4/Patient/{pat-n}/$everything?_offset=" + strconv.Itoa(math.MaxInt),
			status: 200, lacks: []string{`"entry":[{`}},
		{rule: "_since not a date", caller: "alice", request: "GET /fhir/R4/Patient/{pat-n}/$everything?_since=x", status: 400},
		{rule: "a JSON array body", caller: "alice", request: `POST /fhir/R4/Patient/{pat-n}/$everything [1]`, status: 400},
		{rule: "a null parameter", caller: "alice", request: `POST /fhir/R4/Patient/{pat-n}/$everything {"resourceType":"Parameters","parameter":[null]}`, status: 400},
		{rule: "a _count past int64", caller: "alice", request: `POST /fhir/R4/Patient/{pat-n}/$everything {"resourceType":"Parameters","parameter":[{"name":"_count","valueInteger":99999999999999999999}]}`, status: 400},
		{rule: "an oversized body", caller: "alice",
			request: `POST /fhir/R4/Patient/{pat-n}/$everything {"resourceType":"Parameters","parameter":[{"name":"_type","valueString":"` + strings.Repeat("a", maxBody) + `"}]}`, status: 413},

		// AsyncJob status and cancel.
		{rule: "the admin reads its job, meta as REST shows it", caller: "admin", request: "GET /fhir/R4/job/{job}/status",
			has: []string{`"resourceType":"AsyncJob"`}, lacks: []string{`"author"`, `"project"`, `"compartment"`}},
		{rule: "the admin reads its job in extended mode", caller: "admin", request: "GET /fhir/R4/job/{job}/status", headers: []string{"X-Medplum", "extended"},
			has: []string{`"project":"{project}"`}},
		{rule: "a clinician cannot read the admin's job about another clinic's patient", caller: "alice", request: "GET /fhir/R4/job/{job}/status",
			status: 403, lacks: []string{"{pat-s}"}},
		{rule: "a clinician cannot cancel it", caller: "alice", request: "DELETE /fhir/R4/job/{job}/status", status: 403},
		{rule: "a clinician cannot $cancel it", caller: "alice", request: "POST /fhir/R4/AsyncJob/{job}/$cancel", status: 403},
		{rule: "another project cannot read it", caller: "other", request: "GET /fhir/R4/job/{job}/status", status: 404},
		{rule: "another project cannot cancel it", caller: "other", request: "DELETE /fhir/R4/job/{job}/status", status: 404},
		{rule: "another project cannot $cancel it", caller: "other", request: "POST /fhir/R4/AsyncJob/{job}/$cancel", status: 404},
		{rule: "a clinician's answer for an unknown job is the same as for the admin's", caller: "alice", request: "GET /fhir/R4/job/" + otherUUID + "/status", status: 403},

		// Batches do not run the new operations (nor leak through them).
		{rule: "a batch of the new operations answers each entry with an error", caller: "alice",
			request: "POST /fhir/R4/ " + batchReads("Patient/{pat-s}/$everything", "Patient/{pat-n}/$everything", "job/{job}/status", "ValueSet/$expand?url=http://mso.example/vs", "$graphql?query=%7BPatientList%7Bid%7D%7D"),
			status:  200, lacks: []string{"{obs-s}", "{obs-n}\"", "South", "north-code", `"data"`}},

		// _filter over REST.
		{rule: "_filter on another clinic's compartment finds nothing", caller: "alice", request: "GET /fhir/R4/Patient?_filter=_compartment%20eq%20Organization/{org-south}",
			status: 200, lacks: []string{"{pat-s}\"", "South"}},
		{rule: "_filter on another clinic's id finds nothing", caller: "alice", request: "GET /fhir/R4/Patient?_filter=_id%20eq%20{pat-s}",
			status: 200, lacks: []string{"South"}},
		{rule: "_filter unterminated string", caller: "alice", request: "GET /fhir/R4/Patient?_filter=name%20eq%20%22x", status: 400, has: []string{"_filter"}},
		{rule: "_filter escaped quote at the end", caller: "alice", request: "GET /fhir/R4/Patient?_filter=name%20eq%20%22x%5C%22", status: 400, has: []string{"_filter"}},
		{rule: "_filter unknown parameter", caller: "alice", request: "GET /fhir/R4/Patient?_filter=foo%20eq%20x", status: 400, has: []string{"foo"}},
		{rule: "_filter parentheses", caller: "alice", request: "GET /fhir/R4/Patient?_filter=" + strings.Repeat("(", 3000), status: 400, has: []string{"_filter"}},
		{rule: "_filter or / not on another clinic's id finds nothing of it", caller: "alice", request: "GET /fhir/R4/Patient?_filter=_id%20eq%20{pat-s}%20or%20not%20(_id%20eq%20{pat-s})%20or%20name%20sw%20Sout",
			status: 200, lacks: []string{"South"}},
		{rule: "_filter or left open", caller: "alice", request: "GET /fhir/R4/Patient?_filter=name%20eq%20x%20or", status: 400, has: []string{"_filter", "position 13"}},
		{rule: "_filter with a result parameter", caller: "alice", request: "GET /fhir/R4/Patient?_filter=_count%20eq%201000000", status: 400, has: []string{"_count"}},
		{rule: "_filter nested", caller: "alice", request: "GET /fhir/R4/Patient?_filter=_filter%20eq%20%22name%20eq%20x%22", status: 400, has: []string{"_filter"}},
		{rule: "101 parameters", caller: "alice", request: "GET /fhir/R4/Patient?" + strings.Repeat("name=x&", 101), status: 400, has: []string{"Too many search parameters"}},
		{rule: "101 _filter comparisons", caller: "alice", request: "GET /fhir/R4/Patient?_filter=" + strings.TrimSuffix(strings.Repeat("name%20eq%20x%20and%20", 101), "%20and%20"),
			status: 400, has: []string{"Too many search parameters"}},
		{rule: "1,000 _filter comparisons in $graphql are a field error, not an internal one", caller: "alice",
			request: gql(`{ PatientConnection(_filter: "` + strings.TrimSuffix(strings.Repeat("birthdate ge 2000 and ", 1000), " and ") + `") { count } }`),
			status:  200, has: []string{"Too many search parameters"}, lacks: []string{"Internal server error"}},
		{rule: "_filter dangling and", caller: "alice", request: "GET /fhir/R4/Patient?_filter=name%20eq%20x%20and", status: 400, has: []string{"_filter"}},
		{rule: "_filter missing value", caller: "alice", request: "GET /fhir/R4/Patient?_filter=name%20eq", status: 400, has: []string{"_filter"}},
	}
}

// aliasedFilters is n aliased PatientList fields a0…, each with a _filter
// of k comparisons that match nothing, joined by join.
func aliasedFilters(n, k int, join string) string {
	f := strings.TrimSuffix(strings.Repeat("name eq zz-none "+join+" ", k), " "+join+" ")
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "a%d: PatientList(_filter: %q) { id } ", i, f)
	}
	return b.String()
}

func TestReview5Surfaces(t *testing.T) {
	skipExternal(t, "writes a ValueSet straight into the store")
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := review5World(t, s)
		for _, c := range review5Cases() {
			t.Run(c.caller+" "+c.rule, func(t *testing.T) { w.checkReview5(t, c) })
		}
	})
}

func (w *msoWorld) checkReview5(t *testing.T, c review5Case) {
	method, rest, _ := strings.Cut(c.request, " ")
	path, body, _ := strings.Cut(rest, " ")
	path = w.expand(t, path)
	if len(body) < maxBody {
		body = w.expand(t, body)
	}
	headers := c.headers
	if strings.Contains(path, "$graphql") && body != "" {
		headers = append(ct("application/json"), headers...)
	}
	r := w.as(t, c.caller).do(method, path, body, headers...)
	want := c.status
	if want == 0 {
		want = http.StatusOK
	}
	short := c.request
	if len(short) > 200 {
		short = short[:200] + "…"
	}
	if r.status != want && !(want == 200 && r.status == 202) {
		t.Fatalf("%s as %s: %d, want %d: %.600s", short, c.caller, r.status, want, r.raw)
	}
	if want >= 400 && !isOutcome(r.body) {
		t.Errorf("%s as %s: %d without an OperationOutcome: %.300s", short, c.caller, r.status, r.raw)
	}
	for _, h := range c.has {
		if h = w.expand(t, h); !strings.Contains(string(r.raw), h) {
			t.Errorf("%s as %s: answer lacks %s: %.600s", short, c.caller, h, r.raw)
		}
	}
	for sub, n := range c.atMost {
		if got := strings.Count(string(r.raw), sub); got > n {
			t.Errorf("%s as %s: answer holds %s %d times, want at most %d: %.600s", short, c.caller, sub, got, n, r.raw)
		}
	}
	for _, l := range c.lacks {
		if l = w.expand(t, l); strings.Contains(string(r.raw), l) {
			t.Errorf("%s as %s: answer holds %s: %.600s", short, c.caller, l, r.raw)
		}
	}
}

// TestReview5CORSOrigins: origins that only look like the allowed one get
// no CORS headers and their preflights a 403 OperationOutcome.
func TestReview5CORSOrigins(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		srv := startCORSServer(t, s)
		for _, o := range []string{"https://app.example.com.evil.example", "https://evil.example/https://app.example.com", "http://app.example.com",
			"https://app.example.com:8443", "null", "https://app.example.com%0d%0aX: y", "app.example.com"} {
			if resp := fromOrigin(t, srv, o, "GET", "/fhir/R4/metadata", ""); readable(resp, o) || resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("GET from %q: Access-Control-Allow-Origin %q", o, resp.Header.Get("Access-Control-Allow-Origin"))
			}
			resp := fromOrigin(t, srv, o, "OPTIONS", "/fhir/R4/$graphql", "", "Access-Control-Request-Method", "POST")
			if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("preflight of $graphql from %q: %d, Access-Control-Allow-Origin %q", o, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
			}
		}
		if resp := fromOrigin(t, srv, corsApp, "OPTIONS", "/fhir/R4/$graphql", "", "Access-Control-Request-Method", "POST"); resp.StatusCode != 204 || !readable(resp, corsApp) {
			t.Errorf("preflight of $graphql from the allowed origin: %d", resp.StatusCode)
		}
	})
}
