-- +goose Up
-- The audit trail's per-project hash chain (store/auditchain.go). Each
-- AuditEvent the server records gets the next seq of its project (from 1,
-- contiguous); hash is hex SHA-256 of the previous link's hash bytes (none
-- for seq 1) followed by the AuditEvent's content exactly as stored in
-- resources. Only the audit log appends here; VerifyAudit walks it.
-- project_id leads the primary key (Citus distributes by project).
CREATE TABLE audit_chain (
    project_id TEXT   NOT NULL,
    seq        BIGINT NOT NULL,
    event_id   TEXT   NOT NULL,
    hash       TEXT   NOT NULL,
    prev_hash  TEXT   NOT NULL,
    PRIMARY KEY (project_id, seq)
);
-- VerifyAudit looks for AuditEvents no link names.
CREATE INDEX audit_chain_event ON audit_chain (project_id, event_id);

-- +goose Down
DROP INDEX audit_chain_event;
DROP TABLE audit_chain;
