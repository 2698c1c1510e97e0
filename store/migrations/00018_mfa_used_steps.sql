-- +goose Up
-- The last TOTP step each user's code was accepted for (store/mfasteps.go),
-- shared by a fleet so that a code accepted by one process is refused by
-- every other: a code is good once. One row per user who verified a code
-- lately; a step is a 30-second counter, so the row says when, too. The
-- system project owns them all (users sign in server-wide, and MFA
-- verifications are few: one shard on Citus is enough).
CREATE TABLE mfa_used_steps (
    project_id TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    step       BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX mfa_used_steps_step ON mfa_used_steps (step);

-- +goose Down
DROP INDEX mfa_used_steps_step;
DROP TABLE mfa_used_steps;
