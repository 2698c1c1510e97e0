package mock

import (
	"context"

	"github.com/wardhealth/ward"
)

var _ ward.AuditLog = (*AuditLog)(nil)

// AuditLog mocks ward.AuditLog.
type AuditLog struct {
	RecordFn func(ctx context.Context, rec *ward.AuditRecord) error
}

func (l *AuditLog) Record(ctx context.Context, rec *ward.AuditRecord) error {
	return l.RecordFn(ctx, rec)
}
