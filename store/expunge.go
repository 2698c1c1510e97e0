package store

import (
	"context"
	"maps"
	"slices"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
)

// Erasure (GDPR's right to be forgotten, Medplum's $expunge). Expunge
// removes a resource with every version and index row, and with
// everything a Patient and every resource of its compartment — those
// deleted included, whose compartment rows a deletion keeps (insert.go) —
// the AuditEvents that name the patient among them. In the same
// transaction it links one record of the erasure (who, when, what, how
// many; no clinical content) into the project's chain, and each erased
// AuditEvent's link keeps its place, naming that record (auditchain.go):
// the chain still verifies. Only a project admin in its own project, or
// the system principal, may erase.

// Expunge erases typ/id of the caller's project — with everything, for a
// Patient, its whole compartment — and returns how many resources went.
func (s *Store) Expunge(ctx context.Context, typ, id string, everything bool) (int, error) {
	p, err := principal(ctx)
	if err != nil {
		return 0, err
	}
	if !p.System && !p.Admin {
		return 0, forbidden()
	}
	if !fhir.IsResourceType(typ) || !validID(id) {
		return 0, notFound()
	}
	if typ == "Project" {
		return s.expungeProject(ctx, p, id, everything)
	}
	if ward.IsServerWrittenType(typ) {
		return 0, forbidden() // the trail goes with what it is about, never on its own
	}
	if everything && typ != "Patient" {
		return 0, ward.Errorf(ward.EINVALID, "everything=true erases a Patient's compartment: %s has none", typ)
	}
	// The records this process has acknowledged are indexed first, so
	// none is indexed again after its erasure.
	s.awaitTrail(ctx)
	var n int
	err = s.Write(ctx, func(ctx context.Context, rtx ward.ResourceTx) error {
		var err error
		n, err = rtx.(*tx).expunge(ctx, p, typ, id, everything)
		return err
	})
	return n, err
}

// expungeProject erases a whole project (eraseproject.go): super admins
// only, with everything.
func (s *Store) expungeProject(ctx context.Context, p *ward.Principal, id string, everything bool) (int, error) {
	if !p.System {
		return 0, forbidden()
	}
	if !everything {
		return 0, ward.Errorf(ward.EINVALID, "A Project is erased whole: everything=true")
	}
	s.awaitTrail(ctx)
	var n int
	err := s.Write(ctx, func(ctx context.Context, rtx ward.ResourceTx) error {
		t := rtx.(*tx)
		var err error
		if n, err = t.eraseProject(ctx, p, id); err != nil {
			return err
		}
		trail := p.ProjectID
		if trail == "" || trail == id {
			trail = ward.SystemProjectID // never a row of the erased project again
		}
		erasure, err := t.erasureRecord(ctx, p, trail, "Project", id, n)
		if err != nil {
			return err
		}
		if err := t.lockAudit(ctx, "audit:", trail); err != nil {
			return err
		}
		if err := t.appendChain(ctx, trail, []*pendingAudit{erasure}); err != nil {
			return err
		}
		t.audits = append(t.audits, erasure)
		if a := ward.AccessFromContext(ctx); a != nil {
			t.marked = append(t.marked, a)
		}
		return nil
	})
	return n, err
}

func (t *tx) expunge(ctx context.Context, p *ward.Principal, typ, id string, everything bool) (int, error) {
	target, err := t.current(ctx, p, typ, id, t.d.ForUpdate())
	if err != nil {
		return 0, err
	}
	project := target.ProjectID
	if !p.System && project != p.ProjectID {
		return 0, notFound() // a linked project's resource: readable, never erasable
	}
	members := map[string][]string{typ: {id}}
	if everything {
		if err := t.compartmentOf(ctx, project, id, members); err != nil {
			return 0, err
		}
	}
	erasure, err := t.erasureRecord(ctx, p, project, typ, id, count(members))
	if err != nil {
		return 0, err
	}
	if err := t.eraseTrail(ctx, project, members["AuditEvent"], erasure.v.res.ID); err != nil {
		return 0, err
	}
	now := t.s.now()
	for _, typ := range slices.Sorted(maps.Keys(members)) {
		if err := t.eraseRows(ctx, project, typ, members[typ]); err != nil {
			return 0, err
		}
		for _, id := range members[typ] {
			erased := &ward.Resource{ProjectID: project, Type: typ, ID: id, LastUpdated: now}
			if typ == target.Type && id == target.ID {
				erased.VersionID = target.VersionID
			}
			t.noteChange(erased, OpExpunge, nil)
		}
	}
	for _, id := range members["Binary"] {
		t.eraseBlobs(project + "/" + id)
	}
	if typ == "Patient" {
		if err := t.eraseExportsOf(ctx, project, id); err != nil {
			return 0, err
		}
	}
	if err := t.lockAudit(ctx, "audit:", project); err != nil {
		return 0, err
	}
	if err := t.appendChain(ctx, project, []*pendingAudit{erasure}); err != nil {
		return 0, err
	}
	t.audits = append(t.audits, erasure)
	if a := ward.AccessFromContext(ctx); a != nil {
		t.marked = append(t.marked, a)
	}
	return count(members), nil
}

// compartmentOf adds to members every resource whose compartment rows name
// the patient, deleted ones included, but other Patients (a Patient that
// links to this one is another record, erased on its own) and the records
// of erasures done (subtype $expunge, outcome 0): an erasure's record names
// the patient it erased (and so is in its compartment), and stays.
func (t *tx) compartmentOf(ctx context.Context, project, patientID string, members map[string][]string) error {
	return t.eachRow(ctx, `SELECT c.resource_type, c.resource_id FROM resource_compartments c
		WHERE c.project_id = ? AND c.compartment = ? AND NOT (c.resource_type = 'Patient' AND c.resource_id <> c.compartment)
		AND NOT (c.resource_type = 'AuditEvent'
			AND EXISTS (SELECT 1 FROM search_token e WHERE e.project_id = c.project_id AND e.resource_type = 'AuditEvent'
				AND e.resource_id = c.resource_id AND e.param = 'subtype' AND e.code = '$expunge')
			AND EXISTS (SELECT 1 FROM search_token o WHERE o.project_id = c.project_id AND o.resource_type = 'AuditEvent'
				AND o.resource_id = c.resource_id AND o.param = 'outcome' AND o.code = '0'))
		ORDER BY c.resource_type, c.resource_id`, []any{project, patientID},
		func(scan func(...any) error) error {
			var typ, id string
			if err := scan(&typ, &id); err != nil {
				return err
			}
			// Rows come ordered and a resource has one row per
			// compartment: only a repeat of the last one is a duplicate.
			if ids := members[typ]; len(ids) == 0 || ids[len(ids)-1] != id {
				members[typ] = append(ids, id)
			}
			return nil
		})
}

// erasureRecord is the record of this erasure, linked by the caller once
// the rows are gone.
func (t *tx) erasureRecord(ctx context.Context, p *ward.Principal, project, typ, id string, n int) (*pendingAudit, error) {
	rec := ward.AuditRecord{Kind: "rest", Time: t.s.now()}
	if a := ward.AccessFromContext(ctx); a != nil {
		rec = a.Record
	}
	if rec.ProjectID == "" {
		rec.SetCaller(p)
	}
	rec.ProjectID = project // the erased data's trail, whoever erased it
	rec.Action, rec.Interaction = "D", "$expunge"
	rec.ResourceType, rec.ResourceID, rec.VersionID = typ, id, ""
	rec.Outcome, rec.Status, rec.Reason, rec.Results = "0", 200, "", n
	rec.Query, rec.Patients = "", nil
	v, err := auditVersion(&rec, t.s.now())
	if err != nil {
		return nil, err
	}
	return &pendingAudit{v: v}, nil
}

// eraseTrail marks the links of the AuditEvents erased by erasure.
func (t *tx) eraseTrail(ctx context.Context, project string, events []string, erasure string) error {
	for chunk := range slices.Chunk(events, setRowsArgs/2) {
		cond, ids := t.in("event_id", toAny(chunk))
		if _, err := t.sql.ExecContext(ctx, t.d.Rebind("UPDATE audit_chain SET erased_by = ? WHERE project_id = ? AND "+cond),
			append([]any{erasure, project}, ids...)...); err != nil {
			return err
		}
	}
	return nil
}

// eraseRows deletes every row of the given resources of typ: current,
// history, index and compartments.
func (t *tx) eraseRows(ctx context.Context, project, typ string, ids []string) error {
	if err := t.flushIndex(ctx); err != nil {
		return err
	}
	tables := append([]string{"resources", "resource_history"}, indexTables...)
	tables = append(append(tables, compartmentIndexTables...), "resource_compartments")
	for chunk := range slices.Chunk(ids, setRowsArgs/2) {
		for _, table := range tables {
			col := "resource_id"
			if table == "resources" || table == "resource_history" {
				col = "id"
			}
			cond, args := t.in(col, toAny(chunk))
			if _, err := t.sql.ExecContext(ctx, t.d.Rebind("DELETE FROM "+table+" WHERE project_id = ? AND resource_type = ? AND "+cond),
				append([]any{project, typ}, args...)...); err != nil {
				return err
			}
		}
	}
	return nil
}

func count(members map[string][]string) int {
	n := 0
	for _, ids := range members {
		n += len(ids)
	}
	return n
}

func toAny(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
