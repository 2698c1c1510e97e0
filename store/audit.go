package store

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

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
// shapes the AuditEvent in the caller's goroutine, enqueues it and waits;
// one goroutine links everything queued while the previous commit ran
// into the projects' hash chains (auditchain.go) in one transaction (one
// fsync for many records), then wakes the waiters and hands the records
// to the projection (auditproject.go), which writes the AuditEvent
// resources searches read.
type AuditLog struct {
	s        *Store
	sink     io.Writer
	maxBatch int
	proj     *projector

	mu      sync.Mutex
	queue   []*pendingAudit
	closing bool
	wake    chan struct{} // capacity 1: a pending "queue not empty"
	done    chan struct{} // closed when the committing goroutine ended

	commits atomic.Int64
}

var _ ward.AuditLog = (*AuditLog)(nil)

// pendingAudit is one queued record: its AuditEvent as it will be stored,
// with its index rows, shaped by the caller's goroutine so the one writer
// only inserts; and where its outcome goes.
type pendingAudit struct {
	v      *version
	seq    int64      // its link's, once appended
	result chan error // capacity 1: the committer never blocks on it; nil for a write's record
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
		proj:     newProjector(s),
	}
	s.trail.Store(l)
	go l.proj.run()
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
	v, err := auditVersion(rec, l.s.now())
	if err != nil {
		return err
	}
	p := &pendingAudit{v: v, result: make(chan error, 1)}
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

// Flush returns once every record acknowledged so far is readable as an
// AuditEvent (projected), or ctx ended.
func (l *AuditLog) Flush(ctx context.Context) { l.proj.await(ctx, time.Hour) }

// Commits counts the transactions the log committed (tests and benchmarks
// compare it with the records).
func (l *AuditLog) Commits() int64 { return l.commits.Load() }

// Close stops taking records, commits those queued and returns once they
// are durable and those queued in memory are projected (a backlog beyond
// them is projected from the chain by the next start: projector.close).
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
	defer l.proj.close()
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

// finish feeds the sink, in commit order, hands the records to the
// projection and wakes the waiters.
func (l *AuditLog) finish(ctx context.Context, batch []*pendingAudit, err error) {
	if err == nil && l.sink != nil {
		var buf []byte
		for _, p := range batch {
			buf = append(append(buf, p.v.res.Content...), '\n')
		}
		if _, werr := l.sink.Write(buf); werr != nil {
			l.s.logger.ErrorContext(ctx, "store: audit sink", "error", werr)
		}
	}
	// Handed to the projection before the waiters wake: a read of the
	// trail their callers make next waits for these records.
	if err == nil {
		linked := make([]chained, len(batch))
		for i, p := range batch {
			linked[i] = chained{seq: p.seq, v: p.v}
		}
		l.proj.hand(linked)
	}
	for _, p := range batch {
		if p.result != nil {
			p.result <- err
		}
	}
}

// awaitTrail returns once this process's audit records are readable as
// AuditEvents (bounded by awaitTrailLimit): reads of the trail call it.
func (s *Store) awaitTrail(ctx context.Context) {
	if l := s.trail.Load(); l != nil {
		l.proj.await(ctx, awaitTrailLimit)
	}
}
