package wire_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/internal/wire"
	"github.com/wardhealth/ward/mock"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// auditCaller authenticates the audit suite's callers: a member of the
// X-Ward-Test-Project project with a full identity; X-Test-Role "reader"
// may only read; X-Test-Anonymous has no caller (401).
func auditCaller(r *http.Request) (*ward.Principal, error) {
	if r.Header.Get("X-Test-Anonymous") != "" {
		return nil, nil
	}
	p := &ward.Principal{
		ProjectID:    r.Header.Get("X-Ward-Test-Project"),
		User:         "User/alice",
		Author:       "Practitioner/alice",
		MembershipID: "m-alice",
		ClientID:     "app-1",
		OnBehalfOf:   r.Header.Get("X-Test-On-Behalf-Of"),
	}
	p.CheckReferences = r.Header.Get("X-Test-Check-References") != ""
	if r.Header.Get("X-Test-Role") == "reader" {
		p.Policy = &ward.Policy{Rules: []ward.PolicyRule{
			{ResourceType: "Patient", Interactions: ward.InteractionReadOnly},
			{ResourceType: "Observation", Interactions: ward.InteractionReadOnly},
		}}
	}
	return p, nil
}

func startAuditServer(t *testing.T, s *store.Store, audit ward.AuditLog) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(nil)
	srv.Config.Handler = wire.Handler(s, wire.Config{BaseURL: srv.URL + "/", MaxBodyBytes: maxBody, Authenticate: auditCaller, Audit: audit},
		slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelError})))
	t.Cleanup(srv.Close)
	return srv
}

// wantRecord is what a test checks of one record ("" and nil: anything).
type wantRecord struct {
	project, action, interaction, outcome string
	status                                int
	typ, id, version, query               string
	results                               int // -2: anything
	patients                              []string
	reason                                string // a substring
	onBehalfOf                            string
}

func checkRecord(t *testing.T, what string, got ward.AuditRecord, want wantRecord) {
	t.Helper()
	check := func(field, got, want string) {
		if want != "" && got != want {
			t.Errorf("%s: record %s = %q, want %q", what, field, got, want)
		}
	}
	check("ProjectID", got.ProjectID, want.project)
	check("Action", got.Action, want.action)
	check("Interaction", got.Interaction, want.interaction)
	check("Outcome", got.Outcome, want.outcome)
	check("ResourceType", got.ResourceType, want.typ)
	check("ResourceID", got.ResourceID, want.id)
	check("VersionID", got.VersionID, want.version)
	check("Query", got.Query, want.query)
	check("OnBehalfOf", got.OnBehalfOf, want.onBehalfOf)
	if got.Status != want.status {
		t.Errorf("%s: record Status = %d, want %d", what, got.Status, want.status)
	}
	if want.results != -2 && got.Results != want.results {
		t.Errorf("%s: record Results = %d, want %d", what, got.Results, want.results)
	}
	if want.patients != nil && !slices.Equal(got.Patients, want.patients) {
		t.Errorf("%s: record Patients = %v, want %v", what, got.Patients, want.patients)
	}
	if !strings.Contains(got.Reason, want.reason) {
		t.Errorf("%s: record Reason = %q, want it to say %q", what, got.Reason, want.reason)
	}
	if got.Kind != "rest" || got.RequestID == "" || got.Time.IsZero() || time.Since(got.Time) > time.Minute || got.Address == "" {
		t.Errorf("%s: record kind %q request %q time %v address %q", what, got.Kind, got.RequestID, got.Time, got.Address)
	}
}

// TestAuditRecordsEveryInteraction: each interaction family yields the
// records it should, field by field, refusals in the caller's project.
func TestAuditRecordsEveryInteraction(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		audit := &mock.AuditRecorder{}
		srv := startAuditServer(t, s, audit)
		a, b := newClient(t, srv, projectA), newClient(t, srv, projectB)

		pat := a.do("POST", "Patient", `{"resourceType":"Patient","name":[{"family":"Audited"}]}`)
		patID := pat.body["id"].(string)
		patRef := "Patient/" + patID
		patients := []string{patRef}
		checkRecord(t, "create Patient", only(t, audit.Take()), wantRecord{project: projectA, action: "C", interaction: "create", outcome: "0",
			status: 201, typ: "Patient", id: patID, version: versionOf(pat), results: -1, patients: patients})

		obs := a.do("POST", "Observation", fmt.Sprintf(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":%q}}`, patRef))
		obsID := obs.body["id"].(string)
		audit.Take()
		other := b.do("POST", "Patient", `{"resourceType":"Patient"}`)
		otherID := other.body["id"].(string)
		audit.Take()

		patch := `[{"op":"replace","path":"/status","value":"amended"}]`
		cases := []struct {
			name         string
			method, path string
			body         string
			headers      []string
			status       int
			want         wantRecord
		}{
			{name: "read", method: "GET", path: "Observation/" + obsID, status: 200,
				want: wantRecord{project: projectA, action: "R", interaction: "read", outcome: "0", status: 200, typ: "Observation", id: obsID, version: versionOf(obs), results: -1, patients: patients}},
			{name: "read on behalf of", method: "GET", path: "Observation/" + obsID, headers: []string{"X-Test-On-Behalf-Of", "Practitioner/bob"}, status: 200,
				want: wantRecord{project: projectA, action: "R", interaction: "read", outcome: "0", status: 200, typ: "Observation", id: obsID, results: -1, patients: patients, onBehalfOf: "Practitioner/bob"}},
			{name: "vread", method: "GET", path: "Observation/" + obsID + "/_history/" + versionOf(obs), status: 200,
				want: wantRecord{project: projectA, action: "R", interaction: "vread", outcome: "0", status: 200, typ: "Observation", id: obsID, version: versionOf(obs), results: -1, patients: patients}},
			{name: "update", method: "PUT", path: "Observation/" + obsID, status: 200,
				body: fmt.Sprintf(`{"resourceType":"Observation","id":%q,"status":"final","code":{"text":"y"},"subject":{"reference":%q}}`, obsID, patRef),
				want: wantRecord{project: projectA, action: "U", interaction: "update", outcome: "0", status: 200, typ: "Observation", id: obsID, results: -1, patients: patients}},
			{name: "patch", method: "PATCH", path: "Observation/" + obsID, body: patch, headers: ct("application/json-patch+json"), status: 200,
				want: wantRecord{project: projectA, action: "U", interaction: "patch", outcome: "0", status: 200, typ: "Observation", id: obsID, results: -1, patients: patients}},
			{name: "search", method: "GET", path: "Observation?subject=" + patRef, status: 200,
				want: wantRecord{project: projectA, action: "E", interaction: "search-type", outcome: "0", status: 200, typ: "Observation", query: "subject=" + strings.ReplaceAll(patRef, "/", "%2F"), results: 1, patients: patients}},
			{name: "history", method: "GET", path: "Observation/" + obsID + "/_history", status: 200,
				want: wantRecord{project: projectA, action: "R", interaction: "history-instance", outcome: "0", status: 200, typ: "Observation", id: obsID, results: 3, patients: patients}},
			{name: "$everything", method: "GET", path: "Patient/" + patID + "/$everything", status: 200,
				want: wantRecord{project: projectA, action: "E", interaction: "$everything", outcome: "0", status: 200, typ: "Patient", id: patID, results: 2, patients: patients}},
			{name: "$graphql", method: "POST", path: "$graphql", body: `{"query":"{ PatientList { id } }"}`, headers: ct("application/json"), status: 200,
				want: wantRecord{project: projectA, action: "E", interaction: "$graphql", outcome: "0", status: 200, query: "{ PatientList { id } }", results: -1, patients: patients}},
			{name: "401 no caller", method: "GET", path: "Observation/" + obsID, headers: []string{"X-Test-Anonymous", "1"}, status: 401,
				want: wantRecord{project: ward.SystemProjectID, action: "R", interaction: "read", outcome: "4", status: 401, typ: "Observation", id: obsID, results: -1, reason: "Unauthorized"}},
			{name: "403 readonly", method: "POST", path: "Patient", body: `{"resourceType":"Patient"}`, headers: []string{"X-Test-Role", "reader"}, status: 403,
				want: wantRecord{project: projectA, action: "C", interaction: "create", outcome: "4", status: 403, typ: "Patient", results: -1}},
			{name: "404 wall", method: "GET", path: "Patient/" + otherID, status: 404,
				want: wantRecord{project: projectA, action: "R", interaction: "read", outcome: "4", status: 404, typ: "Patient", id: otherID, results: -1, reason: "Not found"}},
			{name: "400 cross-project reference", method: "POST", path: "Observation", headers: []string{"X-Test-Check-References", "1"}, status: 400,
				body: fmt.Sprintf(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/%s"}}`, otherID),
				want: wantRecord{project: projectA, action: "C", interaction: "create", outcome: "4", status: 400, typ: "Observation", results: -1, reason: "Invalid reference"}},
			{name: "delete", method: "DELETE", path: "Observation/" + obsID, status: 200,
				want: wantRecord{project: projectA, action: "D", interaction: "delete", outcome: "0", status: 200, typ: "Observation", id: obsID, results: -1, patients: patients}},
		}
		for _, tc := range cases {
			r := a.do(tc.method, tc.path, tc.body, tc.headers...)
			if r.status != tc.status {
				t.Errorf("%s: status %d, want %d: %s", tc.name, r.status, tc.status, r.raw)
			}
			rec := only(t, audit.Take())
			checkRecord(t, tc.name, rec, tc.want)
			if rec.RequestID != r.header.Get("X-Request-Id") {
				t.Errorf("%s: record request %q, X-Request-Id %q", tc.name, rec.RequestID, r.header.Get("X-Request-Id"))
			}
			if tc.status < 300 || tc.status == 403 || tc.status == 404 {
				if rec.User != "User/alice" || rec.Profile != "Practitioner/alice" || rec.Membership != "ProjectMembership/m-alice" || rec.Client != "ClientApplication/app-1" {
					t.Errorf("%s: who = %q %q %q %q", tc.name, rec.User, rec.Profile, rec.Membership, rec.Client)
				}
			}
		}
	})
}

// TestAuditRecordsBundleEntries: a batch is one record for the Bundle and
// one per entry, each with its own interaction, status and patients.
func TestAuditRecordsBundleEntries(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		audit := &mock.AuditRecorder{}
		srv := startAuditServer(t, s, audit)
		a := newClient(t, srv, projectA)
		pat := a.do("POST", "Patient", `{"resourceType":"Patient"}`)
		patRef := "Patient/" + pat.body["id"].(string)
		audit.Take()

		for _, kind := range []string{"batch", "transaction"} {
			bundle := fmt.Sprintf(`{"resourceType":"Bundle","type":%q,"entry":[
				{"request":{"method":"GET","url":%q}},
				{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":%q}},"request":{"method":"POST","url":"Observation"}}]}`,
				kind, patRef, patRef)
			r := a.do("POST", "/fhir/R4", bundle)
			if r.status != 200 {
				t.Fatalf("%s: %d %s", kind, r.status, r.raw)
			}
			recs := audit.Take()
			if len(recs) != 3 {
				t.Fatalf("%s: %d records, want the Bundle's and one per entry: %+v", kind, len(recs), recs)
			}
			byInteraction := map[string]ward.AuditRecord{}
			for _, rec := range recs {
				byInteraction[rec.Interaction] = rec
				if rec.RequestID != r.header.Get("X-Request-Id") || rec.ProjectID != projectA {
					t.Errorf("%s: record %s request %q project %q", kind, rec.Interaction, rec.RequestID, rec.ProjectID)
				}
			}
			checkRecord(t, kind, byInteraction[kind], wantRecord{project: projectA, action: "E", interaction: kind, outcome: "0", status: 200, results: -1})
			checkRecord(t, kind+" read entry", byInteraction["read"], wantRecord{project: projectA, action: "R", interaction: "read", outcome: "0", status: 200, typ: "Patient", id: pat.body["id"].(string), results: -1, patients: []string{patRef}})
			checkRecord(t, kind+" create entry", byInteraction["create"], wantRecord{project: projectA, action: "C", interaction: "create", outcome: "0", status: 201, typ: "Observation", results: -1, patients: []string{patRef}})
		}

		// A refused entry is recorded with its own status; a transaction
		// that fails keeps only the Bundle's record (nothing was done).
		for _, tc := range []struct {
			kind        string
			status      int
			interaction []string
		}{
			{"batch", 200, []string{"batch", "read"}}, // sorted: records are made concurrently
			{"transaction", 404, []string{"transaction"}},
		} {
			r := a.do("POST", "/fhir/R4", fmt.Sprintf(`{"resourceType":"Bundle","type":%q,"entry":[{"request":{"method":"GET","url":"Patient/missing"}}]}`, tc.kind))
			recs := audit.Take()
			var got []string
			for _, rec := range recs {
				got = append(got, rec.Interaction)
				if rec.Interaction == "read" && (rec.Status != 404 || rec.Outcome != "4" || rec.ResourceID != "missing") {
					t.Errorf("%s: refused entry recorded as %+v", tc.kind, rec)
				}
				if rec.Interaction == tc.kind && rec.Status != r.status {
					t.Errorf("%s: Bundle record status %d, answer %d", tc.kind, rec.Status, r.status)
				}
			}
			slices.Sort(got)
			if r.status != tc.status || !slices.Equal(got, tc.interaction) {
				t.Errorf("%s with a missing read: status %d, records %v; want %d, %v", tc.kind, r.status, got, tc.status, tc.interaction)
			}
		}
	})
}

func only(t *testing.T, recs []ward.AuditRecord) ward.AuditRecord {
	t.Helper()
	if len(recs) != 1 {
		t.Fatalf("%d audit records, want 1: %+v", len(recs), recs)
	}
	return recs[0]
}

func versionOf(r reply) string {
	meta, _ := r.body["meta"].(map[string]any)
	v, _ := meta["versionId"].(string)
	return v
}

// TestAuditTrailEndToEnd: through the store's AuditLog, a read's record is
// durable before the answer and searchable as an AuditEvent of the
// caller's project by the patient it concerned; another project sees none.
func TestAuditTrailEndToEnd(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		trail := s.NewAuditLog(store.AuditOptions{})
		t.Cleanup(trail.Close)
		srv := startAuditServer(t, s, trail)
		a, b := newClient(t, srv, projectA), newClient(t, srv, projectB)
		pat := a.do("POST", "Patient", `{"resourceType":"Patient"}`)
		patRef := "Patient/" + pat.body["id"].(string)

		read := a.mustGet(patRef)
		id := read.header.Get("X-Request-Id")
		found := a.mustGet("AuditEvent?entity=" + patRef + "&_count=100")
		if !strings.Contains(string(found.raw), id) {
			t.Errorf("AuditEvent?entity=%s does not hold the read's request %s: %s", patRef, id, found.raw)
		}
		if other := b.mustGet("AuditEvent?entity=" + patRef); strings.Contains(string(other.raw), id) {
			t.Errorf("project B sees project A's audit record: %s", other.raw)
		}
	})
}

// TestHostileInputIsRecordedNotRefused: a path, query or header the client
// fills with NUL bytes, invalid UTF-8 or half a megabyte is answered as
// without the trail (4xx, never a 500 because the record could not be
// stored) and recorded, bounded.
func TestHostileInputIsRecordedNotRefused(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		trail := s.NewAuditLog(store.AuditOptions{})
		t.Cleanup(trail.Close)
		srv := startAuditServer(t, s, trail)
		a := newClient(t, srv, projectA)
		long := strings.Repeat("a", 300_000)
		for _, c := range []struct {
			name, path string
			headers    []string
			want       int
		}{
			{"NUL in the id", "Patient/a%00b", nil, 404},
			{"NUL in the type", "Pat%00ient", nil, 404},
			{"invalid UTF-8 in the id", "Patient/%ff%fe", nil, 404},
			{"a long query", "Patient?name=" + long, nil, 200},
			{"invalid UTF-8 and 300 kB in the user agent", "Patient", []string{"User-Agent", "bad\xff\xfe" + long}, 200},
		} {
			r := a.get(c.path, c.headers...)
			if r.status != c.want {
				t.Errorf("%s: %d %.200s, want %d", c.name, r.status, r.raw, c.want)
				continue
			}
			id := r.header.Get("X-Request-Id")
			found := a.mustGet("AuditEvent?entity:identifier="+id, "X-Medplum", "extended")
			if n := len(entries(found)); n != 1 || !strings.Contains(string(found.raw), id) {
				t.Errorf("%s: %d records of request %s", c.name, n, id)
			}
			if len(found.raw) > 20_000 {
				t.Errorf("%s: the record keeps %d bytes of request input", c.name, len(found.raw))
			}
		}
	})
}

// TestWriteRecordsCommitWithTheWrite: through the store's AuditLog every
// write is recorded once, in the write's own transaction: a create,
// update, patch and delete and each entry of a transaction have exactly
// one record, with the request's id; and a write whose record cannot be
// stored does not happen.
func TestWriteRecordsCommitWithTheWrite(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		trail := s.NewAuditLog(store.AuditOptions{})
		t.Cleanup(trail.Close)
		srv := startAuditServer(t, s, trail)
		a := newClient(t, srv, projectA)
		pat := a.do("POST", "Patient", `{"resourceType":"Patient"}`)
		patRef := "Patient/" + pat.body["id"].(string)
		obs := a.do("POST", "Observation", fmt.Sprintf(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":%q}}`, patRef))
		obsID := obs.body["id"].(string)
		requests := []string{obs.header.Get("X-Request-Id")}
		for _, w := range []struct{ method, body string }{
			{"PUT", fmt.Sprintf(`{"resourceType":"Observation","id":%q,"status":"final","code":{"text":"y"},"subject":{"reference":%q}}`, obsID, patRef)},
			{"PATCH", `[{"op":"replace","path":"/status","value":"amended"}]`},
			{"DELETE", ""},
		} {
			var headers []string
			if w.method == "PATCH" {
				headers = ct("application/json-patch+json")
			}
			r := a.do(w.method, "Observation/"+obsID, w.body, headers...)
			if r.status != 200 {
				t.Fatalf("%s: %d %s", w.method, r.status, r.raw)
			}
			requests = append(requests, r.header.Get("X-Request-Id"))
		}
		found := a.mustGet("AuditEvent?entity=Observation/" + obsID + "&_count=100&_sort=date")
		var got []string
		for _, e := range entries(found) {
			ev := e["resource"].(map[string]any)
			subtype := ev["subtype"].([]any)[0].(map[string]any)["code"]
			got = append(got, fmt.Sprintf("%s %s", ev["action"], subtype))
		}
		if want := []string{"C create", "U update", "U patch", "D delete"}; !slices.Equal(got, want) {
			t.Errorf("records of the Observation = %v, want one per write %v", got, want)
		}
		for _, id := range requests {
			if !strings.Contains(string(found.raw), id) {
				t.Errorf("no record holds request %s", id)
			}
		}

		tx := a.do("POST", "/fhir/R4", fmt.Sprintf(`{"resourceType":"Bundle","type":"transaction","entry":[
			{"resource":{"resourceType":"Observation","status":"final","code":{"text":"t1"},"subject":{"reference":%q}},"request":{"method":"POST","url":"Observation"}},
			{"resource":{"resourceType":"Observation","status":"final","code":{"text":"t2"},"subject":{"reference":%q}},"request":{"method":"POST","url":"Observation"}}]}`, patRef, patRef))
		if tx.status != 200 {
			t.Fatalf("transaction: %d %s", tx.status, tx.raw)
		}
		for _, e := range entries(tx) {
			loc := e["response"].(map[string]any)["location"].(string)
			ref := strings.Join(strings.Split(loc, "/")[:2], "/")
			if n := len(entries(a.mustGet("AuditEvent?entity=" + ref))); n != 1 {
				t.Errorf("%s created by a transaction has %d records, want 1", ref, n)
			}
		}

		// The record cannot be stored: the write does not happen.
		failChain(t, s, true)
		r := a.do("POST", "Patient", `{"resourceType":"Patient","name":[{"family":"Unrecorded"}]}`)
		failChain(t, s, false)
		if r.status != 500 {
			t.Errorf("a create whose record failed answered %d, want 500", r.status)
		}
		if n := len(entries(a.mustGet("Patient?name=Unrecorded"))); n != 0 {
			t.Errorf("the unrecorded create left %d Patients", n)
		}
	})
}

// failChain makes every insert into the audit chain fail (on) or stops it.
func failChain(t *testing.T, s *store.Store, on bool) {
	t.Helper()
	var stmts []string
	switch {
	case s.Dialect().Name() == "postgres" && on:
		stmts = []string{
			`CREATE FUNCTION ward_test_fail_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit down'; END $$ LANGUAGE plpgsql`,
			`CREATE TRIGGER ward_test_fail_audit BEFORE INSERT ON audit_chain FOR EACH ROW EXECUTE FUNCTION ward_test_fail_audit()`,
		}
	case s.Dialect().Name() == "postgres":
		stmts = []string{`DROP TRIGGER ward_test_fail_audit ON audit_chain`, `DROP FUNCTION ward_test_fail_audit()`}
	case on:
		stmts = []string{`CREATE TRIGGER ward_test_fail_audit BEFORE INSERT ON audit_chain BEGIN SELECT RAISE(ABORT, 'audit down'); END`}
	default:
		stmts = []string{`DROP TRIGGER ward_test_fail_audit`}
	}
	for _, q := range stmts {
		if _, err := s.WriterDB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}

// entries are a Bundle reply's entries.
func entries(r reply) []map[string]any {
	list, _ := r.body["entry"].([]any)
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
