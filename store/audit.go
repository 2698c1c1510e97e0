package store

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/wardhealth/ward"
)

// AuditOptions configure an AuditLog.
type AuditOptions struct {
	// Sink, when not nil, gets every committed AuditEvent as one JSON line,
	// in commit order (a SIEM's feed). Write errors are logged, never
	// returned to a Record.
	Sink io.Writer
	// MaxBatch bounds the records one commit takes (default 1000).
	MaxBatch int
}

// AuditLog implements ward.AuditLog on the store with group commit: Record
// enqueues and waits; one goroutine writes everything queued while the
// previous commit ran in one transaction (one fsync for many records),
// appends each record to its project's hash chain (auditchain.go) in that
// same transaction, then wakes the waiters.
type AuditLog struct {
	s        *Store
	sink     io.Writer
	maxBatch int

	mu      sync.Mutex
	queue   []*pendingAudit
	closing bool
	wake    chan struct{} // capacity 1: a pending "queue not empty"
	done    chan struct{} // closed when the committing goroutine ended

	commits atomic.Int64
}

var _ ward.AuditLog = (*AuditLog)(nil)

// pendingAudit is one queued record: its AuditEvent, already shaped by the
// caller's goroutine, and where its outcome goes.
type pendingAudit struct {
	project string
	content []byte
	// decoded is content decoded by Record, used by the first attempt to
	// store it (a retried transaction decodes content again).
	decoded *decodedResource
	stored  []byte     // the AuditEvent as committed, for the sink
	result  chan error // capacity 1: the committer never blocks on it
}

// ErrAuditClosed answers a Record after Close.
var ErrAuditClosed = errors.New("store: audit log closed")

// NewAuditLog starts the audit log's committing goroutine; Close stops it.
func (s *Store) NewAuditLog(opts AuditOptions) *AuditLog {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	l := &AuditLog{
		s:        s,
		sink:     opts.Sink,
		maxBatch: opts.MaxBatch,
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	go l.run()
	return l
}

// Record implements ward.AuditLog. The record stays queued when ctx ends
// first: the commit it joins is written whole, whoever still waits for it.
func (l *AuditLog) Record(ctx context.Context, rec *ward.AuditRecord) error {
	if !validID(auditProject(rec)) {
		// Refused before it joins a batch it would make fail.
		return ward.Errorf(ward.EINVALID, "audit record for invalid project %q", rec.ProjectID)
	}
	content, err := auditEventJSON(rec)
	if err != nil {
		return err
	}
	// Decoded and validated here, in the caller's goroutine, so the one
	// writer only stores it.
	decoded, err := decodeAuditEvent(content)
	if err != nil {
		return err
	}
	p := &pendingAudit{project: auditProject(rec), content: content, decoded: decoded, result: make(chan error, 1)}
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return ErrAuditClosed
	}
	l.queue = append(l.queue, p)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	select {
	case err := <-p.result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Commits counts the transactions the log committed (tests and benchmarks
// compare it with the records).
func (l *AuditLog) Commits() int64 { return l.commits.Load() }

// Close stops taking records, commits those queued and returns once they
// are durable.
func (l *AuditLog) Close() {
	l.mu.Lock()
	already := l.closing
	l.closing = true
	l.mu.Unlock()
	if !already {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	<-l.done
}

func (l *AuditLog) run() {
	defer close(l.done)
	for {
		batch, closing := l.take()
		switch {
		case len(batch) > 0:
			l.commit(batch)
		case closing:
			return
		default:
			<-l.wake
		}
	}
}

// take removes up to maxBatch queued records.
func (l *AuditLog) take() ([]*pendingAudit, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(len(l.queue), l.maxBatch)
	batch := l.queue[:n:n]
	l.queue = l.queue[n:]
	if len(l.queue) == 0 {
		l.queue = nil
	}
	return batch, l.closing
}

// commit writes batch in one transaction. When that fails, each record is
// tried alone so one bad record cannot lose the others.
func (l *AuditLog) commit(batch []*pendingAudit) {
	ctx := ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
	err := l.s.appendAudit(ctx, batch)
	if err == nil {
		l.commits.Add(1)
		l.finish(ctx, batch, nil)
		return
	}
	if len(batch) == 1 {
		l.finish(ctx, batch, err)
		return
	}
	l.s.logger.WarnContext(ctx, "store: audit batch failed; committing its records one by one", "records", len(batch), "error", err)
	for _, p := range batch {
		err := l.s.appendAudit(ctx, []*pendingAudit{p})
		if err == nil {
			l.commits.Add(1)
		}
		l.finish(ctx, []*pendingAudit{p}, err)
	}
}

// finish feeds the sink, in commit order, then wakes the waiters.
func (l *AuditLog) finish(ctx context.Context, batch []*pendingAudit, err error) {
	if err == nil && l.sink != nil {
		var buf []byte
		for _, p := range batch {
			buf = append(append(buf, p.stored...), '\n')
		}
		if _, werr := l.sink.Write(buf); werr != nil {
			l.s.logger.ErrorContext(ctx, "store: audit sink", "error", werr)
		}
	}
	for _, p := range batch {
		p.result <- err
	}
}
