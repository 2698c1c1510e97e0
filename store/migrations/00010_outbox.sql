-- +goose Up
-- The transactional outbox (store/outbox.go): one row per committed change
-- of a resource, written in the change's own transaction, read in seq
-- order by the change feed's publishers (package feed). seq is global and
-- contiguous in commit order: every writer draws it under one lock just
-- before its commit (PostgreSQL: an advisory lock; SQLite has one writer).
-- No content is copied here: a consumer reads the resource through the API.
-- project_id leads the primary key (Citus distributes by project); the
-- index on seq alone serves the publishers' scan across projects.
CREATE TABLE outbox (
    project_id    TEXT   NOT NULL,
    seq           BIGINT NOT NULL,
    resource_type TEXT   NOT NULL,
    resource_id   TEXT   NOT NULL,
    version_id    TEXT   NOT NULL,
    operation     TEXT   NOT NULL,
    changed_at    BIGINT NOT NULL,
    compartment   TEXT   NOT NULL,
    PRIMARY KEY (project_id, seq)
);
CREATE INDEX outbox_seq ON outbox (seq);

-- Each sink's cursor: the last seq its broker acknowledged. A server-wide
-- sink keeps its cursor in the server's own project.
CREATE TABLE outbox_cursors (
    project_id TEXT   NOT NULL,
    sink       TEXT   NOT NULL,
    seq        BIGINT NOT NULL,
    PRIMARY KEY (project_id, sink)
);

-- +goose Down
DROP TABLE outbox_cursors;
DROP INDEX outbox_seq;
DROP TABLE outbox;
