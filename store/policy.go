package store

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/wardhealth/ward"
)

// Access policy enforcement (spec 2.4-2.8). The policy is compiled into
// SQL: a read path adds the OR of the criteria of the rules granting its
// interaction through the Predicate seam, so paging and counts stay right.
// Which rule a resource matches (for hiddenFields, readonlyFields and the
// write pre- and post-checks) is also decided in SQL: one CASE over the
// rules' criteria against the stored row (firstMatch), never by a second,
// in-memory reading of the criteria that could disagree with the search.
//
// A principal without a policy (ward.SystemPrincipal, tests) is limited by
// the project wall only; protected types are closed to every non-system
// caller whatever its policy. A super admin (System with a Policy) crosses
// projects but keeps the restrictions its own policy states (spec 2.9,
// row 36); for it a "*" rule also covers the protected types.

// enforced reports whether p's access policy applies.
func enforced(p *ward.Principal) bool { return p.Policy != nil }

// writeInteractions are the interactions that change data.
const writeInteractions = ward.InteractionCreate | ward.InteractionUpdate | ward.InteractionDelete

func forbidden() error { return &ward.Error{Code: ward.EFORBIDDEN, Message: "Forbidden"} }

// allowedRules is the shallow check (spec 2.4): the rules granting i on
// typ, or 403 when there are none. nil, nil when no policy applies.
func allowedRules(p *ward.Principal, typ string, i ward.Interaction) ([]*ward.PolicyRule, error) {
	if typ == "Binary" && i == ward.InteractionSearch {
		return nil, invalid("Cannot search on Binary resource type") // spec 2.10a
	}
	if ward.IsProtectedType(typ) && !p.System {
		return nil, forbidden()
	}
	if ward.IsServerWrittenType(typ) && !p.Internal && i&writeInteractions != 0 {
		return nil, forbidden()
	}
	if p.Policy == nil {
		return nil, nil
	}
	rules := rulesFor(p, typ, i)
	if len(rules) == 0 {
		return nil, forbidden()
	}
	return rules, nil
}

// grantingRules is Policy.RulesFor without the protected types, which no
// rule can grant to a non-system caller.
func grantingRules(pol *ward.Policy, typ string, i ward.Interaction) []*ward.PolicyRule {
	if ward.IsProtectedType(typ) {
		return nil
	}
	return pol.RulesFor(typ, i)
}

// rulesFor is grantingRules for principal p: a super admin's rules also
// reach the protected types, through "*" or by name.
func rulesFor(p *ward.Principal, typ string, i ward.Interaction) []*ward.PolicyRule {
	if !p.System || !ward.IsProtectedType(typ) {
		return grantingRules(p.Policy, typ, i)
	}
	var out []*ward.PolicyRule
	for k := range p.Policy.Rules {
		r := &p.Policy.Rules[k]
		if r.Interactions&i != 0 && (r.ResourceType == typ || r.ResourceType == "*") {
			out = append(out, r)
		}
	}
	return out
}

// policyPredicate is the Predicate of p's policy for interaction i; nil
// when no policy applies.
func policyPredicate(p *ward.Principal, i ward.Interaction) Predicate {
	if !enforced(p) {
		return nil
	}
	return func(typ string) ([][]ward.SearchFilter, bool) {
		rules := rulesFor(p, typ, i)
		if typ == "Binary" && len(rules) > 0 {
			return nil, false // Binary has no criteria to meet (spec 2.10a)
		}
		anyOf := make([][]ward.SearchFilter, 0, len(rules))
		for _, r := range rules {
			if len(r.Criteria) == 0 {
				return nil, false
			}
			anyOf = append(anyOf, r.Criteria)
		}
		return anyOf, true
	}
}

// firstMatch returns, for each id of typ, the index in rules of the first
// rule whose criteria the current stored row meets (-1 for none, absent
// for an id without a visible row).
func firstMatch(ctx context.Context, db queryer, d Dialect, p *ward.Principal, typ string, ids []string, rules []*ward.PolicyRule) (map[string]int, error) {
	out := make(map[string]int, len(ids))
	if len(rules) > 0 && (len(rules[0].Criteria) == 0 || typ == "Binary") {
		for _, id := range ids {
			out[id] = 0
		}
		return out, nil
	}
	c, err := newCompiler(p, nil, time.Now())
	if err != nil {
		return nil, err
	}
	c.w("SELECT r.id, CASE")
	for k, rule := range rules {
		c.w(" WHEN (1 = 1")
		for j := range rule.Criteria {
			c.w(" AND ")
			if err := c.filter("r", typ, &rule.Criteria[j]); err != nil {
				return nil, err
			}
		}
		c.w(") THEN ")
		c.arg(k)
		if len(rule.Criteria) == 0 {
			break
		}
	}
	c.w(" ELSE -1 END FROM resources r WHERE r.resource_type = ")
	c.arg(typ)
	c.wall("r.project_id", typ)
	c.in("r.id", ids)
	rows, err := db.QueryContext(ctx, d.Rebind(c.sql.String()), c.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var k int
		if err := rows.Scan(&id, &k); err != nil {
			return nil, err
		}
		out[id] = k
	}
	return out, rows.Err()
}

// matchOne is firstMatch for one resource: -1 when no rule matches.
func matchOne(ctx context.Context, db queryer, d Dialect, p *ward.Principal, typ, id string, rules []*ward.PolicyRule) (int, error) {
	m, err := firstMatch(ctx, db, d, p, typ, []string{id}, rules)
	if err != nil {
		return -1, err
	}
	if k, ok := m[id]; ok {
		return k, nil
	}
	return -1, nil
}

// redact removes from each resource the hiddenFields of the first rule
// granting read that matches it (spec 2.8). A resource no rule matches
// (a version of a resource deleted since) loses the hidden fields of
// every read rule of its type.
func redact(ctx context.Context, db queryer, d Dialect, p *ward.Principal, resources []*ward.Resource) error {
	if !enforced(p) {
		return nil
	}
	byType := map[string][]*ward.Resource{}
	var order []string
	for _, r := range resources {
		if r == nil || r.Content == nil {
			continue
		}
		if _, ok := byType[r.Type]; !ok {
			order = append(order, r.Type)
		}
		byType[r.Type] = append(byType[r.Type], r)
	}
	for _, typ := range order {
		rules := rulesFor(p, typ, ward.InteractionRead)
		if !anyHidden(rules) {
			continue
		}
		list := byType[typ]
		ids := make([]string, 0, len(list))
		for _, r := range list {
			ids = append(ids, r.ID)
		}
		match, err := firstMatch(ctx, db, d, p, typ, ids, rules)
		if err != nil {
			return err
		}
		for _, r := range list {
			hidden := allHidden(rules)
			if k, ok := match[r.ID]; ok && k >= 0 {
				hidden = rules[k].HiddenFields
			}
			if r.Content, err = removeFields(r.Content, hidden); err != nil {
				return err
			}
		}
	}
	return nil
}

func anyHidden(rules []*ward.PolicyRule) bool {
	for _, r := range rules {
		if len(r.HiddenFields) > 0 {
			return true
		}
	}
	return false
}

func allHidden(rules []*ward.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		out = append(out, r.HiddenFields...)
	}
	return out
}

// removeFields removes dot paths from stored JSON, keeping the order of
// the top-level members. A path walks arrays: name.family removes family
// from every name.
func removeFields(content []byte, paths []string) ([]byte, error) {
	if len(paths) == 0 {
		return content, nil
	}
	fields, err := orderedFields(content)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	for _, f := range fields {
		raw := f.raw
		drop := false
		for _, path := range paths {
			head, rest, nested := strings.Cut(path, ".")
			if head != f.key {
				continue
			}
			if !nested {
				drop = true
				break
			}
			if raw, err = removeNested(raw, rest); err != nil {
				return nil, err
			}
		}
		if drop {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		writeString(&b, f.key)
		b.WriteByte(':')
		b.Write(raw)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// removeNested removes path from the JSON value raw.
func removeNested(raw json.RawMessage, path string) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if !removePath(v, strings.Split(path, ".")) {
		return raw, nil
	}
	return json.Marshal(v)
}

// removePath deletes the member at path under v (walking arrays) and
// reports whether anything was removed.
func removePath(v any, path []string) bool {
	switch x := v.(type) {
	case []any:
		removed := false
		for _, e := range x {
			removed = removePath(e, path) || removed
		}
		return removed
	case map[string]any:
		if len(path) == 1 {
			_, ok := x[path[0]]
			delete(x, path[0])
			return ok
		}
		if next, ok := x[path[0]]; ok {
			return removePath(next, path[1:])
		}
	}
	return false
}

// historyPolicy writes the policy condition on history rows h: for one
// type, its current row meets a rule granting history; for every type,
// the same per explicitly named type, and the "*" rules for the others.
// "*" criteria are compiled without a type here, so only their common
// parameters (_compartment, _id, _lastUpdated) can match.
func (c *compiler) historyPolicy(typ string) error {
	if typ != "" {
		return c.currentMeets("h", typ)
	}
	var explicit []string
	var star []*ward.PolicyRule
	for k := range c.p.Policy.Rules {
		r := &c.p.Policy.Rules[k]
		switch {
		case r.Interactions&ward.InteractionHistory == 0 || ward.IsProtectedType(r.ResourceType):
		case r.ResourceType == "*":
			star = append(star, r)
		case !containsString(explicit, r.ResourceType):
			explicit = append(explicit, r.ResourceType)
		}
	}
	c.w(" AND (1 = 0")
	for _, t := range explicit {
		c.w(" OR (h.resource_type = ")
		c.arg(t)
		if err := c.currentMeets("h", t); err != nil {
			return err
		}
		c.w(")")
	}
	if len(star) > 0 && !containsString(explicit, "Binary") {
		// Criteria never restrict Binary (spec 2.10a).
		c.w(" OR h.resource_type = 'Binary'")
	}
	if len(star) > 0 {
		c.w(" OR (h.resource_type NOT IN ('Binary', 'Project', 'ProjectMembership', 'User', 'UserSecurityRequest', 'DomainConfiguration', 'JsonWebKey', 'Login'")
		for _, t := range explicit {
			c.w(", ")
			c.arg(t)
		}
		c.w(")")
		if err := c.starMeets("h", star); err != nil {
			return err
		}
		c.w(")")
	}
	c.w(")")
	return nil
}

// currentMeets writes " AND <h's current row meets the predicate of typ>",
// nothing when typ is not restricted.
func (c *compiler) currentMeets(h, typ string) error {
	if _, restricted := c.extra(typ); !restricted {
		return nil
	}
	c.w(" AND (", h, ".project_id, ", h, ".id) IN (SELECT r.project_id, r.id FROM resources r WHERE r.resource_type = ")
	c.arg(typ)
	c.wall("r.project_id", typ)
	if err := c.predicate("r", typ); err != nil {
		return err
	}
	c.w(")")
	return nil
}

// starMeets writes the OR of the "*" rules' criteria on h's current row.
func (c *compiler) starMeets(h string, star []*ward.PolicyRule) error {
	for _, r := range star {
		if len(r.Criteria) == 0 {
			return nil
		}
	}
	c.w(" AND (", h, ".project_id, ", h, ".resource_type, ", h, ".id) IN (SELECT r.project_id, r.resource_type, r.id FROM resources r WHERE 1 = 1")
	c.wallAny("r.project_id", "r.resource_type")
	c.w(" AND (1 = 0")
	for _, rule := range star {
		c.w(" OR (1 = 1")
		for j := range rule.Criteria {
			c.w(" AND ")
			if err := c.filter("r", "", &rule.Criteria[j]); err != nil {
				return err
			}
		}
		c.w(")")
	}
	c.w("))")
	return nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
