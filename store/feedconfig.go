package store

import (
	"context"
	"maps"
	"strings"
	"time"

	"github.com/wardhealth/ward"
)

// The change feed's configuration and the audit feed's reads (issue 14).
// A project's feed configuration is one row of feed_configs, set through
// the admin API (system principals only: the API checks the caller's
// rights); the server-wide feed's row has the server's own project id.
// The publishers read the rows of the projects of each batch they send
// (FeedConfigsOf), so a change of configuration applies from the feed's
// position onward. The audit trail is followed project by project along
// each chain's seq up to audit_projected's mark — committed, contiguous
// and searchable — so feeding it adds no write to an audited request.

var _ ward.FeedConfigs = (*Store)(nil)

// FeedConfig implements ward.FeedConfigs.
func (s *Store) FeedConfig(ctx context.Context, project string) (*ward.FeedConfig, error) {
	if err := systemOnly(ctx); err != nil {
		return nil, err
	}
	configs, err := s.FeedConfigsOf(ctx, []string{project})
	if err != nil {
		return nil, err
	}
	return configs[project], nil
}

// SetFeedConfig implements ward.FeedConfigs.
func (s *Store) SetFeedConfig(ctx context.Context, project string, c *ward.FeedConfig) error {
	if err := systemOnly(ctx); err != nil {
		return err
	}
	if c == nil {
		_, err := s.writer.ExecContext(ctx, s.dialect.Rebind(`DELETE FROM feed_configs WHERE project_id = ?`), project)
		return err
	}
	_, err := s.writer.ExecContext(ctx, s.dialect.Rebind(`INSERT INTO feed_configs (project_id, enabled, sinks, types, audit, updated_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_id) DO UPDATE SET enabled = excluded.enabled, sinks = excluded.sinks,
		types = excluded.types, audit = excluded.audit, updated_at = excluded.updated_at`),
		project, flag(c.Enabled), strings.Join(c.Sinks, " "), strings.Join(c.Types, " "), flag(c.Audit), toMicros(time.Now()))
	return err
}

// FeedConfigsOf returns the stored configurations of projects, by project
// (those without one are absent). Like OutboxAfter it goes around every
// access rule: only the server's publishers and the admin API call it.
func (s *Store) FeedConfigsOf(ctx context.Context, projects []string) (map[string]*ward.FeedConfig, error) {
	out := map[string]*ward.FeedConfig{}
	if len(projects) == 0 {
		return out, nil
	}
	cond, args := s.inList("project_id", projects)
	rows, err := s.reader.QueryContext(ctx, s.dialect.Rebind(`SELECT project_id, enabled, sinks, types, audit FROM feed_configs WHERE `+cond), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var project, sinks, types string
		var enabled, audit int
		if err := rows.Scan(&project, &enabled, &sinks, &types, &audit); err != nil {
			return nil, err
		}
		out[project] = &ward.FeedConfig{Enabled: enabled != 0, Sinks: strings.Fields(sinks), Types: strings.Fields(types), Audit: audit != 0}
	}
	return out, rows.Err()
}

// inList is "col IN (?,…)" or, on PostgreSQL, "col = ANY(?)".
func (s *Store) inList(col string, ids []string) (string, []any) {
	if s.dialect.Name() == "postgres" {
		return col + " = ANY(?)", []any{ids}
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return col + " IN (?" + repeat(",?", len(ids)-1) + ")", args
}

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// AuditLink is one record of a project's audit trail as the audit feed
// sends it: a reference to its AuditEvent, with its link's hash (a
// consumer that keeps the last hash anchors the chain outside the
// database).
type AuditLink struct {
	ProjectID string
	Seq       int64 // its place in the project's chain, from 1, contiguous
	ID        string
	Hash      string
	Time      time.Time // zero when the record's payload was erased
}

// AuditMarks returns, per project with an audit trail, the seq up to which
// its chain is committed and projected: what the audit feed may send.
func (s *Store) AuditMarks(ctx context.Context) (map[string]int64, error) {
	return s.seqsBy(ctx, `SELECT project_id, seq FROM audit_projected`)
}

// AuditLinksAfter returns up to limit links of project's chain after seq
// and up to upTo, in seq order.
func (s *Store) AuditLinksAfter(ctx context.Context, project string, seq, upTo int64, limit int) ([]AuditLink, error) {
	rows, err := s.reader.QueryContext(ctx, s.dialect.Rebind(`SELECT c.seq, c.event_id, c.hash, COALESCE(r.last_updated, 0) FROM audit_chain c
		LEFT JOIN resources r ON r.project_id = c.project_id AND r.resource_type = 'AuditEvent' AND r.id = c.event_id
		WHERE c.project_id = ? AND c.seq > ? AND c.seq <= ? ORDER BY c.seq LIMIT ?`), project, seq, upTo, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditLink
	for rows.Next() {
		l := AuditLink{ProjectID: project}
		var at int64
		if err := rows.Scan(&l.Seq, &l.ID, &l.Hash, &at); err != nil {
			return nil, err
		}
		if at != 0 {
			l.Time = fromMicros(at)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// AuditFeedCursors returns sink's audit feed cursors by project; started
// reports that its feed has begun (StartAuditFeed).
func (s *Store) AuditFeedCursors(ctx context.Context, sink string) (cursors map[string]int64, started bool, err error) {
	cursors, err = s.seqsBy(ctx, s.dialect.Rebind(`SELECT project_id, seq FROM feed_audit_cursors WHERE sink = ?`), sink)
	if err != nil {
		return nil, false, err
	}
	_, started = cursors[""]
	delete(cursors, "")
	return cursors, started, nil
}

// StartAuditFeed begins sink's audit feed at the trail's present: every
// project's cursor at its mark, so a first start does not send the
// history (a project's trail is searchable and exportable for that).
func (s *Store) StartAuditFeed(ctx context.Context, sink string, marks map[string]int64) error {
	start := maps.Clone(marks)
	if start == nil {
		start = map[string]int64{}
	}
	start[""] = 0
	return s.SetAuditFeedCursors(ctx, sink, start)
}

// SetAuditFeedCursors records that sink's broker acknowledged each
// project's records up to its seq. A cursor never moves back.
func (s *Store) SetAuditFeedCursors(ctx context.Context, sink string, seqs map[string]int64) error {
	if len(seqs) == 0 {
		return nil
	}
	q, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer q.Rollback()
	upsert := s.dialect.Rebind(`INSERT INTO feed_audit_cursors (project_id, sink, seq) VALUES (?, ?, ?)
		ON CONFLICT (project_id, sink) DO UPDATE SET seq = excluded.seq WHERE excluded.seq > feed_audit_cursors.seq`)
	for project, seq := range seqs {
		if _, err := q.ExecContext(ctx, upsert, project, sink, seq); err != nil {
			return err
		}
	}
	return q.Commit()
}

// seqsBy reads (project, seq) rows into a map.
func (s *Store) seqsBy(ctx context.Context, query string, args ...any) (map[string]int64, error) {
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var project string
		var seq int64
		if err := rows.Scan(&project, &seq); err != nil {
			return nil, err
		}
		out[project] = seq
	}
	return out, rows.Err()
}
