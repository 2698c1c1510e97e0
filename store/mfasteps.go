package store

import (
	"context"

	"github.com/wardhealth/ward"
)

// A TOTP code is accepted once (auth/mfa.go): each user's last accepted
// step (table mfa_used_steps, migration 00018) is kept here so that every
// process of a fleet refuses a code another accepted. The claim is one
// upsert that only moves the step forward, so two processes claiming the
// same step at once cannot both win. The rows live in the system project
// (Citus: one shard, one statement). Like the sign-in attempt buckets,
// these calls go around every access rule: only package auth calls them.

// ClaimMfaStep records step as userID's last accepted TOTP step and
// reports false when it, or a later one, was claimed already. The claim
// is committed before it returns (a crash cannot forget a code that was
// accepted).
func (s *Store) ClaimMfaStep(ctx context.Context, userID string, step int64) (bool, error) {
	rows, err := s.writer.QueryContext(ctx, s.dialect.Rebind(`INSERT INTO mfa_used_steps (project_id, user_id, step) VALUES (?, ?, ?)
		ON CONFLICT (project_id, user_id) DO UPDATE SET step = excluded.step
		WHERE mfa_used_steps.step < excluded.step RETURNING step`),
		ward.SystemProjectID, userID, step)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	claimed := rows.Next()
	if err := rows.Close(); err != nil {
		return false, err
	}
	return claimed, rows.Err()
}

// DropMfaStepsBefore deletes the claims of steps before step: codes that
// old are outside every window, refused without a claim.
func (s *Store) DropMfaStepsBefore(ctx context.Context, step int64) error {
	_, err := s.writer.ExecContext(ctx, s.dialect.Rebind(`DELETE FROM mfa_used_steps WHERE project_id = ? AND step < ?`),
		ward.SystemProjectID, step)
	return err
}
