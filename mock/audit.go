package mock

import (
	"context"
	"sync"

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

var _ ward.AuditLog = (*AuditRecorder)(nil)

// AuditRecorder is a ward.AuditLog that keeps every record it is given, in
// order, for a test to take; after SetFail it refuses them with that error.
// It is safe for concurrent use.
type AuditRecorder struct {
	mu      sync.Mutex
	records []ward.AuditRecord
	fail    error
}

// Record keeps a copy of rec, or returns the error of SetFail.
func (a *AuditRecorder) Record(_ context.Context, rec *ward.AuditRecord) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	a.records = append(a.records, *rec)
	return nil
}

// Take returns the records kept since the last Take.
func (a *AuditRecorder) Take() []ward.AuditRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.records
	a.records = nil
	return out
}

// SetFail makes every later Record fail with err (nil: succeed again).
func (a *AuditRecorder) SetFail(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fail = err
}
