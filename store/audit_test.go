package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/mock"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/postgres"
	"github.com/wardhealth/ward/store/storetest"
)

// sinkLines are the lines written to the sink so far.
func sinkLines(b *mock.SyncBuffer) []string {
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

func newAuditLog(t testing.TB, s *store.Store, opts store.AuditOptions) *store.AuditLog {
	l := s.NewAuditLog(opts)
	t.Cleanup(l.Close)
	return l
}

// readRecord is a successful read of Observation/obs of patient, by a
// practitioner of project.
func readRecord(project, obs, patient string) *ward.AuditRecord {
	return &ward.AuditRecord{
		Time: time.Now(), ProjectID: project, Kind: "rest", Action: "R", Interaction: "read",
		Outcome: "0", Status: 200,
		User: "User/" + uuid.NewString(), Profile: "Practitioner/p1", Membership: "ProjectMembership/m1",
		Address: "10.1.2.3", UserAgent: "test", RequestID: uuid.NewString(),
		ResourceType: "Observation", ResourceID: obs, VersionID: uuid.NewString(), Results: -1,
		Patients: []string{"Patient/" + patient},
	}
}

func record(t testing.TB, l *store.AuditLog, rec *ward.AuditRecord) {
	t.Helper()
	if err := l.Record(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
}

func adminOf(project string) context.Context {
	return ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: project, Admin: true, Author: "Practitioner/admin"})
}

// TestAuditEventsAreSearchable: what an auditor asks of the trail finds
// the records, and only in the records' project.
func TestAuditEventsAreSearchable(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		projA, projB := uuid.NewString(), uuid.NewString()
		patient, obs := uuid.NewString(), uuid.NewString()
		l := newAuditLog(t, s, store.AuditOptions{})
		before := time.Now().Add(-time.Second).UTC().Format(time.RFC3339)
		record(t, l, readRecord(projA, obs, patient))
		record(t, l, &ward.AuditRecord{
			Time: time.Now(), ProjectID: projA, Kind: "rest", Action: "E", Interaction: "search-type",
			Outcome: "4", Status: 403, Reason: "Forbidden", Client: "ClientApplication/c1", Address: "10.9.9.9",
			ResourceType: "Patient", Query: "name=smith", Results: 0,
		})
		record(t, l, &ward.AuditRecord{
			Time: time.Now(), ProjectID: projA, Kind: "login", Action: "E", Interaction: "login",
			Outcome: "0", Status: 200, User: "User/u1", Profile: "Practitioner/p2",
		})
		record(t, l, readRecord(projB, obs, patient))
		for _, c := range []struct {
			query string
			want  int
		}{
			{"patient=Patient/" + patient, 1},
			{"entity=Patient/" + patient, 1},
			{"entity=Observation/" + obs, 1},
			{"agent=Practitioner/p1", 1},
			{"agent=ProjectMembership/m1", 1},
			{"agent=ClientApplication/c1", 1},
			{"date=ge" + before, 3},
			{"date=lt" + before, 0},
			{"outcome=4", 1},
			{"action=R", 1},
			{"type=rest", 2},
			{"type=110114", 1},
			{"subtype=read", 1},
			{"subtype=search-type", 1},
			{"address=10.9.9.9", 1},
		} {
			res, err := trySearch(s, adminOf(projA), "AuditEvent", c.query)
			if err != nil {
				t.Errorf("%s: %v", c.query, err)
				continue
			}
			if len(res.Matches) != c.want {
				t.Errorf("AuditEvent?%s found %d, want %d", c.query, len(res.Matches), c.want)
			}
		}
		// Project B's admin sees B's record only.
		res, err := trySearch(s, adminOf(projB), "AuditEvent", "")
		if err != nil || len(res.Matches) != 1 {
			t.Errorf("project B's admin sees %v records (%v), want its 1", res, err)
		}
	})
}

// TestAuditEventIsAppendOnly: no caller but the server itself creates,
// updates or deletes an AuditEvent, a super admin included; reads stay
// under the walls and policies.
func TestAuditEventIsAppendOnly(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		l := newAuditLog(t, s, store.AuditOptions{})
		record(t, l, readRecord(proj, uuid.NewString(), uuid.NewString()))
		found, err := trySearch(s, sysCtx(), "AuditEvent", "_project="+proj)
		if err != nil || len(found.Matches) != 1 {
			t.Fatalf("the record: %v %v", found, err)
		}
		ev := found.Matches[0]
		superAdmin := ward.NewContextWithPrincipal(context.Background(), &ward.Principal{System: true, ProjectID: proj, Author: "Practitioner/root"})
		callers := map[string]context.Context{
			"super admin":   superAdmin,
			"project admin": adminOf(proj),
			"* policy":      memberCtx(proj, policyOf(t, `{}`, `{}`, nil)),
			"names it":      memberCtx(proj, onePolicy(t, `[{"resourceType":"AuditEvent"}]`)),
		}
		body := `{"resourceType":"AuditEvent","type":{"code":"rest"},"recorded":"2026-01-01T00:00:00Z","agent":[{"requestor":true}],"source":{"observer":{"display":"x"}}}`
		for name, ctx := range callers {
			if _, err := tryCreate(s, ctx, "AuditEvent", body); code(err) != ward.EFORBIDDEN {
				t.Errorf("%s: create AuditEvent = %s, want forbidden", name, code(err))
			}
			edited := strings.Replace(string(ev.Content), `"outcome":"0"`, `"outcome":"4"`, 1)
			if _, _, err := update(s, ctx, "AuditEvent", ev.ID, edited, ""); code(err) != ward.EFORBIDDEN {
				t.Errorf("%s: update AuditEvent = %s, want forbidden", name, code(err))
			}
			if err := tryDelete(s, ctx, "AuditEvent", ev.ID); code(err) != ward.EFORBIDDEN {
				t.Errorf("%s: delete AuditEvent = %s, want forbidden", name, code(err))
			}
		}
		for name, ctx := range map[string]context.Context{"project admin": adminOf(proj), "names it": callers["names it"]} {
			if _, err := s.Read(ctx, "AuditEvent", ev.ID); err != nil {
				t.Errorf("%s: read AuditEvent = %v", name, err)
			}
		}
		if _, err := s.Read(memberCtx(proj, onePolicy(t, `[{"resourceType":"Patient"}]`)), "AuditEvent", ev.ID); code(err) != ward.EFORBIDDEN {
			t.Errorf("a member not granted AuditEvent reads it: %s", code(err))
		}
		if _, err := s.Read(adminOf(uuid.NewString()), "AuditEvent", ev.ID); code(err) != ward.ENOTFOUND {
			t.Errorf("another project's admin reads it: %s", code(err))
		}
		if v, err := s.VerifyAudit(sysCtx(), proj); err != nil || !v.OK || v.Checked != 1 {
			t.Errorf("after the refusals the chain = %+v %v, want 1 link OK", v, err)
		}
	})
}

// TestAuditGroupCommit: 500 concurrent records in two projects are all
// kept, chained in order, in far fewer commits than records, and fed to
// the sink in chain order.
func TestAuditGroupCommit(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		projects := []string{uuid.NewString(), uuid.NewString()}
		sink := &mock.SyncBuffer{}
		l := newAuditLog(t, s, store.AuditOptions{Sink: sink})
		const n = 500
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- l.Record(context.Background(), readRecord(projects[i%2], uuid.NewString(), uuid.NewString()))
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if c := l.Commits(); c > n/5 {
			t.Errorf("%d commits for %d records, want group commit (≤ %d)", c, n, n/5)
		}
		for _, p := range projects {
			v, err := s.VerifyAudit(sysCtx(), p)
			if err != nil || !v.OK || v.Checked != n/2 {
				t.Errorf("project %s: %+v %v, want %d links OK", p, v, err, n/2)
			}
		}
		lines := sinkLines(sink)
		if len(lines) != n {
			t.Fatalf("sink got %d lines, want %d", len(lines), n)
		}
		for _, line := range lines {
			var ev map[string]any
			if err := json.Unmarshal([]byte(line), &ev); err != nil || ev["resourceType"] != "AuditEvent" || ev["id"] == nil {
				t.Fatalf("sink line is not a stored AuditEvent: %s", line)
			}
		}
	})
}

// TestAuditRecordOutlivesItsCaller: a waiter that gives up does not lose
// its record; Close commits what is queued.
func TestAuditRecordOutlivesItsCaller(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		l := s.NewAuditLog(store.AuditOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = l.Record(ctx, readRecord(proj, uuid.NewString(), uuid.NewString()))
			}()
		}
		wg.Wait()
		l.Close()
		if err := l.Record(context.Background(), readRecord(proj, uuid.NewString(), uuid.NewString())); err == nil {
			t.Error("Record after Close succeeded")
		}
		v, err := s.VerifyAudit(sysCtx(), proj)
		if err != nil || !v.OK || v.Checked != 20 {
			t.Errorf("chain = %+v %v, want the 20 records of cancelled callers", v, err)
		}
	})
}

// TestAuditTamperIsCaught edits the tables behind the server's back; each
// change is reported at the link it broke.
func TestAuditTamperIsCaught(t *testing.T) {
	const sameID = "(SELECT event_id FROM audit_chain WHERE project_id = ? AND seq = %d)"
	cases := []struct {
		name    string
		sql     []string // each with one or two project placeholders
		seq     int64
		problem string
	}{
		{"content edited", []string{`UPDATE resources SET content = REPLACE(content, '"outcome":"0"', '"outcome":"4"') WHERE project_id = ? AND resource_type = 'AuditEvent' AND id = ` + sprintf(sameID, 3)}, 3, "content changed"},
		{"record deleted", []string{`DELETE FROM resources WHERE project_id = ? AND resource_type = 'AuditEvent' AND id = ` + sprintf(sameID, 2)}, 2, "record missing"},
		{"chain link deleted", []string{`DELETE FROM audit_chain WHERE project_id = ? AND seq = 4`}, 4, "seq gap"},
		{"two links swapped", []string{
			`UPDATE audit_chain SET seq = 100 WHERE project_id = ? AND seq = 3`,
			`UPDATE audit_chain SET seq = 3 WHERE project_id = ? AND seq = 4`,
			`UPDATE audit_chain SET seq = 4 WHERE project_id = ? AND seq = 100`,
		}, 3, "prev_hash mismatch"},
		{"forged AuditEvent", []string{`INSERT INTO resources (project_id, resource_type, id, version_id, last_updated, deleted, content)
			SELECT project_id, resource_type, 'f0000000-0000-4000-8000-000000000000', version_id, last_updated, 0, content FROM resources
			WHERE project_id = ? AND resource_type = 'AuditEvent' AND id = ` + sprintf(sameID, 1)}, 6, "AuditEvent not in chain"},
		{"forged link", []string{`INSERT INTO audit_chain (project_id, seq, event_id, hash, prev_hash)
			SELECT project_id, 6, event_id, hash, hash FROM audit_chain WHERE project_id = ? AND seq = 5`}, 6, "content changed"},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		l := newAuditLog(t, s, store.AuditOptions{})
		for _, c := range cases {
			proj := uuid.NewString()
			for range 5 {
				record(t, l, readRecord(proj, uuid.NewString(), uuid.NewString()))
			}
			if v, err := s.VerifyAudit(sysCtx(), proj); err != nil || !v.OK || v.Checked != 5 {
				t.Fatalf("%s: before tampering %+v %v", c.name, v, err)
			}
			for _, q := range c.sql {
				args := make([]any, strings.Count(q, "?"))
				for i := range args {
					args[i] = proj
				}
				if _, err := s.WriterDB().Exec(s.Dialect().Rebind(q), args...); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
			}
			v, err := s.VerifyAudit(sysCtx(), proj)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if v.OK || v.BrokenSeq != c.seq || v.Problem != c.problem {
				t.Errorf("%s: verify = %+v, want %q at seq %d", c.name, v, c.problem, c.seq)
			}
		}
	})
}

// TestVerifyAuditIsForAdmins: a member may not walk the chain, nor an
// admin another project's.
func TestVerifyAuditIsForAdmins(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		for name, ctx := range map[string]context.Context{
			"member":                  memberCtx(proj, onePolicy(t, `[{"resourceType":"AuditEvent"}]`)),
			"another project's admin": adminOf(uuid.NewString()),
		} {
			if _, err := s.VerifyAudit(ctx, proj); code(err) != ward.EFORBIDDEN {
				t.Errorf("%s: verify = %s, want forbidden", name, code(err))
			}
		}
		if v, err := s.VerifyAudit(adminOf(proj), proj); err != nil || !v.OK {
			t.Errorf("the project's admin, empty trail: %+v %v", v, err)
		}
	})
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

// TestSetAccountsLeavesTheTrailAlone: $set-accounts on a patient rewrites
// the patient's compartment, but never the audit records about the
// patient (they are append-only: rewriting one would break the chain).
func TestSetAccountsLeavesTheTrailAlone(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		patient := sysCreate(t, s, proj, "Patient", `{"name":[{"family":"Audited"}]}`)
		l := newAuditLog(t, s, store.AuditOptions{})
		record(t, l, readRecord(proj, uuid.NewString(), patient.ID))
		org := sysCreate(t, s, proj, "Organization", `{"name":"Clinic"}`)
		if _, err := s.SetAccounts(adminOf(proj), "Patient", patient.ID, []string{"Organization/" + org.ID}, true); err != nil {
			t.Fatal(err)
		}
		if v, err := s.VerifyAudit(sysCtx(), proj); err != nil || !v.OK {
			t.Errorf("after $set-accounts the trail = %+v %v, want intact", v, err)
		}
	})
}

// TestAuditRecordNeedsAProject: a record naming no valid project is
// refused alone; the records around it are kept, and one with no project
// goes to the server's trail.
func TestAuditRecordNeedsAProject(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		l := newAuditLog(t, s, store.AuditOptions{})
		var wg sync.WaitGroup
		errs := make([]error, 10)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rec := readRecord(proj, uuid.NewString(), uuid.NewString())
				if i == 5 {
					rec.ProjectID = "not-a-project"
				}
				errs[i] = l.Record(context.Background(), rec)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if want := i != 5; (err == nil) != want {
				t.Errorf("record %d: %v", i, err)
			}
		}
		if code(errs[5]) != ward.EINVALID {
			t.Errorf("the bad record: %v, want invalid", errs[5])
		}
		if v, err := s.VerifyAudit(sysCtx(), proj); err != nil || !v.OK || v.Checked != 9 {
			t.Errorf("the good records' chain: %+v %v, want 9 links", v, err)
		}
		anon := readRecord("", uuid.NewString(), uuid.NewString())
		record(t, l, anon)
		if v, err := s.VerifyAudit(sysCtx(), ward.SystemProjectID); err != nil || !v.OK || v.Checked != 1 {
			t.Errorf("a record without project: server trail %+v %v, want 1 link", v, err)
		}
	})
}

// TestAuditChainAcrossProcesses: two servers on one PostgreSQL database
// record into the same project at once; the chain stays one contiguous,
// verifiable sequence holding every record.
func TestAuditChainAcrossProcesses(t *testing.T) {
	url, schema := storetest.PostgresSchema(t)
	var logs []*store.AuditLog
	var first *store.Store
	for range 2 {
		s, err := postgres.Open(context.Background(), url, postgres.Options{SearchPath: schema, MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if first == nil {
			first = s
		}
		logs = append(logs, newAuditLog(t, s, store.AuditOptions{}))
	}
	proj := uuid.NewString()
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- logs[i%2].Record(context.Background(), readRecord(proj, uuid.NewString(), uuid.NewString()))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if v, err := first.VerifyAudit(sysCtx(), proj); err != nil || !v.OK || v.Checked != n {
		t.Errorf("chain after two processes = %+v %v, want %d links OK", v, err, n)
	}
}

// TestAuditIndexCatchesUpAfterACrash: records that were stored and linked
// (acknowledged) but whose index rows a crash kept from being written are
// found by a search once a log starts again on the database.
func TestAuditIndexCatchesUpAfterACrash(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj, patient := uuid.NewString(), uuid.NewString()
		l := s.NewAuditLog(store.AuditOptions{})
		for range 40 {
			record(t, l, readRecord(proj, uuid.NewString(), patient))
		}
		l.Close()
		// The crash: links 31-40 stored, their index rows never written.
		var unindex []string
		for _, table := range []string{"search_token", "search_string", "search_date", "search_reference", "resource_compartments"} {
			unindex = append(unindex, `DELETE FROM `+table+` WHERE project_id = ? AND resource_type = 'AuditEvent'
				AND resource_id IN (SELECT event_id FROM audit_chain WHERE project_id = ? AND seq > 30)`)
		}
		for _, q := range append(unindex, `UPDATE audit_projected SET seq = 30 WHERE project_id = ? AND ? <> ''`) {
			if _, err := s.WriterDB().Exec(s.Dialect().Rebind(q), proj, proj); err != nil {
				t.Fatal(err)
			}
		}
		if res, err := trySearch(s, adminOf(proj), "AuditEvent", "patient=Patient/"+patient+"&_count=100"); err != nil || len(res.Matches) != 30 {
			t.Fatalf("before the restart the search finds %v (%v), want the 30 indexed", res, err)
		}
		l = newAuditLog(t, s, store.AuditOptions{})
		l.Flush(context.Background())
		deadline := time.Now().Add(5 * time.Second)
		for {
			res, err := trySearch(s, adminOf(proj), "AuditEvent", "patient=Patient/"+patient+"&_count=100")
			if err == nil && len(res.Matches) == 40 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the restart the search finds %v (%v), want all 40", res, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if v, err := s.VerifyAudit(sysCtx(), proj); err != nil || !v.OK || v.Checked != 40 {
			t.Errorf("chain = %+v %v", v, err)
		}
	})
}

// TestAuditEventHistoryIsItsOneVersion: vread and history of a record
// answer its one version; the parameters Ward withdrew from AuditEvent
// are refused, not answered with nothing.
func TestAuditEventHistoryIsItsOneVersion(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		l := newAuditLog(t, s, store.AuditOptions{})
		record(t, l, readRecord(proj, uuid.NewString(), uuid.NewString()))
		found, err := trySearch(s, adminOf(proj), "AuditEvent", "")
		if err != nil || len(found.Matches) != 1 {
			t.Fatalf("the record: %v %v", found, err)
		}
		ev := found.Matches[0]
		if got, err := s.VRead(adminOf(proj), "AuditEvent", ev.ID, ev.VersionID); err != nil || string(got.Content) != string(ev.Content) {
			t.Errorf("vread = %v, want the record", err)
		}
		for name, q := range map[string]ward.HistoryQuery{
			"instance": {ResourceType: "AuditEvent", ID: ev.ID},
			"type":     {ResourceType: "AuditEvent"},
		} {
			page, err := s.History(adminOf(proj), q)
			if err != nil || page.Total != 1 || len(page.Versions) != 1 || page.Versions[0].VersionID != ev.VersionID {
				t.Errorf("%s history = %+v %v, want the one version", name, page, err)
			}
		}
		for _, q := range []string{"altid=User/u1", "entity-type=2", "source=ward"} {
			if _, err := trySearch(s, adminOf(proj), "AuditEvent", q); code(err) != ward.EINVALID {
				t.Errorf("AuditEvent?%s = %s, want invalid (withdrawn parameter)", q, code(err))
			}
		}
	})
}

// TestAuditReadYourTrail: a record acknowledged by Record is found by the
// very next search of the trail in this process, every time (the index
// rows are written behind, and reads wait for them).
func TestAuditReadYourTrail(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		l := newAuditLog(t, s, store.AuditOptions{})
		for i := range 200 {
			obs := uuid.NewString()
			record(t, l, readRecord(proj, obs, uuid.NewString()))
			res, err := trySearch(s, adminOf(proj), "AuditEvent", "entity=Observation/"+obs)
			if err != nil || len(res.Matches) != 1 {
				t.Fatalf("record %d not found right after Record: %v %v", i, res, err)
			}
		}
	})
}
