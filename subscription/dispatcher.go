package subscription

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/feed"
	"github.com/wardhealth/ward/internal/egress"
	"github.com/wardhealth/ward/store"
)

// cursorName is the dispatcher's cursor on the outbox.
const cursorName = "subscriptions"

// Store is what the dispatcher reads and where its deliveries wait:
// *store.Store.
type Store interface {
	OutboxAfter(ctx context.Context, seq int64, limit int) ([]store.Change, error)
	OutboxCursor(ctx context.Context, sink string) (int64, error)
	SetOutboxCursor(ctx context.Context, sink string, seq int64) error
	Search(ctx context.Context, q *ward.SearchQuery) (*ward.SearchResult, error)
	DeletedSearcher
	QueueDeliveries(ctx context.Context, sink string, from, to int64, ds []store.Delivery, lease time.Duration) (queued bool, stored int64, err error)
	ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int, skip ...string) ([]store.Delivery, error)
	FinishDeliveries(ctx context.Context, xs []store.Delivery) (int, error)
	RetryDelivery(ctx context.Context, x store.Delivery, due time.Time, attempted bool) (bool, error)
	NextDeliveryDue(ctx context.Context, skip ...string) (time.Time, bool, error)
}

// Principals resolves a subscription's author to the principal the store
// enforces for them in a project: their membership's access policy as it
// is now. An error (no membership any more, inactive) means the author
// hears nothing.
type Principals interface {
	SubscriberPrincipal(ctx context.Context, projectID, author string) (*ward.Principal, error)
}

// Dispatcher moves its cursor along the outbox, queues a delivery for
// every matching (change, rest-hook subscription) in the same transaction
// as the cursor's move, and runs the workers that send them.
type Dispatcher struct {
	Store      Store
	Principals Principals
	// Audit, when set, records one AuditEvent per delivery attempt.
	Audit ward.AuditLog
	// AllowPrivateEndpoints lets hooks reach loopback and private
	// addresses (package egress); link-local and metadata addresses are
	// never reached.
	AllowPrivateEndpoints bool
	// Client sends the hooks (default: an egress-checked client with
	// Timeout); a test's own client bypasses the endpoint limits.
	Client *http.Client
	// Timeout of one POST (default 120s, Medplum's).
	Timeout time.Duration
	// RetryBase is the first retry's wait, doubled on each retry
	// (default 1s, Medplum's exponential backoff).
	RetryBase time.Duration
	// Concurrency bounds the POSTs in flight (default 64); one
	// subscription has at most a quarter of them.
	Concurrency int
	// Poll is how long an idle dispatcher waits before reading again
	// (default 50ms); Wake ends the wait early.
	Poll   time.Duration
	Wake   <-chan struct{}
	Logger *slog.Logger
	// Metrics, when set, counts delivery outcomes (NewMetrics).
	Metrics *Metrics

	matcher *matcher
	slots   chan struct{}
	// kick wakes the worker: deliveries queued, a slot freed.
	kick     chan struct{}
	inFlight *inFlight
	finished chan store.Delivery // to flushFinished
	handoff  chan handed         // deliveries queued claimed, from handle to work
}

// Run dispatches and delivers until ctx ends, resuming after the stored
// cursor and with the deliveries the queue holds: a delivery waiting for
// a retry when a process stops is sent by the next one (at least once:
// a process killed mid-POST leaves its delivery to be sent again once its
// lease ends).
func (d *Dispatcher) Run(ctx context.Context) error {
	if d.matcher == nil { // kept when Run is called again: the index stays warm
		d.matcher = newMatcher(d.Store, d.Principals, d.Logger)
		d.slots = make(chan struct{}, d.concurrency())
		d.kick = make(chan struct{}, 1)
		d.handoff = make(chan handed, d.concurrency())
		d.inFlight = &inFlight{n: map[string]int{}}
		if d.Client == nil {
			d.Client = egress.Policy{AllowPrivate: d.AllowPrivateEndpoints}.Client(0)
		}
	}
	worker := make(chan struct{})
	go func() { defer close(worker); d.work(ctx) }()
	defer func() { <-worker }()
	f := &feed.Follower{Source: d.Store, Name: cursorName, Poll: d.Poll, Wake: d.Wake, Logger: d.Logger, Handle: d.handle}
	return f.Run(ctx)
}

// handle matches changes in order, queues their deliveries and moves the
// cursor in one transaction, and returns the seq of the last change
// handled (the follower stores the cursor there; already stored when
// deliveries were queued). When another process dispatched these changes
// first, nothing is queued and handling resumes after its cursor.
// Deliveries its worker has room for are queued claimed and handed to it
// with the resource just matched, so a first attempt costs no claim and
// no second read.
func (d *Dispatcher) handle(ctx context.Context, cursor int64, changes []store.Change) (int64, error) {
	done := cursor
	seen := authors{} // per batch: one membership read per author
	var queue []store.Delivery
	var hand []handed
	room, claim := cap(d.handoff)-len(d.handoff), uuid.NewString() // handle alone sends on handoff
	var failed error
	for _, c := range changes {
		found, err := d.matcher.matches(ctx, c, ChannelRestHook, seen, nil)
		if err != nil {
			failed = err // the changes before c are queued; c is matched again
			break
		}
		for _, m := range found {
			x := store.Delivery{ProjectID: c.ProjectID, SubscriptionID: m.sub.ID, ChangeSeq: c.Seq,
				ResourceType: c.Type, ResourceID: c.ID, VersionID: c.VersionID, Interaction: interaction(c.Operation)}
			if len(hand) < room {
				x.Claim = claim
				hand = append(hand, handed{x: x, sub: m.sub, res: m.resource})
			}
			queue = append(queue, x)
		}
		done = c.Seq
	}
	if len(queue) == 0 {
		return done, failed
	}
	queued, stored, err := d.Store.QueueDeliveries(ctx, cursorName, cursor, done, queue, d.lease())
	if err != nil {
		return cursor, err
	}
	if !queued {
		return max(cursor, min(stored, done)), failed
	}
	for _, h := range hand {
		d.handoff <- h
	}
	d.wake()
	return done, failed
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
