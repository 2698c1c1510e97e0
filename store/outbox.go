package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
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
	Seq         int64 // global, contiguous, in commit order
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

// appendOutbox writes t's changes with one multi-row INSERT. Their seqs
// follow the highest on the table, drawn under the outbox lock held until
// the commit, so seq order is commit order and a reader after a cursor
// never skips a change that commits later.
func (t *tx) appendOutbox(ctx context.Context) error {
	if len(t.changes) == 0 {
		return nil
	}
	if err := t.lockAudit(ctx, "outbox:", ""); err != nil {
		return err
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

// OutboxAfter returns up to limit changes after seq, in seq order, of
// every project. It is the change feed's read and goes around every
// access rule: only the server's publishers call it, and each sends a
// change only where its configuration says the change's project goes.
func (s *Store) OutboxAfter(ctx context.Context, seq int64, limit int) ([]Change, error) {
	rows, err := s.reader.QueryContext(ctx, s.dialect.Rebind(`SELECT seq, project_id, resource_type, resource_id, version_id, operation, changed_at, compartment
		FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?`), seq, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var c Change
		var at int64
		var compartment string
		if err := rows.Scan(&c.Seq, &c.ProjectID, &c.Type, &c.ID, &c.VersionID, &c.Operation, &at, &compartment); err != nil {
			return nil, err
		}
		c.Time = fromMicros(at)
		c.Compartment = strings.Fields(compartment)
		out = append(out, c)
	}
	return out, rows.Err()
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
// to seq. It runs outside any resource write, so a slow sink never holds
// the writer. A cursor never moves back: two servers publishing to one
// sink send copies, never lose a change.
func (s *Store) SetOutboxCursor(ctx context.Context, sink string, seq int64) error {
	_, err := s.writer.ExecContext(ctx, s.dialect.Rebind(`INSERT INTO outbox_cursors (project_id, sink, seq) VALUES (?, ?, ?)
		ON CONFLICT (project_id, sink) DO UPDATE SET seq = excluded.seq WHERE excluded.seq > outbox_cursors.seq`), ward.SystemProjectID, sink, seq)
	return err
}
