package store

import (
	"context"
	"time"

	"github.com/wardhealth/ward"
)

// LoadAuditRecords stores recs as the audit log would — linked, stored and
// indexed — in one transaction, stamped at when: the scale benchmark's
// loader (millions of records, far faster than through Record).
func LoadAuditRecords(ctx context.Context, s *Store, recs []*ward.AuditRecord, when time.Time) error {
	byProject := map[string][]*pendingAudit{}
	var order []string
	for _, rec := range recs {
		v, err := auditVersion(rec, when)
		if err != nil {
			return err
		}
		p := v.res.ProjectID
		if byProject[p] == nil {
			order = append(order, p)
		}
		byProject[p] = append(byProject[p], &pendingAudit{v: v})
	}
	ctx = ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal())
	return s.Write(ctx, func(ctx context.Context, rtx ward.ResourceTx) error {
		t := rtx.(*tx)
		for _, project := range order {
			batch := byProject[project]
			if err := t.appendChain(ctx, project, batch); err != nil {
				return err
			}
			linked := make([]chained, len(batch))
			for i, p := range batch {
				linked[i] = chained{seq: p.seq, v: p.v}
			}
			if _, err := t.projectLinks(ctx, project, linked); err != nil {
				return err
			}
		}
		return nil
	})
}
