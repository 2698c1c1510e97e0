package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardhealth/ward"
)

// Group commit (SQLite). SQLite has one writer, and with synchronous=FULL
// every COMMIT waits for an fsync of the WAL: writes made one transaction
// each queue behind each other's fsync, and that wait, not their CPU, is
// what bounded concurrent single creates. So concurrent writes share a
// transaction: the write that finds no group running leads. It takes the
// queued writes one after another, its own first, and runs each in one
// transaction — the first as it is, every later one under a SAVEPOINT —
// until the queue is empty, maxGroup writes ran or the group has run for
// maxGroupRun; then it COMMITs once and only then wakes the members, and
// the first write still queued leads the next group. Nothing waits for
// company: a lone write commits at once, at the cost of a transaction of
// its own, and a long write (a large transaction bundle) is not held up
// by more than maxGroupRun of others' work.
//
// What a member sees is what it saw alone:
//   - durability: it is acknowledged after the COMMIT (one fsync for the
//     group) returned, with synchronous unchanged;
//   - failure: a member whose fn or pre-commit steps fail is rolled back
//     to its savepoint (the first of a transaction: with the transaction,
//     which held nothing else) and gets its own error; the others commit.
//     Only a failure of the transaction itself (the COMMIT, an I/O error
//     that ends it, a savepoint that cannot be undone) fails every member
//     of the group that ran;
//   - order: members run one after another in the transaction, so a
//     member reads the group's earlier writes (committed together or not
//     at all), and audit chain and outbox seqs are drawn in run order,
//     which is commit order;
//   - after the commit, each member hands on its own audit records,
//     removes the blobs it erased and calls OnCommit with its own writes,
//     on its own goroutine;
//   - cancellation: a member whose context ended while it was queued is
//     dropped (ctx.Err(), nothing written). The first member of a
//     transaction runs with its context, as a transaction of its own does;
//     a later one with its context's values but without its cancellation,
//     and once it ran it commits: an interrupted SQLite statement may roll
//     back the whole transaction, the other members' writes with it;
//   - a panic in a member's fn is rolled back to its savepoint and raised
//     again on the member's goroutine.
//
// PostgreSQL is left alone: its transactions overlap, and a backend that
// flushes the WAL flushes every commit record written before, so commits
// waiting together already share an fsync (see docs/benchmarks.md,
// "Group commit").

// maxGroup bounds the writes that share one commit, and maxGroupRun the
// time a group takes members for, so a member waits for at most about
// two groups' work. An fsync costs ≈ 1–3 ms on the disks measured: a
// group that ran 10 ms of writes has spent most of its time on them.
const (
	maxGroup    = 64
	maxGroupRun = 10 * time.Millisecond
)

// groupCommit is the queue of writes waiting for a group. The zero value
// is ready and on.
type groupCommit struct {
	off     bool // set before the store serves (SetGroupCommit)
	mu      sync.Mutex
	queue   []*groupWrite
	leading bool // a write is running groups; the queue is its to take
	// maxRun replaces maxGroupRun when set (tests).
	maxRun time.Duration
	// commits counts the groups committed (tests).
	commits atomic.Int64
}

// groupWrite is one Write waiting in, or run by, a group.
type groupWrite struct {
	ctx context.Context
	fn  func(ctx context.Context, tx ward.ResourceTx) error
	// wake is closed once: when the write is done, or when it is to lead
	// (lead set before, under groupCommit.mu).
	wake chan struct{}
	lead bool
	// Set by the leader before wake: the outcome.
	done     bool
	err      error
	panicked any
	t        *tx
	records  []*pendingAudit
}

// SetGroupCommit turns group commit on (the default on SQLite) or off.
// Call it at setup, before the store serves; benchmarks compare the two.
// PostgreSQL never groups.
func (s *Store) SetGroupCommit(on bool) { s.group.off = !on }

// writeTx runs fn in a write transaction: a group's on SQLite, its own
// otherwise.
func (s *Store) writeTx(ctx context.Context, fn func(ctx context.Context, tx ward.ResourceTx) error) error {
	if s.group.off || s.dialect.Name() != "sqlite" {
		return s.writeOnce(ctx, fn)
	}
	g := &s.group
	w := &groupWrite{ctx: ctx, fn: fn, wake: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, w)
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	if !lead {
		if !g.await(w) {
			return ctx.Err()
		}
		lead = w.lead
	}
	if lead {
		s.leadGroups(w)
	}
	if w.panicked != nil {
		panic(w.panicked)
	}
	if w.err != nil {
		return w.err
	}
	w.t.afterCommit(ctx, w.records)
	return nil
}

// await waits until w is done or is to lead, and reports false when w's
// context ended while it was still queued: then it is dropped.
func (g *groupCommit) await(w *groupWrite) bool {
	select {
	case <-w.wake:
		return true
	case <-w.ctx.Done():
	}
	g.mu.Lock()
	if i := slices.Index(g.queue, w); i >= 0 && !w.lead {
		g.queue = slices.Delete(g.queue, i, i+1)
		g.mu.Unlock()
		return false
	}
	g.mu.Unlock()
	// A leader has taken it (or it is to lead): its outcome is coming, and
	// it may be a commit, which must not be answered as a cancellation.
	<-w.wake
	return true
}

// leadGroups runs groups from the queue until own is done, then hands the
// lead to the first write still queued, if any.
func (s *Store) leadGroups(own *groupWrite) {
	g := &s.group
	var batch []*groupWrite // taken and not yet woken
	defer func() {
		// A member's fn ended this goroutine (runtime.Goexit, as a test's
		// t.FailNow does): the members of its group must not wait forever,
		// nor the queue for a leader.
		for _, w := range batch {
			if !w.done {
				w.done, w.err = true, errGroupAbandoned
			}
			if w != own {
				close(w.wake)
			}
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if len(g.queue) == 0 {
			g.leading = false
			return
		}
		next := g.queue[0]
		next.lead = true
		close(next.wake)
	}()
	for !own.done {
		s.commitGroup(&batch)
		for _, w := range batch {
			if w != own {
				close(w.wake)
			}
		}
		batch = nil
	}
}

// errGroupAbandoned answers the members of a group whose run ended
// without an outcome: nothing of it committed.
var errGroupAbandoned = errors.New("store: the write transaction was abandoned")

// commitGroup takes members from the queue into *batch, runs them in one
// transaction and commits it; every member is done when it returns.
//
// A savepoint costs: SQLite copies every page the member changes to the
// statement journal first (a sixth of a 100-resource bundle's CPU). So
// the first member of a transaction runs without one: when it fails the
// transaction, which holds nothing else, is rolled back whole and the
// next member begins another. A lone write thus costs what a transaction
// of its own costs.
func (s *Store) commitGroup(batch *[]*groupWrite) {
	g := &s.group
	maxRun := maxGroupRun
	if g.maxRun > 0 {
		maxRun = g.maxRun
	}
	var began time.Time
	take := func() *groupWrite {
		if n := len(*batch); n >= maxGroup || n > 0 && time.Since(began) >= maxRun {
			return nil
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if len(g.queue) == 0 {
			return nil
		}
		w := g.queue[0]
		g.queue = slices.Delete(g.queue, 0, 1)
		*batch = append(*batch, w)
		return w
	}
	var missed []string
	var sqlTx *sql.Tx
	var stmts map[string]*sql.Stmt
	var ran []*groupWrite // members run and kept, to commit
	end := func() {       // rolls back the transaction unless it committed
		if sqlTx == nil {
			return
		}
		for _, stmt := range stmts {
			stmt.Close()
		}
		sqlTx.Rollback()
		sqlTx, stmts = nil, nil
	}
	err := func() error {
		defer end()
		for w := take(); w != nil; w = take() {
			if began.IsZero() {
				began = time.Now()
			}
			if err := w.ctx.Err(); err != nil {
				w.done, w.err = true, err // cancelled while queued: dropped
				continue
			}
			if sqlTx == nil {
				// Not the member's context: database/sql rolls a
				// transaction back when its context ends, and later
				// members share it.
				var err error
				if sqlTx, err = s.writer.BeginTx(context.WithoutCancel(w.ctx), nil); err != nil {
					w.done, w.err = true, err
					return err
				}
				stmts = map[string]*sql.Stmt{}
			}
			first := len(ran) == 0
			mctx := w.ctx
			if !first {
				mctx = context.WithoutCancel(w.ctx)
			}
			w.t = s.newTx(sqlTx, stmts)
			err := s.runMember(mctx, w, !first)
			missed = append(missed, w.t.missed...)
			if err != nil {
				// The transaction is lost: so are the members it held.
				for _, r := range ran {
					r.err = err
				}
				return err
			}
			if w.err == nil && w.panicked == nil {
				ran = append(ran, w) // done once the commit answered
				continue
			}
			w.done = true
			if first {
				end() // it held nothing else
			}
		}
		if len(ran) == 0 {
			return nil
		}
		err := sqlTx.Commit()
		for _, r := range ran {
			r.done, r.err = true, err
		}
		if err == nil {
			g.commits.Add(1)
		}
		return nil
	}()
	if len(*batch) > 0 {
		s.warmWriter((*batch)[0].ctx, missed) // once the transaction released the writer
	}
	for _, w := range *batch {
		if !w.done {
			w.done = true
			if w.err == nil && w.panicked == nil {
				w.err = err // not run, or run before the transaction was lost
			}
		}
	}
}

// runMember runs w's fn and pre-commit steps in w.t's transaction; a
// failure is w.err, a panic w.panicked. Under a savepoint it releases it,
// or rolls back to it when they failed. The error returned is the
// transaction's own: it cannot go on.
func (s *Store) runMember(ctx context.Context, w *groupWrite, savepoint bool) error {
	t := w.t
	if savepoint {
		if _, err := t.sql.ExecContext(ctx, "SAVEPOINT ward_group_write"); err != nil {
			return groupFailed(err)
		}
	}
	func() {
		defer func() {
			if p := recover(); p != nil {
				w.panicked = p
			}
		}()
		if w.err = w.fn(ctx, t); w.err == nil {
			w.records, w.err = t.beforeCommit(ctx)
		}
	}()
	if !savepoint {
		return nil
	}
	if w.err == nil && w.panicked == nil {
		if _, err := t.sql.ExecContext(ctx, "RELEASE SAVEPOINT ward_group_write"); err != nil {
			w.err = groupFailed(err)
			return w.err
		}
		return nil
	}
	// Undo the member (ROLLBACK TO keeps the savepoint, RELEASE ends it).
	// When SQLite already ended the transaction (an I/O error, an
	// interrupt) there is no savepoint to return to: the group is lost.
	ctx = context.WithoutCancel(ctx)
	if _, err := t.sql.ExecContext(ctx, "ROLLBACK TO SAVEPOINT ward_group_write"); err != nil {
		return groupFailed(err)
	}
	if _, err := t.sql.ExecContext(ctx, "RELEASE SAVEPOINT ward_group_write"); err != nil {
		return groupFailed(err)
	}
	return nil
}

func groupFailed(err error) error {
	return fmt.Errorf("store: write transaction failed: %w", err)
}
