package feed

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/wardhealth/ward/store"
)

// Source is the outbox a Publisher reads: *store.Store.
type Source interface {
	OutboxAfter(ctx context.Context, seq int64, limit int) ([]store.Change, error)
	OutboxCursor(ctx context.Context, sink string) (int64, error)
	SetOutboxCursor(ctx context.Context, sink string, seq int64) error
}

// Sink sends changes to a broker. Publish returns nil only once the
// broker acknowledged every change given, in their order per resource.
type Sink interface {
	Name() string
	Publish(ctx context.Context, changes []store.Change) error
	Close()
}

// Publisher moves one sink's cursor along the outbox.
type Publisher struct {
	Source Source
	Sink   Sink
	// Types, when not empty, are the resource types sent; the others are
	// passed over (their cursor still moves).
	Types map[string]bool
	// Batch is the most changes read and sent at once (default 500).
	Batch int
	// Poll is how long an idle publisher waits before reading again
	// (default 50ms).
	Poll time.Duration
	// Wake, when set, ends an idle wait early: ward serve signals it after
	// every commit of this process (store.OnCommit), so a change leaves
	// within milliseconds; Poll still catches other processes' commits.
	Wake <-chan struct{}
	// Metrics, when set, count what this publisher's broker acknowledged.
	Metrics *Metrics
	Logger  *slog.Logger
}

// Run publishes until ctx ends, resuming after the sink's stored cursor.
// A failing broker is retried with backoff, never skipped.
func (p *Publisher) Run(ctx context.Context) error {
	cursor, err := p.cursor(ctx)
	if err != nil {
		return err
	}
	p.Metrics.moved(p.Sink.Name(), cursor, 0)
	backoff := newBackoff()
	for ctx.Err() == nil {
		next, err := p.step(ctx, cursor)
		if err != nil {
			if ctx.Err() == nil {
				p.logger().Warn("feed: publish failed; retrying", "sink", p.Sink.Name(), "after", cursor, "err", err)
			}
			sleep(ctx, backoff.next())
			continue
		}
		backoff.reset()
		if next == cursor {
			p.idle(ctx)
		}
		cursor = next
	}
	return ctx.Err()
}

// cursor reads the stored cursor, retrying while the database is away.
func (p *Publisher) cursor(ctx context.Context) (int64, error) {
	backoff := newBackoff()
	for {
		seq, err := p.Source.OutboxCursor(ctx, p.Sink.Name())
		if err == nil || ctx.Err() != nil {
			return seq, err
		}
		p.logger().Warn("feed: reading cursor failed; retrying", "sink", p.Sink.Name(), "err", err)
		sleep(ctx, backoff.next())
	}
}

// step sends the changes after cursor, advances the stored cursor and
// returns it.
func (p *Publisher) step(ctx context.Context, cursor int64) (int64, error) {
	changes, err := p.Source.OutboxAfter(ctx, cursor, p.batch())
	if err != nil || len(changes) == 0 {
		return cursor, err
	}
	send := p.selected(changes)
	if len(send) > 0 {
		if err := p.Sink.Publish(ctx, send); err != nil {
			return cursor, err
		}
	}
	last := changes[len(changes)-1].Seq
	if err := p.Source.SetOutboxCursor(ctx, p.Sink.Name(), last); err != nil {
		return cursor, err // sent again on the next step: same versionIds
	}
	p.Metrics.moved(p.Sink.Name(), last, len(send))
	return last, nil
}

func (p *Publisher) selected(changes []store.Change) []store.Change {
	if len(p.Types) == 0 {
		return changes
	}
	var out []store.Change
	for _, c := range changes {
		if p.Types[c.Type] {
			out = append(out, c)
		}
	}
	return out
}

// idle waits for Poll, a Wake or the end of ctx.
func (p *Publisher) idle(ctx context.Context) {
	t := time.NewTimer(p.poll())
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-p.Wake:
	}
}

func (p *Publisher) batch() int {
	if p.Batch > 0 {
		return p.Batch
	}
	return 500
}

func (p *Publisher) poll() time.Duration {
	if p.Poll > 0 {
		return p.Poll
	}
	return 50 * time.Millisecond
}

func (p *Publisher) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

// Message is the JSON a sink sends for one change.
type Message struct {
	Seq         int64     `json:"seq"`
	Project     string    `json:"project"`
	Type        string    `json:"resourceType"`
	ID          string    `json:"id"`
	VersionID   string    `json:"versionId,omitempty"`
	Operation   string    `json:"operation"`
	Time        time.Time `json:"time"`
	Compartment []string  `json:"compartment,omitempty"`
}

func encode(c store.Change) []byte {
	b, _ := json.Marshal(Message{
		Seq: c.Seq, Project: c.ProjectID, Type: c.Type, ID: c.ID, VersionID: c.VersionID,
		Operation: c.Operation, Time: c.Time, Compartment: c.Compartment,
	})
	return b
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
