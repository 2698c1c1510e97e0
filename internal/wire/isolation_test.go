package wire_test

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestProjectWalls loads the same fixture into three projects (look-alike
// names, codes and identifiers) and attacks project A from project B
// through every endpoint family: B must never see A's data, and nothing B
// does may change it. C, untouched by anyone, must stay exactly as loaded.
func TestProjectWalls(t *testing.T) {
	skipExternal(t, "callers pick their project by header (TestProjectWallsWithTokens is its token twin)")
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		srv := startServer(t, s)
		a, b, c := newClient(t, srv, projectA), newClient(t, srv, projectB), newClient(t, srv, projectC)
		fa, fb, fc := loadFixture(a), loadFixture(b), loadFixture(c)

		// A resource only A has, for conditional requests from B.
		addMarker(t, a, fa)
		before := snapshot(a, fa)
		versionsA := versionsOf(before)
		historyA := a.historyTotal("_history")

		t.Run("read", func(t *testing.T) { readWalls(t, a, b, fa) })
		t.Run("history", func(t *testing.T) { historyWalls(t, b, fb, versionsA) })
		t.Run("search", func(t *testing.T) { searchWalls(t, a, b, fa, fb) })
		t.Run("references", func(t *testing.T) { referenceWalls(t, a, b, fa) })
		t.Run("write", func(t *testing.T) { writeWalls(t, a, b, fa, fb) })
		t.Run("transaction", func(t *testing.T) { transactionWalls(t, b, fa, versionsA) })
		t.Run("meta.project", func(t *testing.T) { metaProjectWall(t, a, b) })

		if after := snapshot(a, fa); !maps.Equal(before, after) {
			t.Errorf("A's resources changed by B:\n before %v\n after  %v", before, after)
		}
		if got := a.historyTotal("_history"); got != historyA {
			t.Errorf("A's system history has %d versions, had %d before B acted", got, historyA)
		}
		if got := c.historyTotal("_history"); got != len(fc) {
			t.Errorf("C's system history has %d versions, want the %d it loaded", got, len(fc))
		}
		for name := range fc {
			if r := c.get(fc.ref(name)); r.status != 200 {
				t.Errorf("C's %s: %d", name, r.status)
			}
		}
	})
}

// snapshot maps each of f's resources, read as c, to its status and versionId.
// addMarker creates a Patient only A has, for conditional requests from
// the others, as fa's "pat-marker".
func addMarker(t *testing.T, a fhirClient, fa fixture) {
	t.Helper()
	r := a.do("POST", "Patient", `{"resourceType":"Patient","name":[{"family":"Marker"}],"identifier":[{"system":"http://example.org/only","value":"A-ONLY"}]}`)
	if r.status != 201 {
		t.Fatalf("create A's marker: %d %s", r.status, r.raw)
	}
	fa["pat-marker"] = "Patient/" + r.body["id"].(string)
}

func snapshot(c fhirClient, f fixture) map[string]string {
	out := make(map[string]string, len(f))
	for name, ref := range f {
		r := c.get(ref)
		vid, _ := field(r.body, "meta", "versionId").(string)
		out[name] = fmt.Sprintf("%d %s", r.status, vid)
	}
	return out
}

// readWalls: read, vread and instance history of A's resources are 404
// for B, exactly as for ids that do not exist (not 403).
func readWalls(t *testing.T, a, b fhirClient, fa fixture) {
	for name, ref := range fa {
		vid, _ := field(a.mustGet(ref).body, "meta", "versionId").(string)
		for _, path := range []string{ref, ref + "/_history", ref + "/_history/" + vid} {
			if r := b.get(path); r.status != 404 || !isOutcome(r.body) {
				t.Errorf("B GET %s (A's %s): %d %s, want 404", path, name, r.status, r.raw)
			}
		}
	}
}

// historyWalls: type and system history as B list only B's versions.
func historyWalls(t *testing.T, b fhirClient, fb fixture, versionsA map[string]bool) {
	own := map[string]bool{}
	for _, ref := range fb {
		own[ref] = true
	}
	for _, path := range []string{"_history?_count=1000", "Patient/_history?_count=1000", "Observation/_history?_count=1000"} {
		r := b.mustGet(path)
		if leaked := leakedVersions(r.body, versionsA); len(leaked) > 0 {
			t.Errorf("B GET %s shows A's versions %v", path, leaked)
		}
		refs := entryHistoryRefs(r.body)
		for _, ref := range refs {
			if !own[ref] {
				t.Errorf("B GET %s lists %s, not B's", path, ref)
			}
		}
		want := 0
		for _, ref := range fb {
			if path == "_history?_count=1000" || strings.HasPrefix(path, strings.SplitN(ref, "/", 2)[0]+"/") {
				want++
			}
		}
		if total(r.body) != want || len(refs) != want {
			t.Errorf("B GET %s: total %d with %d entries, want %d", path, total(r.body), len(refs), want)
		}
	}
}

// entryHistoryRefs returns the "Type/id" of each history entry.
func entryHistoryRefs(bundle map[string]any) []string {
	var out []string
	for _, e := range list(bundle, "entry") {
		url, _ := field(e, "request", "url").(string) // Type/id/_history/vid
		ref, _, _ := strings.Cut(url, "/_history/")
		out = append(out, ref)
	}
	return out
}

// searchWalls: every conformance case gives B exactly B's own results (a
// leak would add A's resources), searches naming A's ids find nothing, and
// a next link A was given shows B only B's resources.
func searchWalls(t *testing.T, a, b fhirClient, fa, fb fixture) {
	for _, sc := range conformanceCases {
		checkSearch(t, b, fb, "GET", sc)
	}
	for _, q := range []string{
		"Patient?_id={pat-ann}",
		"Patient?_id={pat-ann},{pat-bob}&_total=accurate",
		"Practitioner?_id={pr-house}",
		"Observation?subject=Patient/{pat-ann}",
		"Observation?subject={pat-ann}",
		"Observation?patient={pat-ann}",
		"Observation?_compartment=Patient/{pat-ann}",
		"Encounter?_compartment=Patient/{pat-bob}",
		"Provenance?target=Observation/{obs-hr-ann-1}",
		"Patient?general-practitioner=Practitioner/{pr-house}",
		"Observation?encounter=Encounter/{enc-ann-1}",
		"Patient?_id={pat-ann}&_revinclude=Observation:subject",
		"Observation?_id={obs-hr-ann-1}&_include=Observation:subject",
		"Patient?_has:Observation:subject:_id={obs-hr-ann-1}",
		"Observation?subject:Patient._id={pat-ann}",
		"Patient?_project=" + a.project,
		"Patient?_compartment=Project/" + a.project,
		"Patient?_project=" + a.project + "&_summary=count",
	} {
		r := b.mustGet(fa.expand(q))
		if refs := entryRefs(r.body, ""); len(refs) != 0 {
			t.Errorf("B GET %s (A's ids): %v", q, fb.names(refs))
		}
	}
	for _, cc := range []struct {
		query string
		want  int
	}{
		{"Patient?_summary=count", 6},
		{"Observation?_summary=count", 13},
		{"Observation?code=8867-4&_total=accurate", 4},
		{"Patient?identifier=MRN-001&_total=accurate", 2},
		{"Observation?subject:Patient.name=smith&_summary=count", 7},
		{"Patient?_has:Observation:subject:code=8867-4&_summary=count", 2},
	} {
		if got := total(b.mustGet(cc.query).body); got != cc.want {
			t.Errorf("B GET %s: total %d, want %d", cc.query, got, cc.want)
		}
	}
	next := link(a.mustGet("Patient?_count=2").body, "next")
	if next == "" {
		t.Fatal("A's first page of patients has no next link")
	}
	seen := 0
	for url, pages := next, 0; url != "" && pages < 10; pages++ {
		page := b.mustGet(url)
		for _, ref := range entryRefs(page.body, "match") {
			seen++
			if _, ok := fb.lookup(ref); !ok {
				t.Errorf("B following A's next link %s got %s", url, ref)
			}
		}
		url = link(page.body, "next")
	}
	if seen != 4 {
		t.Errorf("B following A's next links saw %d patients, want B's other 4", seen)
	}
}

// lookup returns the local name of ref.
func (f fixture) lookup(ref string) (string, bool) {
	for name, r := range f {
		if r == ref {
			return name, true
		}
	}
	return "", false
}

// referenceWalls: a B Observation referring to A's patient and
// practitioner is a dangling reference in B and invisible to A; no
// include, chain, _has or compartment search bridges the two.
func referenceWalls(t *testing.T, a, b fhirClient, fa fixture) {
	body := fa.expand(`{"resourceType":"Observation","status":"final",
		"code":{"coding":[{"system":"http://example.org/cross","code":"x1"}]},
		"subject":{"reference":"Patient/{pat-ann}"},"performer":[{"reference":"Practitioner/{pr-house}"}],
		"encounter":{"reference":"Encounter/{enc-ann-1}"}}`)
	r := b.do("POST", "Observation", body)
	if b.authz != "" {
		// With identity on every caller has a policy, and Ward rejects a
		// reference into another project on every write (issue 3).
		if r.status != 400 || !isOutcome(r.body) {
			t.Errorf("B creates an Observation about A's patient: %d %s, want 400", r.status, r.raw)
		}
		if refs := entryRefs(b.mustGet("Observation?code=http://example.org/cross|x1").body, ""); len(refs) != 0 {
			t.Errorf("B's rejected Observation was stored: %v", refs)
		}
		return
	}
	if r.status != 201 {
		t.Fatalf("B creates an Observation about A's patient: %d %s", r.status, r.raw)
	}
	cross := r.body["id"].(string)
	for _, q := range []string{
		"Observation?_id=" + cross + "&_include=Observation:subject",
		"Observation?_id=" + cross + "&_include=Observation:*",
		"Observation?_id=" + cross + "&_include=Observation:performer&_include:iterate=Patient:general-practitioner",
	} {
		res := b.mustGet(q)
		if inc := entryRefs(res.body, "include"); len(inc) != 0 {
			t.Errorf("B GET %s includes %v from A", q, fa.names(inc))
		}
		if m := entryRefs(res.body, "match"); len(m) != 1 {
			t.Errorf("B GET %s: matches %v, want its own Observation", q, m)
		}
	}
	for _, q := range []string{
		"Observation?code=http://example.org/cross|x1&subject:Patient.name=smith",
		"Observation?code=http://example.org/cross|x1&patient.gender=female",
		"Observation?code=http://example.org/cross|x1&performer:Practitioner.name=house",
		"Observation?code=http://example.org/cross|x1&encounter:Encounter.class=AMB",
		"Patient?_has:Observation:subject:code=http://example.org/cross|x1",
		"Practitioner?_has:Observation:performer:code=http://example.org/cross|x1",
	} {
		if refs := entryRefs(b.mustGet(q).body, ""); len(refs) != 0 {
			t.Errorf("B GET %s reaches A: %v", q, fa.names(refs))
		}
	}
	for _, q := range []struct {
		query string
		want  int
	}{
		{"Observation?code=http://example.org/cross|x1", 0},
		{"Patient?_has:Observation:subject:code=http://example.org/cross|x1", 0},
		{"Practitioner?_has:Observation:performer:code=http://example.org/cross|x1", 0},
		{"Observation?subject=Patient/{pat-ann}", 4},
		{"Observation?_compartment=Patient/{pat-ann}", 4},
		{"Observation?performer=Practitioner/{pr-house}", 1},
		{"Observation?encounter={enc-ann-1}", 1},
		{"Patient?_id={pat-ann}&_revinclude=Observation:subject", 5},
		{"Practitioner?_id={pr-house}&_revinclude=Observation:performer", 2},
		{"Encounter?_id={enc-ann-1}&_revinclude=Observation:encounter", 2},
	} {
		res := a.mustGet(fa.expand(q.query))
		refs := entryRefs(res.body, "")
		if len(refs) != q.want {
			t.Errorf("A GET %s: %v, want %d entries", q.query, fa.names(refs), q.want)
		}
		for _, ref := range refs {
			if strings.HasSuffix(ref, "/"+cross) {
				t.Errorf("A GET %s returns B's Observation", q.query)
			}
		}
	}
	if r := a.get("Observation/" + cross); r.status != 404 {
		t.Errorf("A reads B's Observation: %d", r.status)
	}
}

// writeWalls: PUT, PATCH and DELETE of A's ids and conditional writes
// whose search matches only A's resources leave A untouched.
func writeWalls(t *testing.T, a, b fhirClient, fa, fb fixture) {
	for name, ref := range fa {
		if r := b.do("PATCH", ref, `[{"op":"add","path":"/language","value":"fr"}]`, "Content-Type", "application/json-patch+json"); r.status != 404 {
			t.Errorf("B PATCH %s (A's %s): %d %s, want 404", ref, name, r.status, r.raw)
		}
		if r := b.do("DELETE", ref, ""); r.status != 404 {
			t.Errorf("B DELETE %s (A's %s): %d %s, want 404", ref, name, r.status, r.raw)
		}
	}

	// A PUT of A's id is 404 (spec 2.10), as for an id B cannot see; no
	// copy appears in B.
	annA := a.mustGet(fa.ref("pat-ann"))
	for _, headers := range [][]string{nil, {"If-Match", `W/"` + field(annA.body, "meta", "versionId").(string) + `"`}} {
		r := b.do("PUT", fa.ref("pat-ann"), fa.expand(`{"resourceType":"Patient","id":"{pat-ann}","name":[{"family":"Mallory"}]}`), headers...)
		if r.status != 404 || !isOutcome(r.body) {
			t.Errorf("B PUT A's id %v: %d %s, want 404", headers, r.status, r.raw)
		}
	}
	if r := b.get(fa.ref("pat-ann")); r.status != 404 {
		t.Errorf("B reads %s after its PUT: %d %s, want 404", fa.ref("pat-ann"), r.status, r.raw)
	}
	if h := a.historyTotal(fa.ref("pat-ann") + "/_history"); h != 1 {
		t.Errorf("A's history of %s has %d versions after B's PUT, want 1", fa.ref("pat-ann"), h)
	}
	if after := a.mustGet(fa.ref("pat-ann")); string(after.raw) != string(annA.raw) {
		t.Errorf("A's patient changed by B's PUT:\n before %s\n after  %s", annA.raw, after.raw)
	}
	if refs := entryRefs(a.mustGet("Patient?name=mallory").body, ""); len(refs) != 0 {
		t.Errorf("A finds B's Mallory: %v", refs)
	}

	// Conditional requests whose criteria match only A's marker.
	marker := fa.id("pat-marker")
	if r := b.do("DELETE", "Patient?identifier=http://example.org/only|A-ONLY", ""); r.status >= 300 {
		t.Errorf("B conditional DELETE matching only A's: %d %s", r.status, r.raw)
	}
	r := b.do("POST", "Patient", `{"resourceType":"Patient","name":[{"family":"Copy"}]}`, "If-None-Exist", "identifier=http://example.org/only|A-ONLY")
	if r.status != 201 || r.body["id"] == marker {
		t.Errorf("B POST If-None-Exist matching only A's: %d %s, want 201 and a new B resource", r.status, r.raw)
	}
	r = b.do("PUT", "Patient?identifier=http://example.org/only|A-ONLY", `{"resourceType":"Patient","name":[{"family":"Mallory"}],"identifier":[{"system":"http://example.org/only","value":"A-ONLY"}]}`)
	if r.status != 201 || r.body["id"] == marker {
		t.Errorf("B conditional PUT matching only A's: %d %s, want 201 and a new B resource", r.status, r.raw)
	}
	// A look-alike identifier: exactly one match in B (A's twin ignored).
	r = b.do("PUT", "Patient?identifier=http://example.org/mrn|MRN-002", `{"resourceType":"Patient","name":[{"family":"Smithson","given":["Robert"]}],"identifier":[{"system":"http://example.org/mrn","value":"MRN-002"}]}`)
	if r.status != 200 || r.body["id"] != fb.id("pat-bob") {
		t.Errorf("B conditional PUT on its own MRN-002: %d %s, want 200 updating B's pat-bob", r.status, r.raw)
	}
	// A conditional DELETE that matches one resource in each project.
	if r := b.do("DELETE", "Condition?code=44054006", ""); r.status != 200 {
		t.Errorf("B conditional DELETE of its own Condition: %d %s", r.status, r.raw)
	}
	if r := b.get(fb.ref("cond-bob-dm")); r.status != 410 {
		t.Errorf("B's cond-bob-dm after its conditional DELETE: %d, want 410", r.status)
	}
}

// transactionWalls: transactions and batches from B touching A's ids
// change nothing in A and show B none of A's versions, whatever B is
// answered.
func transactionWalls(t *testing.T, b fhirClient, fa fixture, versionsA map[string]bool) {
	entries := []string{
		`{"request":{"method":"DELETE","url":"Observation/{obs-hr-ann-1}"}}`,
		`{"request":{"method":"DELETE","url":"Patient?identifier=http://example.org/only|A-ONLY"}}`,
		`{"resource":{"resourceType":"Patient","id":"{pat-dan}","name":[{"family":"Mallory"}]},"request":{"method":"PUT","url":"Patient/{pat-dan}"}}`,
		`{"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"W3sib3AiOiJhZGQiLCJwYXRoIjoiL2xhbmd1YWdlIiwidmFsdWUiOiJmciJ9XQ=="},"request":{"method":"PATCH","url":"Patient/{pat-cleo}"}}`,
		`{"resource":{"resourceType":"Patient","name":[{"family":"Mallory"}]},"request":{"method":"PUT","url":"Patient?identifier=http://example.org/mrn|MRN-003"}}`,
		`{"request":{"method":"GET","url":"Patient/{pat-ann}"}}`,
		`{"request":{"method":"GET","url":"Patient/{pat-bob}/_history"}}`,
		`{"request":{"method":"GET","url":"Observation?subject=Patient/{pat-ann}&_include=Observation:subject"}}`,
		`{"request":{"method":"GET","url":"Patient?identifier=http://example.org/only|A-ONLY"}}`,
		`{"resource":{"resourceType":"Patient","name":[{"family":"Copy"}]},"request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=http://example.org/only|A-ONLY"}}`,
		`{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient?identifier=http://example.org/only|A-ONLY"}},"request":{"method":"POST","url":"Observation"}}`,
	}
	for _, typ := range []string{"transaction", "batch"} {
		for _, e := range entries {
			bundle := fa.expand(`{"resourceType":"Bundle","type":"` + typ + `","entry":[` + e + `]}`)
			r := b.do("POST", "", bundle)
			if r.status >= 500 {
				t.Errorf("B %s %s: %d %s", typ, e, r.status, r.raw)
			}
			if leaked := leakedVersions(r.body, versionsA); len(leaked) > 0 {
				t.Errorf("B %s %s shows A's versions %v: %s", typ, e, leaked, r.raw)
			}
			if marker := fa.id("pat-marker"); strings.Contains(string(r.raw), marker) {
				t.Errorf("B %s %s resolved A's marker %s: %s", typ, e, marker, r.raw)
			}
		}
	}
}

// versionsOf returns the version ids in a snapshot.
func versionsOf(snap map[string]string) map[string]bool {
	out := make(map[string]bool, len(snap))
	for _, v := range snap {
		if _, vid, ok := strings.Cut(v, " "); ok && vid != "" {
			out[vid] = true
		}
	}
	return out
}

// leakedVersions returns every meta.versionId (and response etag) found
// anywhere in v that belongs to versions.
func leakedVersions(v any, versions map[string]bool) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && (k == "versionId" || k == "etag") {
				if vid := strings.Trim(strings.TrimPrefix(s, "W/"), `"`); versions[vid] {
					out = append(out, vid)
				}
			}
			out = append(out, leakedVersions(val, versions)...)
		}
	case []any:
		for _, val := range x {
			out = append(out, leakedVersions(val, versions)...)
		}
	}
	return out
}

// metaProjectWall: a B write naming A in meta.project lands in B.
func metaProjectWall(t *testing.T, a, b fhirClient) {
	r := b.do("POST", "Patient", `{"resourceType":"Patient","meta":{"project":"`+a.project+`"},"name":[{"family":"Sneaky"}]}`)
	if r.status != 201 {
		t.Fatalf("B POST with meta.project A: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	r = b.do("PUT", "Patient/5eaa0000-0000-4000-8000-000000000001", `{"resourceType":"Patient","id":"5eaa0000-0000-4000-8000-000000000001","meta":{"project":"`+a.project+`"},"name":[{"family":"Sneaky"}]}`)
	if r.status != 201 {
		t.Fatalf("B PUT new id with meta.project A: %d %s", r.status, r.raw)
	}
	for _, ref := range []string{"Patient/" + id, "Patient/5eaa0000-0000-4000-8000-000000000001"} {
		if r := a.get(ref); r.status != 404 {
			t.Errorf("A reads B's %s written with meta.project A: %d", ref, r.status)
		}
		r := b.mustGet(ref, "X-Medplum", "extended")
		if p := field(r.body, "meta", "project"); p != b.project {
			t.Errorf("B's %s: meta.project %v, want %s", ref, p, b.project)
		}
	}
	if refs := entryRefs(a.mustGet("Patient?name=sneaky").body, ""); len(refs) != 0 {
		t.Errorf("A finds B's Sneaky patients: %v", refs)
	}
}
