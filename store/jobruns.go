package store

import (
	"context"
	"database/sql"
	"errors"
)

// Job runs (table job_runs, migration 00017) hold what a fleet needs to
// run an accepted AsyncJob again in another process when the one running
// it died: its kind, its caller's identity (to be resolved again, never a
// grant) and its parameters, as the http layer encodes them. Like leases,
// these calls go around every access rule: only the server's own job
// code calls them, with the job's project.

// SaveJobRun stores the run of job in project (replacing one stored):
// its kind, its caller and its parameters (JSON).
func (s *Store) SaveJobRun(ctx context.Context, project, job, kind string, caller, params []byte) error {
	_, err := s.writer.ExecContext(ctx, s.dialect.Rebind(`INSERT INTO job_runs (project_id, job_id, kind, caller, params) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (project_id, job_id) DO UPDATE SET kind = excluded.kind, caller = excluded.caller, params = excluded.params`),
		project, job, kind, string(caller), string(params))
	return err
}

// LoadJobRun returns the run of job in project; kind is "" when none is
// stored.
func (s *Store) LoadJobRun(ctx context.Context, project, job string) (kind string, caller, params []byte, err error) {
	var c, p string
	err = s.writer.QueryRowContext(ctx, s.dialect.Rebind(`SELECT kind, caller, params FROM job_runs WHERE project_id = ? AND job_id = ?`),
		project, job).Scan(&kind, &c, &p)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, nil, nil
	}
	return kind, []byte(c), []byte(p), err
}

// DropJobRun deletes the run of job in project: the job ended. Under a
// claim (WithFence) only while no other claim holds the job's lease: a
// holder that lost the job leaves its run to the process that took it
// over (the claim's own lease may already be released, by the job's end).
func (s *Store) DropJobRun(ctx context.Context, project, job string) error {
	if l, ok := FenceFrom(ctx); ok {
		_, err := s.writer.ExecContext(ctx, s.dialect.Rebind(`DELETE FROM job_runs WHERE project_id = ? AND job_id = ?
			AND NOT EXISTS (SELECT 1 FROM leases WHERE project_id = ? AND name = ? AND NOT (holder = ? AND token = ?))`),
			project, job, l.Ref.ProjectID, l.Ref.Name, l.Holder, l.Token)
		return err
	}
	_, err := s.writer.ExecContext(ctx, s.dialect.Rebind(`DELETE FROM job_runs WHERE project_id = ? AND job_id = ?`), project, job)
	return err
}
