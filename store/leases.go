package store

import (
	"context"
	"time"
)

// Leases (table leases, migration 00016) let a fleet of processes on one
// database agree on who does a piece of work that must run once: an async
// job's run, a feed sink's publisher. A lease is taken or renewed in one
// upsert that only succeeds when the row is free, expired or already the
// holder's — no FOR UPDATE, so it is one statement on one shard on Citus
// (the key leads with project_id). Expiry is judged by the caller's clock:
// the processes of a fleet must keep their clocks within a fraction of a
// lease's time to live (NTP does). Like the outbox, these calls go around
// every access rule: only the server's own loops call them.

// LeaseRef names one lease: its project and its name in the project.
type LeaseRef struct {
	ProjectID string
	Name      string
}

// TakeLease takes the lease ref for holder until now+ttl, or renews it
// when holder holds it already. It reports false when another holder's
// lease has not expired.
func (s *Store) TakeLease(ctx context.Context, ref LeaseRef, holder string, ttl time.Duration) (bool, error) {
	now := s.Now()
	rows, err := s.writer.QueryContext(ctx, s.dialect.Rebind(`INSERT INTO leases (project_id, name, holder, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (project_id, name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at < ? RETURNING holder`),
		ref.ProjectID, ref.Name, holder, toMicros(now.Add(ttl)), toMicros(now))
	if err != nil {
		return false, err
	}
	defer rows.Close()
	held := rows.Next()
	if err := rows.Close(); err != nil {
		return false, err
	}
	return held, rows.Err()
}

// ReleaseLease gives the lease ref up if holder holds it, so another
// process may take it at once.
func (s *Store) ReleaseLease(ctx context.Context, ref LeaseRef, holder string) error {
	_, err := s.writer.ExecContext(ctx, s.dialect.Rebind(`DELETE FROM leases WHERE project_id = ? AND name = ? AND holder = ?`),
		ref.ProjectID, ref.Name, holder)
	return err
}

// LiveLeases lists the unexpired leases whose name starts with prefix,
// across projects (a server loop's look over the fleet, not a caller's).
func (s *Store) LiveLeases(ctx context.Context, prefix string) ([]LeaseRef, error) {
	rows, err := s.reader.QueryContext(ctx, s.dialect.Rebind(`SELECT project_id, name FROM leases WHERE name LIKE ? ESCAPE '\' AND expires_at >= ?`),
		likePrefix(prefix), toMicros(s.Now()))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []LeaseRef
	for rows.Next() {
		var r LeaseRef
		if err := rows.Scan(&r.ProjectID, &r.Name); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DropExpiredLeases deletes the leases that expired before olderThan ago:
// the rows of work whose holder ended it without releasing.
func (s *Store) DropExpiredLeases(ctx context.Context, olderThan time.Duration) error {
	_, err := s.writer.ExecContext(ctx, s.dialect.Rebind(`DELETE FROM leases WHERE expires_at < ?`), toMicros(s.Now().Add(-olderThan)))
	return err
}

// likePrefix is a LIKE pattern matching the strings that start with p.
func likePrefix(p string) string {
	out := make([]byte, 0, len(p)+1)
	for i := 0; i < len(p); i++ {
		if p[i] == '%' || p[i] == '_' || p[i] == '\\' {
			out = append(out, '\\')
		}
		out = append(out, p[i])
	}
	return string(append(out, '%'))
}
