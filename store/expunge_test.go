package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// rowsNaming counts, table by table, the rows of project that hold id (as
// the resource's id, its index rows' resource, a reference's target, a
// compartment, or anywhere in stored JSON).
// Rows of the resource except are not counted.
func rowsNaming(t *testing.T, s *store.Store, project, id, except string) map[string]int {
	t.Helper()
	queries := map[string]string{
		"resources":             `SELECT COUNT(*) FROM resources WHERE project_id = ? AND id <> ? AND (id = ? OR content LIKE ?)`,
		"resource_history":      `SELECT COUNT(*) FROM resource_history WHERE project_id = ? AND id <> ? AND (id = ? OR content LIKE ?)`,
		"resource_compartments": `SELECT COUNT(*) FROM resource_compartments WHERE project_id = ? AND resource_id <> ? AND (resource_id = ? OR compartment = ?)`,
		"search_reference":      `SELECT COUNT(*) FROM search_reference WHERE project_id = ? AND resource_id <> ? AND (resource_id = ? OR target_id = ?)`,
		"search_token":          `SELECT COUNT(*) FROM search_token WHERE project_id = ? AND resource_id <> ? AND (resource_id = ? OR code = ?)`,
		"search_string":         `SELECT COUNT(*) FROM search_string WHERE project_id = ? AND resource_id <> ? AND (resource_id = ? OR value LIKE ?)`,
		"search_date":           `SELECT COUNT(*) FROM search_date WHERE project_id = ? AND resource_id <> ? AND (resource_id = ? OR ? = '')`,
	}
	out := map[string]int{}
	for table, q := range queries {
		args := []any{project, except, id, id}
		if strings.Contains(q, "LIKE") {
			args = []any{project, except, id, "%" + id + "%"}
		}
		var n int
		if err := s.DB().QueryRow(s.Dialect().Rebind(q), args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if n > 0 {
			out[table] = n
		}
	}
	return out
}

// TestExpungePatientEverything: a project admin erases a patient with its
// compartment — updated, deleted and audited resources included — and no
// row of the project holds the patient's data afterwards but the one
// record of the erasure; another patient is untouched; the chain verifies
// and counts the erased records; refusals change nothing.
func TestExpungePatientEverything(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		admin := adminOf(proj)
		l := newAuditLog(t, s, store.AuditOptions{})
		patient := sysCreate(t, s, proj, "Patient", `{"name":[{"family":"Forgotten"}]}`)
		other := sysCreate(t, s, proj, "Patient", `{"name":[{"family":"Kept"}]}`)
		obs := func(p *ward.Resource, text string) *ward.Resource {
			return sysCreate(t, s, proj, "Observation", fmt.Sprintf(`{"status":"final","code":{"text":%q},"subject":{"reference":"Patient/%s"}}`, text, p.ID))
		}
		o1, o2, o3 := obs(patient, "one"), obs(patient, "two"), obs(patient, "three")
		kept := obs(other, "kept")
		if _, _, err := update(s, sysCtx(), "Observation", o2.ID, fmt.Sprintf(`{"resourceType":"Observation","id":%q,"meta":{"project":%q},"status":"amended","code":{"text":"two"},"subject":{"reference":"Patient/%s"}}`, o2.ID, proj, patient.ID), ""); err != nil {
			t.Fatal(err)
		}
		if err := tryDelete(s, sysCtx(), "Observation", o3.ID); err != nil {
			t.Fatal(err)
		}
		for _, o := range []*ward.Resource{o1, o2} {
			record(t, l, readRecord(proj, o.ID, patient.ID))
		}
		record(t, l, readRecord(proj, kept.ID, other.ID))
		l.Flush(context.Background())

		// Refusals first: nothing changes.
		member := memberCtx(proj, onePolicy(t, `[{"resourceType":"Patient"},{"resourceType":"Observation"}]`))
		for name, c := range map[string]struct {
			ctx  context.Context
			want string
		}{
			"a member":                {member, ward.EFORBIDDEN},
			"another project's admin": {adminOf(uuid.NewString()), ward.ENOTFOUND},
		} {
			if _, err := s.Expunge(c.ctx, "Patient", patient.ID, true); code(err) != c.want {
				t.Errorf("%s: expunge = %s, want %s", name, code(err), c.want)
			}
		}
		if _, err := s.Expunge(admin, "Observation", o1.ID, true); code(err) != ward.EINVALID {
			t.Errorf("everything on an Observation = %s, want invalid", code(err))
		}

		n, err := s.Expunge(admin, "Patient", patient.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		if want := 1 + 3 + 2; n != want { // the patient, its 3 Observations, the 2 records of reads of its data
			t.Errorf("expunged %d resources, want %d", n, want)
		}
		for _, id := range []string{o1.ID, o2.ID, o3.ID} {
			if rows := rowsNaming(t, s, proj, id, ""); len(rows) > 0 {
				t.Errorf("Observation/%s left rows: %v", id, rows)
			}
		}
		// What still names the patient is the erasure's record alone.
		erasure, err := trySearch(s, admin, "AuditEvent", "entity=Patient/"+patient.ID)
		if err != nil || len(erasure.Matches) != 1 {
			t.Fatalf("the erasure's record: %v %v", erasure, err)
		}
		ev := string(erasure.Matches[0].Content)
		for _, want := range []string{`"code":"$expunge"`, `"action":"D"`, `"detail":[{"type":"results","valueString":"6"}]`} {
			if !strings.Contains(ev, want) {
				t.Errorf("erasure record lacks %s: %s", want, ev)
			}
		}
		if strings.Contains(ev, "Forgotten") {
			t.Errorf("the erasure record holds clinical content: %s", ev)
		}
		if rows := rowsNaming(t, s, proj, patient.ID, erasure.Matches[0].ID); len(rows) > 0 {
			t.Errorf("rows naming the patient after its erasure, but the erasure record's: %v", rows)
		}
		if _, err := s.Read(admin, "Patient", patient.ID); code(err) != ward.ENOTFOUND {
			t.Errorf("read of the erased patient = %s, want not found", code(err))
		}
		if _, err := s.Read(admin, "Observation", kept.ID); err != nil {
			t.Errorf("the other patient's Observation: %v", err)
		}
		if res, _ := trySearch(s, admin, "AuditEvent", "patient=Patient/"+other.ID); res == nil || len(res.Matches) != 1 {
			t.Errorf("the other patient's trail: %v", res)
		}
		v, err := s.VerifyAudit(sysCtx(), proj)
		if err != nil || !v.OK || v.Erased != 2 || v.Checked != 4 {
			t.Errorf("chain after the erasure = %+v %v, want 4 links OK, 2 of them erased", v, err)
		}
		if _, err := s.Expunge(admin, "Patient", patient.ID, true); code(err) != ward.ENOTFOUND {
			t.Errorf("a second erasure = %s, want not found", code(err))
		}

		// Tampering with the erasure marks is caught.
		for _, c := range []struct {
			name, sql, problem string
		}{
			{"a live record marked erased", `UPDATE audit_chain SET erased_by = (SELECT event_id FROM audit_chain WHERE project_id = ? AND seq = 4) WHERE project_id = ? AND seq = 3`, "erased record still present"},
			{"an erasure nobody recorded", `UPDATE audit_chain SET erased_by = 'f0000000-0000-4000-8000-000000000000' WHERE project_id = ? AND seq = 1 AND ? <> ''`, "erasure not recorded"},
		} {
			var before string
			s.DB().QueryRow(s.Dialect().Rebind(`SELECT erased_by FROM audit_chain WHERE project_id = ? AND seq = `+map[bool]string{true: "3", false: "1"}[strings.Contains(c.sql, "seq = 3")]), proj).Scan(&before)
			if _, err := s.WriterDB().Exec(s.Dialect().Rebind(c.sql), proj, proj); err != nil {
				t.Fatal(err)
			}
			v, err := s.VerifyAudit(sysCtx(), proj)
			if err != nil || v.OK || v.Problem != c.problem {
				t.Errorf("%s: verify = %+v %v, want %q", c.name, v, err, c.problem)
			}
			seq := "1"
			if strings.Contains(c.sql, "seq = 3") {
				seq = "3"
			}
			if _, err := s.WriterDB().Exec(s.Dialect().Rebind(`UPDATE audit_chain SET erased_by = ? WHERE project_id = ? AND seq = `+seq), before, proj); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// projectRows counts, per table of the catalog that has a project_id
// column, the rows of project.
func projectRows(t *testing.T, s *store.Store, project string) map[string]int {
	t.Helper()
	catalog := `SELECT m.name FROM sqlite_master m WHERE m.type = 'table'
		AND EXISTS (SELECT 1 FROM pragma_table_info(m.name) c WHERE c.name = 'project_id')`
	if s.Dialect().Name() == "postgres" {
		catalog = `SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = 'project_id'`
	}
	rows, err := s.DB().Query(catalog)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
	if len(tables) < 10 {
		t.Fatalf("the catalog lists %d tables with project_id: %v", len(tables), tables)
	}
	out := map[string]int{}
	for _, table := range tables {
		var n int
		if err := s.DB().QueryRow(s.Dialect().Rebind("SELECT COUNT(*) FROM "+table+" WHERE project_id = ?"), project).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			out[table] = n
		}
	}
	return out
}

// TestEraseProject: a super admin erases a whole project; afterwards no
// table of the catalog holds a row of it, the sign-ins of its members are
// gone, another project is untouched, and the erasure is recorded in the
// super admin's trail. Nobody else may erase a project.
func TestEraseProject(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		gone, kept, admins := uuid.NewString(), uuid.NewString(), uuid.NewString()
		l := newAuditLog(t, s, store.AuditOptions{})
		for _, proj := range []string{gone, kept} {
			patient := sysCreate(t, s, proj, "Patient", `{"name":[{"family":"Tenant"}]}`)
			o := sysCreate(t, s, proj, "Observation", fmt.Sprintf(`{"status":"final","code":{"text":"x"},"subject":{"reference":"Patient/%s"}}`, patient.ID))
			if err := tryDelete(s, sysCtx(), "Observation", o.ID); err != nil {
				t.Fatal(err)
			}
			record(t, l, readRecord(proj, o.ID, patient.ID))
		}
		login := sysCreate(t, s, ward.SystemProjectID, "Login", fmt.Sprintf(`{"user":{"reference":"User/u1"},"membership":{"reference":"ProjectMembership/m1"},"project":{"reference":"Project/%s"},"authMethod":"password","authTime":"2026-01-01T00:00:00Z"}`, gone))
		sysCreate(t, s, gone, "ClientApplication", `{"name":"a client"}`)
		l.Flush(context.Background())
		keptBefore := projectRows(t, s, kept)
		homes := func() int {
			var n int
			if err := s.WriterDB().QueryRow(s.Dialect().Rebind("SELECT COUNT(*) FROM identity_homes WHERE home = ?"), gone).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if homes() == 0 {
			t.Fatal("the client's identity home was not written")
		}

		superAdmin := ward.NewContextWithPrincipal(context.Background(), &ward.Principal{System: true, ProjectID: admins, Author: "Practitioner/root"})
		for name, ctx := range map[string]context.Context{"the project's admin": adminOf(gone), "a member": memberCtx(gone, onePolicy(t, `[{"resourceType":"Patient"}]`))} {
			if _, err := s.Expunge(ctx, "Project", gone, true); code(err) != ward.EFORBIDDEN {
				t.Errorf("%s erasing its project: %s, want forbidden", name, code(err))
			}
		}
		if _, err := s.Expunge(superAdmin, "Project", ward.SystemProjectID, true); code(err) != ward.EFORBIDDEN {
			t.Errorf("erasing the server's own project: %s, want forbidden", code(err))
		}
		n, err := s.Expunge(superAdmin, "Project", gone, true)
		if err != nil || n != 4 { // the Patient, the Observation (deleted), the read's record, the client
			t.Fatalf("erase project: %d %v", n, err)
		}
		if rows := projectRows(t, s, gone); len(rows) > 0 {
			t.Errorf("rows of the erased project remain: %v", rows)
		}
		if n := homes(); n != 0 {
			t.Errorf("%d identity homes still name the erased project", n)
		}
		if _, err := s.Read(sysCtx(), "Login", login.ID); code(err) != ward.ENOTFOUND {
			t.Errorf("the member's Login after the erasure: %s, want not found", code(err))
		}
		if after := projectRows(t, s, kept); fmt.Sprint(after) != fmt.Sprint(keptBefore) {
			t.Errorf("the other project changed: %v → %v", keptBefore, after)
		}
		found, err := trySearch(s, adminOf(admins), "AuditEvent", "entity=Project/"+gone)
		if err != nil || len(found.Matches) != 1 {
			t.Errorf("the erasure's record in the super admin's trail: %v %v", found, err)
		}
		if _, err := s.Expunge(superAdmin, "Project", gone, true); code(err) != ward.ENOTFOUND {
			t.Errorf("erasing it again: %s, want not found", code(err))
		}
	})
}
