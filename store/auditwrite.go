package store

import (
	"context"

	"github.com/wardhealth/ward"
)

// A write's audit record commits in the write's own transaction: a
// request served with a ward.Access in its context (the HTTP layer's
// recording point puts one there) gets, for each resource a store call
// made for it writes, an AuditEvent linked into the caller's chain just
// before the commit (recordWrites), so the write and its record are
// durable together or not at all. The Access is then marked, and the
// recording point does not record that write again. Without an AuditLog
// on the store (audit off) nothing is recorded here.

// accessWrite is one write made for an access.
type accessWrite struct {
	access    *ward.Access
	principal *ward.Principal
	v         *version
	replace   bool
}

// noteWrite queues the record of v when ctx serves an audited access.
func (t *tx) noteWrite(ctx context.Context, v *version, replace bool) {
	a := ward.AccessFromContext(ctx)
	if a == nil || t.s.trail.Load() == nil || ward.IsServerWrittenType(v.res.Type) {
		return // the server's own bookkeeping (Login, JsonWebKey, AuditEvent) is not a write to record
	}
	t.writes = append(t.writes, accessWrite{access: a, principal: ward.PrincipalFromContext(ctx), v: v, replace: replace})
}

// recordWrites links the records of t's writes into their projects'
// chains, in t, and returns them for writesRecorded.
func (t *tx) recordWrites(ctx context.Context) ([]*pendingAudit, error) {
	if len(t.writes) == 0 {
		return nil, nil
	}
	now := t.s.now()
	var all []*pendingAudit
	for _, w := range t.writes {
		v, err := auditVersion(w.record(), now)
		if err != nil {
			return nil, err
		}
		all = append(all, &pendingAudit{v: v})
	}
	projects, byProject := auditByProject(all)
	if err := t.linkAudit(ctx, projects, byProject); err != nil {
		return nil, err
	}
	return all, nil
}

// writesRecorded runs once t committed: it marks the accesses and hands
// the records to the audit log's sink and projection.
func (t *tx) writesRecorded(ctx context.Context, records []*pendingAudit) {
	if len(records) == 0 {
		return
	}
	for _, w := range t.writes {
		w.access.MarkWriteRecorded()
	}
	for _, a := range t.marked {
		a.MarkWriteRecorded()
	}
	if l := t.s.trail.Load(); l != nil {
		l.finish(ctx, records, nil)
	}
}

// record is the AuditRecord of w: its access's, for this resource. The
// caller is the principal that wrote, unless the access already names
// one (identity routes write as the server on behalf of a caller they
// have established).
func (w accessWrite) record() *ward.AuditRecord {
	rec := w.access.Record
	if rec.ProjectID == "" {
		rec.SetCaller(w.principal)
	}
	rec.Kind = "rest"
	r := w.v.res
	rec.ResourceType, rec.ResourceID, rec.VersionID = r.Type, r.ID, r.VersionID
	rec.Patients = w.v.patients
	rec.Outcome, rec.Status, rec.Reason, rec.Results = "0", 200, "", -1
	switch {
	case r.Deleted:
		rec.Action, rec.Interaction = "D", "delete"
	case !w.replace:
		rec.Action, rec.Interaction, rec.Status = "C", "create", 201
	case rec.Interaction == "patch":
		rec.Action = "U"
	default:
		rec.Action, rec.Interaction = "U", "update"
	}
	return &rec
}
