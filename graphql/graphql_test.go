package graphql_test

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/graphql"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// requestSchema is the query MedplumClient.requestSchema("Patient") sends
// (@medplum/core 5.1.29 and 5.2.13 send the same text).
const requestSchema = `{ StructureDefinitionList(_filter: "name eq Patient") { resourceType, name, kind, description, type, url, snapshot { element { id, path, definition, min, max, base { path, min, max }, contentReference, type { code, profile, targetProfile }, binding { strength, valueSet } } } } SearchParameterList(base: "Patient", _count: 100) { base, code, type, expression, target } }`

type gqlCase struct {
	name, caller, query string
	vars                map[string]any
	status              int    // 0: 200
	want                string // "path=value;…" checks, see check
}

func TestQueries(t *testing.T) {
	cases := []gqlCase{
		{name: "requestSchema", caller: "clinician", query: requestSchema,
			want: "StructureDefinitionList.#=1;StructureDefinitionList.0.name=Patient;StructureDefinitionList.0.resourceType=StructureDefinition;" +
				"StructureDefinitionList.0.snapshot.element.#=40;StructureDefinitionList.0.snapshot.element.0.base.max=*;" +
				"StructureDefinitionList.0.snapshot.element.0.type.0.code=Reference;StructureDefinitionList.0.snapshot.element.0.binding.strength=required;" +
				"SearchParameterList.#=2;SearchParameterList.ids=name organization"},
		{name: "list by name as admin", caller: "admin", query: `{ PatientList(name: "alpha", _sort: "birthdate") { id name { given family } } }`,
			want: "PatientList.ids=alice arthur;PatientList.0.name.0.family=Alpha;PatientList.0.name.0.given.0=Alice"},
		{name: "list walls a clinician to clinic A", caller: "clinician", query: `{ PatientList(_count: 10) { id } }`,
			want: "PatientList.ids=alice arthur"},
		{name: "search parameter with a dash", caller: "admin", query: `{ PatientList(address_city: "nowhere") { id } ObservationList(value_quantity: "gt70") { id } }`,
			want: "PatientList.#=0;ObservationList.ids=obs-alice-1 obs-alice-2 obs-bob-1"},
		{name: "_filter", caller: "admin", query: `{ PatientList(_filter: "family eq Alpha and birthdate ge 1975-01-01") { id } }`,
			want: "PatientList.ids=arthur"},
		{name: "read by id", caller: "admin", query: `{ Patient(id: "{bob}") { id resourceType gender birthDate } }`,
			want: "Patient.resourceType=Patient;Patient.gender=male;Patient.birthDate=1990-01-01"},
		{name: "read behind the wall is not found", caller: "clinician", query: `{ Patient(id: "{bob}") { id } }`,
			want: "Patient=null;errors.0.message=Not found"},
		{name: "variables", caller: "admin", query: `query One($id: ID!) { Patient(id: $id) { id } }`, vars: map[string]any{"id": "__alice"},
			want: "Patient.id=alice"},
		{name: "hidden field is null", caller: "restricted", query: `{ PatientList(_count: 5) { id birthDate } }`,
			want: "PatientList.ids=alice arthur bob;PatientList.0.birthDate=null"},
		{name: "choice type field", caller: "clinician", query: `{ ObservationList(code: "8867-4") { id valueQuantity { value unit } } }`,
			want: "ObservationList.ids=obs-alice-1;ObservationList.0.valueQuantity.value=72;ObservationList.0.valueQuantity.unit=/min"},
		{name: "nested reference", caller: "admin", query: `{ ObservationList(code: "8867-4", _sort: "_id") { id subject { reference resource { ... on Patient { id name { given family } } } } } }`,
			want: "ObservationList.ids=obs-alice-1 obs-bob-1;ObservationList.0.subject.resource.name.0.given.0=Alice;ObservationList.1.subject.resource.name.0.family=Beta"},
		{name: "nested reference behind the wall is null (Medplum #4183)", caller: "clinician", query: `{ ObservationList(code: "cross") { id } Observation(id: "{obs-cross}") { id subject { reference resource { ... on Patient { id } } } } }`,
			want: "Observation.id=obs-cross;Observation.subject.resource=null"},
		{name: "nested reference to a denied type is null", caller: "restricted", query: `{ Patient(id: "{alice}") { managingOrganization { resource { ... on Organization { id name } } } } }`,
			want: "Patient.managingOrganization.resource=null"},
		{name: "reverse lookup", caller: "admin", query: `{ Patient(id: "{alice}") { id ObservationList(_reference: subject, _sort: "code") { id } } }`,
			want: "Patient.ObservationList.ids=obs-alice-1 obs-alice-2"},
		{name: "reverse lookup keeps the clinician's walls", caller: "clinician", query: `{ PatientList { id ObservationList(_reference: subject) { id } } }`,
			want: "PatientList.ids=alice arthur;PatientList.0.ObservationList.ids=obs-alice-1 obs-alice-2;PatientList.1.ObservationList.#=0"},
		{name: "reverse lookup of a denied type is an error", caller: "restricted", query: `{ Patient(id: "{alice}") { id ObservationList(_reference: subject) { id } } }`,
			want: "Patient.id=alice;Patient.ObservationList=null;errors.#=1"},
		{name: "connection", caller: "clinician", query: `{ PatientConnection(_count: 1, _sort: "birthdate") { count offset pageSize edges { mode resource { id } } } }`,
			want: "PatientConnection.count=2;PatientConnection.offset=0;PatientConnection.pageSize=1;PatientConnection.edges.#=1;PatientConnection.edges.0.mode=match;PatientConnection.edges.0.resource.id=alice"},
		{name: "invalid search value is a field error", caller: "admin", query: `{ PatientList(birthdate: "notadate") { id } }`,
			want: "PatientList=null;errors.#=1"},
		{name: "denied type is a field error", caller: "restricted", query: `{ ObservationList { id } }`,
			want: "ObservationList=null;errors.#=1"},
		{name: "a _filter that does not parse is a field error", caller: "admin", query: `{ PatientList(_filter: "name eq a or") { id } }`,
			want: "PatientList=null;errors.0.message~position 13"},
		{name: "syntax error", caller: "admin", query: `{ PatientList { id }`, status: 400, want: "resourceType=OperationOutcome"},
		{name: "unknown field", caller: "admin", query: `{ PatientList { nope } }`, status: 400, want: "resourceType=OperationOutcome"},
		{name: "unknown argument", caller: "admin", query: `{ PatientList(nope: "x") { id } }`, status: 400, want: "resourceType=OperationOutcome"},
		{name: "too deep", caller: "admin", query: `{ PatientList { contact { organization { resource { ... on Organization { partOf { resource { ... on Organization { partOf { resource { ... on Organization { partOf { resource { ... on Organization { partOf { resource { ... on Organization { id } } } } } } } } } } } } } } } } } }`,
			status: 400, want: "resourceType=OperationOutcome;issue.0.details.text~depth"},
		{name: "a name repeated too often", caller: "admin", query: "{ " + strings.Repeat("PatientList { id } ", 11) + "}",
			status: 400, want: "resourceType=OperationOutcome;issue.0.details.text~more than 10 times"},
		{name: "too many fields", caller: "admin", query: "{ " + repeatAliases(201, "PatientList(_count: 1) { id name { given family } meta { versionId lastUpdated } gender birthDate }") + " }",
			status: 400, want: "resourceType=OperationOutcome;issue.0.details.text~Too many fields"},
		{name: "introspection of a type", caller: "clinician", query: `{ __type(name: "Patient") { name } PatientList(_count: 1) { __typename } }`, want: "__type.name=Patient;PatientList.0.__typename=Patient"},
		{name: "schema introspection is for admins", caller: "clinician", query: `query { ...F } fragment F on QueryType { __schema { queryType { name } } }`, status: 403, want: "resourceType=OperationOutcome"},
		{name: "many __type fields are for admins", caller: "clinician", query: "{" + repeatAliases(6, `__type(name: "Patient") { name }`) + " }", status: 403, want: "resourceType=OperationOutcome"},
		{name: "schema introspection by an admin", caller: "admin", query: `{ __schema { queryType { name } mutationType { name } } }`, want: "__schema.queryType.name=QueryType;__schema.mutationType.name=MutationType"},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := newWorld(t, s)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				vars := c.vars
				if id, ok := vars["id"].(string); ok && strings.HasPrefix(id, "__") {
					vars = map[string]any{"id": w.expand(t, "{"+id[2:]+"}")}
				}
				r := w.query(t, c.caller, c.query, vars)
				want := c.status
				if want == 0 {
					want = 200
				}
				if r.status != want {
					t.Fatalf("status %d, want %d: %.800s", r.status, want, r.raw)
				}
				root := r.body
				if want == 200 {
					data, _ := r.body["data"].(map[string]any)
					root = map[string]any{"errors": r.body["errors"]}
					for k, v := range data {
						root[k] = v
					}
				}
				for _, chk := range strings.Split(c.want, ";") {
					check(t, w, root, chk, r.raw)
				}
			})
		}
	})
}

func TestBadRequests(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := newWorld(t, s)
		for _, body := range []string{`{"query":`, `[]`, `{"query":""}`, `{"query":"{ PatientList { id } }","variables":"x"}`} {
			if r := w.post(t, "admin", body); r.status != 400 || r.body["resourceType"] != "OperationOutcome" {
				t.Errorf("%s: %d %s, want a 400 OperationOutcome", body, r.status, r.raw)
			}
		}
	})
}

// check asserts one "path=value" (or "path~substring") against v. Path
// parts are member names or list indexes; "#" is a list's length and
// "ids" its members' ids as local names, sorted, space-separated.
func check(t *testing.T, w *world, v any, chk, raw string) {
	t.Helper()
	op := "="
	path, want, ok := strings.Cut(chk, "=")
	if p, wnt, contains := strings.Cut(chk, "~"); contains && (!ok || len(p) < len(path)) {
		path, want, op = p, wnt, "~"
	}
	got := walk(w, v, strings.Split(path, "."))
	if op == "~" && strings.Contains(got, want) || op == "=" && got == want {
		return
	}
	if len(raw) > 800 {
		raw = raw[:800] + "…"
	}
	t.Errorf("%s: got %q, want %s%q\n%s", path, got, op, want, raw)
}

func walk(w *world, v any, path []string) string {
	for i, p := range path {
		switch p {
		case "#":
			l, _ := v.([]any)
			return fmt.Sprint(len(l))
		case "ids":
			var out []string
			l, _ := v.([]any)
			for _, e := range l {
				m, _ := e.(map[string]any)
				id := fmt.Sprint(m["id"])
				if m["code"] != nil && m["id"] == nil {
					id = fmt.Sprint(m["code"])
				}
				out = append(out, localName(w, id))
			}
			slices.Sort(out)
			return strings.Join(out, " ")
		}
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			var n int
			fmt.Sscan(p, &n)
			if n >= len(x) {
				return "<missing " + strings.Join(path[:i+1], ".") + ">"
			}
			v = x[n]
		default:
			return "<missing " + strings.Join(path[:i+1], ".") + ">"
		}
	}
	if v == nil {
		return "null"
	}
	return localName(w, fmt.Sprint(v))
}

// localName maps a resource id to its local name in w.
func localName(w *world, id string) string {
	for n, r := range w.ids {
		if strings.HasSuffix(r, "/"+id) {
			return n
		}
	}
	return id
}

// TestMutations: Create, Update and Delete run as the caller's writes, with
// Medplum's input coercion, and the policy's write rules.
func TestMutations(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := newWorld(t, s)
		r := w.query(t, "admin", `mutation { PatientCreate(res: { resourceType: "Patient", gender: "male", name: [{ given: "Homer", family: "Simpson" }] }) { id gender name { given } } }`, nil)
		created, _ := walkMap(r.body, "data", "PatientCreate").(map[string]any)
		if r.status != 200 || created == nil || walk(w, created, strings.Split("name.0.given.0", ".")) != "Homer" {
			t.Fatalf("PatientCreate: %d %.500s", r.status, r.raw)
		}
		id := created["id"].(string)
		r = w.query(t, "admin", `mutation Up($id: ID!, $res: PatientUpdate!) { PatientUpdate(id: $id, res: $res) { id gender } }`,
			map[string]any{"id": id, "res": map[string]any{"resourceType": "Patient", "gender": "other"}})
		if got := walk(w, r.body, strings.Split("data.PatientUpdate.gender", ".")); got != "other" {
			t.Errorf("PatientUpdate: %.500s", r.raw)
		}
		// The restricted member may not write Observations; the clinician
		// may not update a patient of clinic B.
		for _, c := range []struct{ caller, query string }{
			{"restricted", `mutation { ObservationCreate(res: { status: "final", code: { text: "x" } }) { id } }`},
			{"clinician", `mutation { PatientUpdate(id: "{bob}", res: { gender: "female" }) { id } }`},
			{"clinician", `mutation { PatientDelete(id: "{bob}") { id } }`},
			{"admin", `mutation { PatientCreate(res: { resourceType: "Observation" }) { id } }`},
		} {
			r := w.query(t, c.caller, c.query, nil)
			if errs, _ := r.body["errors"].([]any); r.status != 200 || len(errs) == 0 {
				t.Errorf("%s: %s: %d %.300s, want a field error", c.caller, c.query, r.status, r.raw)
			}
		}
		if got := walk(w, w.query(t, "admin", `{ Patient(id: "{bob}") { gender } }`, nil).body, strings.Split("data.Patient.gender", ".")); got != "male" {
			t.Errorf("bob's gender after refused writes: %s", got)
		}
		r = w.query(t, "admin", `mutation { PatientDelete(id: "`+id+`") { id } }`, nil)
		if r.status != 200 || r.body["errors"] != nil {
			t.Errorf("PatientDelete: %d %s", r.status, r.raw)
		}
		if r := w.query(t, "admin", `{ Patient(id: "`+id+`") { id } }`, nil); walk(w, r.body, []string{"data", "Patient"}) != "null" {
			t.Errorf("read after delete: %s", r.raw)
		}
		// A GET must not write.
		req := httptest.NewRequest("GET", "/fhir/R4/$graphql?query="+url.QueryEscape(`mutation { PatientDelete(id: "x") { id } }`), nil)
		req = req.WithContext(ward.NewContextWithPrincipal(req.Context(), w.callers["admin"]))
		rec := httptest.NewRecorder()
		w.h.ServeHTTP(rec, req)
		if rec.Code != 400 {
			t.Errorf("mutation by GET: %d %s", rec.Code, rec.Body)
		}
	})
}

func walkMap(v any, path ...string) any {
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	return v
}

// TestLimits: past the look-up or resource budget, the fields that would
// exceed it are errors and the rest of the answer stands.
func TestLimits(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := newWorld(t, s)
		graphql.SetLimits(w.h, 3, 1000)
		// One list, then one reverse lookup per patient: the third
		// patient's lookup is the fourth store call.
		r := w.query(t, "admin", `{ PatientList(_sort: "_id") { id ObservationList(_reference: subject) { id } } }`, nil)
		check(t, w, r.body, "data.PatientList.#=3", r.raw)
		check(t, w, r.body, "data.PatientList.2.ObservationList=null", r.raw)
		check(t, w, r.body, "errors.0.message~Too many nested resolutions", r.raw)

		graphql.SetLimits(w.h, 1000, 4)
		r = w.query(t, "admin", `{ a: PatientList { id } b: PatientList { id } }`, nil)
		check(t, w, r.body, "errors.0.message~Too many resources", r.raw)
		if a, b := walk(w, r.body, []string{"data", "a", "#"}), walk(w, r.body, []string{"data", "b", "#"}); a+b != "30" && a+b != "03" {
			t.Errorf("one list should stand, the other fail: a %s, b %s: %s", a, b, r.raw)
		}
	})
}

// repeatAliases selects field n times under the aliases a0, a1, ….
func repeatAliases(n int, field string) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " a%d: %s", i, field)
	}
	return b.String()
}
