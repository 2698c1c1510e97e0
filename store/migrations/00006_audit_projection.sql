-- +goose Up
-- AuditEvents are linked into their chain and stored in resources in one
-- transaction, the record's durable point; their index rows are written
-- just behind, in batches (store/auditproject.go). audit_projected is, per
-- project, the last seq whose index rows are written.
CREATE TABLE audit_projected (
    project_id TEXT   NOT NULL PRIMARY KEY,
    seq        BIGINT NOT NULL
);
INSERT INTO audit_projected (project_id, seq) SELECT project_id, MAX(seq) FROM audit_chain GROUP BY project_id;
-- An AuditEvent has one version, never updated: its history is its
-- resources row (store/read.go, historyTable), not a second copy.
DELETE FROM resource_history WHERE resource_type = 'AuditEvent';

-- +goose Down
DROP TABLE audit_projected;
