package feed

import (
	"context"
	"log/slog"
	"time"

	"github.com/wardhealth/ward/store"
)

// Follower follows the outbox from the cursor it stores under Name: the
// change feed's publishers and the subscription dispatcher are followers.
// Handle deals with each batch read after the cursor and returns the seq
// of the last change it dealt with; the cursor is stored there — also when
// Handle failed part-way, so what it did stays done — and a failure is
// retried with backoff (100ms doubling to 10s), never skipped. Between
// empty reads it waits for Poll or a Wake. It confirms its cursor when it
// starts and every minute (confirmEvery), so the Pruner keeps the rows it
// has not had.
type Follower struct {
	Source Source
	Name   string
	// Batch is the most changes read at once (default 500).
	Batch int
	// Poll is how long an idle follower waits before reading again
	// (default 50ms); Wake, when set, ends the wait early (ward serve
	// signals it after every commit of this process).
	Poll   time.Duration
	Wake   <-chan struct{}
	Logger *slog.Logger
	// Handle deals with changes (never empty), read after cursor.
	Handle func(ctx context.Context, cursor int64, changes []store.Change) (done int64, err error)
	// Moved, when set, hears where the stored cursor is: once at start,
	// then after each move.
	Moved func(seq int64)
}

// confirmEvery is how often a follower confirms its cursor while it runs,
// moved or not, so that the cursor keeps holding outbox rows from the
// Pruner (a store.SetOutboxCursor at the same seq records the time).
const confirmEvery = time.Minute

// Run follows the outbox until ctx ends.
func (f *Follower) Run(ctx context.Context) error {
	cursor, err := f.storedCursor(ctx)
	if err != nil {
		return err
	}
	f.moved(cursor)
	backoff := newBackoff()
	var confirmed time.Time
	for ctx.Err() == nil {
		if time.Since(confirmed) >= confirmEvery && f.Source.SetOutboxCursor(ctx, f.Name, cursor) == nil {
			confirmed = time.Now()
		}
		next, err := f.step(ctx, cursor)
		if err != nil {
			if ctx.Err() == nil {
				f.logger().Warn("outbox follower failed; retrying", "follower", f.Name, "after", next, "err", err)
			}
			sleep(ctx, backoff.next())
		} else {
			backoff.reset()
		}
		if next == cursor && err == nil {
			f.idle(ctx)
		}
		cursor = next
	}
	return ctx.Err()
}

// storedCursor reads the stored cursor, retrying while the database is away.
func (f *Follower) storedCursor(ctx context.Context) (int64, error) {
	backoff := newBackoff()
	for {
		seq, err := f.Source.OutboxCursor(ctx, f.Name)
		if err == nil || ctx.Err() != nil {
			return seq, err
		}
		f.logger().Warn("outbox follower: reading its cursor failed; retrying", "follower", f.Name, "err", err)
		sleep(ctx, backoff.next())
	}
}

// step hands the changes after cursor to Handle and stores the cursor
// where it got to, which it returns.
func (f *Follower) step(ctx context.Context, cursor int64) (int64, error) {
	changes, err := f.Source.OutboxAfter(ctx, cursor, orDefault(f.Batch, 500))
	if err != nil || len(changes) == 0 {
		return cursor, err
	}
	done, err := f.Handle(ctx, cursor, changes)
	if done != cursor {
		if serr := f.Source.SetOutboxCursor(ctx, f.Name, done); serr != nil {
			return cursor, serr // handled again on the next step: the same versionIds
		}
		f.moved(done)
	}
	return done, err
}

func (f *Follower) idle(ctx context.Context) {
	t := time.NewTimer(orDefault(f.Poll, 50*time.Millisecond))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-f.Wake:
	}
}

func (f *Follower) moved(seq int64) {
	if f.Moved != nil {
		f.Moved(seq)
	}
}

func (f *Follower) logger() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.Default()
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// backoff doubles a wait from 100ms up to 10s.
type backoff struct{ wait time.Duration }

func newBackoff() *backoff { return &backoff{} }

func (b *backoff) next() time.Duration {
	b.wait = min(max(2*b.wait, 100*time.Millisecond), 10*time.Second)
	return b.wait
}

func (b *backoff) reset() { b.wait = 0 }

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
