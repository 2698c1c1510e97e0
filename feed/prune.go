package feed

import (
	"context"
	"log/slog"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
)

// PruneSource is the outbox a Pruner prunes: *store.Store.
type PruneSource interface {
	OutboxBounds(ctx context.Context, after int64) (first, last int64, err error)
	OutboxCursors(ctx context.Context) ([]store.OutboxCursorState, error)
	DropOutboxCursor(ctx context.Context, c store.OutboxCursorState, seq int64) error
	DeleteOutbox(ctx context.Context, first, through int64) (int64, error)
	SetOutboxCursor(ctx context.Context, sink string, seq int64) error
}

// Pruner deletes the outbox rows no follower needs any more, so the
// outbox holds what its followers have not had, not every change ever.
//
// Which cursors hold rows: every stored cursor that a follower set or
// confirmed within RetiredAfter. A Follower confirms its cursor when it
// starts and at least once a minute while it runs, moving or not (a sink
// whose broker is down included), and the Pruner confirms those of Sinks
// before each pruning (a sink still connecting has no follower yet), so
// the cursors of every follower of every server on the database hold rows
// — the publishers of each sink, the subscription dispatcher — and a
// cursor whose sink was removed from every server's configuration stops
// holding them RetiredAfter later. The
// pruning is cluster-wide: any server's Pruner may delete, and two
// pruning at once only delete the same rows.
//
// A stuck sink never blocks writes: the outbox grows while its cursor
// stays, up to MaxRows; past it, the oldest rows are deleted although the
// sink has not had them — an ERROR names the sink, ward_outbox_over_limit
// shows it and ward_outbox_dropped_total counts the changes. Its cursor
// moves to where the rows were deleted, so a broker coming back gets the
// changes from there on; its consumers must resync what they missed by
// $export. A retired cursor pruned past is moved and counted likewise.
//
// The highest row is never deleted (store.DeleteOutbox): on SQLite the
// next seq follows it.
type Pruner struct {
	Source PruneSource
	// Sinks are the sinks this server publishes to: their cursors hold
	// rows (from 0 for a sink new to the database) before their
	// publishers start.
	Sinks []string
	// MaxRows is the most rows held for sinks that lag (0: no limit).
	MaxRows int64
	// RetiredAfter is how long a cursor no follower set or confirmed
	// still holds rows (default 24h).
	RetiredAfter time.Duration
	// Every is the wait between prunings (default 10s).
	Every time.Duration
	// Batch is the most seqs one DELETE covers (default 10,000), so a
	// large pruning never holds SQLite's one writer for long.
	Batch   int64
	Metrics *OutboxMetrics
	Logger  *slog.Logger
	// Now returns the current time (default time.Now).
	Now func() time.Time

	// pruned is the seq this Pruner last pruned through, where the next
	// looks for the lowest row; every fullEvery-th pruning looks from 0, for
	// a row that committed below it later (a transaction left open across
	// an over-the-limit drop).
	pruned int64
	runs   int
}

const fullEvery = 360

// Pruned is what one pruning did.
type Pruned struct {
	// Through is the seq up to which rows are gone (the highest kept).
	Through int64
	Deleted int64
	// Dropped are the changes pruned before a sink had them, per sink.
	Dropped map[string]int64
}

// Run prunes every Every until ctx ends.
func (p *Pruner) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		if _, err := p.Prune(ctx); err != nil && ctx.Err() == nil {
			p.logger().Warn("outbox pruning failed; trying again later", "err", err)
		}
		sleep(ctx, orDefault(p.Every, 10*time.Second))
	}
	return ctx.Err()
}

// Prune deletes the rows every live cursor has passed, and those past
// MaxRows.
func (p *Pruner) Prune(ctx context.Context) (Pruned, error) {
	if p.runs++; p.runs%fullEvery == 0 {
		p.pruned = 0
	}
	first, last, err := p.Source.OutboxBounds(ctx, p.pruned)
	if err != nil || last == 0 {
		p.setRows(0, 0)
		return Pruned{}, err
	}
	for _, sink := range p.Sinks {
		if err := p.Source.SetOutboxCursor(ctx, sink, 0); err != nil { // 0: never moves it back
			return Pruned{}, err
		}
	}
	cursors, err := p.Source.OutboxCursors(ctx)
	if err != nil {
		return Pruned{}, err
	}
	through, live := p.plan(cursors, last)
	out := Pruned{Through: through, Dropped: map[string]int64{}}
	if err := p.drop(ctx, cursors, live, first, through, out.Dropped); err != nil {
		return out, err
	}
	batch := orDefault(p.Batch, 10_000)
	for lo := first; lo <= through && ctx.Err() == nil; lo += batch {
		n, err := p.Source.DeleteOutbox(ctx, lo, min(lo+batch-1, through))
		out.Deleted += n
		if p.Metrics != nil {
			p.Metrics.pruned.Add(float64(n))
		}
		if err != nil {
			return out, err
		}
	}
	if ctx.Err() == nil {
		p.pruned = max(p.pruned, through)
	}
	p.setRows(max(first, through+1), last)
	return out, ctx.Err()
}

// plan is the seq to prune through, and which cursors are live.
func (p *Pruner) plan(cursors []store.OutboxCursorState, last int64) (int64, map[string]bool) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	retired := now().Add(-orDefault(p.RetiredAfter, 24*time.Hour))
	through := last - 1
	live := map[string]bool{}
	for _, c := range cursors {
		if c.UpdatedAt.After(retired) {
			live[sinkLabel(c)] = true
			through = min(through, c.Seq)
		}
	}
	if p.MaxRows > 0 && last-through > p.MaxRows {
		through = last - p.MaxRows
	}
	return through, live
}

// drop moves the cursors behind through up to it, with an ERROR for a
// live one (over the limit) and a WARN for a retired one.
func (p *Pruner) drop(ctx context.Context, cursors []store.OutboxCursorState, live map[string]bool, first, through int64, dropped map[string]int64) error {
	for _, c := range cursors {
		sink := sinkLabel(c)
		if c.Seq >= through {
			if live[sink] && p.Metrics != nil {
				p.Metrics.overLimit.WithLabelValues(sink).Set(0)
			}
			continue
		}
		n := through - max(c.Seq, first-1)
		if n > 0 {
			dropped[sink] = n
		}
		if live[sink] {
			p.logger().Error("outbox over its limit: changes dropped for a sink that has not had them; its consumers must resync by $export",
				"sink", sink, "cursor", c.Seq, "dropped_through", through, "dropped", n, "max_rows", p.MaxRows)
		} else if n > 0 {
			p.logger().Warn("outbox pruned past a retired cursor; if its sink returns, its consumers must resync by $export",
				"sink", sink, "cursor", c.Seq, "confirmed", c.UpdatedAt, "dropped_through", through)
		}
		if p.Metrics != nil {
			if live[sink] {
				p.Metrics.overLimit.WithLabelValues(sink).Set(1)
			}
			p.Metrics.dropped.WithLabelValues(sink).Add(float64(n))
		}
		if err := p.Source.DropOutboxCursor(ctx, c, through); err != nil {
			return err
		}
	}
	return nil
}

func (p *Pruner) setRows(first, last int64) {
	if p.Metrics != nil {
		p.Metrics.rows.Set(float64(max(0, last-first+1)))
	}
}

func (p *Pruner) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

// sinkLabel names a cursor: its sink, prefixed by its project unless it
// is server-wide.
func sinkLabel(c store.OutboxCursorState) string {
	if c.ProjectID == ward.SystemProjectID {
		return c.Sink
	}
	return c.ProjectID + "/" + c.Sink
}
