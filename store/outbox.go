package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/wardhealth/ward"
)

// The transactional outbox: every committed change of a resource leaves
// one row in the outbox table, written in the change's own transaction
// just before its commit (appendOutbox, called by writeOnce), so a change
// is on the outbox if and only if it committed. The rows come from the
// changes the write paths note (noteChange: insert for create, update,
// PATCH and delete, writeMembers for $set-accounts, eraseRows for
// $expunge), all of which run inside writeOnce. The server's own
// bookkeeping (AuditEvent, Login, JsonWebKey, …) is not fed. The change
// feed (package feed) reads the rows after its cursor (OutboxAfter) and
// moves the cursor once its broker acknowledged (SetOutboxCursor).

// Change operations on the outbox.
const (
	OpCreate  = "create"
	OpUpdate  = "update"
	OpPatch   = "patch"
	OpDelete  = "delete"
	OpExpunge = "expunge"
)

// Change is one committed change of a resource, as the outbox holds it.
type Change struct {
	Seq         int64 // global; in commit order per resource (SQLite: contiguous, in commit order)
	ProjectID   string
	Type        string
	ID          string
	VersionID   string // "" for an expunge of a resource swept with its patient's compartment
	Operation   string // OpCreate, OpUpdate, OpPatch, OpDelete or OpExpunge
	Time        time.Time
	Compartment []string // the version's meta.compartment (of the deleted version's patients for a deletion)
}

// noteChange queues the outbox row of one change made in t.
func (t *tx) noteChange(r *ward.Resource, op string, compartment []string) {
	if ward.IsServerWrittenType(r.Type) || t.s.noOutbox {
		return
	}
	t.changes = append(t.changes, Change{
		ProjectID: r.ProjectID, Type: r.Type, ID: r.ID, VersionID: r.VersionID,
		Operation: op, Time: r.LastUpdated, Compartment: compartment,
	})
}

// writeOperation is the outbox operation of a version inserted by insert.
func writeOperation(ctx context.Context, r *ward.Resource, replace bool) string {
	switch {
	case r.Deleted:
		return OpDelete
	case !replace:
		return OpCreate
	}
	if a := ward.AccessFromContext(ctx); a != nil && a.Record.Interaction == "patch" {
		return OpPatch
	}
	return OpUpdate
}

// appendOutbox writes t's changes with one multi-row INSERT, as the
// transaction's last statement before its commit.
//
// On PostgreSQL each row's seq is drawn from the sequence outbox_next_seq
// there. No lock is held to the commit, so concurrent writers commit
// together; per-resource order still holds, because a later writer of the
// same resource waits for the earlier one's row lock (FOR UPDATE, or the
// UPDATE itself) until that one committed, and only then draws its seq.
// Seqs can now commit out of order, or never (a rollback after the draw):
// OutboxAfter reads them behind a visibility horizon. The horizon relies
// on a writer holding a transaction id before it draws a seq, which it
// does: it wrote its resource rows first.
//
// SQLite has one writer at a time: seq is the highest on the table plus
// one, contiguous in commit order. Pruning keeps the highest row
// (PruneOutbox), so seqs never start again from 1.
func (t *tx) appendOutbox(ctx context.Context) error {
	if len(t.changes) == 0 {
		return nil
	}
	if t.s.dialect.Name() == "postgres" {
		return t.appendOutboxSequenced(ctx)
	}
	var last int64
	if err := t.q.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM outbox").Scan(&last); err != nil {
		return err
	}
	rows := make([][]any, len(t.changes))
	for i, c := range t.changes {
		rows[i] = []any{c.ProjectID, last + int64(i) + 1, c.Type, c.ID, c.VersionID, c.Operation,
			toMicros(c.Time), strings.Join(c.Compartment, " ")}
	}
	return t.execRows(ctx, "INSERT INTO outbox (project_id, seq, resource_type, resource_id, version_id, operation, changed_at, compartment)", rows, "")
}

// appendOutboxSequenced is appendOutbox on PostgreSQL: one change as one
// row of VALUES (the common write; measurably cheaper under 32 concurrent
// writers than the array form, whose plan costs more), several as column
// arrays numbered by nextval in the transaction's order of its changes (a
// resource changed twice in one transaction keeps its order).
func (t *tx) appendOutboxSequenced(ctx context.Context) error {
	n := len(t.changes)
	if n == 1 {
		c := t.changes[0]
		_, err := t.sql.ExecContext(ctx, `INSERT INTO outbox (project_id, seq, resource_type, resource_id, version_id, operation, changed_at, compartment)
			VALUES ($1, nextval('outbox_next_seq'), $2, $3, $4, $5, $6, $7)`,
			c.ProjectID, c.Type, c.ID, c.VersionID, c.Operation, toMicros(c.Time), strings.Join(c.Compartment, " "))
		return err
	}
	projects, types, ids, versions, ops, compartments := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	times := make([]int64, n)
	for i, c := range t.changes {
		projects[i], types[i], ids[i], versions[i], ops[i] = c.ProjectID, c.Type, c.ID, c.VersionID, c.Operation
		times[i], compartments[i] = toMicros(c.Time), strings.Join(c.Compartment, " ")
	}
	_, err := t.sql.ExecContext(ctx, `INSERT INTO outbox (project_id, seq, resource_type, resource_id, version_id, operation, changed_at, compartment)
		SELECT p, nextval('outbox_next_seq'), ty, id, v, op, at, comp
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[]) WITH ORDINALITY AS u(p, ty, id, v, op, at, comp, n)
		ORDER BY n`, projects, types, ids, versions, ops, times, compartments)
	return err
}

// OutboxAfter returns up to limit changes after seq, in seq order, of
// every project. It is the change feed's read and goes around every
// access rule: only the server's followers call it, and each sends a
// change only where its configuration says the change's project goes.
//
// It never returns a change past a missing seq that may still commit. On
// SQLite no seq is ever missing below the highest (one writer), except
// below the pruned start, which a cursor that far behind was dropped from.
// On PostgreSQL a missing seq belongs to a transaction still running, or
// to one that rolled back, or was pruned: the batch stops before it until
// the horizon passes it (outboxHorizon).
func (s *Store) OutboxAfter(ctx context.Context, seq int64, limit int) ([]Change, error) {
	if s.dialect.Name() != "postgres" {
		changes, _, err := s.readOutbox(ctx, `SELECT seq, project_id, resource_type, resource_id, version_id, operation, changed_at, compartment, 0
		FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?`, seq, limit)
		return changes, err
	}
	// The rows and the oldest running transaction of the one snapshot
	// they were read in.
	changes, xmin, err := s.readOutbox(ctx, `SELECT seq, project_id, resource_type, resource_id, version_id, operation, changed_at, compartment,
		pg_snapshot_xmin(pg_current_snapshot())::text::bigint
		FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2`, seq, limit)
	if err != nil || len(changes) == 0 {
		return changes, err
	}
	prev := seq
	for i, c := range changes {
		if c.Seq != prev+1 && !s.horizon.passes(c.Seq, xmin) {
			return changes[:i], s.horizon.wait(ctx, s.reader, changes[len(changes)-1].Seq)
		}
		prev = c.Seq
	}
	return changes, nil
}

func (s *Store) readOutbox(ctx context.Context, query string, args ...any) ([]Change, int64, error) {
	rows, err := s.reader.QueryContext(ctx, s.dialect.Rebind(query), args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []Change
	var xmin int64
	for rows.Next() {
		var c Change
		var at int64
		var compartment string
		if err := rows.Scan(&c.Seq, &c.ProjectID, &c.Type, &c.ID, &c.VersionID, &c.Operation, &at, &compartment, &xmin); err != nil {
			return nil, 0, err
		}
		c.Time = fromMicros(at)
		c.Compartment = strings.Fields(compartment)
		out = append(out, c)
	}
	return out, xmin, rows.Err()
}

// outboxHorizon decides when a reader of the outbox on PostgreSQL may pass
// a missing seq. Every seq below a committed one was drawn before that one
// committed, by a transaction that already held a transaction id (its
// resource rows came first). So once a reader saw seq upTo committed, a
// transaction id taken after that read (pg_current_xact_id, which also
// ends at once) is higher than the id of every transaction that drew a seq
// below upTo; once the oldest running transaction of a later snapshot
// (pg_snapshot_xmin) is above that id, every one of them has ended, and a
// seq below upTo still missing is missing for good (rolled back or
// pruned). settled records that: a missing seq below it is passed at once.
// (The snapshot's xmax would not do as the mark: a transaction can hold an
// id at or above the xmax of a snapshot taken while it runs.)
//
// A transaction left open for long (idle in transaction, a long export)
// keeps a missing seq from passing until it ends; changes that committed
// meanwhile wait behind it, none is lost. The state is the Store's, shared
// by its followers: what is settled holds for every cursor.
type outboxHorizon struct {
	mu      sync.Mutex
	settled int64 // a seq missing below settled never commits
	upTo    int64 // pending: seqs below upTo settle once xmin > xid
	xid     int64
}

// passes reports whether the seqs missing below seq never commit, given
// the oldest transaction xmin running when seq was read.
func (h *outboxHorizon) passes(seq, xmin int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if seq > h.settled && h.upTo > 0 && xmin > h.xid {
		h.settled, h.upTo = max(h.settled, h.upTo), 0
	}
	return seq <= h.settled
}

// wait starts the horizon of the seqs missing below upTo, the highest seq
// just read, unless one is pending already.
func (h *outboxHorizon) wait(ctx context.Context, db *sql.DB, upTo int64) error {
	h.mu.Lock()
	pending := h.upTo > 0 || upTo <= h.settled
	h.mu.Unlock()
	if pending {
		return nil
	}
	// The id's transaction writes nothing: its commit need not wait for
	// the disk.
	var xid int64
	if err := db.QueryRowContext(ctx, `SELECT pg_current_xact_id()::text::bigint
		FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async`).Scan(&xid); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.upTo == 0 {
		h.upTo, h.xid = upTo, xid
	}
	return nil
}

// OutboxLast is the highest seq on the outbox (0 when it is empty).
func (s *Store) OutboxLast(ctx context.Context) (int64, error) {
	var seq int64
	err := s.reader.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM outbox").Scan(&seq)
	return seq, err
}

// OutboxCursor is the last seq sink acknowledged (0 when none).
func (s *Store) OutboxCursor(ctx context.Context, sink string) (int64, error) {
	var seq int64
	err := s.reader.QueryRowContext(ctx, s.dialect.Rebind("SELECT seq FROM outbox_cursors WHERE project_id = ? AND sink = ?"),
		ward.SystemProjectID, sink).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return seq, err
}

// SetOutboxCursor records that sink's broker acknowledged every change up
// to seq, and that the sink is alive: a follower also calls it unmoved,
// now and then, so its cursor keeps holding the rows it has not had from
// pruning (PruneOutbox). It runs outside any resource write, so a slow
// sink never holds the writer. A cursor never moves back: two servers
// publishing to one sink send copies, never lose a change.
func (s *Store) SetOutboxCursor(ctx context.Context, sink string, seq int64) error {
	_, err := s.writer.ExecContext(ctx, s.dialect.Rebind(`INSERT INTO outbox_cursors (project_id, sink, seq, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (project_id, sink) DO UPDATE SET updated_at = excluded.updated_at,
			seq = CASE WHEN excluded.seq > outbox_cursors.seq THEN excluded.seq ELSE outbox_cursors.seq END`),
		ward.SystemProjectID, sink, seq, toMicros(s.Now()))
	return err
}

// OutboxBounds are the lowest seq on the outbox above after and the
// highest (0 for none). A pruner passes where it last pruned: on
// PostgreSQL the index entries of rows just deleted stay until a vacuum,
// and MIN(seq) from the start of the index would step over each of them.
func (s *Store) OutboxBounds(ctx context.Context, after int64) (first, last int64, err error) {
	err = s.reader.QueryRowContext(ctx, s.dialect.Rebind(`SELECT COALESCE((SELECT MIN(seq) FROM outbox WHERE seq > ?), 0), COALESCE((SELECT MAX(seq) FROM outbox), 0)`), after).Scan(&first, &last)
	return first, last, err
}

// OutboxCursorState is a stored cursor and when a follower last set or
// confirmed it. A server-wide sink's cursor is in the server's own project.
type OutboxCursorState struct {
	ProjectID string
	Sink      string
	Seq       int64
	UpdatedAt time.Time
}

// OutboxCursors are every stored cursor of the outbox.
func (s *Store) OutboxCursors(ctx context.Context) ([]OutboxCursorState, error) {
	rows, err := s.reader.QueryContext(ctx, "SELECT project_id, sink, seq, updated_at FROM outbox_cursors ORDER BY project_id, sink")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OutboxCursorState
	for rows.Next() {
		var c OutboxCursorState
		var at int64
		if err := rows.Scan(&c.ProjectID, &c.Sink, &c.Seq, &at); err != nil {
			return nil, err
		}
		c.UpdatedAt = fromMicros(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// DropOutboxCursor moves a cursor forward to seq without confirming its
// follower alive: the changes up to seq are pruned before it had them
// (feed.Pruner). It never moves a cursor back.
func (s *Store) DropOutboxCursor(ctx context.Context, c OutboxCursorState, seq int64) error {
	_, err := s.writer.ExecContext(ctx, s.dialect.Rebind("UPDATE outbox_cursors SET seq = ? WHERE project_id = ? AND sink = ? AND seq < ?"),
		seq, c.ProjectID, c.Sink, seq)
	return err
}

// DeleteOutbox deletes the outbox rows with seq from first to through, in
// one statement of its own, and returns how many it deleted. The highest
// row always stays: on SQLite the next seq is the highest plus one, and
// must never start again below a cursor.
func (s *Store) DeleteOutbox(ctx context.Context, first, through int64) (int64, error) {
	res, err := s.writer.ExecContext(ctx, s.dialect.Rebind("DELETE FROM outbox WHERE seq >= ? AND seq <= ? AND seq < (SELECT MAX(seq) FROM outbox)"), first, through)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
