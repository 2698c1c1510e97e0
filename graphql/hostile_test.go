package graphql_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// hostileQueries are documents that crashed the process (a fatal stack
// overflow in graphql-go's parser or validator) or would keep it busy, each
// with a substring of the 400's message.
var hostileQueries = []struct{ name, query, want string }{
	{"recursive fragment", `fragment f on Patient { ...f } { PatientList { ...f } }`, `Cannot spread fragment "f" within itself`},
	{"mutually recursive fragments", `fragment a on Patient { ...b } fragment b on Patient { ...a } { PatientList { ...a } }`, `Cannot spread fragment "a" within itself via b`},
	{"cycle through nested fields", `{ PatientList { ...a } } fragment a on Patient { id managingOrganization { resource { ...b } } } fragment b on Organization { partOf { resource { ... on Organization { ...c } } } } fragment c on Organization { ...b }`,
		`Cannot spread fragment "b" within itself via c`},
	{"cycle in an unused fragment", `{ PatientList { id } } fragment f on Patient { ...f }`, `within itself`},
	{"unknown fragment", `{ PatientList { ...nope } }`, `Unknown fragment "nope"`},
	{"unknown fragment at the end of a chain", `{ PatientList { ...a } } fragment a on Patient { ...b } fragment b on Patient { ...nope }`, `Unknown fragment "nope"`},
	{"duplicate fragment", `{ PatientList { ...a } } fragment a on Patient { id } fragment a on Patient { gender }`, `one fragment named "a"`},
	{"unused fragment repeating a field", `{ PatientList { id } } fragment u on Patient { ` + strings.Repeat("id ", 3000) + `}`, `never used`},
	{"fragments doubling at each level", `{ PatientList { ...f0 } } ` + doubling(40), `more than 10 times`},
	{"many fragments spread in one set", `{ PatientList { ` + spreads(1500) + ` } } ` + fragments(1500), `Too many fields`},
	{"2 MB of nested list literal", `{ PatientList(name: ` + strings.Repeat("[", 1_000_000) + strings.Repeat("]", 1_000_000) + `) { id } }`, `Query too long (at most 1048576 bytes`},
	{"deeply nested list literal", `{ PatientList(name: ` + strings.Repeat("[", 300_000) + strings.Repeat("]", 300_000) + `) { id } }`, `nesting exceeds`},
	{"deeply nested object literal", `mutation { PatientCreate(res: ` + strings.Repeat("{a: ", 200_000) + "1" + strings.Repeat("}", 200_000) + `) { id } }`, `nesting exceeds`},
	{"deeply nested selections", strings.Repeat("{ PatientList ", 60_000) + strings.Repeat("}", 60_000), `nesting exceeds`},
	{"deeply nested inline fragments", `{ PatientList { ` + strings.Repeat("... on Patient { ", 50_000) + "id" + strings.Repeat(" }", 50_000) + ` } }`, `nesting exceeds`},
	{"too many tokens", `{ PatientList(name: [` + strings.Repeat(`"x" `, 200_000) + `]) { id } }`, `Query too long (at most 20000 tokens)`},
	// graphql-go scanned the whole query for line breaks at each of its
	// 4,000 errors here: minutes of CPU.
	{"many errors in a long query", "# " + strings.Repeat("padding ", 100_000) + "\nquery Q(" + strings.Repeat("$v: Int ", 4000) + ") { PatientList { id } }", `one variable named "v"`},
	{"many arguments on repeated fields", "{ " + strings.Repeat(`PatientList(`+manyArgs(500)+`) { id } `, 10) + "}", `Too many arguments`},
}

// doubling defines f0 … f(n-1), each spreading the next twice: 2^n paths.
func doubling(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "fragment f%d on Patient { ...f%d ...f%d } ", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "fragment f%d on Patient { id }", n)
	return b.String()
}

func spreads(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "...f%d ", i)
	}
	return b.String()
}

// fragments defines f0 … f(n-1), each selecting id under its own alias.
func fragments(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "fragment f%d on Patient { a%d: id } ", i, i)
	}
	return b.String()
}

func manyArgs(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "a%d: %d ", i, i)
	}
	return b.String()
}

// TestHostileQueries: a document that would overflow graphql-go's stack or
// keep its validator busy is a quick 400 OperationOutcome, by POST and by
// GET, and the server keeps answering.
func TestHostileQueries(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := newWorld(t, s)
		for _, c := range hostileQueries {
			for _, method := range []string{http.MethodPost, http.MethodGet} {
				t.Run(c.name+" "+method, func(t *testing.T) {
					start := time.Now()
					r := w.send(t, method, "clinician", c.query)
					if took := time.Since(start); took > 5*time.Second {
						t.Errorf("answered after %s", took)
					}
					if r.status != 400 || r.body["resourceType"] != "OperationOutcome" {
						t.Fatalf("%d %.300s, want a 400 OperationOutcome", r.status, r.raw)
					}
					check(t, w, r.body, "issue.0.details.text~"+c.want, r.raw)
				})
			}
		}
		if r := w.query(t, "clinician", `{ PatientList { id } }`, nil); r.status != 200 {
			t.Errorf("after the hostile queries: %d %s", r.status, r.raw)
		}
	})
}

// TestFragmentsStillWork: acyclic fragments, shared by several fields and
// nested in one another, answer as before.
func TestFragmentsStillWork(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := newWorld(t, s)
		r := w.query(t, "admin", `query { a: PatientList(name: "alpha", _sort: "birthdate") { ...P } b: PatientList(name: "beta") { ...P ... on Patient { gender } } }
			fragment P on Patient { id ...N }
			fragment N on Patient { name { family } }`, nil)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		check(t, w, r.body, "data.a.ids=alice arthur", r.raw)
		check(t, w, r.body, "data.a.0.name.0.family=Alpha", r.raw)
		check(t, w, r.body, "data.b.0.gender=male", r.raw)
	})
}

// send asks query by POST (a JSON body) or GET (?query=) as caller.
func (w *world) send(t testing.TB, method, caller, query string) gqlReply {
	t.Helper()
	if method == http.MethodPost {
		body, _ := json.Marshal(map[string]any{"query": query})
		return w.post(t, caller, string(body))
	}
	req := httptest.NewRequest(http.MethodGet, "/fhir/R4/$graphql?query="+url.QueryEscape(query), nil)
	req = req.WithContext(ward.NewContextWithPrincipal(req.Context(), w.callers[caller]))
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, req)
	out := gqlReply{status: rec.Code, raw: rec.Body.String()}
	_ = json.Unmarshal(rec.Body.Bytes(), &out.body)
	return out
}

// TestErrorLocations: field errors keep the line and column of their
// field, counted over \n, \r\n and \r line breaks, as graphql-go gives.
func TestErrorLocations(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := newWorld(t, s)
		for _, c := range []struct{ query, want string }{
			{"{ PatientList(birthdate: \"notadate\") { id } }", "1 3"},
			{"{\n  a: PatientList { id }\r\n\r   b: PatientList(birthdate: \"notadate\") { id }\n}", "4 4"},
			{"# a comment\n\n{ a: PatientList { id }\n\tb: PatientList(birthdate: \"x\") { id } }", "4 2"},
		} {
			r := w.send(t, http.MethodPost, "admin", c.query)
			got := walk(w, r.body, []string{"errors", "0", "locations", "0", "line"}) + " " + walk(w, r.body, []string{"errors", "0", "locations", "0", "column"})
			if got != c.want {
				t.Errorf("%q: error at %s, want %s: %s", c.query, got, c.want, r.raw)
			}
		}
	})
}

// TestBlockStringEscape: an escaped triple quote in a block string reads
// as the query says (graphql-go's lexer writes into the text it lexes, so
// the pre-parse scan must not share it with the parser).
func TestBlockStringEscape(t *testing.T) {
	w := newWorld(t, storetest.OpenSQLite(t))
	r := w.send(t, http.MethodPost, "admin", `{ PatientList(name: """al\"""pha""") { id } b: PatientList(name: """alpha""") { id } }`)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	check(t, w, r.body, "data.PatientList.#=0", r.raw)
	check(t, w, r.body, "data.b.ids=alice arthur", r.raw)
}

// TestOversizedVariables: a mutation's resource in variables is held to
// the store's shape limits before graphql-go coerces it (a Patient with
// 100,000 names took 4.5 s to refuse): a quick 400 OperationOutcome naming
// the array, by POST and by GET, and nothing is written.
func TestOversizedVariables(t *testing.T) {
	names := make([]any, 100_000)
	for i := range names {
		names[i] = map[string]any{"family": fmt.Sprint("N", i)}
	}
	nested := map[string]any{"resourceType": "Patient"}
	for cur, i := nested, 0; i < 200; i++ {
		next := map[string]any{"url": "http://example.com/x"}
		cur["extension"] = []any{next}
		cur = next
	}
	cases := []struct {
		name string
		vars map[string]any
		want string
	}{
		{"a Patient with 100,000 names", map[string]any{"res": map[string]any{"resourceType": "Patient", "name": names}}, "Too many items in array (at most 10000) (variables.res.name)"},
		{"a resource nested 400 levels", map[string]any{"res": nested}, "Too deeply nested"},
	}
	const create = `mutation Create($res: PatientCreate!) { PatientCreate(res: $res) { id } }`
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := newWorld(t, s)
		for _, c := range cases {
			vars, _ := json.Marshal(c.vars)
			body, _ := json.Marshal(map[string]any{"query": create, "variables": json.RawMessage(vars)})
			for _, method := range []string{http.MethodPost, http.MethodGet} {
				t.Run(c.name+" "+method, func(t *testing.T) {
					var req *http.Request
					if method == http.MethodPost {
						req = httptest.NewRequest(method, "/fhir/R4/$graphql", strings.NewReader(string(body)))
					} else {
						v := url.Values{"query": {`{ PatientList { id } }`}, "variables": {string(vars)}}
						req = httptest.NewRequest(method, "/fhir/R4/$graphql?"+v.Encode(), nil)
					}
					req = req.WithContext(ward.NewContextWithPrincipal(req.Context(), w.callers["clinician"]))
					rec := httptest.NewRecorder()
					start := time.Now()
					w.h.ServeHTTP(rec, req)
					if took := time.Since(start); took > time.Second {
						t.Errorf("answered after %s", took)
					}
					if rec.Code != 400 || !strings.Contains(rec.Body.String(), `"OperationOutcome"`) || !strings.Contains(rec.Body.String(), c.want) {
						t.Fatalf("%d %.300s, want a 400 OperationOutcome with %q", rec.Code, rec.Body, c.want)
					}
				})
			}
		}
		if r := w.query(t, "clinician", `{ PatientList(name: "N99999") { id } }`, nil); r.status != 200 || strings.Contains(r.raw, `"id"`) {
			t.Errorf("after the refusals: %d %s", r.status, r.raw)
		}
	})
}
