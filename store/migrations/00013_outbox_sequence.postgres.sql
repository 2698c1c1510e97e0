-- +goose Up
-- PostgreSQL only (store.migrate picks a file named *.postgres.sql or
-- *.sqlite.sql by the engine). The outbox's seq comes from a sequence
-- drawn at the outbox INSERT, just before the commit, instead of MAX+1
-- under a lock held to the commit: concurrent writers commit together
-- again. nextval is monotonic across sessions only with CACHE 1 (the
-- default; keep it). A seq can now commit after a higher one, or never
-- (a rollback); the reader's visibility horizon (store/outbox.go) passes
-- a missing seq only once every transaction that could hold it ended.
CREATE SEQUENCE outbox_next_seq AS BIGINT CACHE 1;
SELECT setval('outbox_next_seq', COALESCE((SELECT MAX(seq) FROM outbox), 0) + 1, false);

-- When a cursor was last set or confirmed (Unix microseconds): a cursor
-- no follower confirmed for -feed-retired-after stops holding outbox
-- rows from pruning (feed/prune.go).
ALTER TABLE outbox_cursors ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE outbox_cursors SET updated_at = (extract(epoch FROM now()) * 1000000)::BIGINT;

-- +goose Down
ALTER TABLE outbox_cursors DROP COLUMN updated_at;
DROP SEQUENCE outbox_next_seq;
