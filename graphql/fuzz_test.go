package graphql_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/graphql"
	"github.com/wardhealth/ward/store/storetest"
)

// fuzzSeeds are the hostile documents (their nesting scaled down to what a
// fuzzer mutates quickly) and the shapes of the other tests' queries.
var fuzzSeeds = []string{
	`fragment f on Patient { ...f } { PatientList { ...f } }`,
	`fragment a on Patient { ...b } fragment b on Patient { ...a } { PatientList { ...a } }`,
	`{ PatientList { ...a } } fragment a on Patient { id managingOrganization { resource { ...b } } } fragment b on Organization { partOf { resource { ... on Organization { ...b } } } }`,
	`{ PatientList { ...nope } }`,
	`{ PatientList { ...f0 } } ` + doubling(12),
	`{ PatientList(name: ` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `) { id } }`,
	`{ PatientList { ` + strings.Repeat("... on Patient { ", 70) + "id" + strings.Repeat(" }", 70) + ` } }`,
	strings.Repeat("{ PatientList ", 70) + strings.Repeat("}", 70),
	requestSchema,
	`{ PatientList(name: "alpha", _sort: "birthdate") { id name { given family } } }`,
	`{ PatientList(_filter: "family eq Alpha and birthdate ge 1975-01-01") { id } }`,
	`query One($id: ID!) { Patient(id: $id) { id } }`,
	`{ ObservationList(code: "8867-4", _sort: "_id") { id subject { reference resource { ... on Patient { id name { given family } } } } } }`,
	`{ PatientList { id ObservationList(_reference: subject) { id } } }`,
	`{ PatientConnection(_count: 1, _sort: "birthdate") { count offset pageSize edges { mode resource { id } } } }`,
	`{ __type(name: "Patient") { name } PatientList(_count: 1) { __typename } }`,
	`query { ...F } fragment F on QueryType { __schema { queryType { name } } }`,
	`mutation { PatientCreate(res: { resourceType: "Patient", gender: "male", name: [{ given: "Homer", family: "Simpson" }] }) { id gender name { given } } }`,
	`mutation Up($id: ID!, $res: PatientUpdate!) { PatientUpdate(id: $id, res: $res) { id gender } }`,
	`{ a: PatientList @include(if: true) { id @skip(if: false) } b: PatientList { id } }`,
}

// FuzzGraphQLHandler sends fuzzed documents and variables, by POST and by
// GET, through the whole handler over a real store as a signed-in member:
// every answer is a 200 or a 4xx OperationOutcome, never a panic, a 5xx or
// a crashed process.
func FuzzGraphQLHandler(f *testing.F) {
	w := newWorld(f, storetest.OpenSQLite(f))
	w.h = graphql.New(w.s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, q := range fuzzSeeds {
		f.Add(q, "", false)
		f.Add(q, `{"id":"x","res":{"resourceType":"Patient","gender":"other"}}`, true)
	}
	f.Fuzz(func(t *testing.T, query, variables string, get bool) {
		req := fuzzRequest(query, variables, get)
		req = req.WithContext(ward.NewContextWithPrincipal(req.Context(), w.callers["clinician"]))
		rec := httptest.NewRecorder()
		w.h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%d %.500s\nquery: %q", rec.Code, rec.Body, query)
		}
		if rec.Code != http.StatusOK && !strings.Contains(rec.Body.String(), `"OperationOutcome"`) {
			t.Fatalf("%d without an OperationOutcome: %.500s", rec.Code, rec.Body)
		}
	})
}

// fuzzRequest is a $graphql request carrying query and, when it is JSON,
// variables.
func fuzzRequest(query, variables string, get bool) *http.Request {
	if get {
		v := url.Values{"query": {query}}
		if variables != "" {
			v.Set("variables", variables)
		}
		return httptest.NewRequest(http.MethodGet, "/fhir/R4/$graphql?"+v.Encode(), nil)
	}
	body := map[string]any{"query": query}
	if json.Valid([]byte(variables)) {
		body["variables"] = json.RawMessage(variables)
	}
	data, _ := json.Marshal(body)
	return httptest.NewRequest(http.MethodPost, "/fhir/R4/$graphql", strings.NewReader(string(data)))
}
