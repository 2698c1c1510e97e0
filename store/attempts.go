package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/wardhealth/ward"
)

// Sign-in attempt limits shared by every process of a fleet (table
// login_attempts, migration 00016): one token bucket per key, refilled
// one token every `every` up to burst, spent in one upsert — so N
// processes behind a balancer allow what one would, not N times it. The
// rows live in the system project (Citus: one shard, one statement).

// SpendAttempt spends one attempt of key's bucket at at (burst attempts,
// one more every `every`) and reports false when none is left.
func (s *Store) SpendAttempt(ctx context.Context, key string, at time.Time, burst int, every time.Duration) (bool, error) {
	now := toMicros(at)
	refill := s.bucketLevel("login_attempts", "?", "?", "?")
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if s.dialect.Name() == "postgres" {
		// An attempt counted lost in a crash costs nothing; waiting for
		// the WAL flush costs every sign-in about 2 ms here.
		if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit TO OFF`); err != nil {
			return false, err
		}
	}
	rows, err := tx.QueryContext(ctx, s.dialect.Rebind(`INSERT INTO login_attempts (project_id, key, tokens, at) VALUES (?, ?, ?, ?)
		ON CONFLICT (project_id, key) DO UPDATE SET tokens = `+refill+` - 1, at = excluded.at
		WHERE `+refill+` >= 1 RETURNING tokens`),
		ward.SystemProjectID, key, float64(burst-1), now,
		burst, now, every.Microseconds(), burst, now, every.Microseconds())
	if err != nil {
		return false, err
	}
	spent := rows.Next()
	if err := rows.Close(); err != nil {
		return false, err
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	return spent, tx.Commit()
}

// AttemptsLeft reports whether key's bucket has an attempt left at at,
// without spending one.
func (s *Store) AttemptsLeft(ctx context.Context, key string, at time.Time, burst int, every time.Duration) (bool, error) {
	var tokens float64
	err := s.reader.QueryRowContext(ctx, s.dialect.Rebind(`SELECT `+s.bucketLevel("login_attempts", "?", "?", "?")+`
		FROM login_attempts WHERE project_id = ? AND key = ?`),
		burst, toMicros(at), every.Microseconds(), ward.SystemProjectID, key).Scan(&tokens)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil // never tried, or full again and dropped
	}
	if err != nil {
		return false, err
	}
	return tokens >= 1, nil
}

// DropFullAttempts deletes the buckets untouched since before (full
// again by then): the table holds the keys tried lately only.
func (s *Store) DropFullAttempts(ctx context.Context, before time.Time) error {
	_, err := s.writer.ExecContext(ctx, s.dialect.Rebind(`DELETE FROM login_attempts WHERE at < ?`), toMicros(before))
	return err
}

// bucketLevel is the SQL of a bucket row's tokens refilled up to now:
// min(burst, tokens + (now - at) / every), the three as placeholders.
func (s *Store) bucketLevel(table, burst, now, every string) string {
	least := "MIN"
	if s.dialect.Name() == "postgres" {
		least = "LEAST"
	}
	return least + `(CAST(` + burst + ` AS DOUBLE PRECISION), ` + table + `.tokens + CAST(` + now + ` - ` + table + `.at AS DOUBLE PRECISION) / CAST(` + every + ` AS DOUBLE PRECISION))`
}
