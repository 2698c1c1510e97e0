package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/wardhealth/ward"
)

// The audit chain: each project's AuditEvents in the order they were
// recorded, each link holding the SHA-256 of its AuditEvent's stored bytes
// (content_hash) and SHA-256(previous link's hash || content_hash). A
// record is durable once its link and its resources row committed,
// together; its index rows follow (auditproject.go). Editing, removing,
// reordering or adding a record behind the server's back breaks a link
// VerifyAudit finds. An erasure (expunge.go) removes a record's payload
// but keeps its link, naming itself in erased_by: the chain still
// verifies, and the erasure is itself a record of the chain. (A forger
// able to rewrite both tables from some link to the end can rebuild a
// consistent chain; anchoring the head outside the database, e.g. in the
// SIEM feed, is what catches that.) Links made before content_hash
// existed hash the content itself (legacyChainHash).

// appendAudit stores batch and links it into its projects' chains in one
// transaction: two multi-row INSERTs per project, no index rows. Projects are locked in
// one order so two processes' batches wait for each other instead of
// deadlocking. It sets each record's seq. On PostgreSQL (not Citus) the
// transaction is one autocommit statement, ward_audit_append: one round
// trip where BEGIN, lock, head, two INSERTs and COMMIT took six, and the
// next batch waited for all of them.
func (s *Store) appendAudit(ctx context.Context, batch []*pendingAudit) error {
	projects, byProject := auditByProject(batch)
	if s.auditInSQL {
		return s.appendAuditOnce(ctx, projects, byProject)
	}
	return s.Write(ctx, func(ctx context.Context, rtx ward.ResourceTx) error {
		return rtx.(*tx).linkAudit(ctx, projects, byProject)
	})
}

// auditByProject groups records by project, with the projects sorted:
// the order their chains are locked in.
func auditByProject(records []*pendingAudit) ([]string, map[string][]*pendingAudit) {
	byProject := map[string][]*pendingAudit{}
	for _, p := range records {
		byProject[p.v.res.ProjectID] = append(byProject[p.v.res.ProjectID], p)
	}
	return slices.Sorted(maps.Keys(byProject)), byProject
}

// linkAudit locks projects' chains, in that order, and appends each its
// records, in t.
func (t *tx) linkAudit(ctx context.Context, projects []string, byProject map[string][]*pendingAudit) error {
	if t.s.auditInSQL {
		if err := callAuditAppend(ctx, t.sql, projects, byProject); err != nil {
			return err
		}
		for _, project := range projects {
			for _, p := range byProject[project] {
				t.written = append(t.written, p.v.res)
			}
		}
		return nil
	}
	for _, project := range projects {
		if err := t.lockAudit(ctx, "audit:", project); err != nil {
			return err
		}
	}
	for _, project := range projects {
		if err := t.appendChain(ctx, project, byProject[project]); err != nil {
			return err
		}
	}
	return nil
}

// appendAuditOnce is appendAudit as one statement outside any
// transaction: it commits, or fails whole, on its own. Like Write it runs
// again after a deadlock or serialization failure, and announces the
// records to the OnCommit hooks once committed.
func (s *Store) appendAuditOnce(ctx context.Context, projects []string, byProject map[string][]*pendingAudit) error {
	for attempt := 1; ; attempt++ {
		err := callAuditAppend(ctx, s.writer, projects, byProject)
		if err == nil {
			break
		}
		if !s.dialect.Retryable(err) || attempt == writeAttempts || pause(ctx, retryPause(attempt)) != nil {
			return err
		}
	}
	if len(s.onCommit) > 0 {
		var written []*ward.Resource
		for _, project := range projects {
			for _, p := range byProject[project] {
				written = append(written, p.v.res)
			}
		}
		for _, fn := range s.onCommit {
			fn(ctx, written)
		}
	}
	return nil
}

// auditQueryer is a pool or a transaction.
type auditQueryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// callAuditAppend runs ward_audit_append (migration 00021) on q for the
// records of projects and sets their seqs. The function folds the chain
// hashes itself, by chainHash's formula, from the content hashes computed
// here.
func callAuditAppend(ctx context.Context, q auditQueryer, projects []string, byProject map[string][]*pendingAudit) error {
	locks, counts := make([]int32, len(projects)), make([]int32, len(projects))
	var ids, versions, contents, digests []string
	var updated []int64
	for j, project := range projects {
		locks[j], counts[j] = lockKey("audit:"+project), int32(len(byProject[project]))
		for _, p := range byProject[project] {
			r := p.v.res
			ids, versions, updated = append(ids, r.ID), append(versions, r.VersionID), append(updated, toMicros(r.LastUpdated))
			contents, digests = append(contents, string(r.Content)), append(digests, contentHash(r.Content))
		}
	}
	rows, err := q.QueryContext(ctx, `SELECT * FROM ward_audit_append($1::text[], $2::integer[], $3::integer[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[])`,
		projects, locks, counts, ids, versions, updated, contents, digests)
	if err != nil {
		return err
	}
	defer rows.Close()
	firsts := make([]int64, 0, len(projects))
	for rows.Next() {
		var first int64
		if err := rows.Scan(&first); err != nil {
			return err
		}
		firsts = append(firsts, first)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(firsts) != len(projects) {
		return fmt.Errorf("store: ward_audit_append returned %d seqs for %d projects", len(firsts), len(projects))
	}
	for j, project := range projects {
		for k, p := range byProject[project] {
			p.seq = firsts[j] + int64(k)
		}
	}
	return nil
}

// lockAudit serializes the transactions that take the same lock on
// project (kind "audit:" appends, "auditproj:" projects) across processes
// until the transaction ends. SQLite has one writer at a time already.
func (t *tx) lockAudit(ctx context.Context, kind, project string) error {
	if t.s.dialect.Name() != "postgres" {
		return nil
	}
	_, err := t.sql.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", lockKey(kind+project))
	return err
}

// appendChain stores records in project and links them after its head.
// The first link of a project also starts its projection mark.
func (t *tx) appendChain(ctx context.Context, project string, records []*pendingAudit) error {
	seq, prev, err := t.chainHead(ctx, project)
	if err != nil {
		return err
	}
	if seq == 0 {
		if _, err := t.exec(ctx, "INSERT INTO audit_projected (project_id, seq) VALUES (?, 0) ON CONFLICT DO NOTHING", project); err != nil {
			return err
		}
	}
	current := make([][]any, 0, len(records))
	links := make([][]any, 0, len(records))
	for _, p := range records {
		r := p.v.res
		seq++
		digest := contentHash(r.Content)
		hash := chainHash(prev, digest)
		current = append(current, []any{r.ProjectID, r.Type, r.ID, r.VersionID, toMicros(r.LastUpdated), int64(0), string(r.Content)})
		links = append(links, []any{project, seq, r.ID, hash, prev, digest})
		p.seq = seq
		prev = hash
	}
	if err := t.execRows(ctx, "INSERT INTO resources (project_id, resource_type, id, version_id, last_updated, deleted, content)", current, ""); err != nil {
		return err
	}
	if err := t.execRows(ctx, "INSERT INTO audit_chain (project_id, seq, event_id, hash, prev_hash, content_hash)", links, ""); err != nil {
		return err
	}
	for _, p := range records {
		t.written = append(t.written, p.v.res)
	}
	return nil
}

// chainHead is the last link of project's chain: 0, "" when it is empty.
func (t *tx) chainHead(ctx context.Context, project string) (int64, string, error) {
	var seq int64
	var hash string
	err := t.q.QueryRowContext(ctx, t.d.Rebind(`SELECT seq, hash FROM audit_chain WHERE project_id = ? ORDER BY seq DESC LIMIT 1`), project).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	return seq, hash, err
}

// contentHash is hex SHA-256 of an AuditEvent's stored bytes.
func contentHash(content []byte) string {
	sum := sha256.Sum256(content)
	return hex.EncodeToString(sum[:])
}

// chainHash is hex SHA-256 of the previous link's hash bytes followed by
// the content hash's bytes.
func chainHash(prevHex, contentHashHex string) string {
	digest, err := hex.DecodeString(contentHashHex)
	if err != nil {
		digest = []byte(contentHashHex) // a damaged link still hashes deterministically
	}
	return hashAfter(prevHex, digest)
}

// legacyChainHash is the first formula: the previous hash's bytes followed
// by the content itself.
func legacyChainHash(prevHex string, content []byte) string { return hashAfter(prevHex, content) }

func hashAfter(prevHex string, data []byte) string {
	h := sha256.New()
	if prev, err := hex.DecodeString(prevHex); err == nil {
		h.Write(prev)
	} else {
		h.Write([]byte(prevHex)) // a damaged link still hashes deterministically
	}
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// What VerifyAudit reports at the first broken link.
const (
	auditContentChanged = "content changed"
	auditRecordMissing  = "record missing"
	auditSeqGap         = "seq gap"
	auditPrevHash       = "prev_hash mismatch"
	auditNotInChain     = "AuditEvent not in chain"
	// an erased link naming no later erasure record, or whose record is
	// still there
	auditErasureUnknown    = "erasure not recorded"
	auditErasureIncomplete = "erased record still present"
)

// VerifyAudit walks projectID's audit chain in seq order and reports how
// many links hold and the first that does not. Only a system principal
// or an admin of projectID may ask (403 otherwise).
func (s *Store) VerifyAudit(ctx context.Context, projectID string) (ward.AuditVerification, error) {
	v := ward.AuditVerification{ProjectID: projectID}
	p, err := principal(ctx)
	if err != nil {
		return v, err
	}
	if !p.System && (p.ProjectID != projectID || !p.Admin) {
		return v, forbidden()
	}
	// Orphans first: a record committed after this query is in the chain
	// the walk below reads, since both are written in one transaction.
	orphan, err := s.auditOrphan(ctx, projectID)
	if err != nil {
		return v, err
	}
	if err := s.walkChain(ctx, &v); err != nil || v.Problem != "" {
		return v, err
	}
	if orphan != "" {
		v.BrokenSeq, v.Problem, v.EventID = v.Checked+1, auditNotInChain, orphan
		return v, nil
	}
	v.OK = true
	return v, nil
}

// auditOrphan is an AuditEvent of project no link names, "" when none.
func (s *Store) auditOrphan(ctx context.Context, project string) (string, error) {
	var id string
	err := s.reader.QueryRowContext(ctx, s.dialect.Rebind(`SELECT r.id FROM resources r
		WHERE r.project_id = ? AND r.resource_type = 'AuditEvent'
		AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.project_id = r.project_id AND c.event_id = r.id)
		LIMIT 1`), project).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// walkChain checks every link in seq order, stopping at the first broken.
func (s *Store) walkChain(ctx context.Context, v *ward.AuditVerification) error {
	rows, err := s.reader.QueryContext(ctx, s.dialect.Rebind(`SELECT c.seq, c.event_id, c.hash, c.prev_hash, c.content_hash, c.erased_by,
		r.content, r.deleted, e.event_id
		FROM audit_chain c LEFT JOIN resources r
		ON r.project_id = c.project_id AND r.resource_type = 'AuditEvent' AND r.id = c.event_id
		LEFT JOIN audit_chain e ON e.project_id = c.project_id AND e.event_id = c.erased_by AND c.erased_by <> '' AND e.seq > c.seq
		WHERE c.project_id = ? ORDER BY c.seq`), v.ProjectID)
	if err != nil {
		return err
	}
	defer rows.Close()
	prev := ""
	for rows.Next() {
		var l chainLink
		if err := rows.Scan(&l.seq, &l.eventID, &l.hash, &l.prevHash, &l.contentHash, &l.erasedBy, &l.content, &l.deleted, &l.erasure); err != nil {
			return err
		}
		want := v.Checked + 1
		if problem := l.check(want, prev); problem != "" {
			v.BrokenSeq, v.Problem, v.EventID = want, problem, l.eventID
			return nil
		}
		v.Checked++
		if l.erasedBy != "" {
			v.Erased++
		}
		prev = l.hash
	}
	return rows.Err()
}

// chainLink is one row of the walk.
type chainLink struct {
	seq                                            int64
	eventID, hash, prevHash, contentHash, erasedBy string
	content                                        sql.NullString
	deleted                                        sql.NullInt64
	erasure                                        sql.NullString // the erasure record's link, when erasedBy names a later one
}

// check returns what is wrong with l as link number want after prev.
func (l *chainLink) check(want int64, prev string) string {
	switch {
	case l.seq != want:
		return auditSeqGap
	case l.prevHash != prev:
		return auditPrevHash
	case l.contentHash == "":
		return l.checkLegacy(prev)
	case chainHash(prev, l.contentHash) != l.hash:
		return auditContentChanged
	case l.erasedBy != "":
		return l.checkErased()
	case !l.content.Valid || l.deleted.Int64 != 0:
		return auditRecordMissing
	case contentHash([]byte(l.content.String)) != l.contentHash:
		return auditContentChanged
	}
	return ""
}

// checkErased: an erased record is gone, and its link names an erasure
// recorded later in the same chain.
func (l *chainLink) checkErased() string {
	switch {
	case !l.erasure.Valid:
		return auditErasureUnknown
	case l.content.Valid && l.deleted.Int64 == 0:
		return auditErasureIncomplete
	}
	return ""
}

// checkLegacy checks a link of the first formula, which needs the content.
func (l *chainLink) checkLegacy(prev string) string {
	switch {
	case !l.content.Valid || l.deleted.Int64 != 0:
		return auditRecordMissing
	case legacyChainHash(prev, []byte(l.content.String)) != l.hash:
		return auditContentChanged
	}
	return ""
}

// AuditProjects lists the projects that have an audit trail (system
// principals only): what `ward audit verify` walks by default.
func (s *Store) AuditProjects(ctx context.Context) ([]string, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if !p.System {
		return nil, forbidden()
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT DISTINCT project_id FROM audit_chain
		UNION SELECT DISTINCT project_id FROM resources WHERE resource_type = 'AuditEvent' ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
