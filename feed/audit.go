package feed

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/wardhealth/ward/store"
)

// AuditSource is the audit trail the audit feed follows: *store.Store.
type AuditSource interface {
	AuditMarks(ctx context.Context) (map[string]int64, error)
	AuditLinksAfter(ctx context.Context, project string, seq, upTo int64, limit int) ([]store.AuditLink, error)
	AuditFeedCursors(ctx context.Context, sink string) (map[string]int64, bool, error)
	StartAuditFeed(ctx context.Context, sink string, marks map[string]int64) error
	SetAuditFeedCursors(ctx context.Context, sink string, seqs map[string]int64) error
}

// AuditFeed sends the audit trail's records to one sink, where Routes say
// they go: a reference to each AuditEvent (project, chain seq, id, link
// hash, time), never its content. The trail has no global order, only
// each project's chain, so it keeps a cursor per project and follows each
// chain up to the store's projection mark — records committed, in chain
// order, and already searchable when a consumer asks for them. The
// audited request writes nothing more for it. At-least-once: the cursors
// move only after the broker acknowledged. A project whose records go
// nowhere has its cursor moved to its mark unread, so turning its audit
// feed on applies from there onward; those moves are stored every
// SaveEvery (or with the next records sent), not each round, so a trail
// nobody feeds costs one read of the marks per Poll and no writes. A
// sink's first start begins at the trail's present.
type AuditFeed struct {
	Source AuditSource
	Sink   AuditSink
	Routes *Routes
	// Batch is the most records sent at once (default 500).
	Batch int
	// Poll is how long an idle feed waits before looking again (default
	// 50ms); Wake ends the wait early.
	Poll time.Duration
	Wake <-chan struct{}
	// SaveEvery is how often cursors moved over records sent nowhere are
	// stored (default 5s).
	SaveEvery time.Duration
	Logger    *slog.Logger
}

// auditState is a running feed's cursors: cursors as far as this process
// got, unsaved the moves over records sent nowhere not stored yet.
type auditState struct {
	cursors map[string]int64
	unsaved map[string]int64
	savedAt time.Time
	round   int
}

// AuditMessage is the JSON a sink sends for one audit record.
type AuditMessage struct {
	Project string    `json:"project"`
	Seq     int64     `json:"seq"`
	Type    string    `json:"resourceType"` // AuditEvent
	ID      string    `json:"id"`
	Hash    string    `json:"hash"`
	Time    time.Time `json:"time,omitzero"`
}

func encodeAudit(l store.AuditLink) []byte {
	b, _ := json.Marshal(AuditMessage{Project: l.ProjectID, Seq: l.Seq, Type: "AuditEvent", ID: l.ID, Hash: l.Hash, Time: l.Time})
	return b
}

// Run follows the trail until ctx ends; a failure is retried with backoff.
func (a *AuditFeed) Run(ctx context.Context) error {
	cursors, err := a.start(ctx)
	if err != nil {
		return err
	}
	st := &auditState{cursors: cursors, unsaved: map[string]int64{}, savedAt: time.Now()}
	backoff := newBackoff()
	for ctx.Err() == nil {
		moved, err := a.step(ctx, st)
		st.round++
		switch {
		case err != nil:
			if ctx.Err() == nil {
				a.logger().Warn("audit feed failed; retrying", "sink", a.Sink.Name(), "err", err)
			}
			sleep(ctx, backoff.next())
		case !moved:
			backoff.reset()
			a.idle(ctx)
		default:
			backoff.reset()
		}
	}
	return ctx.Err()
}

// start reads the stored cursors, beginning the feed at the trail's
// present on a sink's first start; it retries while the database is away.
func (a *AuditFeed) start(ctx context.Context) (map[string]int64, error) {
	backoff := newBackoff()
	for {
		cursors, err := a.startOnce(ctx)
		if err == nil || ctx.Err() != nil {
			return cursors, err
		}
		a.logger().Warn("audit feed: reading its cursors failed; retrying", "sink", a.Sink.Name(), "err", err)
		sleep(ctx, backoff.next())
	}
}

func (a *AuditFeed) startOnce(ctx context.Context) (map[string]int64, error) {
	cursors, started, err := a.Source.AuditFeedCursors(ctx, a.Sink.Name())
	if err != nil || started {
		return cursors, err
	}
	marks, err := a.Source.AuditMarks(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.Source.StartAuditFeed(ctx, a.Sink.Name(), marks); err != nil {
		return nil, err
	}
	return marks, nil
}

// step sends what the projects behind their mark have, up to Batch
// records, starting at a project that rotates with round so a busy
// project never starves the others; moved says a cursor moved.
func (a *AuditFeed) step(ctx context.Context, st *auditState) (bool, error) {
	cursors := st.cursors
	marks, err := a.Source.AuditMarks(ctx)
	if err != nil {
		return false, err
	}
	var behind []string
	for project, mark := range marks {
		if mark > cursors[project] {
			behind = append(behind, project)
		}
	}
	if len(behind) == 0 {
		return false, a.store(ctx, st, nil)
	}
	slices.Sort(behind)
	first := st.round % len(behind)
	behind = append(behind[first:], behind[:first]...)
	rt, err := a.Routes.load(ctx, behind)
	if err != nil {
		return false, err
	}
	batch := orDefault(a.Batch, 500)
	var send []AuditDelivery
	next, passed := map[string]int64{}, map[string]int64{}
	for _, project := range behind {
		if len(send) >= batch {
			break
		}
		shared, own := rt.auditOf(a.Sink.Name(), project)
		if !shared && !own {
			passed[project] = marks[project] // going nowhere: passed over unread
			continue
		}
		links, err := a.Source.AuditLinksAfter(ctx, project, cursors[project], marks[project], batch-len(send))
		if err != nil {
			return false, err
		}
		for _, l := range links {
			send = append(send, AuditDelivery{AuditLink: l, Shared: shared, Own: own})
			next[project] = l.Seq
		}
	}
	if len(send) > 0 {
		if err := a.Sink.DeliverAudit(ctx, send); err != nil {
			return false, err
		}
	}
	for project, seq := range passed {
		cursors[project], st.unsaved[project] = seq, seq
	}
	if err := a.store(ctx, st, next); err != nil {
		return false, err // sent again next time: the same records
	}
	return len(next) > 0 || len(passed) > 0, nil
}

// store stores the cursors of the records sent (sent, by project) and
// moves them in st; with them, or once SaveEvery passed, the moves over
// records sent nowhere.
func (a *AuditFeed) store(ctx context.Context, st *auditState, sent map[string]int64) error {
	due := len(st.unsaved) > 0 && time.Since(st.savedAt) >= orDefault(a.SaveEvery, 5*time.Second)
	if len(sent) == 0 && !due {
		return nil
	}
	seqs := maps.Clone(st.unsaved)
	maps.Copy(seqs, sent)
	if err := a.Source.SetAuditFeedCursors(ctx, a.Sink.Name(), seqs); err != nil {
		return err
	}
	clear(st.unsaved)
	st.savedAt = time.Now()
	maps.Copy(st.cursors, sent)
	return nil
}

func (a *AuditFeed) idle(ctx context.Context) {
	t := time.NewTimer(orDefault(a.Poll, 50*time.Millisecond))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-a.Wake:
	}
}

func (a *AuditFeed) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}
