package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
)

// The rest-hook delivery queue (table subscription_deliveries): the
// subscription dispatcher queues each (Subscription, change) it matched in
// the same transaction that moves its outbox cursor past the change
// (QueueDeliveries), so a change is either still ahead of the cursor or
// has its deliveries queued — never neither, whenever the process dies.
// Workers claim due rows with a lease (ClaimDeliveries): PostgreSQL skips
// rows another process holds (FOR UPDATE SKIP LOCKED), SQLite has one
// writer; the claim moves due_at to the lease's end and stamps a token, so
// a worker that dies mid-POST leaves the row to be claimed again once the
// lease ends, and a worker whose lease ended can no longer finish or
// reschedule a row someone else claimed since. Like the outbox, these
// calls go around every access rule: only the dispatcher calls them, and
// the resource is read under the subscription author's principal when it
// is sent.

// Delivery is one queued rest-hook delivery: a change a Subscription matched.
type Delivery struct {
	ProjectID      string
	SubscriptionID string
	ChangeSeq      int64 // the outbox change that matched
	ResourceType   string
	ResourceID     string
	VersionID      string
	Interaction    string // Medplum's: create, update or delete
	Attempts       int    // attempts made so far
	QueuedAt       time.Time
	// Claim is the token of the claim that returned the row ("" when queued).
	Claim string
}

// deliveryColumns are the columns a claim returns, in scanDelivery order.
const deliveryColumns = "project_id, subscription_id, change_seq, resource_type, resource_id, version_id, interaction, attempts, queued_at, claim"

// QueueDeliveries queues ds and moves sink's outbox cursor from from to
// to, in one transaction. A delivery with a Claim is queued already
// claimed for lease (the dispatcher hands it to its own worker at once,
// sparing a claim's round trip); the others are due now. When the stored
// cursor is no longer from — another process dispatched these changes —
// nothing is queued and it returns false with the stored cursor, so a
// change's deliveries are queued once. A delivery already queued (the
// same subscription and change) is kept as it is.
func (s *Store) QueueDeliveries(ctx context.Context, sink string, from, to int64, ds []Delivery, lease time.Duration) (queued bool, stored int64, err error) {
	sqlTx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return false, 0, err
	}
	defer sqlTx.Rollback()
	stored, err = lockCursor(ctx, sqlTx, s.dialect, sink)
	if err != nil {
		return false, 0, err
	}
	if stored != from {
		return false, stored, nil
	}
	if err := insertDeliveries(ctx, sqlTx, s.dialect, ds, s.Now(), lease); err != nil {
		return false, stored, err
	}
	if _, err := sqlTx.ExecContext(ctx, s.dialect.Rebind("UPDATE outbox_cursors SET seq = ?, updated_at = ? WHERE project_id = ? AND sink = ?"),
		to, toMicros(s.Now()), ward.SystemProjectID, sink); err != nil {
		return false, stored, err
	}
	return true, to, sqlTx.Commit()
}

// lockCursor reads sink's cursor, creating it at 0, and holds its row
// until the transaction ends.
func lockCursor(ctx context.Context, q *sql.Tx, d Dialect, sink string) (int64, error) {
	var seq int64
	read := func() error {
		return q.QueryRowContext(ctx, d.Rebind("SELECT seq FROM outbox_cursors WHERE project_id = ? AND sink = ?"+d.ForUpdate()),
			ward.SystemProjectID, sink).Scan(&seq)
	}
	err := read()
	if !errors.Is(err, sql.ErrNoRows) {
		return seq, err
	}
	if _, err := q.ExecContext(ctx, d.Rebind(`INSERT INTO outbox_cursors (project_id, sink, seq) VALUES (?, ?, 0)
		ON CONFLICT (project_id, sink) DO NOTHING`), ward.SystemProjectID, sink); err != nil {
		return 0, err
	}
	return seq, read()
}

// insertDeliveries writes ds in statements of up to 500 rows, the
// claimed ones due when lease ends.
func insertDeliveries(ctx context.Context, q *sql.Tx, d Dialect, ds []Delivery, at time.Time, lease time.Duration) error {
	now, leased := toMicros(at), toMicros(at.Add(lease))
	const width, chunk = 11, 500
	tuple := "(?" + repeat(",?", width-1) + ")"
	for len(ds) > 0 {
		n := min(len(ds), chunk)
		var b strings.Builder
		b.WriteString(`INSERT INTO subscription_deliveries (project_id, subscription_id, change_seq, resource_type, resource_id,
			version_id, interaction, attempts, due_at, claim, queued_at) VALUES `)
		args := make([]any, 0, n*width)
		for i, x := range ds[:n] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(tuple)
			due := now
			if x.Claim != "" {
				due = leased
			}
			args = append(args, x.ProjectID, x.SubscriptionID, x.ChangeSeq, x.ResourceType, x.ResourceID,
				x.VersionID, x.Interaction, 0, due, x.Claim, now)
		}
		b.WriteString(" ON CONFLICT (project_id, subscription_id, change_seq) DO NOTHING")
		if _, err := q.ExecContext(ctx, d.Rebind(b.String()), args...); err != nil {
			return err
		}
		ds = ds[n:]
	}
	return nil
}

// ClaimDeliveries claims up to limit deliveries due at now, earliest
// first, for lease, leaving those of the subscriptions in skip (the
// caller has enough of theirs in flight): until the lease ends no other
// claim returns them. Each claim has a token of its own, which
// FinishDeliveries and RetryDelivery check. It claims project by
// project, the projects with the earliest due rows first: a locking read
// names its project (Citus refuses FOR UPDATE across shards).
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int, skip ...string) ([]Delivery, error) {
	projects, err := s.dueDeliveryProjects(ctx, now, limit, skip)
	if err != nil {
		return nil, err
	}
	claim := uuid.NewString()
	var out []Delivery
	for _, project := range projects {
		if len(out) >= limit {
			break
		}
		got, err := s.claimDeliveriesIn(ctx, project, claim, now, lease, limit-len(out), skip)
		if err != nil {
			return out, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// skipSubscriptions is " AND subscription_id NOT IN (…)" for skip, with its arguments.
func skipSubscriptions(skip []string) (string, []any) {
	if len(skip) == 0 {
		return "", nil
	}
	args := make([]any, len(skip))
	for i, id := range skip {
		args[i] = id
	}
	return " AND subscription_id NOT IN (?" + repeat(", ?", len(skip)-1) + ")", args
}

// dueDeliveryProjects are up to limit projects with deliveries due at now,
// the earliest due first. It locks nothing: the server's own read across
// projects.
func (s *Store) dueDeliveryProjects(ctx context.Context, now time.Time, limit int, skip []string) ([]string, error) {
	notIn, skipArgs := skipSubscriptions(skip)
	args := append(append([]any{toMicros(now)}, skipArgs...), limit)
	rows, err := s.reader.QueryContext(ctx, s.dialect.Rebind(`SELECT project_id FROM subscription_deliveries
		WHERE due_at <= ?`+notIn+` GROUP BY project_id ORDER BY MIN(due_at) LIMIT ?`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// claimDeliveriesIn claims up to limit of project's due deliveries.
// PostgreSQL skips rows another process holds (FOR UPDATE SKIP LOCKED).
func (s *Store) claimDeliveriesIn(ctx context.Context, project, claim string, now time.Time, lease time.Duration, limit int, skip []string) ([]Delivery, error) {
	skipLocked := ""
	if s.dialect.Name() == "postgres" {
		skipLocked = " FOR UPDATE SKIP LOCKED"
	}
	notIn, skipArgs := skipSubscriptions(skip)
	// The rows are chosen once, in a materialized CTE: as an IN subquery
	// beside project_id = ? PostgreSQL may run the LIMIT … SKIP LOCKED
	// choice again and claim more than limit.
	args := append(append([]any{project, toMicros(now)}, skipArgs...), limit, toMicros(now.Add(lease)), claim, project)
	rows, err := s.writer.QueryContext(ctx, s.dialect.Rebind(`WITH chosen AS MATERIALIZED (SELECT project_id, subscription_id, change_seq
			FROM subscription_deliveries WHERE project_id = ? AND due_at <= ?`+notIn+` ORDER BY due_at LIMIT ?`+skipLocked+`)
		UPDATE subscription_deliveries SET due_at = ?, claim = ?
		WHERE project_id = ? AND (project_id, subscription_id, change_seq) IN (SELECT project_id, subscription_id, change_seq FROM chosen)
		RETURNING `+deliveryColumns), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var x Delivery
		var queued int64
		if err := rows.Scan(&x.ProjectID, &x.SubscriptionID, &x.ChangeSeq, &x.ResourceType, &x.ResourceID,
			&x.VersionID, &x.Interaction, &x.Attempts, &queued, &x.Claim); err != nil {
			return nil, err
		}
		x.QueuedAt = fromMicros(queued)
		out = append(out, x)
	}
	return out, rows.Err()
}

// FinishDelivery removes x, delivered or given up. It reports false when
// x's claim is no longer held (its lease ended and another claim took it).
func (s *Store) FinishDelivery(ctx context.Context, x Delivery) (bool, error) {
	res, err := s.writer.ExecContext(ctx, s.dialect.Rebind(`DELETE FROM subscription_deliveries
		WHERE project_id = ? AND subscription_id = ? AND change_seq = ? AND claim = ?`),
		x.ProjectID, x.SubscriptionID, x.ChangeSeq, x.Claim)
	return affected(res, err)
}

// FinishDeliveries removes xs, delivered or given up, in statements of
// up to 200, each only while its claim is held; it returns how many it
// removed. A worker finishing many deliveries at once pays one commit,
// not one per delivery.
func (s *Store) FinishDeliveries(ctx context.Context, xs []Delivery) (int, error) {
	const chunk = 200
	removed := 0
	for len(xs) > 0 {
		n := min(len(xs), chunk)
		// The cast types the VALUES column PostgreSQL would take as text.
		tuples := "(?, ?, CAST(? AS BIGINT), ?)" + repeat(", (?, ?, CAST(? AS BIGINT), ?)", n-1)
		args := make([]any, 0, 4*n)
		for _, x := range xs[:n] {
			args = append(args, x.ProjectID, x.SubscriptionID, x.ChangeSeq, x.Claim)
		}
		res, err := s.writer.ExecContext(ctx, s.dialect.Rebind(`DELETE FROM subscription_deliveries
			WHERE (project_id, subscription_id, change_seq, claim) IN (VALUES `+tuples+`)`), args...)
		if err != nil {
			return removed, err
		}
		k, err := res.RowsAffected()
		if err != nil {
			return removed, err
		}
		removed += int(k)
		xs = xs[n:]
	}
	return removed, nil
}

// RetryDelivery releases x's claim and makes it due again at due, with
// one more attempt counted when attempted is set (else it was put off
// without being tried). It reports false when x's claim is no longer held.
func (s *Store) RetryDelivery(ctx context.Context, x Delivery, due time.Time, attempted bool) (bool, error) {
	inc := 0
	if attempted {
		inc = 1
	}
	res, err := s.writer.ExecContext(ctx, s.dialect.Rebind(`UPDATE subscription_deliveries SET due_at = ?, claim = '', attempts = attempts + ?
		WHERE project_id = ? AND subscription_id = ? AND change_seq = ? AND claim = ?`),
		toMicros(due), inc, x.ProjectID, x.SubscriptionID, x.ChangeSeq, x.Claim)
	return affected(res, err)
}

// NextDeliveryDue is when the earliest queued delivery is due (claimed
// ones when their lease ends), leaving those of the subscriptions in
// skip; ok is false when there is none.
func (s *Store) NextDeliveryDue(ctx context.Context, skip ...string) (due time.Time, ok bool, err error) {
	var at sql.NullInt64
	query, args := "SELECT MIN(due_at) FROM subscription_deliveries", []any{}
	if len(skip) > 0 {
		query += " WHERE subscription_id NOT IN (?" + repeat(", ?", len(skip)-1) + ")"
		for _, id := range skip {
			args = append(args, id)
		}
	}
	if err := s.reader.QueryRowContext(ctx, s.dialect.Rebind(query), args...).Scan(&at); err != nil {
		return time.Time{}, false, err
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return fromMicros(at.Int64), true, nil
}

// QueuedDeliveries counts the queued deliveries (for metrics and tests).
func (s *Store) QueuedDeliveries(ctx context.Context) (int, error) {
	var n int
	err := s.reader.QueryRowContext(ctx, "SELECT COUNT(*) FROM subscription_deliveries").Scan(&n)
	return n, err
}

func affected(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
