package wire_test

import (
	"strings"
	"testing"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestNULAndBadUTF8 sends a NUL byte or invalid UTF-8 through every
// surface that takes a search value or a resource. PostgreSQL refuses both
// in text ("invalid byte sequence for encoding UTF8: 0x00"), which was a
// 500 there while SQLite stored or searched them: both engines must answer
// the same clear 400 naming the parameter or element, and write nothing.
func TestNULAndBadUTF8(t *testing.T) {
	const patient = `{"resourceType":"Patient","name":[{"family":"Nul"}]}`
	bundle := func(entry string) string {
		return `{"resourceType":"Bundle","type":"transaction","entry":[` + entry + `]}`
	}
	cases := []struct {
		name, method, path, body string
		headers                  []string
		names                    string // the outcome names this
	}{
		{name: "string value", method: "GET", path: "Patient?name=%00", names: "name"},
		{name: "token value", method: "GET", path: "Patient?identifier=a%00b", names: "identifier"},
		{name: "_id", method: "GET", path: "Patient?_id=%00", names: "_id"},
		{name: "invalid UTF-8 value", method: "GET", path: "Patient?name=%FF%FE", names: "name"},
		{name: "NUL in a parameter name", method: "GET", path: "Patient?na%00me=x", names: "na"},
		{name: "chained value", method: "GET", path: "Observation?subject:Patient.name=a%00", names: "subject:Patient.name"},
		{name: "_has value", method: "GET", path: "Patient?_has:Observation:subject:code=%00", names: "_has:Observation:subject:code"},
		{name: "_filter value", method: "GET", path: "Patient?_filter=name%20eq%20%22a%00%22", names: "_filter"},
		{name: "_search form body", method: "POST", path: "Patient/_search", body: "name=a%00b", headers: ct("application/x-www-form-urlencoded"), names: "name"},
		{name: "If-None-Exist", method: "POST", path: "Patient", body: patient, headers: []string{"If-None-Exist", "identifier=a%00b"}, names: "identifier"},
		{name: "conditional update", method: "PUT", path: "Patient?name=%00", body: patient, names: "name"},
		{name: "conditional delete", method: "DELETE", path: "Patient?identifier=%00", names: "identifier"},
		{name: "transaction ifNoneExist", method: "POST", path: "", body: bundle(`{"resource":` + patient + `,"request":{"method":"POST","url":"Patient","ifNoneExist":"name=a%00"}}`), names: "name"},
		{name: "transaction conditional reference", method: "POST", path: "", body: bundle(`{"resource":{"resourceType":"Observation",` + validObs + `,"subject":{"reference":"Patient?identifier=a%00b"}},"request":{"method":"POST","url":"Observation"}}`), names: "identifier"},
		{name: "transaction conditional update", method: "POST", path: "", body: bundle(`{"resource":` + patient + `,"request":{"method":"PUT","url":"Patient?name=%00"}}`), names: "name"},
		{name: "NUL in name.family", method: "POST", path: "Patient", body: `{"resourceType":"Patient","name":[{"family":"a\u0000b"}]}`, names: "Patient.name[0].family"},
		{name: "NUL in an extension valueString", method: "POST", path: "Patient", body: `{"resourceType":"Patient","extension":[{"url":"http://example.org/x","valueString":"\u0000"}]}`, names: "Patient.extension[0].valueString"},
		{name: "NUL in a JSON key", method: "POST", path: "Patient", body: `{"resourceType":"Patient","name":[{"fam\u0000ily":"x"}]}`, names: "Patient.name[0]"},
		{name: "NUL on update", method: "PUT", path: "Patient/{P}", body: `{"resourceType":"Patient","id":"{P}","name":[{"family":"\u0000"}]}`, names: "family"},
		{name: "NUL in a transaction entry", method: "POST", path: "", body: bundle(`{"resource":{"resourceType":"Patient","name":[{"given":["\u0000"]}]},"request":{"method":"POST","url":"Patient"}}`), names: "given"},
		{name: "NUL in a stored AccessPolicy criteria", method: "POST", path: "AccessPolicy", body: `{"resourceType":"AccessPolicy","resource":[{"resourceType":"Patient","criteria":"Patient?name=\u0000"}]}`, names: "criteria"},
		{name: "invalid UTF-8 body", method: "POST", path: "Patient", body: "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\xff\"}]}", names: "UTF-8"},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		c := newClient(t, startServer(t, s), projectBad)
		p := c.do("POST", "Patient", patient)
		if p.status != 201 {
			t.Fatalf("seeding: %d %s", p.status, p.raw)
		}
		ids := strings.NewReplacer("{P}", p.body["id"].(string))
		versions := c.historyTotal("_history")
		for _, tc := range cases {
			r := c.do(tc.method, ids.Replace(tc.path), ids.Replace(tc.body), tc.headers...)
			switch {
			case r.status != 400 || !isOutcome(r.body):
				t.Errorf("%s: %s %s: %d %.300s, want a 400 OperationOutcome", tc.name, tc.method, tc.path, r.status, r.raw)
			case !strings.Contains(outcomeText(r.body), tc.names):
				t.Errorf("%s: outcome %q does not name %q", tc.name, outcomeText(r.body), tc.names)
			}
			if got := c.historyTotal("_history"); got != versions {
				t.Errorf("%s: history has %d versions, had %d: something was written", tc.name, got, versions)
				versions = got
			}
		}
	})
}

// TestNULInBatchEntry: a batch answers each entry on its own; a NUL in
// an entry's search is that entry's 400, never a 500.
func TestNULInBatchEntry(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		c := newClient(t, startServer(t, s), projectBad)
		r := c.do("POST", "", `{"resourceType":"Bundle","type":"batch","entry":[
			{"request":{"method":"GET","url":"Patient?name=%00"}},
			{"request":{"method":"GET","url":"Patient?identifier=a%00b"}},
			{"resource":{"resourceType":"Patient","name":[{"family":"\u0000"}]},"request":{"method":"POST","url":"Patient"}}]}`)
		if r.status != 200 {
			t.Fatalf("batch: %d %s", r.status, r.raw)
		}
		entries := list(r.body, "entry")
		if len(entries) != 3 {
			t.Fatalf("batch answered %d entries: %s", len(entries), r.raw)
		}
		for i, e := range entries {
			if status, _ := field(e, "response", "status").(string); !strings.HasPrefix(status, "400") {
				t.Errorf("entry %d: status %q, want 400: %s", i, status, r.raw)
			}
		}
	})
}

// TestNULInGraphQLArgument: $graphql list arguments are parsed as search
// parameters, so a NUL there is the same refusal, as a GraphQL error.
func TestNULInGraphQLArgument(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		c := newClient(t, startServer(t, s), projectBad)
		r := c.do("POST", "$graphql", `{"query":"{ PatientList(identifier: \"a\\u0000b\") { id } }"}`, "Content-Type", "application/json")
		if r.status >= 500 || !strings.Contains(string(r.raw), "Invalid search parameter identifier: contains a NUL character") {
			t.Errorf("$graphql with a NUL argument: %d %s", r.status, r.raw)
		}
	})
}
