package store

import (
	"context"
	"time"

	"github.com/wardhealth/ward"
)

// The processes of a fleet on one database count each other so that a
// limit meant for the whole fleet (fairshare's per-project rate and
// slots) can be split between them. Each process keeps a lease of its own
// (table leases, migration 00016) named process/<id> in the system
// project, renewed as a heartbeat: the live processes are the unexpired
// ones. Every statement names the system project: one shard on Citus.
// Like the other lease calls these go around every access rule: only the
// server's own loops call them.

// processLeasePrefix starts the lease name of every process heartbeat.
const processLeasePrefix = "process/"

// BeatProcess says process id is alive until now+ttl. A beat also drops
// the heartbeats that expired more than a minute ago (processes that died
// without leaving), so the rows stay as many as the fleet's processes.
func (s *Store) BeatProcess(ctx context.Context, id string, ttl time.Duration) error {
	now := s.Now()
	if _, err := s.writer.ExecContext(ctx, s.dialect.Rebind(`INSERT INTO leases (project_id, name, holder, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (project_id, name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at`),
		ward.SystemProjectID, processLeasePrefix+id, id, toMicros(now.Add(ttl))); err != nil {
		return err
	}
	_, err := s.writer.ExecContext(ctx, s.dialect.Rebind(`DELETE FROM leases WHERE project_id = ? AND name LIKE ? ESCAPE '\' AND expires_at < ?`),
		ward.SystemProjectID, likePrefix(processLeasePrefix), toMicros(now.Add(-time.Minute)))
	return err
}

// LiveProcesses counts the processes whose heartbeat has not expired.
func (s *Store) LiveProcesses(ctx context.Context) (int, error) {
	var n int
	err := s.reader.QueryRowContext(ctx, s.dialect.Rebind(`SELECT COUNT(*) FROM leases WHERE project_id = ? AND name LIKE ? ESCAPE '\' AND expires_at >= ?`),
		ward.SystemProjectID, likePrefix(processLeasePrefix), toMicros(s.Now())).Scan(&n)
	return n, err
}

// EndProcess removes process id's heartbeat: the others count one fewer
// at their next count instead of after its time to live.
func (s *Store) EndProcess(ctx context.Context, id string) error {
	_, err := s.writer.ExecContext(ctx, s.dialect.Rebind(`DELETE FROM leases WHERE project_id = ? AND name = ?`),
		ward.SystemProjectID, processLeasePrefix+id)
	return err
}
