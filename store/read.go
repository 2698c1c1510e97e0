package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
)

// reader implements ward.ResourceReader over a pool or a transaction.
type reader struct {
	q queryer
	d Dialect
	// deleted matches a deleted resource's last live version (nil: none
	// matches).
	deleted matchDeleted
}

// Read implements ward.ResourceReader.
func (s *Store) Read(ctx context.Context, typ, id string) (*ward.Resource, error) {
	s.awaitTrailOf(ctx, typ)
	return s.readerOf().Read(ctx, typ, id)
}

// VRead implements ward.ResourceReader.
func (s *Store) VRead(ctx context.Context, typ, id, vid string) (*ward.Resource, error) {
	s.awaitTrailOf(ctx, typ)
	return s.readerOf().VRead(ctx, typ, id, vid)
}

// History implements ward.ResourceReader.
func (s *Store) History(ctx context.Context, q ward.HistoryQuery) (*ward.HistoryPage, error) {
	s.awaitTrailOf(ctx, q.ResourceType)
	return s.readerOf().History(ctx, q)
}

// Search implements ward.ResourceReader.
func (s *Store) Search(ctx context.Context, q *ward.SearchQuery) (*ward.SearchResult, error) {
	s.awaitTrailOf(ctx, searchedTypes(q)...)
	return s.readerOf().Search(ctx, q)
}

// awaitTrailOf waits for the audit projection (awaitTrail) when a read
// of types may show AuditEvents ("" is every type).
func (s *Store) awaitTrailOf(ctx context.Context, types ...string) {
	for _, t := range types {
		if t == "" || t == "AuditEvent" {
			s.awaitTrail(ctx)
			return
		}
	}
}

// searchedTypes are the types q's results may hold.
func searchedTypes(q *ward.SearchQuery) []string {
	out := []string{q.ResourceType}
	for _, inc := range slices.Concat(q.Includes, q.RevIncludes) {
		out = append(out, inc.SourceType, inc.TargetType)
	}
	return out
}

func (r reader) Search(ctx context.Context, q *ward.SearchQuery) (*ward.SearchResult, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := allowedRules(p, q.ResourceType, ward.InteractionSearch); err != nil {
		return nil, err
	}
	res, err := runSearchWith(ctx, r.q, r.d, p, q, policyPredicate(p, ward.InteractionSearch))
	if err != nil {
		return nil, err
	}
	if err := present(ctx, r.q, r.d, p, res.Matches); err != nil {
		return nil, err
	}
	return res, present(ctx, r.q, r.d, p, res.Included)
}

func (r reader) Read(ctx context.Context, typ, id string) (*ward.Resource, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	rules, err := allowedRules(p, typ, ward.InteractionRead)
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
		// 410 only for what the caller could read before the deletion.
		if rules != nil {
			if k, err := r.matchCurrent(ctx, p, res, rules); err != nil {
				return nil, err
			} else if k < 0 {
				return nil, notFound()
			}
		}
		return nil, gone()
	}
	return res, r.visible(ctx, p, res, rules)
}

// visible checks the current row of res against rules (404 when none
// matches, as if it did not exist; nothing to check when rules is nil, no
// policy) and passes res through the output gate.
func (r reader) visible(ctx context.Context, p *ward.Principal, res *ward.Resource, rules []*ward.PolicyRule) error {
	if rules != nil {
		k, err := matchOne(ctx, r.q, r.d, p, res.Type, res.ID, rules)
		if err != nil {
			return err
		}
		if k < 0 {
			return notFound()
		}
	}
	return present(ctx, r.q, r.d, p, []*ward.Resource{res})
}

// current loads the current row of typ/id within the caller's read scope,
// deleted or not. suffix is appended to the query (FOR UPDATE).
//
// A system principal's Home is a hint: a row not found there is looked
// for in every project. A locking read names one project_id, as Citus
// requires of FOR UPDATE: where the wall leaves several projects (or
// none), the row's project is read first, then the row locked in it.
func (r reader) current(ctx context.Context, p *ward.Principal, typ, id, suffix string) (*ward.Resource, error) {
	res, err := r.currentLocked(ctx, p, typ, id, suffix)
	if p.System && len(p.Home) > 0 && isNotFound(err) {
		anywhere := *p
		anywhere.Home = nil
		return r.currentLocked(ctx, &anywhere, typ, id, suffix)
	}
	return res, err
}

// currentLocked is current without the fallback of a Home that missed.
func (r reader) currentLocked(ctx context.Context, p *ward.Principal, typ, id, suffix string) (*ward.Resource, error) {
	if suffix == "" || len(readProjectsFor(p, typ)) == 1 {
		return r.currentRow(ctx, typ, id)(currentQuery(p, typ, id, suffix))
	}
	found, err := r.currentRow(ctx, typ, id)(currentQuery(p, typ, id, ""))
	if err != nil {
		return nil, err
	}
	return r.currentRow(ctx, typ, id)(currentQuery(ward.SystemPrincipalIn(found.ProjectID), typ, id, suffix))
}

func isNotFound(err error) bool {
	var e *ward.Error
	return errors.As(err, &e) && e.Code == ward.ENOTFOUND
}

// currentRow returns the function that runs a currentQuery.
func (r reader) currentRow(ctx context.Context, typ, id string) func(query string, args []any) (*ward.Resource, error) {
	return func(query string, args []any) (*ward.Resource, error) {
		return r.scanCurrent(ctx, typ, id, query, args)
	}
}

func (r reader) scanCurrent(ctx context.Context, typ, id, query string, args []any) (*ward.Resource, error) {
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

// currentQuery selects the current row of typ/id under p's typed wall: a
// primary key lookup in each walled project, or, for a system principal or
// a super admin (no wall), a search of the index on the id alone.
func currentQuery(p *ward.Principal, typ, id, suffix string) (string, []any) {
	clause, args := projectClause(p, typ, "project_id", "")
	query := "SELECT project_id, version_id, last_updated, deleted, content FROM resources WHERE resource_type = ? AND id = ?" + clause + suffix
	return query, append([]any{typ, id}, args...)
}

// vreadQuery selects version vid of typ/id under p's typed wall, by the
// same indexes as currentQuery.
func vreadQuery(p *ward.Principal, typ, id, vid string) (string, []any) {
	clause, args := projectClause(p, typ, "project_id", "")
	query := "SELECT project_id, last_updated, deleted, content FROM " + historyTable(typ) + " WHERE resource_type = ? AND id = ? AND version_id = ?" + clause
	return query, append([]any{typ, id, vid}, args...)
}

func (r reader) VRead(ctx context.Context, typ, id, vid string) (*ward.Resource, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if !validID(id) || !validID(vid) {
		if _, err := allowedRules(p, typ, ward.InteractionRead); err != nil {
			return nil, err
		}
		return nil, notFound()
	}
	if err := r.instanceAllowed(ctx, p, typ, id, ward.InteractionVRead); err != nil {
		return nil, err
	}
	query, args := vreadQuery(p, typ, id, vid)
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
	return res, present(ctx, r.q, r.d, p, []*ward.Resource{res})
}

// instanceAllowed is the check of a vread or history of typ/id (spec
// 2.4/2.7): they are reads first, so the type-level read grant (403) and
// the current resource, deleted or not, under the read rules (404); then
// an entry granting i must match it (403). Without a policy only the
// project wall applies (404).
func (r reader) instanceAllowed(ctx context.Context, p *ward.Principal, typ, id string, i ward.Interaction) error {
	readRules, err := allowedRules(p, typ, ward.InteractionRead)
	if err != nil {
		return err
	}
	res, err := r.current(ctx, p, typ, id, "")
	if err != nil {
		return err
	}
	if readRules == nil {
		return nil
	}
	if k, err := r.matchCurrent(ctx, p, res, readRules); err != nil {
		return err
	} else if k < 0 {
		return notFound()
	}
	rules := rulesFor(p, typ, i)
	if len(rules) == 0 {
		return forbidden()
	}
	if k, err := r.matchCurrent(ctx, p, res, rules); err != nil {
		return err
	} else if k < 0 {
		return forbidden()
	}
	return nil
}

// The page sizes of histories and searches (ward's, one place).
const (
	defaultCount = ward.DefaultPageSize
	maxCount     = ward.MaxPageSize
)

func (r reader) History(ctx context.Context, q ward.HistoryQuery) (*ward.HistoryPage, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if q.ID != "" {
		if !validID(q.ID) {
			if _, err := allowedRules(p, q.ResourceType, ward.InteractionRead); err != nil {
				return nil, err
			}
			return nil, notFound()
		}
		if err := r.instanceAllowed(ctx, p, q.ResourceType, q.ID, ward.InteractionHistory); err != nil {
			return nil, err
		}
	} else if q.ResourceType != "" {
		if _, err := allowedRules(p, q.ResourceType, ward.InteractionRead); err != nil {
			return nil, err
		}
		if _, err := allowedRules(p, q.ResourceType, ward.InteractionHistory); err != nil {
			return nil, err
		}
	}
	where, args, err := historyWhere(p, q)
	if err != nil {
		return nil, err
	}
	page := &ward.HistoryPage{}
	err = r.q.QueryRowContext(ctx, r.d.Rebind(historyCountQuery(q.ResourceType, where)), args...).Scan(&page.Total)
	if err != nil {
		return nil, err
	}
	count := q.Count
	if count <= 0 {
		count = defaultCount
	}
	count = min(count, maxCount)
	rows, err := r.q.QueryContext(ctx, r.d.Rebind(historyPageQuery(q.ResourceType, where)), append(args, count, max(q.Offset, 0))...)
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
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	return page, present(ctx, r.q, r.d, p, page.Versions)
}

// historyCountQuery counts the versions of typ ("" every type) under
// historyWhere's where.
func historyCountQuery(typ, where string) string {
	return "SELECT COUNT(*) FROM " + historyTable(typ) + " h WHERE " + where
}

// historyPageQuery selects a page of versions of typ (LIMIT ?, OFFSET ?)
// under historyWhere's where.
func historyPageQuery(typ, where string) string {
	return "SELECT h.resource_type, h.id, h.version_id, h.project_id, h.last_updated, h.deleted, h.content FROM " + historyTable(typ) + " h WHERE " +
		where + " ORDER BY h.last_updated DESC, h.version_id DESC LIMIT ? OFFSET ?"
}

// historyTable holds the versions of typ. An AuditEvent is written once
// and never changed: its one version is its resources row (same columns),
// not a second copy of every record. The history of every type ("") is
// resource_history's: it leaves the audit trail out, which records
// accesses, not changes.
func historyTable(typ string) string {
	if typ == "AuditEvent" {
		return "resources"
	}
	return "resource_history"
}

// historyWhere is the WHERE clause shared by the count and the page, on
// resource_history h: the typed wall and, under a policy, only versions
// of resources whose current row meets a rule granting history (type and
// system history).
func historyWhere(p *ward.Principal, q ward.HistoryQuery) (string, []any, error) {
	c, err := newCompiler(p, policyPredicate(p, ward.InteractionHistory), time.Now())
	if err != nil {
		return "", nil, err
	}
	c.w("1 = 1")
	if q.ResourceType != "" {
		c.wall("h.project_id", q.ResourceType)
		c.w(" AND h.resource_type = ")
		c.arg(q.ResourceType)
	} else {
		c.wallAny("h.project_id", "h.resource_type")
	}
	if q.ID != "" {
		c.w(" AND h.id = ")
		c.arg(q.ID)
	}
	if !q.Since.IsZero() {
		c.w(" AND h.last_updated >= ")
		c.arg(toMicros(q.Since))
	}
	// An instance's history was checked whole by instanceAllowed, which
	// also admits a deleted resource (whose current row meets nothing).
	if enforced(p) && q.ID == "" {
		if err := c.historyPolicy(q.ResourceType); err != nil {
			return "", nil, err
		}
	}
	return c.sql.String(), c.args, nil
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
