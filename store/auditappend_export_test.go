package store

import (
	"context"
	"time"

	"github.com/wardhealth/ward"
)

// SetAuditInSQL chooses how a PostgreSQL store links audit batches: in
// the database (ward_audit_append) or in Go (lock, head and INSERTs in a
// transaction), so tests can compare the two and run them side by side.
func (s *Store) SetAuditInSQL(on bool) { s.auditInSQL = on && s.dialect.Name() == "postgres" }

// AuditInSQL reports how s links audit batches.
func (s *Store) AuditInSQL() bool { return s.auditInSQL }

// AppendAuditContents links one batch of AuditEvents with the given ids
// and stored bytes into project's chain as the audit log's committer
// would, and returns their seqs. The bytes are stored as given (not
// shaped by auditVersion), so two chains can be built from the same ones.
func AppendAuditContents(s *Store, project string, ids []string, contents [][]byte) ([]int64, error) {
	batch := make([]*pendingAudit, len(ids))
	for i, id := range ids {
		res := &ward.Resource{Type: "AuditEvent", ID: id, VersionID: id, ProjectID: project, LastUpdated: time.UnixMicro(int64(i + 1)), Content: contents[i]}
		batch[i] = &pendingAudit{v: &version{res: res}}
	}
	ctx := ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
	if err := s.appendAudit(ctx, batch); err != nil {
		return nil, err
	}
	seqs := make([]int64, len(batch))
	for i, p := range batch {
		seqs[i] = p.seq
	}
	return seqs, nil
}

// CommitAuditBatch commits recs as one batch of l's committer, the record
// at dup (when ≥ 0) carrying the id of the record before it, and returns
// each record's outcome. The committer's goroutine must be idle.
func CommitAuditBatch(l *AuditLog, recs []*ward.AuditRecord, dup int) ([]error, error) {
	batch := make([]*pendingAudit, len(recs))
	for i, rec := range recs {
		v, err := auditVersion(rec, l.s.now())
		if err != nil {
			return nil, err
		}
		batch[i] = &pendingAudit{v: v, result: make(chan error, 1)}
	}
	if dup > 0 {
		batch[dup].v.res.ID = batch[dup-1].v.res.ID
	}
	l.commit(batch)
	errs := make([]error, len(batch))
	for i, p := range batch {
		errs[i] = <-p.result
	}
	return errs, nil
}
