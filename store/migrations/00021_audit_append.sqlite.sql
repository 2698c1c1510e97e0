-- +goose Up
-- Nothing on SQLite (store.migrate picks a file named *.postgres.sql or
-- *.sqlite.sql by the engine): its PostgreSQL twin creates the function
-- that appends an audit batch in one round trip; SQLite's one writer
-- appends in process (store/auditchain.go), where a statement costs no
-- round trip.
SELECT 1;

-- +goose Down
SELECT 1;
