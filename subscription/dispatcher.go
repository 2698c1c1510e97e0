package subscription

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/feed"
	"github.com/wardhealth/ward/search"
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

	subs  *index
	slots chan struct{}
}

// Run dispatches until ctx ends, resuming after the stored cursor. A
// change is matched once: the cursor moves once its deliveries are
// queued, so deliveries still waiting when the process stops are lost
// (at-most-once across restarts; within a run, retried up to the
// subscription's max attempts).
func (d *Dispatcher) Run(ctx context.Context) error {
	if d.subs == nil { // kept when Run is called again: the index stays warm
		d.subs = newIndex()
		d.slots = make(chan struct{}, d.concurrency())
	}
	f := &feed.Follower{Source: d.Store, Name: cursorName, Poll: d.Poll, Wake: d.Wake, Logger: d.Logger, Handle: d.handle}
	return f.Run(ctx)
}

// handle matches changes in order and returns the seq of the last one
// handled (the follower stores the cursor there).
func (d *Dispatcher) handle(ctx context.Context, cursor int64, changes []store.Change) (int64, error) {
	done := cursor
	authors := map[string]*ward.Principal{} // per batch: one membership read per author
	for _, c := range changes {
		if err := d.dispatch(ctx, c, authors); err != nil {
			return done, err
		}
		done = c.Seq
	}
	return done, nil
}

// dispatch queues the deliveries of one change.
func (d *Dispatcher) dispatch(ctx context.Context, c store.Change, authors map[string]*ward.Principal) error {
	if c.Type == "Subscription" {
		d.subs.forget(c.ProjectID)
		clear(authors)
	}
	if c.Operation == store.OpDelete || c.Operation == store.OpExpunge {
		return nil // Medplum fires on deletions only when a subscription asks to; not offered yet
	}
	subs, err := d.subs.of(ctx, d.load, c.ProjectID, c.Type)
	if err != nil {
		return err
	}
	for _, s := range subs {
		r, err := d.match(ctx, s, c, authors)
		if err != nil {
			return err
		}
		if r != nil {
			go d.deliver(ctx, s, c, r)
		}
	}
	return nil
}

// match returns the changed resource as s's author sees it when s's
// criteria select it under the author's access policy, else nil.
func (d *Dispatcher) match(ctx context.Context, s *subscription, c store.Change, authors map[string]*ward.Principal) (*ward.Resource, error) {
	p, ok := authors[s.Author]
	if !ok {
		var err error
		if p, err = d.Principals.SubscriberPrincipal(ctx, s.ProjectID, s.Author); err != nil {
			d.logger().Debug("subscriptions: author has no access", "subscription", s.ID, "author", s.Author, "err", err)
			p = nil
		}
		authors[s.Author] = p
	}
	if p == nil || p.ProjectID != c.ProjectID {
		return nil, nil
	}
	q, err := s.matchQuery(c.ID)
	if err != nil {
		return nil, nil // criteria checked at write; an _id that does not parse matches nothing
	}
	res, err := d.Store.Search(ward.NewContextWithPrincipal(ctx, p), q)
	if err != nil {
		if ward.ErrorCode(err) != "" && ward.ErrorCode(err) != ward.EINTERNAL {
			return nil, nil // the author may not search the type: no match
		}
		return nil, err
	}
	if len(res.Matches) == 0 {
		return nil, nil
	}
	return res.Matches[0], nil
}

// load reads project's active subscriptions, walls on, policies off.
// It reads them all and keeps the active ones: a status=active search
// paged by offset took 20 s a page deep into 10,000 on PostgreSQL.
func (d *Dispatcher) load(ctx context.Context, project string) ([]*subscription, error) {
	ctx = ward.NewContextWithPrincipal(ctx, &ward.Principal{ProjectID: project, Admin: true, Extended: true})
	var out []*subscription
	for offset := 0; ; offset += 1000 {
		q, err := search.Parse("Subscription", map[string][]string{"_sort": {"_id"}, "_count": {"1000"}})
		if err != nil {
			return nil, err
		}
		q.Offset, q.Total = offset, "none"
		res, err := d.Store.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, r := range res.Matches {
			if s := parseSubscription(r); s != nil {
				out = append(out, s)
			}
		}
		if !res.HasMore {
			return out, nil
		}
	}
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
