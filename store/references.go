package store

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
)

// Cross-project references (spec 4.3, and Ward's stricter rule of issue
// 3): on every create and update by a non-system caller, a reference to a
// resource that exists in a project the caller cannot read is rejected
// (400, issue code structure), whatever Project.checkReferencesOnWrite
// says. With that flag (Principal.CheckReferences) every reference must
// also resolve to a resource the caller can read.
//
// Cost: one query finds the targets the caller can read (by primary key,
// under the typed wall); only references it did not find are looked for
// in every project, with one query that seeks the index on the id alone
// (resources_by_id, non-unique so the schema stays distributable by
// project).

// refAt is one reference of a resource being written.
type refAt struct {
	typ, id, path string
	// system marks the references checked with system rights
	// (Project.owner, Project.link.project, ProjectMembership.user and
	// ProjectMembership.invitedBy).
	system bool
}

// checkReferences queues the references of d for the check that runs
// once for the whole transaction, before commit (checkQueuedReferences):
// a bundle of 100 resources costs two queries, not 200.
//
// Like the rest of the policy, the check applies to callers with a policy
// (every request principal) or with checkReferencesOnWrite; a principal
// without either (server internals, store tests) keeps the plain wall.
func (t *tx) checkReferences(ctx context.Context, p *ward.Principal, typ string, d *decodedResource) error {
	if p.System || !enforced(p) && !p.CheckReferences {
		return nil
	}
	if refs := collectReferences(typ, d); len(refs) > 0 {
		t.refChecks = append(t.refChecks, queuedRefs{p, refs})
	}
	return nil
}

// queuedRefs are references written by one principal, checked at commit.
type queuedRefs struct {
	p    *ward.Principal
	refs []refAt
}

// checkQueuedReferences runs the queued checks, grouped by principal.
func (t *tx) checkQueuedReferences(ctx context.Context) error {
	queued := t.refChecks
	t.refChecks = nil
	for len(queued) > 0 {
		p := queued[0].p
		var refs []refAt
		rest := queued[:0]
		for _, q := range queued {
			if q.p == p {
				refs = append(refs, q.refs...)
			} else {
				rest = append(rest, q)
			}
		}
		queued = rest
		if err := t.checkRefs(ctx, p, refs); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) checkRefs(ctx context.Context, p *ward.Principal, refs []refAt) error {
	var walled []refAt
	for _, r := range refs {
		if !r.system && validID(r.id) {
			walled = append(walled, r)
		}
	}
	readable, err := t.readableTargets(ctx, p, walled)
	if err != nil {
		return err
	}
	var elsewhere []refAt
	for _, r := range refs {
		if validID(r.id) && !readable[r.typ+"/"+r.id] && (!r.system || p.CheckReferences) {
			elsewhere = append(elsewhere, r)
		}
	}
	existing, err := t.targetsAnywhere(ctx, elsewhere)
	if err != nil {
		return err
	}
	for _, r := range refs {
		key := r.typ + "/" + r.id
		project, exists := existing[key]
		switch {
		case r.system:
			if p.CheckReferences && !exists {
				return badReference(r.path)
			}
		case readable[key]:
		// Server-scoped resources (a User of no project, as named by
		// ProjectMembership.invitedBy or AuditEvent agents) belong to no
		// tenant: a reference to one is no reference into another project.
		case exists && project != ward.SystemProjectID:
			return badReference(r.path) // in a project the caller cannot read
		case p.CheckReferences:
			return badReference(r.path)
		}
	}
	if p.CheckReferences {
		return t.referencesMeetPolicy(ctx, p, walled)
	}
	return nil
}

func badReference(path string) error {
	return &ward.Error{Code: ward.ESTRUCTURE, Message: "Invalid reference (Not found)", Expression: []string{path}}
}

// readableTargets returns the "Type/id" of refs that exist, not deleted,
// in the caller's read scope for their type.
func (t *tx) readableTargets(ctx context.Context, p *ward.Principal, refs []refAt) (map[string]bool, error) {
	out := map[string]bool{}
	if len(refs) == 0 {
		return out, nil
	}
	c, err := newCompiler(p, nil, t.s.now())
	if err != nil {
		return nil, err
	}
	// One SELECT per target type, UNION ALL: each is a primary key lookup
	// (an OR of them defeats the engines' index choice).
	for i, g := range groupByType(refs) {
		if i > 0 {
			c.w(" UNION ALL ")
		}
		c.w("SELECT r.resource_type, r.id FROM resources r WHERE r.resource_type = ")
		c.arg(g.typ)
		c.wall("r.project_id", g.typ)
		c.in("r.id", g.ids)
		c.w(" AND r.deleted = 0")
	}
	return t.refSet(ctx, c.sql.String(), c.args)
}

// targetsAnywhere returns the project of each of refs that exists (not
// deleted, committed) in any project, read with system rights.
func (t *tx) targetsAnywhere(ctx context.Context, refs []refAt) (map[string]string, error) {
	if len(refs) == 0 {
		return map[string]string{}, nil
	}
	query, args := anywhereQuery(refs)
	// Committed rows suffice: a target written by this transaction is in
	// the caller's project and was found readable. The read pool keeps its
	// prepared statements across transactions.
	rows, err := t.s.readerOf().q.QueryContext(ctx, t.d.Rebind(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var typ, id, project string
		if err := rows.Scan(&typ, &id, &project); err != nil {
			return nil, err
		}
		out[typ+"/"+id] = project
	}
	return out, rows.Err()
}

// anywhereQuery selects typ, id and project of each of refs that exists,
// not deleted, in any project: one SELECT per type, each a seek of the
// index on the id alone (resources_by_id), whatever the number of projects.
func anywhereQuery(refs []refAt) (string, []any) {
	var b strings.Builder
	var args []any
	for i, g := range groupByType(refs) {
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		b.WriteString("SELECT resource_type, id, project_id FROM resources WHERE resource_type = ? AND id IN (?" +
			repeat(", ?", len(g.ids)-1) + ") AND deleted = 0")
		args = append(args, g.typ)
		for _, id := range g.ids {
			args = append(args, id)
		}
	}
	return b.String(), args
}

func (t *tx) refSet(ctx context.Context, query string, args []any) (map[string]bool, error) {
	return refSet(ctx, t.q, t.d, query, args)
}

func refSet(ctx context.Context, q queryer, d Dialect, query string, args []any) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, d.Rebind(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var typ, id string
		if err := rows.Scan(&typ, &id); err != nil {
			return nil, err
		}
		out[typ+"/"+id] = true
	}
	return out, rows.Err()
}

// referencesMeetPolicy: under checkReferencesOnWrite every target must
// also meet a read rule of the caller's policy.
func (t *tx) referencesMeetPolicy(ctx context.Context, p *ward.Principal, refs []refAt) error {
	if !enforced(p) {
		return nil
	}
	for _, g := range groupByType(refs) {
		rules := grantingRules(p.Policy, g.typ, ward.InteractionRead)
		match := map[string]int{}
		if len(rules) > 0 {
			var err error
			if match, err = firstMatch(ctx, t.q, t.d, p, g.typ, g.ids, rules); err != nil {
				return err
			}
		}
		for _, r := range refs {
			if k, ok := match[r.id]; r.typ == g.typ && (!ok || k < 0) {
				return badReference(r.path)
			}
		}
	}
	return nil
}

type typeGroup struct {
	typ string
	ids []string
}

func groupByType(refs []refAt) []typeGroup {
	var out []typeGroup
	index := map[string]int{}
	seen := map[string]bool{}
	for _, r := range refs {
		if seen[r.typ+"/"+r.id] {
			continue
		}
		seen[r.typ+"/"+r.id] = true
		i, ok := index[r.typ]
		if !ok {
			i = len(out)
			index[r.typ] = i
			out = append(out, typeGroup{typ: r.typ})
		}
		out[i].ids = append(out[i].ids, r.id)
	}
	return out
}

// collectReferences returns the literal references of d outside meta and
// contained resources, in document order of the top-level members, with
// their FHIRPath (Patient.generalPractitioner[0]). Empty, local (#),
// variable (%), conditional (?), urn: and absolute references are skipped.
func collectReferences(typ string, d *decodedResource) []refAt {
	var out []refAt
	for _, f := range d.fields {
		if f.key == "contained" {
			continue
		}
		walkReferences(typ+"."+f.key, d.tree[f.key], &out)
	}
	for i := range out {
		out[i].system = typ == "Project" && (out[i].path == "Project.owner" || strings.HasPrefix(out[i].path, "Project.link[")) ||
			typ == "ProjectMembership" && (out[i].path == "ProjectMembership.user" || out[i].path == "ProjectMembership.invitedBy")
	}
	return out
}

func walkReferences(path string, v any, out *[]refAt) {
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			walkReferences(path+"["+strconv.Itoa(i)+"]", e, out)
		}
	case map[string]any:
		if s, ok := x["reference"].(string); ok {
			if typ, id, ok := literalReference(s); ok {
				*out = append(*out, refAt{typ: typ, id: id, path: path})
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			if k != "reference" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			walkReferences(path+"."+k, x[k], out)
		}
	}
}

// literalReference splits "Type/id" (or "Type/id/_history/v").
func literalReference(s string) (typ, id string, ok bool) {
	if s == "" || strings.ContainsAny(s, "#%?:") {
		return "", "", false
	}
	parts := strings.Split(s, "/")
	if len(parts) != 2 && !(len(parts) == 4 && parts[2] == "_history") {
		return "", "", false
	}
	if !fhir.IsResourceType(parts[0]) || parts[1] == "" {
		return "", "", false
	}
	return parts[0], parts[1], true
}
