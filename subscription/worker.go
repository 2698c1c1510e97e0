package subscription

import (
	"context"
	"sync"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
)

// idleCheck is the longest the worker waits before looking at the queue
// again: deliveries another process queued, or leases that ended.
const idleCheck = time.Second

// work claims due deliveries while slots are free and sends each beside
// the loop, until ctx ends. A delivery holds its slot for one attempt
// only: a failed one goes back to the queue, due after its backoff, so a
// hook that fails forever takes a slot now and then, never for good.
func (d *Dispatcher) work(ctx context.Context) {
	d.finished = make(chan store.Delivery, 1024)
	flushed := make(chan struct{})
	go func() { defer close(flushed); d.flushFinished(d.finished) }()
	var running sync.WaitGroup
	defer func() {
		running.Wait()
		close(d.finished)
		<-flushed
	}()
	for ctx.Err() == nil {
		select {
		case h := <-d.handoff:
			d.start(ctx, &running, h)
			continue
		default:
		}
		free := cap(d.slots) - len(d.slots)
		if free == 0 {
			d.idle(ctx, false) // a slot frees with a kick
			continue
		}
		claimed, err := d.Store.ClaimDeliveries(ctx, time.Now(), d.lease(), free, d.inFlight.saturated(d.perSubscription())...)
		if err != nil && ctx.Err() == nil {
			d.logger().Warn("subscriptions: claiming deliveries failed", "err", err)
		}
		for _, x := range claimed {
			d.start(ctx, &running, handed{x: x})
		}
		if len(claimed) < free {
			d.idle(ctx, true)
		} // else more may be due
	}
}

// handed is a claimed delivery for the worker, with its subscription and
// the resource as the dispatcher just matched it when it comes straight
// from the dispatch (nil: read when sent).
type handed struct {
	x   store.Delivery
	sub *subscription
	res *ward.Resource
}

// start makes h's attempt beside the loop once a slot is free.
func (d *Dispatcher) start(ctx context.Context, running *sync.WaitGroup, h handed) {
	select {
	case d.slots <- struct{}{}:
	case <-ctx.Done():
		d.putBack(ctx, h.x, time.Now(), false) // the next run makes it
		return
	}
	running.Add(1)
	go func() {
		defer running.Done()
		defer d.release()
		d.attempt(ctx, h)
	}()
}

// idle waits for a kick (deliveries queued, a slot freed), idleCheck,
// and, when untilDue, the next due delivery.
func (d *Dispatcher) idle(ctx context.Context, untilDue bool) {
	wait := idleCheck
	if untilDue {
		// Due rows another server holds locked for a moment are due in
		// the past: the floor keeps the loop from spinning on them.
		if due, ok, err := d.Store.NextDeliveryDue(ctx, d.inFlight.saturated(d.perSubscription())...); err == nil && ok {
			wait = min(wait, max(time.Until(due), 5*time.Millisecond))
		}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-d.kick:
	}
}

func (d *Dispatcher) wake() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *Dispatcher) release() {
	<-d.slots
	d.wake()
}

// lease is how long a claimed delivery is the claimant's: one POST's
// timeout and a margin for the reads and the audit around it.
func (d *Dispatcher) lease() time.Duration {
	return d.timeout() + 30*time.Second
}

func (d *Dispatcher) timeout() time.Duration { return orDefault(d.Timeout, 120*time.Second) }

// inFlight counts the attempts in flight per subscription.
type inFlight struct {
	mu sync.Mutex
	n  map[string]int
}

// take counts one more attempt of sub unless it has limit in flight.
func (f *inFlight) take(sub string, limit int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[sub] >= limit {
		return false
	}
	f.n[sub]++
	return true
}

// saturated are the subscriptions with limit attempts in flight.
func (f *inFlight) saturated(limit int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for sub, n := range f.n {
		if n >= limit {
			out = append(out, sub)
		}
	}
	return out
}

func (f *inFlight) done(sub string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[sub]--; f.n[sub] <= 0 {
		delete(f.n, sub)
	}
}

// perSubscription is the most attempts of one subscription in flight: a
// hook that hangs until the timeout holds at most this many slots.
func (d *Dispatcher) perSubscription() int { return max(1, cap(d.slots)/4) }

// attempt sends h's delivery once and finishes it (delivered, given up, or no longer
// to be sent) or puts it back in the queue for its next attempt.
func (d *Dispatcher) attempt(ctx context.Context, h handed) {
	x := h.x
	if !d.inFlight.take(x.SubscriptionID, d.perSubscription()) {
		d.putBack(ctx, x, time.Now().Add(d.retryBase()), false)
		return
	}
	defer d.inFlight.done(x.SubscriptionID)
	s, r, err := h.sub, &rendered{res: h.res, deleted: x.Interaction == "delete"}, error(nil)
	if h.res == nil {
		s, r, err = d.prepare(ctx, x)
	}
	if err != nil {
		if ctx.Err() == nil {
			d.logger().Warn("subscriptions: reading a delivery failed; retrying", "subscription", x.SubscriptionID, "err", err)
		}
		d.putBack(ctx, x, time.Now().Add(d.retryBase()), false)
		return
	}
	if s == nil {
		d.Metrics.count(outcomeDropped)
		d.finish(ctx, x)
		return
	}
	status, err := d.post(ctx, s, x, r)
	ok := err == nil && s.Success.delivered(status)
	if ctx.Err() != nil && !ok {
		d.putBack(ctx, x, time.Now(), false) // stopping: the next run makes this attempt
		return
	}
	d.audit(ctx, s, x, r, status, err, ok)
	switch {
	case ok:
		d.Metrics.count(outcomeDelivered)
	case x.Attempts >= s.MaxAttempts:
		d.Metrics.count(outcomeGaveUp)
	default:
		d.Metrics.count(outcomeFailed)
	}
	if ok || x.Attempts >= s.MaxAttempts {
		if !ok {
			d.logger().Warn("subscriptions: rest-hook gave up", "subscription", s.ID, "resource", x.ResourceType+"/"+x.ResourceID,
				"attempts", x.Attempts+1, "status", status, "err", errorKind(err))
		}
		d.finish(ctx, x)
		return
	}
	d.putBack(ctx, x, time.Now().Add(d.retryBase()<<x.Attempts), true)
}

// prepare finds x's subscription and reads the resource to send as its
// author sees it now: nil, nil when there is nothing to send any more —
// the subscription is gone or no longer active, the author lost access,
// the resource no longer matches, or (on a retry, as Medplum) a later
// version superseded the one that matched.
func (d *Dispatcher) prepare(ctx context.Context, x store.Delivery) (*subscription, *rendered, error) {
	s, err := d.subscriptionOf(ctx, x)
	if s == nil || err != nil {
		return nil, nil, err
	}
	c := store.Change{Seq: x.ChangeSeq, ProjectID: x.ProjectID, Type: x.ResourceType, ID: x.ResourceID,
		VersionID: x.VersionID, Operation: operation(x.Interaction)}
	r, err := d.matcher.match(ctx, s, c, authors{})
	if r == nil || err != nil {
		return nil, nil, err
	}
	if x.Attempts > 0 && x.Interaction != "delete" && r.VersionID != x.VersionID {
		return nil, nil, nil
	}
	return s, &rendered{res: r, deleted: x.Interaction == "delete"}, nil
}

// subscriptionOf is x's rest-hook subscription if it is still active.
func (d *Dispatcher) subscriptionOf(ctx context.Context, x store.Delivery) (*subscription, error) {
	subs, err := d.matcher.subs.of(ctx, d.matcher.load, x.ProjectID, x.ResourceType)
	if err != nil {
		return nil, err
	}
	for _, s := range subs {
		if s.ID == x.SubscriptionID && s.Channel == ChannelRestHook && s.hears(x.Interaction) {
			return s, nil
		}
	}
	return nil, nil
}

// finish hands x, delivered or given up, to flushFinished.
func (d *Dispatcher) finish(_ context.Context, x store.Delivery) { d.finished <- x }

// flushFinished removes finished deliveries from the queue, as many as
// have finished meanwhile in one statement, until finished is closed: a
// change that matched 100 Subscriptions costs a few commits, not 100.
// A delivery not yet removed stays claimed until its lease ends, so no
// one sends it again meanwhile.
func (d *Dispatcher) flushFinished(finished <-chan store.Delivery) {
	for x := range finished {
		batch := []store.Delivery{x}
	more:
		for len(batch) < 500 {
			select {
			case y, ok := <-finished:
				if !ok {
					break more
				}
				batch = append(batch, y)
			default:
				break more
			}
		}
		if _, err := d.Store.FinishDeliveries(context.Background(), batch); err != nil {
			d.logger().Error("subscriptions: removing delivered deliveries failed; they are sent again when their lease ends", "deliveries", len(batch), "err", err)
		}
	}
}

func (d *Dispatcher) putBack(ctx context.Context, x store.Delivery, due time.Time, attempted bool) {
	if _, err := d.Store.RetryDelivery(context.WithoutCancel(ctx), x, due, attempted); err != nil {
		d.logger().Error("subscriptions: rescheduling a delivery failed", "subscription", x.SubscriptionID, "err", err)
	}
}

func (d *Dispatcher) retryBase() time.Duration { return orDefault(d.RetryBase, time.Second) }
