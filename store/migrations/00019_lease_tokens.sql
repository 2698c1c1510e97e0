-- +goose Up
-- Fencing tokens of leases (store/leases.go): every claim of a lease by a
-- new holder, or after it expired, gets a larger token than any before,
-- and the writes a job makes under its lease are refused unless its row
-- still has that holder and token — so a holder that stalled past its
-- lease and woke after another process took the work over writes nothing.
-- 0: a row written before tokens (a heartbeat, an old lease).
ALTER TABLE leases ADD COLUMN token BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE leases DROP COLUMN token;
