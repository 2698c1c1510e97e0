-- +goose Up
-- The change feed's configuration (store/feedconfig.go): per project, set
-- by its admins, which sinks its own feed uses, which resource types it
-- carries (space-separated, '' = all) and whether its audit trail is fed.
-- The server-wide feed's row, set by super admins, has the server's own
-- project id; without it, ward serve's -feed-* flags apply.
CREATE TABLE feed_configs (
    project_id TEXT    NOT NULL,
    enabled    INTEGER NOT NULL,
    sinks      TEXT    NOT NULL,
    types      TEXT    NOT NULL,
    audit      INTEGER NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (project_id)
);

-- The audit feed's cursors (feed/audit.go): per project and sink, the last
-- audit_chain seq its broker acknowledged. The audit trail has no global
-- order, only each project's chain, so it is followed project by project
-- up to audit_projected's mark. project_id '' marks a sink whose audit
-- feed has started (it starts at the trail's present, not its history).
CREATE TABLE feed_audit_cursors (
    project_id TEXT   NOT NULL,
    sink       TEXT   NOT NULL,
    seq        BIGINT NOT NULL,
    PRIMARY KEY (project_id, sink)
);

-- +goose Down
DROP TABLE feed_audit_cursors;
DROP TABLE feed_configs;
