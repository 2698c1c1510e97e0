package store

import (
	"context"

	"github.com/wardhealth/ward"
)

// SearchDeleted runs q, a search narrowed to the one resource id of
// q.ResourceType (its criteria plus _id), against the last live version
// of that resource when its current version is a deletion, under ctx's
// principal — walls, access policy and output gate as for any search —
// and returns that version as the principal would have seen it, or nil:
// not deleted, never live, outside the principal's scope, or not matching.
// A subscription's deletion notification is matched with it (package
// subscription): the author hears of a deletion only of what they could
// read just before it. Like matchDeleted it puts the version back under a
// savepoint of a transaction that is never committed; on SQLite it waits
// for the writer like any write.
func (s *Store) SearchDeleted(ctx context.Context, q *ward.SearchQuery, id string) (*ward.Resource, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, nil
	}
	sqlTx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer sqlTx.Rollback()
	t := &tx{s: s, sql: sqlTx}
	t.reader = reader{q: sqlTx, d: s.dialect}
	defer t.closeStmts()
	cur, err := t.current(ctx, p, q.ResourceType, id, "")
	if ward.ErrorCode(err) == ward.ENOTFOUND {
		return nil, nil
	} else if err != nil || !cur.Deleted {
		return nil, err
	}
	v, err := t.lastLive(ctx, cur.ProjectID, cur.Type, cur.ID)
	if v == nil || err != nil {
		return nil, err
	}
	cp, err := t.savepoint(ctx)
	if err != nil {
		return nil, err
	}
	if err := t.restoreLive(ctx, v); err != nil {
		return nil, err
	}
	res, err := t.reader.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	if err := cp.rollback(ctx); err != nil {
		return nil, err
	}
	for _, r := range res.Matches {
		if r.ID == id {
			return r, nil
		}
	}
	return nil, nil
}
