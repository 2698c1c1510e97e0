package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
	"github.com/wardhealth/ward/index"
)

// Patient/$everything: the patient and every resource in its Patient
// compartment (Medplum's searchPatientCompartment: a _compartment search
// over every compartment type). Ward answers a page with one query driven
// from the compartment key (project_id, compartment, resource_type,
// resource_id): each type the caller may search is one OR branch carrying
// that type's project wall and access-policy criteria, compiled by the
// same compiler as a search, so paging and hidden fields are exactly a
// search's and nothing is filtered after the page is cut. Types the
// policy does not grant are left out of the query (not a 403 for the whole
// call). Pages are in (type, id) order, the key's order, so a page costs
// offset + count lookups; Medplum sorts by id alone.

// maxEverythingCount caps _count; it is also the default page size
// (Medplum's defaultMaxResults).
const maxEverythingCount = 1000

// everythingAlias is the compartment key row of the page query.
const everythingAlias = "ek"

// PatientEverything returns a page of Patient/id's compartment as the
// caller sees it: the patient itself and the resources of types (nil:
// every compartment type) whose meta.compartment names it, last updated at
// or after since ("" for any time). count 0 is the default page. The
// patient must be readable by the caller (ENOTFOUND otherwise, EFORBIDDEN
// when the policy grants no Patient read, like a read).
func (s *Store) PatientEverything(ctx context.Context, id string, types []string, since string, count, offset int) (*ward.SearchResult, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if slices.Contains(types, "AuditEvent") {
		s.awaitTrail(ctx)
	}
	r := s.readerOf()
	patient, err := r.Read(ctx, "Patient", id)
	if err != nil {
		return nil, err
	}
	var filters []ward.SearchFilter
	if since != "" {
		if _, _, ok := index.DateRange(since); !ok {
			return nil, ward.Errorf(ward.EINVALID, "Invalid value for parameter _since: %s", since)
		}
		filters = append(filters, ward.SearchFilter{Code: "_lastUpdated", Type: "date", Values: []ward.SearchValue{{Prefix: "ge", Value: since}}})
	}
	searchable, err := everythingTypes(p, types)
	if err != nil {
		return nil, err
	}
	if count <= 0 {
		count = maxEverythingCount
	}
	count = min(count, maxEverythingCount)
	res := &ward.SearchResult{Total: -1}
	if len(searchable) == 0 {
		return res, nil
	}
	query, args, err := everythingPage(p, patient, searchable, filters, count+1, max(offset, 0))
	if err != nil {
		return nil, err
	}
	if res.Matches, err = scanResources(ctx, r.q, r.d.Rebind(query), args); err != nil {
		return nil, err
	}
	if len(res.Matches) > count {
		res.Matches, res.HasMore = res.Matches[:count], true
	}
	return res, present(ctx, r.q, r.d, p, res.Matches)
}

// everythingTypes returns, sorted, the compartment types among types (nil:
// all of them but AuditEvent; Patient always) that p may search. A type
// that is not a resource type is EINVALID; one outside the compartment has
// no members. The audit trail is in the compartment, but $everything is
// the chart: who looked at it (a record that every $everything adds to)
// comes only when _type names AuditEvent.
func everythingTypes(p *ward.Principal, types []string) ([]string, error) {
	for _, t := range types {
		if !fhir.IsResourceType(t) {
			return nil, ward.Errorf(ward.EINVALID, "Invalid resource type in _type: %s", t)
		}
	}
	var out []string
	for _, t := range fhir.ResourceTypes() {
		inCompartment := t == "Patient" || fhir.PatientCompartmentParams(t) != nil
		wanted := t == "Patient" || types == nil && t != "AuditEvent" || slices.Contains(types, t)
		if !inCompartment || !wanted || t == "Binary" {
			continue
		}
		if _, err := allowedRules(p, t, ward.InteractionSearch); err != nil {
			continue // not granted: skipped, as Medplum's multi-type search does
		}
		out = append(out, t)
	}
	slices.Sort(out)
	return out, nil
}

// everythingPage compiles the page query: the compartment key rows of the
// patient, each joined to its resource row, which must pass its type's
// branch (wall, not deleted, policy criteria, filters).
func everythingPage(p *ward.Principal, patient *ward.Resource, types []string, filters []ward.SearchFilter, limit, offset int) (string, []any, error) {
	branches, err := everythingBranches(p, types, filters)
	if err != nil {
		return "", nil, err
	}
	c, err := newCompiler(p, nil, time.Now())
	if err != nil {
		return "", nil, err
	}
	k := everythingAlias
	// The key rows drive: SQLite keeps the left table of a CROSS JOIN
	// outer, and every condition on r is a primary-key lookup or a test
	// of the row found. Each branch tests the key's type, not r's, so
	// PostgreSQL has no reason to walk r by type either.
	c.w("SELECT ", resourceColumns, " FROM resource_compartments ", k, " CROSS JOIN resources r WHERE ", k, ".compartment = ")
	c.arg(patient.ID)
	c.w(" AND r.project_id = ", k, ".project_id AND r.resource_type = ", k, ".resource_type AND r.id = ", k, ".resource_id")
	everythingProjects(c, k+".project_id", p, patient.ProjectID, types)
	c.in(k+".resource_type", types)
	if len(branches) == 1 {
		// One branch holds every type (an admin's): the list above is its
		// type test.
		c.w(branches[0].sql)
		c.args = append(c.args, branches[0].args...)
		return everythingOrder(c, k, limit, offset)
	}
	c.w(" AND (")
	for i, b := range branches {
		if i > 0 {
			c.w(" OR ")
		}
		c.w("(", k, ".resource_type IN (")
		c.list(b.types)
		c.w(")", b.sql, ")")
		c.args = append(c.args, b.args...)
	}
	c.w(")")
	return everythingOrder(c, k, limit, offset)
}

// everythingOrder ends the page query: the key's order, then the page.
func everythingOrder(c *compiler, k string, limit, offset int) (string, []any, error) {
	c.w(" ORDER BY ", k, ".resource_type, ", k, ".resource_id LIMIT ")
	c.arg(limit)
	c.w(" OFFSET ")
	c.arg(offset)
	return c.sql.String(), c.args, nil
}

// branchKey identifies a branch's conditions: its SQL and arguments.
func branchKey(sql string, args []any) string {
	var b strings.Builder
	b.WriteString(sql)
	for _, a := range args {
		b.WriteByte(0)
		if s, ok := a.(string); ok {
			b.WriteString(s)
		} else {
			fmt.Fprintf(&b, "%T:%v", a, a)
		}
	}
	return b.String()
}

// everythingProjects writes the projects the key rows may lie in: those
// whose rows of some of types p may read. Usually that is the caller's
// project alone, an equality that lets the page follow the key's order
// (project_id, compartment, resource_type, resource_id) and stop early.
// The system principal (a super admin) reads every project; its page is
// kept to the patient's own, since every key starts with the project and
// a compartment across all projects would be a scan of the whole table.
func everythingProjects(c *compiler, col string, p *ward.Principal, patientProject string, types []string) {
	var projects []string
	if p.System {
		projects = []string{patientProject}
	}
	for _, t := range types {
		projects = addRefs(projects, readProjectsFor(p, t)...)
	}
	scopeWriter{w: c.w, arg: c.arg}.in(col, projects)
}

// branch is the condition a row of any of types meets after its type
// test; types whose conditions compile alike (an admin's, say: the same
// wall, no criteria) share one, which keeps the query short.
type branch struct {
	types []string
	sql   string
	args  []any
}

// everythingBranches compiles each type's search conditions on r (as a
// search of that type with filters would) and groups equal ones.
func everythingBranches(p *ward.Principal, types []string, filters []ward.SearchFilter) ([]*branch, error) {
	extra := policyPredicate(p, ward.InteractionSearch)
	var out []*branch
	byKey := map[string]*branch{}
	for _, t := range types {
		c, err := newCompiler(p, extra, time.Now())
		if err != nil {
			return nil, err
		}
		if err := c.resourcesWhere("r", t, filters); err != nil {
			return nil, err
		}
		sql, args := c.sql.String(), c.args
		// resourcesWhere opens with the type test, which the branch
		// writes itself for all of its types.
		const typeTest = "r.resource_type = ?"
		if !strings.HasPrefix(sql, typeTest) || len(args) == 0 || args[0] != t {
			return nil, fmt.Errorf("store: $everything: unexpected conditions for %s: %.60s", t, sql)
		}
		sql, args = sql[len(typeTest):], args[1:]
		key := branchKey(sql, args)
		if b, ok := byKey[key]; ok {
			b.types = append(b.types, t)
			continue
		}
		b := &branch{types: []string{t}, sql: sql, args: args}
		byKey[key] = b
		out = append(out, b)
	}
	return out, nil
}
