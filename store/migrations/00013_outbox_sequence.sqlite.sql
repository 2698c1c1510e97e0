-- +goose Up
-- SQLite only (store.migrate picks a file named *.postgres.sql or
-- *.sqlite.sql by the engine). SQLite has one writer, so the outbox's seq
-- stays MAX+1 (store/outbox.go); PostgreSQL's file of this version moves
-- seq to a sequence.

-- When a cursor was last set or confirmed (Unix microseconds): a cursor
-- no follower confirmed for -feed-retired-after stops holding outbox
-- rows from pruning (feed/prune.go).
ALTER TABLE outbox_cursors ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE outbox_cursors SET updated_at = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER);

-- +goose Down
ALTER TABLE outbox_cursors DROP COLUMN updated_at;
