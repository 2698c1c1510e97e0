package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
)

// reader implements ward.ResourceReader over a pool or a transaction.
type reader struct {
	q queryer
	d Dialect
}

// Read implements ward.ResourceReader.
func (s *Store) Read(ctx context.Context, typ, id string) (*ward.Resource, error) {
	return s.readerOf().Read(ctx, typ, id)
}

// VRead implements ward.ResourceReader.
func (s *Store) VRead(ctx context.Context, typ, id, vid string) (*ward.Resource, error) {
	return s.readerOf().VRead(ctx, typ, id, vid)
}

// History implements ward.ResourceReader.
func (s *Store) History(ctx context.Context, q ward.HistoryQuery) (*ward.HistoryPage, error) {
	return s.readerOf().History(ctx, q)
}

// Search implements ward.ResourceReader.
func (s *Store) Search(ctx context.Context, q *ward.SearchQuery) (*ward.SearchResult, error) {
	return s.readerOf().Search(ctx, q)
}

func (r reader) Search(ctx context.Context, q *ward.SearchQuery) (*ward.SearchResult, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	return runSearch(ctx, r.q, r.d, p, q)
}

func (r reader) Read(ctx context.Context, typ, id string) (*ward.Resource, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, notFound()
	}
	res, err := r.current(ctx, p, typ, id, "")
	if err != nil {
		return nil, err
	}
	if res.Deleted {
		return nil, gone()
	}
	return res, nil
}

// current loads the current row of typ/id within the caller's read scope,
// deleted or not. suffix is appended to the query (FOR UPDATE).
func (r reader) current(ctx context.Context, p *ward.Principal, typ, id, suffix string) (*ward.Resource, error) {
	clause, args := projectClause(p, "project_id")
	query := "SELECT project_id, version_id, last_updated, deleted, content FROM resources WHERE resource_type = ? AND id = ?" + clause + suffix
	args = append([]any{typ, id}, args...)
	res := &ward.Resource{Type: typ, ID: id}
	var lu int64
	var deleted int
	var content string
	err := r.q.QueryRowContext(ctx, r.d.Rebind(query), args...).Scan(&res.ProjectID, &res.VersionID, &lu, &deleted, &content)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound()
	} else if err != nil {
		return nil, err
	}
	res.LastUpdated = fromMicros(lu)
	res.Deleted = deleted != 0
	if !res.Deleted {
		res.Content = []byte(content)
	}
	return res, nil
}

func (r reader) VRead(ctx context.Context, typ, id, vid string) (*ward.Resource, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if !validID(id) || !validID(vid) {
		return nil, notFound()
	}
	clause, args := projectClause(p, "project_id")
	query := "SELECT project_id, last_updated, deleted, content FROM resource_history WHERE resource_type = ? AND id = ? AND version_id = ?" + clause
	args = append([]any{typ, id, vid}, args...)
	res := &ward.Resource{Type: typ, ID: id, VersionID: vid}
	var lu int64
	var deleted int
	var content string
	err = r.q.QueryRowContext(ctx, r.d.Rebind(query), args...).Scan(&res.ProjectID, &lu, &deleted, &content)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound()
	} else if err != nil {
		return nil, err
	}
	res.LastUpdated = fromMicros(lu)
	if deleted != 0 {
		return nil, gone()
	}
	res.Content = []byte(content)
	return res, nil
}

const (
	defaultCount = 20
	maxCount     = 1000
)

func (r reader) History(ctx context.Context, q ward.HistoryQuery) (*ward.HistoryPage, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if q.ID != "" {
		if !validID(q.ID) {
			return nil, notFound()
		}
		if _, err := r.current(ctx, p, q.ResourceType, q.ID, ""); err != nil {
			return nil, err
		}
	}
	where, args := historyWhere(p, q)
	page := &ward.HistoryPage{}
	err = r.q.QueryRowContext(ctx, r.d.Rebind("SELECT COUNT(*) FROM resource_history WHERE "+where), args...).Scan(&page.Total)
	if err != nil {
		return nil, err
	}
	count := q.Count
	if count <= 0 {
		count = defaultCount
	}
	count = min(count, maxCount)
	query := "SELECT resource_type, id, version_id, project_id, last_updated, deleted, content FROM resource_history WHERE " +
		where + " ORDER BY last_updated DESC, version_id DESC LIMIT ? OFFSET ?"
	rows, err := r.q.QueryContext(ctx, r.d.Rebind(query), append(args, count, max(q.Offset, 0))...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		res := &ward.Resource{}
		var lu int64
		var deleted int
		var content string
		if err := rows.Scan(&res.Type, &res.ID, &res.VersionID, &res.ProjectID, &lu, &deleted, &content); err != nil {
			return nil, err
		}
		res.LastUpdated = fromMicros(lu)
		res.Deleted = deleted != 0
		if !res.Deleted {
			res.Content = []byte(content)
		}
		page.Versions = append(page.Versions, res)
	}
	return page, rows.Err()
}

// historyWhere is the WHERE clause shared by the count and the page.
func historyWhere(p *ward.Principal, q ward.HistoryQuery) (string, []any) {
	where := "1 = 1"
	var args []any
	if clause, pargs := projectClause(p, "project_id"); clause != "" {
		where += clause
		args = append(args, pargs...)
	}
	if q.ResourceType != "" {
		where += " AND resource_type = ?"
		args = append(args, q.ResourceType)
	}
	if q.ID != "" {
		where += " AND id = ?"
		args = append(args, q.ID)
	}
	if !q.Since.IsZero() {
		where += " AND last_updated >= ?"
		args = append(args, toMicros(q.Since))
	}
	return where, args
}

func notFound() error { return &ward.Error{Code: ward.ENOTFOUND, Message: "Not found"} }
func gone() error     { return &ward.Error{Code: ward.EGONE, Message: "Gone"} }
func conflict() error {
	return &ward.Error{Code: ward.ECONFLICT, Message: "Conflict: concurrent write"}
}

// validID reports whether id can name a stored resource. Ward assigns UUIDs;
// anything else cannot exist, so it is not found rather than invalid.
func validID(id string) bool {
	if len(id) != 36 {
		return false
	}
	_, err := uuid.Parse(id)
	return err == nil
}

func toMicros(t time.Time) int64    { return t.UnixMicro() }
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
