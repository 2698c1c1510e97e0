//go:build wip

package store

import (
	"context"
	"strings"
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
		if err := t.deleteIndex(ctx, r.ProjectID, r.Type, r.ID); err != nil {
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
	if r.Deleted {
		return nil
	}
	return t.insertIndex(ctx, v)
}

var indexTables = []string{
	"search_token", "search_string", "search_date", "search_number",
	"search_quantity", "search_reference", "search_uri",
}

func (t *tx) deleteIndex(ctx context.Context, project, typ, id string) error {
	for _, table := range indexTables {
		if _, err := t.exec(ctx, "DELETE FROM "+table+" WHERE project_id = ? AND resource_type = ? AND resource_id = ?", project, typ, id); err != nil {
			return err
		}
	}
	_, err := t.exec(ctx, "DELETE FROM resource_compartments WHERE project_id = ? AND resource_type = ? AND resource_id = ?", project, typ, id)
	return err
}

func (t *tx) insertIndex(ctx context.Context, v *version) error {
	r, rows := v.res, v.rows
	key := []any{r.ProjectID, r.Type, r.ID}
	b := &batchInsert{tx: t, ctx: ctx}
	b.table("search_token", "param, system, code, text")
	for _, x := range rows.Tokens {
		b.row(key, x.Param, x.System, x.Code, x.Text)
	}
	b.table("search_string", "param, value, exact")
	for _, x := range rows.Strings {
		b.row(key, x.Param, x.Value, x.Exact)
	}
	b.table("search_date", "param, low, high")
	for _, x := range rows.Dates {
		b.row(key, x.Param, x.Low, x.High)
	}
	b.table("search_number", "param, value, low, high")
	for _, x := range rows.Numbers {
		b.row(key, x.Param, x.Value, x.Low, x.High)
	}
	b.table("search_quantity", "param, system, code, unit, value, low, high")
	for _, x := range rows.Quantities {
		b.row(key, x.Param, x.System, x.Code, x.Unit, x.Value, x.Low, x.High)
	}
	b.table("search_reference", "param, target_type, target_id")
	for _, x := range rows.References {
		b.row(key, x.Param, x.TargetType, x.TargetID)
	}
	b.table("search_uri", "param, value")
	for _, x := range rows.URIs {
		b.row(key, x.Param, x.Value)
	}
	b.flush()
	if b.err != nil {
		return b.err
	}
	for _, c := range v.compartments {
		if _, err := t.exec(ctx, `INSERT INTO resource_compartments (project_id, compartment, resource_type, resource_id)
			VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, r.ProjectID, c, r.Type, r.ID); err != nil {
			return err
		}
	}
	return nil
}

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
}

const maxBatchArgs = 900 // under SQLite's and PostgreSQL's parameter limits

func (b *batchInsert) table(name, cols string) {
	b.flush()
	b.name, b.cols = name, cols
	b.width = 3 + strings.Count(cols, ",") + 1
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
	var q strings.Builder
	q.WriteString("INSERT INTO ")
	q.WriteString(b.name)
	q.WriteString(" (project_id, resource_type, resource_id, ")
	q.WriteString(b.cols)
	q.WriteString(") VALUES ")
	tuple := "(?" + repeat(",?", b.width-1) + ")"
	for i := range b.n {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString(tuple)
	}
	_, b.err = b.tx.exec(b.ctx, q.String(), b.args...)
	b.n, b.args = 0, b.args[:0]
}

func (t *tx) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := t.sql.ExecContext(ctx, t.d.Rebind(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
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
