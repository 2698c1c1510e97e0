-- +goose Up
-- The audit chain becomes the trail itself (store/auditchain.go): each
-- link holds the AuditEvent exactly as hashed, so a record is durable once
-- its link committed. The AuditEvent resources, their history and index
-- rows, which searches read, are a projection of the chain written just
-- behind it (store/auditproject.go); audit_projected is, per project, the
-- last seq projected (every link up to it is in resources).
ALTER TABLE audit_chain ADD COLUMN content TEXT NOT NULL DEFAULT '';
UPDATE audit_chain SET content = COALESCE((SELECT r.content FROM resources r
    WHERE r.project_id = audit_chain.project_id AND r.resource_type = 'AuditEvent' AND r.id = audit_chain.event_id), '');
CREATE TABLE audit_projected (
    project_id TEXT   NOT NULL PRIMARY KEY,
    seq        BIGINT NOT NULL
);
INSERT INTO audit_projected (project_id, seq) SELECT project_id, MAX(seq) FROM audit_chain GROUP BY project_id;

-- +goose Down
DROP TABLE audit_projected;
ALTER TABLE audit_chain DROP COLUMN content;
