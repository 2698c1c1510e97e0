package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
	"github.com/wardhealth/ward/index"
)

// $set-accounts (spec 3.4). Medplum rewrites the target, then pages
// through the patient compartment and writes each resource in a
// transaction of its own; a failure midway leaves a half-enrolled patient
// that a second run must repair. Ward makes the whole change one
// transaction and writes the compartment with a few set-based statements:
// one query reads the compartment, one the patient references of its
// members, and the changed versions go out as multi-row INSERTs.
//
// Only meta changes (versionId, lastUpdated, author, account(s),
// compartment), and no search parameter of a Patient compartment type is
// computed from those: the search index rows of a member stay as they
// are; its resource_compartments rows, resources row and a new history
// row are written.

// SetAccounts sets meta.accounts of typ/id to accounts (meta.account =
// accounts[0]) and, with propagate on a Patient, applies Medplum's
// addition/removal rule to every resource in the patient's compartment.
// It returns resourcesUpdated: 1 + the compartment resources processed,
// already-correct ones included. Admins only (EFORBIDDEN); the target
// must be readable (ENOTFOUND) and, with its new accounts, pass the
// caller's update check (EFORBIDDEN). A run while another runs on the
// same target is ECONFLICT.
func (s *Store) SetAccounts(ctx context.Context, typ, id string, accounts []string, propagate bool) (int, error) {
	p, err := principal(ctx)
	if err != nil {
		return 0, err
	}
	if !p.Admin && !p.System {
		return 0, forbidden()
	}
	if !fhir.IsResourceType(typ) || !validID(id) {
		return 0, notFound()
	}
	accounts, err = cleanAccounts(accounts)
	if err != nil {
		return 0, err
	}
	target := typ + "/" + id
	locked := s.dialect.Name() == "postgres" // locks in the transaction, across processes
	if !locked {
		// SQLite's single writer would queue a second run behind the
		// first instead of refusing it: refuse it here.
		unlock, ok := s.setAccountsRunning.tryLock(target)
		if !ok {
			return 0, alreadyRunning(target)
		}
		defer unlock()
	}
	updated := 0
	err = s.Write(ctx, func(ctx context.Context, wtx ward.ResourceTx) error {
		t := wtx.(*tx)
		if locked {
			if err := t.advisoryLock(ctx, target); err != nil {
				return err
			}
		}
		updated, err = t.setAccounts(ctx, p, typ, id, accounts, propagate)
		return err
	})
	if err != nil {
		return 0, err
	}
	return updated, nil
}

func alreadyRunning(target string) error {
	return ward.Errorf(ward.ECONFLICT, "$set-accounts is already running for %s", target)
}

// cleanAccounts drops repeated references; an empty one is invalid.
func cleanAccounts(accounts []string) ([]string, error) {
	out := make([]string, 0, len(accounts))
	for _, a := range accounts {
		if strings.TrimSpace(a) == "" {
			return nil, invalid("Invalid account reference")
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// advisoryLock takes PostgreSQL's transaction-scoped advisory lock on
// target, or ECONFLICT when another transaction holds it.
func (t *tx) advisoryLock(ctx context.Context, target string) error {
	h := fnv.New64a()
	h.Write([]byte("ward:set-accounts:" + target))
	var got bool
	if err := t.sql.QueryRowContext(ctx, "SELECT pg_try_advisory_xact_lock($1)", int64(h.Sum64())).Scan(&got); err != nil {
		return err
	}
	if !got {
		return alreadyRunning(target)
	}
	return nil
}

// setAccounts is SetAccounts inside the write transaction.
func (t *tx) setAccounts(ctx context.Context, p *ward.Principal, typ, id string, accounts []string, propagate bool) (int, error) {
	old, err := t.readTarget(ctx, p, typ, id)
	if err != nil {
		return 0, err
	}
	oldMeta, _ := decodeTree(old.Content)["meta"].(map[string]any)
	oldAccounts := clientAccounts(oldMeta)
	if err := t.writeTarget(ctx, p, old, accounts); err != nil {
		return 0, err
	}
	if err := setAccountsStep(ctx, "target-written"); err != nil {
		return 0, err
	}
	if !propagate || typ != "Patient" {
		return 1, nil
	}
	n, err := t.propagateAccounts(ctx, p, old.ProjectID, id, oldAccounts, accounts)
	if err != nil {
		return 0, err
	}
	return 1 + n, nil
}

// readTarget loads the current target for update: 404 unless the caller
// may read it, 403 when it lies in a project the caller only reads.
func (t *tx) readTarget(ctx context.Context, p *ward.Principal, typ, id string) (*ward.Resource, error) {
	rules, err := allowedRules(p, typ, ward.InteractionRead)
	if err != nil {
		return nil, notFound() // cannot read it: as if it did not exist
	}
	old, err := t.current(ctx, p, typ, id, t.d.ForUpdate())
	if err != nil {
		return nil, err
	}
	if old.Deleted {
		return nil, gone()
	}
	if rules != nil {
		if k, err := matchOne(ctx, t.q, t.d, p, typ, id, rules); err != nil {
			return nil, err
		} else if k < 0 {
			return nil, notFound()
		}
	}
	if old.ProjectID != p.ProjectID && !p.System {
		return nil, forbidden()
	}
	return old, nil
}

// writeTarget writes old with meta.accounts = accounts as a new version,
// under the caller's update pre- and post-check. A target that already
// carries exactly these accounts keeps its version.
func (t *tx) writeTarget(ctx context.Context, p *ward.Principal, old *ward.Resource, accounts []string) error {
	if _, err := t.preCheck(ctx, p, old, ward.InteractionUpdate); err != nil {
		return err
	}
	rules, err := allowedRules(p, old.Type, ward.InteractionUpdate)
	if err != nil {
		return err
	}
	d, err := decodeResource(old.Content)
	if err != nil {
		return err
	}
	if storedAccountsEqual(d.metaIn, accounts) {
		return nil
	}
	m := serverMeta{
		versionID:   ward.NewID(),
		lastUpdated: t.s.now().Format("2006-01-02T15:04:05.000Z07:00"),
		projectID:   old.ProjectID,
		author:      p.Author,
		accounts:    accounts,
	}
	v, err := t.s.index(ctx, old.Type, old.ID, m, d)
	if err != nil {
		return err
	}
	_, err = t.postChecked(ctx, p, v, true, rules, old.Content)
	return err
}

// storedAccountsEqual reports whether meta already reads account =
// want[0] and accounts = want (both absent when want is empty).
func storedAccountsEqual(meta map[string]any, want []string) bool {
	account, _ := meta["account"].(map[string]any)
	accountRef, _ := account["reference"].(string)
	var list []string
	if raw, ok := meta["accounts"].([]any); ok {
		for _, v := range raw {
			ref, _ := v.(map[string]any)
			s, _ := ref["reference"].(string)
			list = append(list, s)
		}
	}
	if len(want) == 0 {
		return accountRef == "" && len(list) == 0 && meta["accounts"] == nil
	}
	return accountRef == want[0] && slices.Equal(list, want)
}

// member is one resource of the patient compartment.
type member struct {
	typ, id string
	content []byte
	// refs are its Patient references through compartment parameters,
	// patients their distinct ids.
	refs     []index.Reference
	patients []string
}

// propagateAccounts applies the new accounts of Patient/patientID to its
// compartment (Patient resources excluded) and returns how many resources
// it processed.
func (t *tx) propagateAccounts(ctx context.Context, p *ward.Principal, project, patientID string, oldAccounts, accounts []string) (int, error) {
	members, err := t.compartmentMembers(ctx, project, patientID)
	if err != nil {
		return 0, err
	}
	removed := subtract(oldAccounts, accounts)
	var kept map[string][]string // patient id → its accounts
	if len(removed) > 0 {
		if kept, err = t.accountsByPatient(ctx, project, otherPatients(members, patientID)); err != nil {
			return 0, err
		}
	}
	m := serverMeta{
		lastUpdated: t.s.now().Format("2006-01-02T15:04:05.000Z07:00"),
		projectID:   project,
		author:      p.Author,
	}
	var changed []*changedMember
	for _, mb := range members {
		v, err := mb.withAccounts(m, accounts, removed, kept, patientID)
		if err != nil {
			return 0, err
		}
		if v != nil {
			changed = append(changed, v)
		}
	}
	if err := setAccountsStep(ctx, "propagating"); err != nil {
		return 0, err
	}
	if err := t.writeMembers(ctx, changed); err != nil {
		return 0, err
	}
	return len(members), nil
}

// compartmentMembers reads the live non-Patient resources whose
// compartments hold the patient, with the Patient ids they reference
// through their compartment parameters: a few queries for the whole
// compartment. The keys are read first and the rows then looked up by
// primary key: a join lets PostgreSQL pick another index of resources
// when its statistics are stale (freshly loaded tables), which made a
// compartment of 10,000 a scan per member. On PostgreSQL the rows stay
// locked until commit, so a concurrent update of a member is neither lost
// nor overwritten.
func (t *tx) compartmentMembers(ctx context.Context, project, patientID string) ([]*member, error) {
	keys, types, err := t.compartmentKeys(ctx, project, patientID)
	if err != nil {
		return nil, err
	}
	var members []*member
	byKey := map[string]*member{}
	for _, typ := range types {
		for chunk := range slices.Chunk(keys[typ], setRowsArgs) {
			cond, ids := t.in("id", chunk)
			err := t.eachRow(ctx, "SELECT id, content FROM resources WHERE project_id = ? AND resource_type = ? AND deleted = 0 AND "+
				cond+" ORDER BY id"+t.d.ForUpdate(), append([]any{project, typ}, ids...), func(scan func(...any) error) error {
				mb := &member{typ: typ}
				var content string
				if err := scan(&mb.id, &content); err != nil {
					return err
				}
				mb.content = []byte(content)
				members = append(members, mb)
				byKey[typ+"/"+mb.id] = mb
				return nil
			})
			if err != nil {
				return nil, err
			}
			cond, ids = t.in("resource_id", chunk)
			err = t.eachRow(ctx, "SELECT resource_id, param, target_id FROM search_reference WHERE project_id = ? AND resource_type = ? AND target_type = 'Patient' AND "+
				cond, append([]any{project, typ}, ids...), func(scan func(...any) error) error {
				var id, param, target string
				if err := scan(&id, &param, &target); err != nil {
					return err
				}
				if mb := byKey[typ+"/"+id]; mb != nil {
					mb.addPatient(param, target)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return members, nil
}

// compartmentKeys returns the ids of the non-Patient resources whose
// compartments hold the patient, by type, and the types in order.
func (t *tx) compartmentKeys(ctx context.Context, project, patientID string) (map[string][]any, []string, error) {
	rows, err := t.sql.QueryContext(ctx, t.d.Rebind(`SELECT resource_type, resource_id FROM resource_compartments
		WHERE project_id = ? AND compartment = ? AND resource_type <> 'Patient' ORDER BY resource_type, resource_id`), project, patientID)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	keys := map[string][]any{}
	var types []string
	for rows.Next() {
		var typ, id string
		if err := rows.Scan(&typ, &id); err != nil {
			return nil, nil, err
		}
		if ward.IsServerWrittenType(typ) {
			continue // the audit trail about the patient is append-only
		}
		if keys[typ] == nil {
			types = append(types, typ)
		}
		keys[typ] = append(keys[typ], id)
	}
	return keys, types, rows.Err()
}

// eachRow runs query and calls fn for each row.
func (t *tx) eachRow(ctx context.Context, query string, args []any, fn func(scan func(...any) error) error) error {
	rows, err := t.sql.QueryContext(ctx, t.d.Rebind(query), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// addPatient records a reference of the member to a Patient when it is
// one of its type's compartment parameters.
func (mb *member) addPatient(param, target string) {
	if !index.IsUUID(target) || !slices.Contains(fhir.PatientCompartmentParams(mb.typ), param) {
		return
	}
	mb.refs = append(mb.refs, index.Reference{Param: param, TargetType: "Patient", TargetID: target})
	if !slices.Contains(mb.patients, target) {
		mb.patients = append(mb.patients, target)
	}
}

// otherPatients lists the Patients other than patientID that members
// reference.
func otherPatients(members []*member, patientID string) []string {
	var out []string
	for _, mb := range members {
		for _, id := range mb.patients {
			if id != patientID && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}

// accountsByPatient reads the accounts of each of the given Patients
// (patientAccounts merges them; the removal rule needs them apart).
func (t *tx) accountsByPatient(ctx context.Context, project string, ids []string) (map[string][]string, error) {
	out := make(map[string][]string, len(ids))
	for chunk := range slices.Chunk(ids, 500) {
		ids := make([]any, len(chunk))
		for i, id := range chunk {
			ids[i] = id
		}
		cond, args := t.in("id", ids)
		query := "SELECT id, content FROM resources WHERE project_id = ? AND resource_type = 'Patient' AND deleted = 0 AND " + cond
		args = append([]any{project}, args...)
		rows, err := t.sql.QueryContext(ctx, t.d.Rebind(query), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, content string
			if err := rows.Scan(&id, &content); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = storedAccounts([]byte(content))
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// changedMember is the new version of a compartment member with the
// compartment ids it loses and gains.
type changedMember struct {
	v              *version
	dropped, added []string
	// indexDropped and indexAdded are those of the compartment index
	// (compartmentindex.go): the account compartments.
	indexDropped, indexAdded []string
}

// withAccounts returns the member's new version under Medplum's rule
// (additions = the requested accounts; removals = the target's old
// accounts no longer requested, minus those another referenced Patient
// still carries; existing order first), or nil when its accounts stay
// the same. m carries the shared lastUpdated, project and author.
func (mb *member) withAccounts(m serverMeta, additions, removed []string, kept map[string][]string, patientID string) (*changedMember, error) {
	stored, err := splitStored(mb.typ, mb.id, mb.content)
	if err != nil {
		return nil, fmt.Errorf("set-accounts: stored %s/%s: %w", mb.typ, mb.id, err)
	}
	current := stored.accounts
	removals := slices.DeleteFunc(slices.Clone(removed), func(a string) bool {
		for _, other := range mb.patients {
			if other != patientID && slices.Contains(kept[other], a) {
				return true // another patient of this resource still carries it
			}
		}
		return false
	})
	next := slices.DeleteFunc(slices.Clone(current), func(a string) bool { return slices.Contains(removals, a) })
	for _, a := range additions {
		if !slices.Contains(next, a) {
			next = append(next, a)
		}
	}
	if slices.Equal(current, next) {
		return nil, nil
	}
	m.versionID = ward.NewID()
	m.accounts = next
	refs, uuids := mb.compartments(m.projectID, next, stored.compartment)
	m.compartment = refs
	lastUpdated, err := time.Parse(time.RFC3339Nano, m.lastUpdated)
	if err != nil {
		return nil, err
	}
	res := &ward.Resource{
		Type: mb.typ, ID: mb.id, VersionID: m.versionID, ProjectID: m.projectID, LastUpdated: lastUpdated,
		Content: stored.withMeta(m),
	}
	old := compartmentIDs(stored.compartment)
	oldIndexed, indexed := indexedCompartments(stored.compartment), indexedCompartments(refs)
	return &changedMember{
		v:            &version{res: res, compartments: uuids, compartment: refs},
		dropped:      subtract(old, uuids),
		added:        subtract(uuids, old),
		indexDropped: subtract(oldIndexed, indexed),
		indexAdded:   subtract(indexed, oldIndexed),
	}, nil
}

// storedParts is stored JSON split around its meta object: the meta is
// replaced, the rest is copied byte for byte.
type storedParts struct {
	typ, id    string
	content    []byte
	start, end int     // the meta object is content[start:end]
	meta       []field // its members, in order
	// accounts (meta.account then meta.accounts) and meta.compartment.
	accounts, compartment []string
}

// splitStored finds the meta of stored content. encodeResource writes it
// third, after resourceType and id, so only the meta object is parsed;
// a resource with more members does not cost more to re-stamp. Content
// of another layout is parsed whole and written in that layout.
func splitStored(typ, id string, content []byte) (*storedParts, error) {
	prefix := `{"resourceType":"` + typ + `","id":"` + id + `","meta":`
	sp := &storedParts{typ: typ, id: id, content: content, start: len(prefix), end: objectEnd(content, len(prefix))}
	if !bytes.HasPrefix(content, []byte(prefix)) || sp.end < 0 {
		return sp.whole()
	}
	raw := content[sp.start:sp.end]
	var ok bool
	if sp.meta, ok = compactMembers(raw); !ok {
		var err error
		if sp.meta, err = orderedFields(raw); err != nil {
			return nil, err
		}
	}
	return sp, sp.readMeta()
}

// whole parses content of an unexpected layout entirely.
func (sp *storedParts) whole() (*storedParts, error) {
	d, err := decodeResource(sp.content)
	if err != nil {
		return nil, err
	}
	// Re-encoded in the usual layout; the server's meta members (accounts
	// and compartments among them) are rewritten anyway.
	canonical := encodeResource(sp.typ, sp.id, serverMeta{projectID: ward.SystemProjectID}, d)
	out := &storedParts{typ: sp.typ, id: sp.id, content: canonical, start: len(`{"resourceType":"` + sp.typ + `","id":"` + sp.id + `","meta":`)}
	if out.end = objectEnd(canonical, out.start); out.end < 0 {
		return nil, fmt.Errorf("set-accounts: cannot re-encode %s/%s", sp.typ, sp.id)
	}
	out.meta = d.meta
	return out, out.readMeta()
}

// readMeta decodes the account and compartment members of sp.meta; the
// others stay raw. Accounts read as clientAccounts reads them: account
// first, then accounts.
func (sp *storedParts) readMeta() error {
	var account struct{ Reference string }
	var accounts, compartment []struct{ Reference string }
	for _, f := range sp.meta {
		var err error
		switch f.key {
		case "account":
			err = json.Unmarshal(f.raw, &account)
		case "accounts":
			err = json.Unmarshal(f.raw, &accounts)
		case "compartment":
			err = json.Unmarshal(f.raw, &compartment)
		}
		if err != nil {
			return err
		}
	}
	sp.accounts = addRefs(nil, account.Reference)
	for _, r := range accounts {
		sp.accounts = addRefs(sp.accounts, r.Reference)
	}
	for _, r := range compartment {
		sp.compartment = append(sp.compartment, r.Reference)
	}
	return nil
}

// withMeta returns the content with its meta written anew from m and the
// meta members the server does not own.
func (sp *storedParts) withMeta(m serverMeta) []byte {
	var b bytes.Buffer
	b.Grow(len(sp.content) + 128)
	b.Write(sp.content[:sp.start])
	encodeMeta(&b, m, sp.meta)
	b.Write(sp.content[sp.end:])
	return b.Bytes()
}

// compactMembers splits a compact JSON object (as encodeResource writes
// it: no spaces, plain keys) into its members without decoding the
// values; false for anything else, which orderedFields then reads.
func compactMembers(obj []byte) ([]field, bool) {
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return nil, false
	}
	fields := make([]field, 0, 8)
	for i := 1; i < len(obj)-1; {
		if obj[i] != '"' {
			return nil, false
		}
		keyEnd := stringEnd(obj, i)
		if keyEnd < 0 || keyEnd >= len(obj) || obj[keyEnd] != ':' {
			return nil, false
		}
		key := obj[i+1 : keyEnd-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			return nil, false
		}
		start := keyEnd + 1
		end := valueEnd(obj, start)
		if end < 0 || end >= len(obj) || (obj[end] != ',' && obj[end] != '}') {
			return nil, false
		}
		fields = append(fields, field{key: string(key), raw: obj[start:end]})
		i = end + 1
	}
	return fields, true
}

// stringEnd returns the offset just past the JSON string at data[i].
func stringEnd(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// valueEnd returns the offset just past the compact JSON value at data[i].
func valueEnd(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		return stringEnd(data, i)
	case '{', '[':
		return objectEnd(data, i)
	}
	for j := i; j < len(data); j++ {
		if data[j] == ',' || data[j] == '}' || data[j] == ']' {
			return j
		}
	}
	return -1
}

// objectEnd returns the offset just past the JSON object or array that
// starts at data[i], or -1.
func objectEnd(data []byte, i int) int {
	if i >= len(data) || (data[i] != '{' && data[i] != '[') {
		return -1
	}
	depth, inString := 0, false
	for j := i; j < len(data); j++ {
		c := data[j]
		if inString {
			switch c {
			case '\\':
				j++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1
			}
		}
	}
	return -1
}

// compartmentIDs are the ids of meta.compartment, as resource_compartments
// holds them.
func compartmentIDs(refs []string) []string {
	var out []string
	for _, s := range refs {
		if _, id, ok := index.ParseReference(s); ok && index.IsUUID(id) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// memberCompartments is meta.compartment of a member with new accounts
// (spec 3.1), computed by index.Compartments from the accounts and the
// member's Patient references without re-extracting its index rows. The
// references come from the index, unordered: they are put back in the
// order the stored meta.compartment lists them.
func (mb *member) compartments(project string, accounts, oldCompartment []string) ([]string, []string) {
	order := make(map[string]int, len(oldCompartment))
	for i, ref := range oldCompartment {
		order[ref] = i
	}
	refs := slices.Clone(mb.refs)
	slices.SortStableFunc(refs, func(a, b index.Reference) int {
		ia, oka := order["Patient/"+a.TargetID]
		ib, okb := order["Patient/"+b.TargetID]
		switch {
		case oka && okb:
			return ia - ib
		case oka:
			return -1
		case okb:
			return 1
		}
		return strings.Compare(a.TargetID, b.TargetID)
	})
	list := make([]any, len(accounts))
	for i, a := range accounts {
		list[i] = map[string]any{"reference": a}
	}
	stand := map[string]any{"meta": map[string]any{"accounts": list}}
	return index.Compartments(project, mb.typ, mb.id, stand, &index.Rows{References: refs})
}

// writeMembers writes the changed versions: resources rows, history rows
// and the compartment rows that differ, each as chunked multi-row
// statements.
func (t *tx) writeMembers(ctx context.Context, changed []*changedMember) error {
	if len(changed) == 0 {
		return nil
	}
	rows := make([][]any, len(changed))
	for i, c := range changed {
		r := c.v.res
		rows[i] = []any{r.ProjectID, r.Type, r.ID, r.VersionID, toMicros(r.LastUpdated), 0, string(r.Content)}
	}
	const cols = "(project_id, resource_type, id, version_id, last_updated, deleted, content)"
	if err := t.execRows(ctx, "INSERT INTO resources "+cols, rows,
		" ON CONFLICT (project_id, resource_type, id) DO UPDATE SET version_id = excluded.version_id, last_updated = excluded.last_updated, content = excluded.content"); err != nil {
		return err
	}
	if err := setAccountsStep(ctx, "wrote-resources"); err != nil {
		return err
	}
	if err := t.execRows(ctx, "INSERT INTO resource_history "+cols, rows, ""); err != nil {
		return err
	}
	if err := setAccountsStep(ctx, "wrote-history"); err != nil {
		return err
	}
	if err := t.updateCompartments(ctx, changed); err != nil {
		return err
	}
	for _, c := range changed {
		t.written = append(t.written, c.v.res)
		t.noteChange(c.v.res, OpUpdate, c.v.compartment)
	}
	return nil
}

// updateCompartments deletes the compartment rows the changed resources
// lost, one statement per lost account and type (the primary key's
// order), and inserts the rows they gained.
func (t *tx) updateCompartments(ctx context.Context, changed []*changedMember) error {
	type lost struct{ compartment, typ string }
	ids := map[lost][]any{}
	var order []lost
	var added [][]any
	for _, c := range changed {
		r := c.v.res
		for _, comp := range c.dropped {
			k := lost{comp, r.Type}
			if ids[k] == nil {
				order = append(order, k)
			}
			ids[k] = append(ids[k], r.ID)
		}
		for _, comp := range c.added {
			added = append(added, []any{r.ProjectID, comp, r.Type, r.ID})
		}
	}
	project := changed[0].v.res.ProjectID
	for _, k := range order {
		for chunk := range slices.Chunk(ids[k], setRowsArgs) {
			cond, args := t.in("resource_id", chunk)
			query := "DELETE FROM resource_compartments WHERE project_id = ? AND compartment = ? AND resource_type = ? AND " + cond
			if _, err := t.sql.ExecContext(ctx, t.d.Rebind(query), append([]any{project, k.compartment, k.typ}, args...)...); err != nil {
				return err
			}
		}
	}
	if err := setAccountsStep(ctx, "deleted-compartments"); err != nil {
		return err
	}
	if err := t.execRows(ctx, "INSERT INTO resource_compartments (project_id, compartment, resource_type, resource_id)", added, " ON CONFLICT DO NOTHING"); err != nil {
		return err
	}
	return t.moveCompartmentIndexes(ctx, project, changed)
}

// moveCompartmentIndexes moves the compartment index rows of the changed
// resources, one statement per table, compartment, type and direction.
func (t *tx) moveCompartmentIndexes(ctx context.Context, project string, changed []*changedMember) error {
	type move struct {
		compartment, typ string
		gained           bool
	}
	ids := map[move][]any{}
	var order []move
	note := func(k move, id string) {
		if ids[k] == nil {
			order = append(order, k)
		}
		ids[k] = append(ids[k], id)
	}
	for _, c := range changed {
		r := c.v.res
		for _, comp := range c.indexDropped {
			note(move{comp, r.Type, false}, r.ID)
		}
		for _, comp := range c.indexAdded {
			note(move{comp, r.Type, true}, r.ID)
		}
	}
	for _, k := range order {
		for chunk := range slices.Chunk(ids[k], setRowsArgs) {
			if err := t.moveCompartmentIndex(ctx, project, k.typ, k.compartment, chunk, k.gained); err != nil {
				return err
			}
		}
	}
	return nil
}

// setRowsArgs bounds the arguments of one statement, under SQLite's
// (32766) and PostgreSQL's (65535) limits: a compartment of 10,000
// resources is a dozen statements per table.
const setRowsArgs = 30000

// in returns "col IN (?,…)" with ids as arguments or, on PostgreSQL,
// "col = ANY(?)" with one array argument: a statement of 10,000
// placeholders costs PostgreSQL more to parse than to run.
func (t *tx) in(col string, ids []any) (string, []any) {
	if t.d.Name() != "postgres" {
		return col + " IN (?" + repeat(",?", len(ids)-1) + ")", ids
	}
	arr := make([]string, len(ids))
	for i, id := range ids {
		arr[i], _ = id.(string)
	}
	return col + " = ANY(?)", []any{arr}
}

// execRows runs head VALUES (…),(…)… tail over rows in as few
// statements as the argument limit allows; on PostgreSQL head SELECT
// FROM unnest(…) tail, one array per column, in one statement. Values
// are strings or int64s.
func (t *tx) execRows(ctx context.Context, head string, rows [][]any, tail string) error {
	if len(rows) == 0 {
		return nil
	}
	if t.d.Name() == "postgres" {
		query, args := unnestRows(head, rows, tail)
		_, err := t.sql.ExecContext(ctx, query, args...)
		return err
	}
	width := len(rows[0])
	args := make([]any, 0, len(rows)*width)
	for _, r := range rows {
		args = append(args, r...)
	}
	return t.execChunks(ctx, head, width, len(rows), args, tail)
}

// unnestRows is the PostgreSQL form of execRows: the rows as column
// arrays.
func unnestRows(head string, rows [][]any, tail string) (string, []any) {
	width := len(rows[0])
	args := make([]any, width)
	casts := make([]string, width)
	for j := range width {
		switch rows[0][j].(type) {
		case string:
			col := make([]string, len(rows))
			for i, r := range rows {
				col[i] = r[j].(string)
			}
			args[j], casts[j] = col, fmt.Sprintf("$%d::text[]", j+1)
		default:
			col := make([]int64, len(rows))
			for i, r := range rows {
				col[i] = toInt64(r[j])
			}
			args[j], casts[j] = col, fmt.Sprintf("$%d::bigint[]", j+1)
		}
	}
	return head + " SELECT * FROM unnest(" + strings.Join(casts, ", ") + ")" + tail, args
}

func toInt64(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int:
		return int64(x)
	}
	panic(fmt.Sprintf("set-accounts: unexpected column value %T", v))
}

// subtract returns the members of a not in b.
func subtract(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// keyLock is a set of held keys: the running $set-accounts targets of a
// SQLite store, where one process is the only writer. The zero value is
// ready.
type keyLock struct {
	mu   sync.Mutex
	held map[string]bool
}

// tryLock takes key, or reports false when it is held.
func (l *keyLock) tryLock(key string) (unlock func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[key] {
		return nil, false
	}
	if l.held == nil {
		l.held = map[string]bool{}
	}
	l.held[key] = true
	return func() {
		l.mu.Lock()
		delete(l.held, key)
		l.mu.Unlock()
	}, true
}

// setAccountsHookKey carries a test hook through the context: it is
// called at each named step of a run and may fail it or hold it.
type setAccountsHookKey struct{}

func setAccountsStep(ctx context.Context, step string) error {
	if hook, ok := ctx.Value(setAccountsHookKey{}).(func(step string) error); ok {
		return hook(step)
	}
	return nil
}
