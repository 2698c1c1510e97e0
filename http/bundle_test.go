package wardhttp_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// bundle builds a Bundle of the given type from entries.
func bundle(typ string, entries ...string) string {
	return `{"resourceType":"Bundle","type":"` + typ + `","entry":[` + strings.Join(entries, ",") + `]}`
}

func entry(method, url, fullURL, resource string, extra ...string) string {
	e := `{"request":{"method":"` + method + `","url":"` + url + `"` + strings.Join(extra, "") + `}`
	if fullURL != "" {
		e += `,"fullUrl":"` + fullURL + `"`
	}
	if resource != "" {
		e += `,"resource":` + resource
	}
	return e + "}"
}

// storedContent returns the current stored JSON of Type/id as a tree.
func storedContent(t *testing.T, f *fixture, ref string) map[string]any {
	t.Helper()
	vs := f.store.state.versions[ref]
	if len(vs) == 0 {
		t.Fatalf("%s not stored", ref)
	}
	var m map[string]any
	mustUnmarshal(t, vs[len(vs)-1].Content, &m)
	return m
}

func responseStatuses(t *testing.T, body map[string]any) []string {
	var out []string
	for _, e := range body["entry"].([]any) {
		out = append(out, path(e, "response", "status").(string))
	}
	return out
}

func TestTransactionURNRewriting(t *testing.T) {
	f := newFixture(t)
	patient := "urn:uuid:11111111-1111-1111-1111-111111111111"
	// The Observation comes first and refers to the Patient twice, once in a
	// nested element: both must point at the Patient's assigned id.
	obs := `{"resourceType":"Observation","subject":{"reference":"` + patient + `"},` +
		`"component":[{"valueReference":{"reference":"` + patient + `"}}],"note":[{"text":"about ` + patient + `"}]}`
	w := f.do(t, "POST", "/fhir/R4", bundle("transaction",
		entry("POST", "Observation", "urn:uuid:22222222-2222-2222-2222-222222222222", obs),
		entry("POST", "Patient", patient, patientJSON),
	))
	expectStatus(t, w, 200)
	body := tree(t, w)
	if body["type"] != "transaction-response" {
		t.Fatalf("type %v", body["type"])
	}
	if got := responseStatuses(t, body); got[0] != "201" || got[1] != "201" {
		t.Fatalf("statuses %v", got)
	}
	pid := path(body, "entry", 1, "resource", "id").(string)
	oid := path(body, "entry", 0, "resource", "id").(string)
	stored := storedContent(t, f, "Observation/"+oid)
	if path(stored, "subject", "reference") != "Patient/"+pid || path(stored, "component", 0, "valueReference", "reference") != "Patient/"+pid {
		t.Errorf("references not rewritten: %v", stored)
	}
	if path(stored, "note", 0, "text") != "about "+patient {
		t.Errorf("free text changed: %v", path(stored, "note", 0, "text"))
	}
	resp := path(body, "entry", 1, "response").(map[string]any)
	vid := path(body, "entry", 1, "resource", "meta", "versionId").(string)
	if resp["location"] != "Patient/"+pid || resp["etag"] != `W/"`+vid+`"` || resp["lastModified"] == nil {
		t.Errorf("response %v", resp)
	}
	if path(resp, "outcome", "id") != "created" {
		t.Errorf("a created entry's outcome is Medplum's created: %v", resp["outcome"])
	}
}

func TestTransactionAtomicity(t *testing.T) {
	f := newFixture(t)
	keep, _ := f.create(t, patientJSON)
	f.store.failOn = "REFUSE"
	w := f.do(t, "POST", "/fhir/R4", bundle("transaction",
		entry("POST", "Patient", "", patientJSON),
		entry("DELETE", "Patient/"+keep, "", ""),
		entry("POST", "Observation", "", `{"resourceType":"Observation","status":"REFUSE"}`),
	))
	expectStatus(t, w, 400)
	if tree(t, w)["resourceType"] != "OperationOutcome" || !strings.Contains(issueText(t, w), "store refused") {
		t.Errorf("body %s", w.Body)
	}
	if strings.Contains(w.Body.String(), "201") {
		t.Errorf("failed transaction reports a success: %s", w.Body)
	}
	if n := len(f.store.state.log); n != 1 {
		t.Errorf("store has %d versions after a failed transaction, want the 1 from before", n)
	}
	expectStatus(t, f.do(t, "GET", "/fhir/R4/Patient/"+keep, ""), 200)

	// An entry failing with a different code gives that status.
	w = f.do(t, "POST", "/fhir/R4", bundle("transaction",
		entry("POST", "Patient", "", patientJSON),
		entry("GET", "Patient/missing", "", ""),
	))
	expectStatus(t, w, 404)
	if n := len(f.store.state.log); n != 1 {
		t.Errorf("store has %d versions, want 1", n)
	}
}

func TestTransactionOrderAndConditionals(t *testing.T) {
	f := newFixture(t)
	existing, _ := f.create(t, `{"resourceType":"Patient","identifier":[{"value":"mrn-1"}]}`)
	old, _ := f.create(t, `{"resourceType":"Patient","identifier":[{"value":"old"}]}`)
	performer, _ := f.create(t, `{"resourceType":"Patient","identifier":[{"value":"perf"}]}`)
	f.create(t, `{"resourceType":"Patient","identifier":[{"value":"dup"}]}`)
	f.create(t, `{"resourceType":"Patient","identifier":[{"value":"dup"}]}`)

	patientURN := "urn:uuid:33333333-3333-3333-3333-333333333333"
	w := f.do(t, "POST", "/fhir/R4", bundle("transaction",
		// GET listed first runs last: it sees the POSTed Observation.
		entry("GET", "Observation?_total=accurate", "", ""),
		// Conditional create matching an existing Patient: references to its urn go there.
		entry("POST", "Patient", patientURN, `{"resourceType":"Patient","identifier":[{"value":"mrn-1"}]}`, `,"ifNoneExist":"identifier=mrn-1"`),
		entry("POST", "Observation", "", `{"resourceType":"Observation","subject":{"reference":"`+patientURN+`"},"performer":[{"reference":"Patient?identifier=perf"}]}`),
		entry("DELETE", "Patient/"+old, "", ""),
	))
	expectStatus(t, w, 200)
	body := tree(t, w)
	if got := responseStatuses(t, body); strings.Join(got, "|") != "200|200|201|200" {
		t.Errorf("statuses %v", got)
	}
	if path(body, "entry", 1, "resource", "id") != existing {
		t.Errorf("conditional create did not return the existing patient: %v", path(body, "entry", 1))
	}
	if path(body, "entry", 0, "resource", "total") != 1.0 {
		t.Errorf("GET ran before POST: %v", path(body, "entry", 0, "resource"))
	}
	oid := path(body, "entry", 2, "resource", "id").(string)
	stored := storedContent(t, f, "Observation/"+oid)
	if path(stored, "subject", "reference") != "Patient/"+existing {
		t.Errorf("urn of conditional create not rewritten to existing: %v", stored["subject"])
	}
	if path(stored, "performer", 0, "reference") != "Patient/"+performer {
		t.Errorf("conditional reference not resolved: %v", stored["performer"])
	}
	expectStatus(t, f.do(t, "GET", "/fhir/R4/Patient/"+old, ""), 410)

	for name, tc := range map[string]struct {
		bundle string
		want   int
	}{
		"conditional reference without match": {bundle("transaction",
			entry("POST", "Observation", "", `{"resourceType":"Observation","subject":{"reference":"Patient?identifier=nobody"}}`)), 400},
		"conditional reference with two matches": {bundle("transaction",
			entry("POST", "Observation", "", `{"resourceType":"Observation","subject":{"reference":"Patient?identifier=dup"}}`)), 412},
		"ifNoneExist with two matches": {bundle("transaction",
			entry("POST", "Patient", "", patientJSON, `,"ifNoneExist":"identifier=dup"`)), 412},
		"unknown type": {bundle("transaction", entry("POST", "Nope", "", `{"resourceType":"Nope"}`)), 404},
		"no request":   {bundle("transaction", `{"resource":`+patientJSON+`}`), 400},
		"bad method":   {bundle("transaction", entry("COPY", "Patient/1", "", "")), 400},
		"type mismatch": {bundle("transaction",
			entry("POST", "Patient", "", `{"resourceType":"Observation"}`)), 400},
		"malformed resource": {bundle("transaction",
			entry("POST", "Patient", "", `[1]`)), 400},
	} {
		t.Run(name, func(t *testing.T) {
			before := len(f.store.state.log)
			w := f.do(t, "POST", "/fhir/R4", tc.bundle)
			expectStatus(t, w, tc.want)
			if path(tree(t, w), "issue", 0, "expression", 0) == nil {
				t.Errorf("error does not name the entry: %s", w.Body)
			}
			if after := len(f.store.state.log); after != before {
				t.Errorf("store changed: %d → %d versions", before, after)
			}
		})
	}
}

// The conditional reference to a patient deleted earlier in the same
// transaction does not resolve: DELETE runs first.
func TestTransactionDeleteRunsFirst(t *testing.T) {
	f := newFixture(t)
	old, _ := f.create(t, `{"resourceType":"Patient","identifier":[{"value":"old"}]}`)
	w := f.do(t, "POST", "/fhir/R4", bundle("transaction",
		entry("POST", "Observation", "", `{"resourceType":"Observation","subject":{"reference":"Patient?identifier=old"}}`),
		entry("DELETE", "Patient/"+old, "", ""),
	))
	expectStatus(t, w, 400)
}

func TestTransactionPutPatch(t *testing.T) {
	f := newFixture(t)
	id, vid := f.create(t, patientJSON)
	patch := base64.StdEncoding.EncodeToString([]byte(`[{"op":"add","path":"/active","value":true}]`))
	w := f.do(t, "POST", "/fhir/R4", bundle("transaction",
		entry("PUT", "Patient/"+id, "", `{"resourceType":"Patient","gender":"female"}`, `,"ifMatch":"W/\"`+vid+`\""`),
		entry("PUT", "Patient?identifier=new", "urn:uuid:44444444-4444-4444-4444-444444444444", `{"resourceType":"Patient","identifier":[{"value":"new"}]}`),
		entry("POST", "Observation", "", `{"resourceType":"Observation","subject":{"reference":"urn:uuid:44444444-4444-4444-4444-444444444444"}}`),
	))
	expectStatus(t, w, 200)
	body := tree(t, w)
	if got := responseStatuses(t, body); strings.Join(got, "|") != "200|201|201" {
		t.Errorf("statuses %v", got)
	}
	newID := path(body, "entry", 1, "resource", "id").(string)
	oid := path(body, "entry", 2, "resource", "id").(string)
	if path(storedContent(t, f, "Observation/"+oid), "subject", "reference") != "Patient/"+newID {
		t.Errorf("reference to conditional PUT not rewritten")
	}
	w = f.do(t, "POST", "/fhir/R4", bundle("transaction",
		entry("PATCH", "Patient/"+id, "", `{"resourceType":"Binary","contentType":"application/json-patch+json","data":"`+patch+`"}`)))
	expectStatus(t, w, 200)
	if storedContent(t, f, "Patient/"+id)["active"] != true {
		t.Error("PATCH entry not applied")
	}
	// A stale ifMatch fails the whole transaction with 412.
	w = f.do(t, "POST", "/fhir/R4", bundle("transaction",
		entry("PUT", "Patient/"+id, "", `{"resourceType":"Patient"}`, `,"ifMatch":"W/\"`+vid+`\""`)))
	expectStatus(t, w, 412)
}

func TestBatchPartialFailure(t *testing.T) {
	f := newFixture(t)
	id, _ := f.create(t, patientJSON)
	writesBefore := f.store.writes
	w := f.do(t, "POST", "/fhir/R4/", bundle("batch",
		entry("POST", "Patient", "", patientJSON),
		entry("GET", "Patient/missing", "", ""),
		entry("GET", "Patient/"+id, "", ""),
		entry("PUT", "Patient/"+id, "", `{"resourceType":"Patient","id":"other"}`),
		entry("POST", "Nope", "", `{"resourceType":"Nope"}`),
		entry("DELETE", "Patient/"+id, "", ""),
	))
	expectStatus(t, w, 200)
	body := tree(t, w)
	if body["type"] != "batch-response" {
		t.Errorf("type %v", body["type"])
	}
	want := []string{"201", "404", "200", "400", "404", "200"}
	if got := responseStatuses(t, body); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if path(body, "entry", 1, "response", "outcome", "resourceType") != "OperationOutcome" {
		t.Errorf("failed entry has no outcome: %v", path(body, "entry", 1))
	}
	// As Medplum: every entry has an outcome, and location is Type/id.
	if path(body, "entry", 2, "response", "outcome", "id") != "ok" || path(body, "entry", 2, "response", "location") != "Patient/"+id {
		t.Errorf("read entry's response %v", path(body, "entry", 2, "response"))
	}
	if got := f.store.writes - writesBefore; got != 3 {
		t.Errorf("%d store.Write calls, want one per write entry that got that far (3)", got)
	}
}

func TestLargeTransactionIsLinear(t *testing.T) {
	f := newFixture(t)
	const n = 2000
	entries := make([]string, 0, 2*n)
	for i := range n {
		urn := fmt.Sprintf("urn:uuid:00000000-0000-0000-0000-%012d", i)
		entries = append(entries,
			entry("POST", "Patient", urn, patientJSON),
			entry("POST", "Observation", "", `{"resourceType":"Observation","subject":{"reference":"`+urn+`"}}`))
	}
	start := time.Now()
	w := f.do(t, "POST", "/fhir/R4", bundle("transaction", entries...))
	expectStatus(t, w, 200)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("%d-entry transaction took %v", 2*n, d)
	}
	var out struct {
		Entry []struct {
			Resource json.RawMessage
		}
	}
	mustUnmarshal(t, w.Body.Bytes(), &out)
	if len(out.Entry) != 2*n {
		t.Fatalf("%d entries", len(out.Entry))
	}
	var last struct{ Subject struct{ Reference string } }
	mustUnmarshal(t, out.Entry[2*n-1].Resource, &last)
	var pat struct{ ID string }
	mustUnmarshal(t, out.Entry[2*n-2].Resource, &pat)
	if last.Subject.Reference != "Patient/"+pat.ID {
		t.Errorf("last reference %q, want Patient/%s", last.Subject.Reference, pat.ID)
	}
}
