-- +goose Up
-- Erasure-proof audit chain (store/auditchain.go). A link made from now on
-- hashes the SHA-256 of its AuditEvent (content_hash) rather than the
-- bytes themselves, so erasing a record's payload (GDPR, $expunge) keeps
-- the link verifiable; erased_by names the erasure record that removed it.
-- Links made before have content_hash '' and keep their first formula.
ALTER TABLE audit_chain ADD COLUMN content_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_chain ADD COLUMN erased_by TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE audit_chain DROP COLUMN erased_by;
ALTER TABLE audit_chain DROP COLUMN content_hash;
