package store

import (
	"context"
	"errors"
	"time"

	"github.com/wardhealth/ward"
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
//
// Fencing (migration 00019). A holder can stall past its lease — a GC
// pause, a network partition — while another process takes the work
// over; when it wakes it must write nothing. ClaimLease gives every claim
// a token larger than any before it (at least the claim's time in
// microseconds, so a row deleted and claimed again never goes back to an
// old token), kept while the same claim is renewed (RenewLease). A
// context carrying the claim (WithFence) makes every Write in it check,
// first thing in its transaction, that the lease row still has that
// holder and token: the check is an UPDATE of the row, so on PostgreSQL it
// holds the row's lock until the write commits — a takeover's claim waits
// for that write, and a write after the takeover's claim finds the new
// token and is refused with ErrLeaseLost, its transaction rolled back.

// LeaseRef names one lease: its project and its name in the project.
type LeaseRef struct {
	ProjectID string
	Name      string
}

// TakeLease takes the lease ref for holder until now+ttl, or renews it
// when holder holds it already. It reports false when another holder's
// lease has not expired.
func (s *Store) TakeLease(ctx context.Context, ref LeaseRef, holder string, ttl time.Duration) (bool, error) {
	_, ok, err := s.ClaimLease(ctx, ref, holder, ttl)
	return ok, err
}

// Lease is one claim of a lease: its holder and fencing token.
type Lease struct {
	Ref    LeaseRef
	Holder string
	Token  int64
}

// ErrLeaseLost is the answer to a write made under a claim (WithFence)
// that no longer holds its lease: another process took the work over, and
// nothing of the write was kept.
var ErrLeaseLost = errors.New("store: the lease this work ran under is held by another claim; nothing was written")

// ClaimLease takes ref for holder until now+ttl, as TakeLease does, and
// returns the claim. A lease free, expired, or another holder's gets a new
// token, larger than the row's last and than now in microseconds; holder
// renewing its own live lease keeps its token. ok is false when another
// holder's lease has not expired.
func (s *Store) ClaimLease(ctx context.Context, ref LeaseRef, holder string, ttl time.Duration) (l Lease, ok bool, err error) {
	now := toMicros(s.Now())
	rows, err := s.writer.QueryContext(ctx, s.dialect.Rebind(`INSERT INTO leases (project_id, name, holder, expires_at, token) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (project_id, name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
			token = CASE WHEN leases.holder = excluded.holder AND leases.expires_at >= ? THEN leases.token
				WHEN leases.token >= excluded.token THEN leases.token + 1 ELSE excluded.token END
		WHERE leases.holder = excluded.holder OR leases.expires_at < ? RETURNING token`),
		ref.ProjectID, ref.Name, holder, now+ttl.Microseconds(), now, now, now)
	if err != nil {
		return Lease{}, false, err
	}
	defer rows.Close()
	l = Lease{Ref: ref, Holder: holder}
	if rows.Next() {
		ok = true
		if err := rows.Scan(&l.Token); err != nil {
			return Lease{}, false, err
		}
	}
	if err := rows.Close(); err != nil {
		return Lease{}, false, err
	}
	return l, ok, rows.Err()
}

// RenewLease extends the claim l until now+ttl. It reports false when the
// lease no longer has l's holder and token (another claim took it, or it
// was released): l's work must stop. A claim that expired but that no one
// took since is renewed — nothing was written under another token.
func (s *Store) RenewLease(ctx context.Context, l Lease, ttl time.Duration) (bool, error) {
	res, err := s.writer.ExecContext(ctx, s.dialect.Rebind(`UPDATE leases SET expires_at = ? WHERE project_id = ? AND name = ? AND holder = ? AND token = ?`),
		toMicros(s.Now().Add(ttl)), l.Ref.ProjectID, l.Ref.Name, l.Holder, l.Token)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ReleaseClaim gives the claim l up if it still holds its lease; a stale
// claim (another took the lease) releases nothing.
func (s *Store) ReleaseClaim(ctx context.Context, l Lease) error {
	_, err := s.writer.ExecContext(ctx, s.dialect.Rebind(`DELETE FROM leases WHERE project_id = ? AND name = ? AND holder = ? AND token = ?`),
		l.Ref.ProjectID, l.Ref.Name, l.Holder, l.Token)
	return err
}

type fenceKey struct{}

// WithFence returns ctx whose writes (Write, and every store call that
// writes through it) are made only while l holds its lease, each checked
// in its own transaction; the others fail with ErrLeaseLost.
func WithFence(ctx context.Context, l Lease) context.Context {
	return context.WithValue(ctx, fenceKey{}, l)
}

// FenceFrom returns the claim ctx's writes are fenced by, if any.
func FenceFrom(ctx context.Context) (Lease, bool) {
	l, ok := ctx.Value(fenceKey{}).(Lease)
	return l, ok
}

// fenced wraps fn, when ctx carries a claim, so that the transaction
// first checks the claim still holds its lease. The check writes the row
// (a no-op update): on PostgreSQL its lock is held to the commit, so a
// takeover cannot slip between the check and the write; on SQLite the
// writer is one connection already.
func fenced(ctx context.Context, fn func(ctx context.Context, tx ward.ResourceTx) error) func(ctx context.Context, tx ward.ResourceTx) error {
	l, ok := FenceFrom(ctx)
	if !ok {
		return fn
	}
	return func(ctx context.Context, rtx ward.ResourceTx) error {
		if err := rtx.(*tx).checkFence(ctx, l); err != nil {
			return err
		}
		return fn(ctx, rtx)
	}
}

func (t *tx) checkFence(ctx context.Context, l Lease) error {
	n, err := t.exec(ctx, `UPDATE leases SET token = token WHERE project_id = ? AND name = ? AND holder = ? AND token = ?`,
		l.Ref.ProjectID, l.Ref.Name, l.Holder, l.Token)
	if err != nil {
		return err
	}
	if n != 1 {
		return ErrLeaseLost
	}
	return nil
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
