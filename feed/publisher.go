package feed

import (
	"context"
	"encoding/json"
	"fmt"
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
	// passed over (their cursor still moves). Without Routes only.
	Types map[string]bool
	// Routes, when set, decide per change where it goes (the server-wide
	// feed, its project's own, both or nowhere); Sink must then be a
	// RoutedSink.
	Routes *Routes
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

// Run publishes until ctx ends, resuming after the sink's stored cursor
// (a Follower named by the sink). A failing broker is retried with
// backoff, never skipped; the cursor moves only once the broker
// acknowledged.
func (p *Publisher) Run(ctx context.Context) error {
	if _, ok := p.Sink.(RoutedSink); p.Routes != nil && !ok {
		return fmt.Errorf("feed: sink %s cannot route per project", p.Sink.Name())
	}
	sent := 0
	f := &Follower{Source: p.Source, Name: p.Sink.Name(), Batch: p.Batch, Poll: p.Poll, Wake: p.Wake, Logger: p.Logger,
		Handle: func(ctx context.Context, cursor int64, changes []store.Change) (int64, error) {
			n, err := p.send(ctx, changes)
			if err != nil {
				return cursor, err
			}
			sent = n
			return changes[len(changes)-1].Seq, nil
		},
		Moved: func(seq int64) {
			p.Metrics.moved(p.Sink.Name(), seq, sent)
			sent = 0
		},
	}
	return f.Run(ctx)
}

// send hands the sink the changes its configuration sends and returns
// how many, once the broker acknowledged them.
func (p *Publisher) send(ctx context.Context, changes []store.Change) (int, error) {
	if p.Routes != nil {
		deliveries, err := p.Routes.changes(ctx, p.Sink.Name(), changes)
		if err != nil || len(deliveries) == 0 {
			return 0, err
		}
		return len(deliveries), p.Sink.(RoutedSink).Deliver(ctx, deliveries)
	}
	send := p.selected(changes)
	if len(send) == 0 {
		return 0, nil
	}
	return len(send), p.Sink.Publish(ctx, send)
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
