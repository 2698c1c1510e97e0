package store

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/wardhealth/ward"
)

// writeAttempts bounds how often Write runs a transaction that PostgreSQL
// aborted for a deadlock or a serialization failure.
const writeAttempts = 5

// Write implements ward.ResourceStore. On SQLite the writer pool has one
// connection and begins IMMEDIATE transactions, so writers queue here
// instead of failing with SQLITE_BUSY, and concurrent writers share one
// transaction and one commit (groupcommit.go).
//
// A transaction PostgreSQL aborts for a deadlock or a serialization
// failure (concurrent bundles touching the same rows in another order) is
// rolled back whole, so it is run again from the start, up to
// writeAttempts times in all, after a short random pause; fn must
// therefore have no effect outside tx other than assigning its results.
// Nothing was committed or announced (OnCommit) by a failed attempt. When
// every attempt fails the answer is ECONFLICT (409): the caller may retry,
// and it is not a server fault.
func (s *Store) Write(ctx context.Context, fn func(ctx context.Context, tx ward.ResourceTx) error) error {
	if _, err := principal(ctx); err != nil {
		return err
	}
	fn = fenced(ctx, fn) // a job's write under its lease (leases.go)
	for attempt := 1; ; attempt++ {
		err := s.writeTx(ctx, fn)
		if err == nil || !s.dialect.Retryable(err) {
			return err
		}
		if attempt == writeAttempts || ctx.Err() != nil || pause(ctx, retryPause(attempt)) != nil {
			s.logger.WarnContext(ctx, "store: transaction given up after concurrent writes", "attempts", attempt, "error", err)
			return contended()
		}
		s.logger.DebugContext(ctx, "store: transaction retried", "attempt", attempt, "error", err)
	}
}

// retryPause is how long to wait before attempt+1: growing, and random so
// the transactions that collided do not collide again in step.
func retryPause(attempt int) time.Duration {
	limit := time.Duration(5<<attempt) * time.Millisecond // 10, 20, 40, 80 ms
	return limit/2 + rand.N(limit/2)
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// contended is the answer to a transaction that kept colliding with
// concurrent writes: nothing of it was kept, and sending it again may work.
func contended() error {
	return ward.Errorf(ward.ECONFLICT, "The transaction conflicted with concurrent writes and was rolled back; retry it")
}
