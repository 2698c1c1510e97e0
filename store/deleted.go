package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/wardhealth/ward"
)

// Deleted resources under criteria (spec 2.6). A deletion removes the
// resource's index rows, yet whether the caller may know it existed
// depends on what it was: a read, vread or history of a deleted resource
// the caller could not read before its deletion is 404, not 410. The
// criteria are evaluated in SQL like every other match (firstMatch): the
// last live version is put back as the current row with its index rows
// under a savepoint, matched, and rolled back. It is rare (a deleted id,
// read under criteria), so it may cost a write transaction.

// matchDeleted is the index of the first of rules that the last live
// version of the deleted typ/id in project meets, -1 for none.
type matchDeleted func(ctx context.Context, p *ward.Principal, project, typ, id string, rules []*ward.PolicyRule) (int, error)

// matchDeleted runs (*tx).matchLastLive in a transaction of its own that
// is never committed. On SQLite it waits for the writer like any write.
func (s *Store) matchDeleted(ctx context.Context, p *ward.Principal, project, typ, id string, rules []*ward.PolicyRule) (int, error) {
	sqlTx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return -1, err
	}
	defer sqlTx.Rollback()
	t := &tx{s: s, sql: sqlTx}
	t.reader = reader{q: sqlTx, d: s.dialect}
	defer t.closeStmts()
	return t.matchLastLive(ctx, p, project, typ, id, rules)
}

// matchLastLive matches the last live version of the deleted typ/id
// against rules with nothing left written.
func (t *tx) matchLastLive(ctx context.Context, p *ward.Principal, project, typ, id string, rules []*ward.PolicyRule) (int, error) {
	if len(rules) > 0 && (len(rules[0].Criteria) == 0 || typ == "Binary") {
		return 0, nil
	}
	v, err := t.lastLive(ctx, project, typ, id)
	if v == nil || err != nil {
		return -1, err
	}
	cp, err := t.savepoint(ctx)
	if err != nil {
		return -1, err
	}
	k, err := t.restoreAndMatch(ctx, p, v, rules)
	if err != nil {
		return -1, err
	}
	if err := cp.rollback(ctx); err != nil {
		return -1, err
	}
	return k, cp.release(ctx)
}

// lastLive is the last live version of the deleted typ/id, indexed as it
// was written (nil when it never had one).
func (t *tx) lastLive(ctx context.Context, project, typ, id string) (*version, error) {
	var content string
	err := t.q.QueryRowContext(ctx, t.d.Rebind(`SELECT content FROM resource_history
		WHERE project_id = ? AND resource_type = ? AND id = ? AND deleted = 0
		ORDER BY last_updated DESC, version_id DESC LIMIT 1`), project, typ, id).Scan(&content)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	d, err := decodeResource([]byte(content))
	if err != nil {
		return nil, err
	}
	m := serverMeta{projectID: project}
	m.versionID, _ = d.metaIn["versionId"].(string)
	m.lastUpdated, _ = d.metaIn["lastUpdated"].(string)
	if a, ok := d.metaIn["author"].(map[string]any); ok {
		m.author, _ = a["reference"].(string)
	}
	m.accounts = clientAccounts(d.metaIn)
	return t.s.index(ctx, typ, id, m, d)
}

// restoreAndMatch makes v the live current row, with its index rows, and
// matches it against rules.
func (t *tx) restoreAndMatch(ctx context.Context, p *ward.Principal, v *version, rules []*ward.PolicyRule) (int, error) {
	if err := t.restoreLive(ctx, v); err != nil {
		return -1, err
	}
	return matchOne(ctx, t.q, t.d, p, v.res.Type, v.res.ID, rules)
}

// restoreLive makes v the live current row, with its index rows.
func (t *tx) restoreLive(ctx context.Context, v *version) error {
	r := v.res
	if _, err := t.exec(ctx, `UPDATE resources SET deleted = 0, content = ? WHERE project_id = ? AND resource_type = ? AND id = ?`,
		string(r.Content), r.ProjectID, r.Type, r.ID); err != nil {
		return err
	}
	if err := t.insertIndex(ctx, v); err != nil {
		return err
	}
	return t.flushIndex(ctx)
}

// matchCurrent is matchOne for res, the current row of its resource: a
// deleted one is matched as its last live version.
func (r reader) matchCurrent(ctx context.Context, p *ward.Principal, res *ward.Resource, rules []*ward.PolicyRule) (int, error) {
	if !res.Deleted {
		return matchOne(ctx, r.q, r.d, p, res.Type, res.ID, rules)
	}
	if r.deleted == nil {
		return -1, nil
	}
	return r.deleted(ctx, p, res.ProjectID, res.Type, res.ID, rules)
}
