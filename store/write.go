package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
	"github.com/wardhealth/ward/index"
)

// tx is a write transaction; it reads through the same transaction so a
// transaction bundle sees its own writes.
type tx struct {
	reader
	s       *Store
	sql     *sql.Tx
	pending []*version // versions whose index rows are not written yet
	written []*ward.Resource
	// refChecks wait for the commit (see checkReferences).
	refChecks []queuedRefs
	stmts     map[string]*sql.Stmt
	// writes are the writes made for a request that its audit record
	// describes (auditwrite.go); audits are further records the
	// transaction linked itself (an erasure's), and marked the accesses
	// whose records it made: both handed on once it committed.
	writes []accessWrite
	audits []*pendingAudit
	marked []*ward.Access
	// missed are the statements this transaction prepared that the write
	// pool's cache lacks: writeOnce prepares them there once it is done.
	missed []string
	// erasedBlobs are the blob prefixes of erased Binaries and projects,
	// removed once the transaction commits (blobs.go).
	erasedBlobs []string
	// restoredBlobs is the project an archive restore wrote Binary bytes
	// for ("" when none).
	restoredBlobs string
	// changes are the outbox rows of t's changes (outbox.go).
	changes []Change
}

var _ ward.ResourceTx = (*tx)(nil)

// writeOnce runs fn in a transaction of its own (PostgreSQL, or SQLite
// with group commit off; groupcommit.go shares one among writers).
func (s *Store) writeOnce(ctx context.Context, fn func(ctx context.Context, tx ward.ResourceTx) error) error {
	sqlTx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	t := s.newTx(sqlTx, nil)
	defer func() { s.warmWriter(ctx, t.missed) }() // last: once the rollback released the writer
	defer sqlTx.Rollback()
	defer t.closeStmts()
	if err := fn(ctx, t); err != nil {
		return err
	}
	records, err := t.beforeCommit(ctx)
	if err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return err
	}
	t.afterCommit(ctx, records)
	return nil
}

// newTx is a write transaction on sqlTx. stmts, when not nil, are the
// prepared statements it shares with other writes in sqlTx (a group).
func (s *Store) newTx(sqlTx *sql.Tx, stmts map[string]*sql.Stmt) *tx {
	t := &tx{s: s, sql: sqlTx, stmts: stmts}
	t.reader = reader{q: sqlTx, d: s.dialect}
	t.reader.deleted = t.matchLastLive
	if s.dialect.PrepareOnce() {
		t.reader.q = preparedQueryer{sqlTx, t.prepare}
	}
	return t
}

// beforeCommit is what a write does once its fn returned, still in its
// transaction: the queued reference checks, its audit records, the queued
// index rows and its outbox rows. It returns the audit records for
// afterCommit.
func (t *tx) beforeCommit(ctx context.Context) ([]*pendingAudit, error) {
	if err := t.checkQueuedReferences(ctx); err != nil {
		return nil, err
	}
	records, err := t.recordWrites(ctx)
	if err != nil {
		return nil, err
	}
	if err := t.flushIndex(ctx); err != nil {
		return nil, err
	}
	if err := t.appendOutbox(ctx); err != nil {
		return nil, err
	}
	return records, nil
}

// afterCommit is what a write does once its transaction committed: hand
// on its audit records, remove the bytes it erased, and announce what it
// wrote (OnCommit) and that the outbox grew (OnOutbox).
func (t *tx) afterCommit(ctx context.Context, records []*pendingAudit) {
	t.writesRecorded(ctx, append(records, t.audits...))
	if len(t.erasedBlobs) > 0 {
		t.s.removeErasedBlobs(ctx, t.erasedBlobs)
	}
	if len(t.written) > 0 {
		for _, fn := range t.s.onCommit {
			fn(ctx, t.written)
		}
	}
	if len(t.changes) > 0 {
		for _, fn := range t.s.onOutbox {
			fn()
		}
	}
}

// Search implements ward.ResourceReader inside the transaction: queued
// index rows are written first so the search sees this transaction's writes.
func (t *tx) Search(ctx context.Context, q *ward.SearchQuery) (*ward.SearchResult, error) {
	if err := t.flushIndex(ctx); err != nil {
		return nil, err
	}
	return t.reader.Search(ctx, q)
}

// Create implements ward.ResourceTx.
func (t *tx) Create(ctx context.Context, typ string, content []byte) (*ward.Resource, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	rules, err := allowedRules(p, typ, ward.InteractionCreate)
	if err != nil {
		return nil, err
	}
	d, err := t.decode(typ, "", content)
	if err != nil {
		return nil, err
	}
	return t.createChecks(ctx, p, typ, ward.NewID(), d, rules)
}

// CreateWithID creates typ/id under an id the caller has just minted with
// ward.NewID (a transaction entry's urn:uuid): an update-as-create that
// needs no lookup of the id in other projects (foreignID, one more index
// seek). The http package uses it when the store offers it.
func (t *tx) CreateWithID(ctx context.Context, typ, id string, content []byte) (*ward.Resource, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if ward.IsProtectedType(typ) && !p.System {
		return nil, forbidden()
	}
	if !validID(id) {
		return nil, invalid("Invalid id: %s", id)
	}
	d, err := t.decode(typ, id, content)
	if err != nil {
		return nil, err
	}
	return t.createAt(ctx, p, typ, id, d)
}

// createAt creates typ/id (an update of an id that does not exist).
func (t *tx) createAt(ctx context.Context, p *ward.Principal, typ, id string, d *decodedResource) (*ward.Resource, error) {
	rules, err := allowedRules(p, typ, ward.InteractionCreate)
	if err != nil {
		return nil, err
	}
	return t.createChecks(ctx, p, typ, id, d, rules)
}

func (t *tx) createChecks(ctx context.Context, p *ward.Principal, typ, id string, d *decodedResource, rules []*ward.PolicyRule) (*ward.Resource, error) {
	if err := keepSecrets(p, typ, d, nil); err != nil {
		return nil, err
	}
	project, err := writeProject(p, typ, id, d, t.s.hooks)
	if err != nil {
		return nil, err
	}
	if err := t.checkReferences(ctx, p, typ, d); err != nil {
		return nil, err
	}
	v, err := t.createChecked(ctx, p, project, typ, id, d, rules)
	if err != nil {
		return nil, err
	}
	return t.output(ctx, p, v.res)
}

// Update implements ward.ResourceTx.
func (t *tx) Update(ctx context.Context, typ, id string, content []byte, ifMatch string) (*ward.Resource, bool, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, false, err
	}
	if ward.IsProtectedType(typ) && !p.System {
		return nil, false, forbidden()
	}
	if !validID(id) {
		return nil, false, invalid("Invalid id: %s", id)
	}
	d, err := t.decode(typ, id, content)
	if err != nil {
		return nil, false, err
	}
	old, err := t.current(ctx, p, typ, id, t.d.ForUpdate())
	if ward.ErrorCode(err) == ward.ENOTFOUND {
		if err := t.foreignID(ctx, p, typ, id); err != nil {
			return nil, false, err
		}
	}
	if ward.ErrorCode(err) == ward.ENOTFOUND && ifMatch == "" {
		// Update as create: a PUT to a new id, and the http package's
		// transaction entries with server-chosen ids. It needs create.
		res, err := t.createAt(ctx, p, typ, id, d)
		return res, err == nil, err
	} else if err != nil && ward.ErrorCode(err) != ward.ENOTFOUND {
		return nil, false, err
	}
	rules, err := allowedRules(p, typ, ward.InteractionUpdate)
	if err != nil {
		return nil, false, err
	}
	var fieldsRule *ward.PolicyRule
	if old != nil && !old.Deleted {
		if fieldsRule, err = t.preCheck(ctx, p, old, ward.InteractionUpdate); err != nil {
			return nil, false, err
		}
	}
	if ifMatch != "" && (old == nil || old.VersionID != ifMatch) {
		return nil, false, ward.Errorf(ward.EPRECONDITION, "Version mismatch")
	}
	if old != nil && old.ProjectID != p.ProjectID && !p.System {
		// Readable (a linked project) but not the caller's: never writable.
		return nil, false, forbidden()
	}
	if fieldsRule == nil && rules != nil && len(rules[0].Criteria) == 0 {
		fieldsRule = rules[0] // a re-created deleted resource
	}
	if fieldsRule != nil {
		if err := dropFields(d, ruleFields(fieldsRule), liveTree(old)); err != nil {
			return nil, false, err
		}
	}
	if err := keepSecrets(p, typ, d, liveTree(old)); err != nil {
		return nil, false, err
	}
	project, err := writeProject(p, typ, id, d, t.s.hooks)
	if err != nil {
		return nil, false, err
	}
	if old != nil {
		project = old.ProjectID
	}
	if err := t.checkReferences(ctx, p, typ, d); err != nil {
		return nil, false, err
	}
	v, err := t.build(ctx, p, project, typ, id, d, old)
	if err != nil {
		return nil, false, err
	}
	// An update that changes nothing but versionId and lastUpdated keeps
	// the current version, as FHIR and Medplum do.
	if old != nil && !old.Deleted && sameContent(old.Content, v.res.Content) {
		res, err := t.output(ctx, p, old)
		return res, false, err
	}
	var before []byte
	if old != nil && !old.Deleted {
		before = old.Content
	}
	if _, err := t.postChecked(ctx, p, v, old != nil, rules, before); err != nil {
		return nil, false, err
	}
	res, err := t.output(ctx, p, v.res)
	return res, old == nil, err
}

// Delete implements ward.ResourceTx.
func (t *tx) Delete(ctx context.Context, typ, id string) error {
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	if !fhir.IsResourceType(typ) {
		return ward.Errorf(ward.ENOTFOUND, "Unknown resource type: %s", typ)
	}
	if _, err := allowedRules(p, typ, ward.InteractionRead); err != nil {
		return err
	}
	if ward.IsServerWrittenType(typ) && !p.Internal {
		return forbidden()
	}
	if !validID(id) {
		return notFound()
	}
	old, err := t.current(ctx, p, typ, id, t.d.ForUpdate())
	if ward.ErrorCode(err) == ward.ENOTFOUND && !enforced(p) {
		return t.foreignID(ctx, p, typ, id) // a no-op unless the id is another project's
	} else if err != nil {
		return err
	}
	if old.Deleted {
		return nil
	}
	if _, err := t.preCheck(ctx, p, old, ward.InteractionDelete); err != nil {
		return err
	}
	if old.ProjectID != p.ProjectID && !p.System {
		return forbidden()
	}
	res := &ward.Resource{
		Type: typ, ID: id, ProjectID: old.ProjectID, VersionID: ward.NewID(),
		LastUpdated: t.s.now(), Deleted: true,
	}
	return t.insert(ctx, &version{res: res, patients: compartmentPatients(old.Content)}, true)
}

// foreignID returns notFound when typ/id, not readable by p, exists in
// another project. Ids are unique across the
// server as in Medplum (spec 2.10: an update of an existing resource the
// caller cannot read is 404), so an update must not create a second
// resource under a foreign id nor a delete pretend to succeed. The answer
// is the one for an id that is not readable at all: nothing else leaks.
func (t *tx) foreignID(ctx context.Context, p *ward.Principal, typ, id string) error {
	if p.System {
		return nil
	}
	found, err := t.targetsAnywhere(ctx, []refAt{{typ: typ, id: id}})
	if err != nil {
		return err
	}
	if len(found) > 0 {
		return notFound()
	}
	return nil
}

// decode parses and validates content for typ; id, when set, must match.
func (t *tx) decode(typ, id string, content []byte) (*decodedResource, error) {
	if !fhir.IsResourceType(typ) {
		return nil, ward.Errorf(ward.ENOTFOUND, "Unknown resource type: %s", typ)
	}
	d, err := decodeResource(content)
	if err != nil {
		return nil, err
	}
	rt, _ := d.tree["resourceType"].(string)
	if rt == "" {
		return nil, invalid("Missing resourceType")
	}
	if rt != typ {
		return nil, invalid("Incorrect resource type: expected %s, found %s", typ, rt)
	}
	if bodyID, ok := d.tree["id"]; ok && id != "" && bodyID != id {
		return nil, invalid("Incorrect ID: the id in the body does not match the URL")
	}
	if err := fhir.ValidateResource(d.tree); err != nil {
		return nil, err
	}
	return d, nil
}

// now is the store clock at Medplum's precision (milliseconds).
func (s *Store) now() time.Time { return s.Now().UTC().Truncate(time.Millisecond) }

// version is a resource version ready to insert, with its index rows.
type version struct {
	res          *ward.Resource
	rows         *index.Rows // nil for a deletion
	compartments []string    // UUIDs
	patients     []string    // "Patient/…" of its compartments (of the deleted version's for a deletion)
	compartment  []string    // its meta.compartment references
}

// build assigns a new version to d and indexes it. old is the current
// version (nil when there is none); it decides the accounts with the
// caller and the Patients d references (nextAccounts).
func (t *tx) build(ctx context.Context, p *ward.Principal, project, typ, id string, d *decodedResource, old *ward.Resource) (*version, error) {
	m := serverMeta{
		versionID:   ward.NewID(),
		lastUpdated: t.s.now().Format("2006-01-02T15:04:05.000Z07:00"),
		projectID:   project,
		author:      p.Author,
		onBehalfOf:  p.OnBehalfOf,
	}
	sentMeta := d.metaIn != nil // the account rule goes by what the client sent, not by a default profile
	if err := applyDefaultProfile(p, typ, d); err != nil {
		return nil, err
	}
	rows, err := t.s.extract(ctx, typ, id, m, d)
	if err != nil {
		return nil, err
	}
	in := accountInput{Principal: p, Type: typ, Meta: d.metaIn, Creating: old == nil || old.Deleted}
	if !sentMeta {
		in.Meta = nil
	}
	if !in.Creating {
		in.Existing = storedAccounts(old.Content)
	}
	if typ != "Patient" && (in.Meta == nil || !mayWriteAccounts(p)) {
		if in.Patients, err = t.patientAccounts(ctx, p, project, index.PatientRefs(typ, rows)); err != nil {
			return nil, err
		}
	}
	m.accounts = nextAccounts(in)
	return t.s.finish(typ, id, m, d, rows)
}

// index extracts the search rows and compartments of d as it will be
// stored with meta m, and encodes the stored JSON.
func (s *Store) index(ctx context.Context, typ, id string, m serverMeta, d *decodedResource) (*version, error) {
	rows, err := s.extract(ctx, typ, id, m, d)
	if err != nil {
		return nil, err
	}
	return s.finish(typ, id, m, d, rows)
}

// extract returns the search rows of d stored with meta m. No search
// parameter reads meta.account(s), so the rows do not depend on them.
func (s *Store) extract(ctx context.Context, typ, id string, m serverMeta, d *decodedResource) (*index.Rows, error) {
	d.tree["id"] = id
	d.tree["meta"] = metaTree(m, d.metaIn)
	rows, err := s.indexer.Extract(ctx, typ, d.tree)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", typ, err)
	}
	return rows, nil
}

// finish computes the compartments of d with its final meta m (accounts
// included) and encodes the stored JSON.
func (s *Store) finish(typ, id string, m serverMeta, d *decodedResource, rows *index.Rows) (*version, error) {
	lastUpdated, err := time.Parse(time.RFC3339Nano, m.lastUpdated)
	if err != nil {
		return nil, fmt.Errorf("store: bad lastUpdated %q", m.lastUpdated)
	}
	d.tree["meta"] = metaTree(m, d.metaIn)
	refs, uuids := index.Compartments(metaProject(m.projectID), typ, id, d.tree, rows)
	m.compartment = refs
	res := &ward.Resource{
		Type: typ, ID: id, VersionID: m.versionID, ProjectID: m.projectID, LastUpdated: lastUpdated,
		Content: encodeResource(typ, id, m, d),
	}
	return &version{res: res, rows: rows, compartments: uuids, patients: patientRefs(refs), compartment: refs}, nil
}

// patientRefs are the "Patient/…" entries of compartment references.
func patientRefs(refs []string) []string {
	var out []string
	for _, r := range refs {
		if strings.HasPrefix(r, "Patient/") {
			out = append(out, r)
		}
	}
	return out
}

// metaProject is meta.project of a resource stored in project: none for
// server-scoped resources, which therefore have no Project compartment
// either (spec 1.3, 3.1).
func metaProject(project string) string {
	if project == ward.SystemProjectID {
		return ""
	}
	return project
}

// metaTree is the meta the indexer sees, equal to what is stored.
func metaTree(m serverMeta, client map[string]any) map[string]any {
	out := make(map[string]any, len(client)+4)
	for k, v := range client {
		if !serverOwnedMeta[k] {
			out[k] = v
		}
	}
	out["versionId"] = m.versionID
	out["lastUpdated"] = m.lastUpdated
	if m.projectID != ward.SystemProjectID {
		// Server-scoped resources (a User of no project, Login,
		// JsonWebKey) belong to no project: only the column says where
		// they are stored (spec 1.3).
		out["project"] = m.projectID
	}
	if m.author != "" {
		out["author"] = map[string]any{"reference": m.author}
	}
	if m.onBehalfOf != "" {
		out["onBehalfOf"] = map[string]any{"reference": m.onBehalfOf}
	}
	if len(m.accounts) > 0 {
		accounts := make([]any, len(m.accounts))
		for i, a := range m.accounts {
			accounts[i] = map[string]any{"reference": a}
		}
		out["account"] = accounts[0]
		out["accounts"] = accounts
	}
	return out
}

func (t *tx) closeStmts() {
	for _, stmt := range t.stmts {
		stmt.Close()
	}
}
