-- +goose Up
-- PostgreSQL only (store.migrate picks a file named *.postgres.sql or
-- *.sqlite.sql by the engine). ward_audit_append links a batch of
-- AuditEvents into their projects' chains in one statement, so the audit
-- log's committer appends in one round trip (autocommit) and an audited
-- write in one more statement of its transaction (store/auditchain.go,
-- appendAuditSQL). It does what the Go path does, in the same order:
-- take each project's advisory lock (keys computed in Go, lockKey, in
-- project order, so two processes' batches queue instead of
-- deadlocking), read the head, start audit_projected for a new project,
-- fold the links (hash = hex SHA-256(prev hash bytes || content hash
-- bytes), prev '' for the first; a prev that is not hex hashes as its
-- text, like chainHash), then insert the resources rows and the links.
-- The records arrive grouped by project in the order of projects (counts
-- says how many each has); content hashes are computed in Go. It returns
-- each project's first new seq, in that order. VOLATILE (the default):
-- every statement reads a new snapshot, so the head read after the lock
-- sees the batch that held it last.
-- +goose StatementBegin
CREATE FUNCTION ward_audit_append(projects TEXT[], locks INTEGER[], counts INTEGER[],
    ids TEXT[], versions TEXT[], updated BIGINT[], contents TEXT[], content_hashes TEXT[])
RETURNS SETOF BIGINT LANGUAGE plpgsql AS $$
DECLARE
    firsts BIGINT[] := '{}';
    rec_projects TEXT[] := '{}';
    seqs BIGINT[] := '{}';
    hashes TEXT[] := '{}';
    prevs TEXT[] := '{}';
    head_seq BIGINT;
    prev TEXT;
    prev_bytes BYTEA;
    j INTEGER;
    k INTEGER;
    i INTEGER := 0;
BEGIN
    FOR j IN 1 .. cardinality(projects) LOOP
        PERFORM pg_advisory_xact_lock(locks[j], hashtext(current_schema()));
    END LOOP;
    FOR j IN 1 .. cardinality(projects) LOOP
        SELECT c.seq, c.hash INTO head_seq, prev FROM audit_chain c
            WHERE c.project_id = projects[j] ORDER BY c.seq DESC LIMIT 1;
        IF NOT FOUND THEN
            head_seq := 0;
            prev := '';
            INSERT INTO audit_projected (project_id, seq) VALUES (projects[j], 0) ON CONFLICT DO NOTHING;
        END IF;
        firsts := firsts || (head_seq + 1);
        FOR k IN 1 .. counts[j] LOOP
            i := i + 1;
            IF length(prev) % 2 = 0 AND prev ~ '^[0-9a-fA-F]*$' THEN
                prev_bytes := decode(prev, 'hex');
            ELSE
                prev_bytes := convert_to(prev, 'UTF8'); -- a damaged link still hashes deterministically
            END IF;
            rec_projects := rec_projects || projects[j];
            seqs := seqs || (head_seq + k);
            prevs := prevs || prev;
            prev := encode(sha256(prev_bytes || decode(content_hashes[i], 'hex')), 'hex');
            hashes := hashes || prev;
        END LOOP;
    END LOOP;
    INSERT INTO resources (project_id, resource_type, id, version_id, last_updated, deleted, content)
        SELECT u.p, 'AuditEvent', u.id, u.v, u.at, 0, u.c
        FROM unnest(rec_projects, ids, versions, updated, contents) AS u(p, id, v, at, c);
    INSERT INTO audit_chain (project_id, seq, event_id, hash, prev_hash, content_hash)
        SELECT u.p, u.s, u.id, u.h, u.prev, u.ch
        FROM unnest(rec_projects, seqs, ids, hashes, prevs, content_hashes) AS u(p, s, id, h, prev, ch);
    RETURN QUERY SELECT unnest(firsts);
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION ward_audit_append(TEXT[], INTEGER[], INTEGER[], TEXT[], TEXT[], BIGINT[], TEXT[], TEXT[]);
