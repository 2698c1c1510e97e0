package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/wardhealth/ward"
)

// The usage report (table project_usage, migration 00015): per project and
// UTC day, the requests each process counted (package fairshare adds them
// every flush) and the storage, resources and users measured last that
// day. Measuring reads every current row and every version once, grouped
// by project — a scan of resources and resource_history that reads each
// row's header, not its JSON: on PostgreSQL pg_column_size gives a TOASTed
// value's stored (compressed) size from its pointer, on SQLite
// octet_length reads the size from the record header. ward serve measures
// once an hour on a reader connection, so no writer waits for it.

var _ ward.UsageStore = (*Store)(nil)

// AddRequests adds each entry's Requests to its project's day, in one
// transaction (system principals only).
func (s *Store) AddRequests(ctx context.Context, counts []ward.UsageDay) error {
	if err := systemOnly(ctx); err != nil {
		return err
	}
	return s.upsertUsage(ctx, counts, 0, `requests = project_usage.requests + excluded.requests`)
}

// MeasureUsage measures every project's storage bytes, current resources
// and users now and stores them as day's (system principals only).
func (s *Store) MeasureUsage(ctx context.Context, day string) ([]ward.UsageDay, error) {
	if err := systemOnly(ctx); err != nil {
		return nil, err
	}
	byProject := map[string]*ward.UsageDay{}
	of := func(project string) *ward.UsageDay {
		u := byProject[project]
		if u == nil {
			u = &ward.UsageDay{ProjectID: project, Day: day}
			byProject[project] = u
		}
		return u
	}
	size := "octet_length(content)"
	if s.dialect.Name() == "postgres" {
		size = "pg_column_size(content)"
	}
	err := s.scanUsage(ctx, `SELECT project_id, SUM(1 - deleted), 0, SUM(`+size+`) FROM resources GROUP BY project_id`, func(project string, n [3]int64) {
		u := of(project)
		u.Resources, u.StorageBytes = n[0], u.StorageBytes+n[2]
	})
	if err != nil {
		return nil, err
	}
	// Users are the distinct Users with a membership (clients and bots
	// have memberships too); index rows belong to live resources only.
	err = s.scanUsage(ctx, `SELECT project_id, 0, COUNT(DISTINCT target_id), 0 FROM search_reference
		WHERE resource_type = 'ProjectMembership' AND param = 'user' AND target_type = 'User' GROUP BY project_id`, func(project string, n [3]int64) {
		of(project).Users = n[1]
	})
	if err != nil {
		return nil, err
	}
	err = s.scanUsage(ctx, `SELECT project_id, 0, 0, SUM(`+size+`) FROM resource_history GROUP BY project_id`, func(project string, n [3]int64) {
		of(project).StorageBytes += n[2]
	})
	if err != nil {
		return nil, err
	}
	out := make([]ward.UsageDay, 0, len(byProject))
	for _, u := range byProject {
		out = append(out, *u)
	}
	err = s.upsertUsage(ctx, out, toMicros(time.Now()), `storage_bytes = excluded.storage_bytes, resources = excluded.resources,
		users = excluded.users, measured_at = excluded.measured_at`)
	return out, err
}

// scanUsage runs a per-project aggregate of three numbers.
func (s *Store) scanUsage(ctx context.Context, query string, fn func(project string, n [3]int64)) error {
	rows, err := s.reader.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var project string
		var n [3]sql.NullInt64
		if err := rows.Scan(&project, &n[0], &n[1], &n[2]); err != nil {
			return err
		}
		fn(project, [3]int64{n[0].Int64, n[1].Int64, n[2].Int64})
	}
	return rows.Err()
}

// usageBatch bounds the rows of one multi-row INSERT (7 arguments each).
const usageBatch = 500

// upsertUsage inserts days (measured at measuredAt, 0 for request
// counts), updating an existing row with set.
func (s *Store) upsertUsage(ctx context.Context, days []ward.UsageDay, measuredAt int64, set string) error {
	if len(days) == 0 {
		return nil
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for start := 0; start < len(days); start += usageBatch {
		batch := days[start:min(len(days), start+usageBatch)]
		args := make([]any, 0, 7*len(batch))
		for _, d := range batch {
			args = append(args, d.ProjectID, d.Day, d.Requests, d.StorageBytes, d.Resources, d.Users, measuredAt)
		}
		q := `INSERT INTO project_usage (project_id, day, requests, storage_bytes, resources, users, measured_at) VALUES (?, ?, ?, ?, ?, ?, ?)` +
			repeat(", (?, ?, ?, ?, ?, ?, ?)", len(batch)-1) + ` ON CONFLICT (project_id, day) DO UPDATE SET ` + set
		if _, err := tx.ExecContext(ctx, s.dialect.Rebind(q), args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Usage lists the usage days from..to (inclusive, YYYY-MM-DD) of one
// project, or of every project when projectID is "", by project and day
// (system principals only).
func (s *Store) Usage(ctx context.Context, from, to, projectID string) ([]ward.UsageDay, error) {
	if err := systemOnly(ctx); err != nil {
		return nil, err
	}
	q, args := `SELECT project_id, day, requests, storage_bytes, resources, users FROM project_usage WHERE day >= ? AND day <= ?`, []any{from, to}
	if projectID != "" {
		q, args = q+` AND project_id = ?`, append(args, projectID)
	}
	rows, err := s.reader.QueryContext(ctx, s.dialect.Rebind(q+` ORDER BY project_id, day`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ward.UsageDay
	for rows.Next() {
		var u ward.UsageDay
		if err := rows.Scan(&u.ProjectID, &u.Day, &u.Requests, &u.StorageBytes, &u.Resources, &u.Users); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
