package subscription

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/feed"
	"github.com/wardhealth/ward/store"
)

// cursorName is the dispatcher's cursor on the outbox.
const cursorName = "subscriptions"

// Store is what the dispatcher reads: *store.Store.
type Store interface {
	OutboxAfter(ctx context.Context, seq int64, limit int) ([]store.Change, error)
	OutboxCursor(ctx context.Context, sink string) (int64, error)
	SetOutboxCursor(ctx context.Context, sink string, seq int64) error
	Search(ctx context.Context, q *ward.SearchQuery) (*ward.SearchResult, error)
}

// Principals resolves a subscription's author to the principal the store
// enforces for them in a project: their membership's access policy as it
// is now. An error (no membership any more, inactive) means the author
// hears nothing.
type Principals interface {
	SubscriberPrincipal(ctx context.Context, projectID, author string) (*ward.Principal, error)
}

// Dispatcher moves its cursor along the outbox and hands every matching
// (change, subscription) to a delivery.
type Dispatcher struct {
	Store      Store
	Principals Principals
	// Audit, when set, records one AuditEvent per delivery attempt.
	Audit ward.AuditLog
	// Client sends the hooks (default: a client with Timeout).
	Client *http.Client
	// Timeout of one POST (default 120s, Medplum's).
	Timeout time.Duration
	// RetryBase is the first retry's wait, doubled on each retry
	// (default 1s, Medplum's exponential backoff).
	RetryBase time.Duration
	// Concurrency bounds the POSTs in flight (default 64).
	Concurrency int
	// Poll is how long an idle dispatcher waits before reading again
	// (default 50ms); Wake ends the wait early.
	Poll   time.Duration
	Wake   <-chan struct{}
	Logger *slog.Logger

	matcher *matcher
	slots   chan struct{}
}

// Run dispatches until ctx ends, resuming after the stored cursor. A
// change is matched once: the cursor moves once its deliveries are
// queued, so deliveries still waiting when the process stops are lost
// (at-most-once across restarts; within a run, retried up to the
// subscription's max attempts).
func (d *Dispatcher) Run(ctx context.Context) error {
	if d.matcher == nil { // kept when Run is called again: the index stays warm
		d.matcher = newMatcher(d.Store, d.Principals, d.Logger)
		d.slots = make(chan struct{}, d.concurrency())
	}
	f := &feed.Follower{Source: d.Store, Name: cursorName, Poll: d.Poll, Wake: d.Wake, Logger: d.Logger, Handle: d.handle}
	return f.Run(ctx)
}

// handle matches changes in order and returns the seq of the last one
// handled (the follower stores the cursor there).
func (d *Dispatcher) handle(ctx context.Context, cursor int64, changes []store.Change) (int64, error) {
	done := cursor
	seen := authors{} // per batch: one membership read per author
	for _, c := range changes {
		if err := d.dispatch(ctx, c, seen); err != nil {
			return done, err
		}
		done = c.Seq
	}
	return done, nil
}

// dispatch queues the rest-hook deliveries of one change.
func (d *Dispatcher) dispatch(ctx context.Context, c store.Change, seen authors) error {
	found, err := d.matcher.matches(ctx, c, ChannelRestHook, seen, nil)
	for _, m := range found {
		go d.deliver(ctx, m.sub, c, m.resource)
	}
	return err
}

func (d *Dispatcher) concurrency() int {
	if d.Concurrency > 0 {
		return d.Concurrency
	}
	return 64
}

func (d *Dispatcher) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

func orDefault(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
