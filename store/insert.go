package store

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"strings"

	"github.com/wardhealth/ward/index"
)

// insert writes v as the current version (replacing the row when replace),
// appends it to history and replaces its index rows and compartments.
func (t *tx) insert(ctx context.Context, v *version, replace bool) error {
	r := v.res
	deleted := 0
	content := string(r.Content)
	if r.Deleted {
		deleted = 1
		content = ""
	}
	lu := toMicros(r.LastUpdated)
	if replace {
		if _, err := t.exec(ctx, `UPDATE resources SET version_id = ?, last_updated = ?, deleted = ?, content = ?
			WHERE project_id = ? AND resource_type = ? AND id = ?`,
			r.VersionID, lu, deleted, content, r.ProjectID, r.Type, r.ID); err != nil {
			return err
		}
		// A deletion keeps its compartment rows: no search reads them for
		// a deleted resource (every read asks deleted = 0), and a
		// patient's erasure finds the deleted members of its compartment
		// by them (expunge.go).
		if err := t.deleteIndex(ctx, r.ProjectID, r.Type, r.ID, !r.Deleted); err != nil {
			return err
		}
	} else if _, err := t.exec(ctx, `INSERT INTO resources (project_id, resource_type, id, version_id, last_updated, deleted, content)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, r.ProjectID, r.Type, r.ID, r.VersionID, lu, deleted, content); err != nil {
		return conflictOnDuplicate(err)
	}
	if _, err := t.exec(ctx, `INSERT INTO resource_history (project_id, resource_type, id, version_id, last_updated, deleted, content)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, r.ProjectID, r.Type, r.ID, r.VersionID, lu, deleted, content); err != nil {
		return err
	}
	t.written = append(t.written, r)
	t.noteWrite(ctx, v, replace)
	compartment := v.compartment
	if r.Deleted {
		compartment = v.patients
	}
	t.noteChange(r, writeOperation(ctx, r, replace), compartment)
	if r.Deleted {
		return nil
	}
	return t.insertIndex(ctx, v)
}

var indexTables = []string{
	"search_token", "search_string", "search_date", "search_number",
	"search_quantity", "search_reference", "search_uri",
}

func (t *tx) deleteIndex(ctx context.Context, project, typ, id string, compartments bool) error {
	// Rows of this resource may still wait in the buffer (created earlier
	// in this transaction); write them first so the DELETE sees them.
	if err := t.flushIndex(ctx); err != nil {
		return err
	}
	for _, tables := range [][]string{indexTables, compartmentIndexTables} {
		for _, table := range tables {
			if _, err := t.exec(ctx, "DELETE FROM "+table+" WHERE project_id = ? AND resource_type = ? AND resource_id = ?", project, typ, id); err != nil {
				return err
			}
		}
	}
	if !compartments {
		return nil
	}
	_, err := t.exec(ctx, "DELETE FROM resource_compartments WHERE project_id = ? AND resource_type = ? AND resource_id = ?", project, typ, id)
	return err
}

// insertIndex queues v's index rows; flushIndex writes every queued row of
// the transaction with a few multi-row INSERTs. A bundle of 100 resources
// thus costs a handful of statements instead of a thousand.
func (t *tx) insertIndex(ctx context.Context, v *version) error {
	t.pending = append(t.pending, v)
	if len(t.pending) >= 200 {
		return t.flushIndex(ctx)
	}
	return nil
}

// flushIndex writes the queued index rows. It runs before every search in
// the transaction and before commit, so reads see the transaction's writes.
func (t *tx) flushIndex(ctx context.Context) error {
	if len(t.pending) == 0 {
		return nil
	}
	pending := t.pending
	t.pending = t.pending[:0]
	b := &batchInsert{tx: t, ctx: ctx}
	addRows(b, pending, "search_token", "param, system, code, text",
		func(r *index.Rows) []index.Token { return r.Tokens },
		func(x index.Token) []any { return []any{x.Param, x.System, x.Code, x.Text} })
	addRows(b, pending, "search_string", "param, value, exact",
		func(r *index.Rows) []index.String { return r.Strings },
		func(x index.String) []any { return []any{x.Param, x.Value, x.Exact} })
	addRows(b, pending, "search_date", "param, low, high",
		func(r *index.Rows) []index.Date { return r.Dates },
		func(x index.Date) []any { return []any{x.Param, x.Low, x.High} })
	addRows(b, pending, "search_number", "param, value, low, high",
		func(r *index.Rows) []index.Number { return r.Numbers },
		func(x index.Number) []any { return []any{x.Param, x.Value, x.Low, x.High} })
	addRows(b, pending, "search_quantity", "param, system, code, unit, value, low, high",
		func(r *index.Rows) []index.Quantity { return r.Quantities },
		func(x index.Quantity) []any { return []any{x.Param, x.System, x.Code, x.Unit, x.Value, x.Low, x.High} })
	addRows(b, pending, "search_reference", "param, target_type, target_id",
		func(r *index.Rows) []index.Reference { return r.References },
		func(x index.Reference) []any { return []any{x.Param, x.TargetType, x.TargetID} })
	addRows(b, pending, "search_uri", "param, value",
		func(r *index.Rows) []index.URI { return r.URIs },
		func(x index.URI) []any { return []any{x.Param, x.Value} })
	b.flush() // the uri rows, before the column order changes
	if b.err != nil {
		return b.err
	}
	if err := t.growDateWidths(ctx, pending); err != nil {
		return err
	}
	b.compartments = true
	b.table("resource_compartments", "compartment")
	for _, v := range pending {
		for _, c := range v.compartments {
			b.row(nil, v.res.ProjectID, c, v.res.Type, v.res.ID)
		}
	}
	b.flush()
	b.compartments = false
	addCompartmentRows(b, pending) // compartmentindex.go
	return b.err
}

// addRows queues the rows of one index table for every pending version.
func addRows[T any](b *batchInsert, pending []*version, table, cols string, rows func(*index.Rows) []T, vals func(T) []any) {
	b.table(table, cols)
	for _, v := range pending {
		key := v.key()
		for _, x := range rows(v.rows) {
			b.row(key, vals(x)...)
		}
	}
}

// key is the leading columns of v's index rows.
func (v *version) key() []any { return []any{v.res.ProjectID, v.res.Type, v.res.ID} }

// batchInsert gathers rows of one table into multi-row INSERTs, one round
// trip per table and chunk rather than per row.
type batchInsert struct {
	tx    *tx
	ctx   context.Context
	name  string
	cols  string
	width int
	n     int
	args  []any
	err   error
	// compartments switches to resource_compartments' column order.
	compartments bool
}

const maxBatchArgs = 900 // under SQLite's and PostgreSQL's parameter limits

func (b *batchInsert) table(name, cols string) {
	b.flush()
	b.name, b.cols = name, cols
	b.width = 3 + strings.Count(cols, ",") + 1
	if b.compartments {
		b.width = 4
	}
}

func (b *batchInsert) row(key []any, vals ...any) {
	b.args = append(b.args, key...)
	b.args = append(b.args, vals...)
	b.n++
	if len(b.args)+b.width > maxBatchArgs {
		b.flush()
	}
}

func (b *batchInsert) flush() {
	if b.n == 0 || b.err != nil {
		b.n, b.args = 0, b.args[:0]
		return
	}
	cols := " (project_id, resource_type, resource_id, " + b.cols + ")"
	if b.compartments {
		cols = " (project_id, compartment, resource_type, resource_id)"
	}
	b.err = b.tx.execChunks(b.ctx, "INSERT INTO "+b.name+cols, b.width, b.n, b.args, " ON CONFLICT DO NOTHING")
	b.n, b.args = 0, b.args[:0]
}

// maxRowsPerStatement is the most rows of width columns one multi-row
// statement takes under limit arguments: a power of two, see execChunks.
func maxRowsPerStatement(width, limit int) int {
	n := 1
	for n*2*width <= limit && n < 256 {
		n *= 2
	}
	return n
}

// execChunks runs head VALUES (…),(…)… tail over n rows of width columns
// (args, row after row) in as few statements as the argument limit
// allows. On SQLite their row counts are powers of two: a batch of any
// size then reuses a few statement texts, which stay prepared
// (tx.prepare), where one text per size would be parsed again for almost
// every batch. PostgreSQL parses fast and pays per round trip instead.
func (t *tx) execChunks(ctx context.Context, head string, width, n int, args []any, tail string) error {
	tuple := "(?" + repeat(",?", width-1) + ")"
	for n > 0 {
		size := min(n, max(1, maxBatchArgs/width))
		if t.d.PrepareOnce() {
			size = maxRowsPerStatement(width, maxBatchArgs)
			for size > n {
				size /= 2
			}
		}
		var q strings.Builder
		q.WriteString(head)
		q.WriteString(" VALUES ")
		for i := range size {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString(tuple)
		}
		q.WriteString(tail)
		if _, err := t.exec(ctx, q.String(), args[:size*width]...); err != nil {
			return err
		}
		args, n = args[size*width:], n-size
	}
	return nil
}

func (t *tx) exec(ctx context.Context, query string, args ...any) (int64, error) {
	if !t.d.PrepareOnce() {
		res, err := t.sql.ExecContext(ctx, t.d.Rebind(query), args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	stmt, err := t.prepare(ctx, t.d.Rebind(query))
	if err != nil {
		return 0, err
	}
	res, err := stmt.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// prepare returns the transaction's prepared statement for query: the
// write pool's (Tx.StmtContext reuses it on the one writer connection) or
// one prepared now and kept for the transaction. Parsing is most of what a
// small statement costs SQLite (≈ 80 µs for the chain head's query), and a
// bundle runs the same few statements hundreds of times.
func (t *tx) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	if stmt, ok := t.stmts[query]; ok {
		return stmt, nil
	}
	var stmt *sql.Stmt
	if shared := t.s.wstmts.lookup(query); shared != nil {
		stmt = t.sql.StmtContext(ctx, shared)
	} else {
		var err error
		if stmt, err = t.sql.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		t.missed = append(t.missed, query)
	}
	if t.stmts == nil {
		t.stmts = make(map[string]*sql.Stmt)
	}
	t.stmts[query] = stmt
	return stmt, nil
}

// warmWriter prepares on the write pool the statements a transaction
// missed, once it has ended and released the writer connection, so later
// transactions reuse them.
func (s *Store) warmWriter(ctx context.Context, missed []string) {
	for _, query := range missed {
		if s.wstmts.full() {
			return
		}
		if _, err := s.wstmts.prepare(context.WithoutCancel(ctx), query); err != nil {
			return
		}
	}
}

// conflictOnDuplicate turns a unique violation into ECONFLICT: two
// concurrent creates of one id (update-as-create) cannot both win.
func conflictOnDuplicate(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "UNIQUE constraint") || strings.Contains(msg, "duplicate key") {
		return conflict()
	}
	return err
}

// growDateWidths records the widest date range of each parameter written
// (see search_date_width). An open-ended Period makes the width unbounded.
func (t *tx) growDateWidths(ctx context.Context, pending []*version) error {
	type key struct{ project, typ, param string }
	widths := map[key]int64{}
	for _, v := range pending {
		for _, d := range v.rows.Dates {
			w := int64(math.MaxInt64)
			if d.Low > -dateWideOpen && d.High < dateWideOpen {
				w = d.High - d.Low
			}
			k := key{v.res.ProjectID, v.res.Type, d.Param}
			if cur, ok := widths[k]; !ok || w > cur {
				widths[k] = w
			}
		}
	}
	for k, w := range widths {
		// Read first, and upsert only a width that grows: on PostgreSQL an
		// ON CONFLICT DO UPDATE locks the row even when its WHERE keeps it,
		// which serialized every Observation create of a project and
		// deadlocked a transaction holding the row against one holding the
		// project's audit lock (lockAudit) — 16 deadlocks in a 30 s mixed load.
		var cur int64
		err := t.q.QueryRowContext(ctx, t.d.Rebind(`SELECT width FROM search_date_width WHERE project_id = ? AND resource_type = ? AND param = ?`),
			k.project, k.typ, k.param).Scan(&cur)
		if err == nil && cur >= w {
			continue
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := t.exec(ctx, `INSERT INTO search_date_width (project_id, resource_type, param, width) VALUES (?, ?, ?, ?)
			ON CONFLICT (project_id, resource_type, param) DO UPDATE SET width = excluded.width
			WHERE excluded.width > search_date_width.width`, k.project, k.typ, k.param, w); err != nil {
			return err
		}
	}
	return nil
}
