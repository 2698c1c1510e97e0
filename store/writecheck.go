package store

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
	"github.com/wardhealth/ward/fhirpath"
	"github.com/wardhealth/ward/internal/egress"
	"github.com/wardhealth/ward/search"
)

// The write side of the access policy (spec 2.7). A write is checked
// twice: before, the existing version must be readable (else 404) and
// meet a rule granting the interaction (else 403); after, the version
// just written must meet a rule granting it, checked in SQL against the
// row inside the transaction under a savepoint, so a failed check leaves
// nothing written (403). The rule the resource matches decides which
// readonlyFields and hiddenFields are silently kept (update) or dropped
// (create).

// writeProject is the project a new version of typ/id lands in (spec
// 4.1): a Project is its own project, a ProjectMembership its
// membership's project (for a non-system caller it must be the caller's),
// anything else the caller's project; only a system principal may name
// another with meta.project. Every create and update passes here, so it
// also runs the type-specific checks before anything is written
// (AccessPolicy criteria, invariant axp-3; Subscription criteria and
// endpoints, limited by hooks).
func writeProject(p *ward.Principal, typ, id string, d *decodedResource, hooks egress.Policy) (string, error) {
	switch typ {
	case "AccessPolicy":
		if err := validateAccessPolicy(d.tree); err != nil {
			return "", err
		}
	case "Subscription":
		if err := validateSubscription(d.tree, hooks); err != nil {
			return "", err
		}
	case "Project":
		if !p.System && id != p.ProjectID {
			return "", forbidden()
		}
		return id, nil
	case "ProjectMembership":
		ref, _ := d.tree["project"].(map[string]any)
		s, _ := ref["reference"].(string)
		proj, ok := strings.CutPrefix(s, "Project/")
		if !p.System && proj != p.ProjectID {
			return "", forbidden()
		}
		if ok && validID(proj) {
			return proj, nil
		}
	}
	if !p.System {
		return p.ProjectID, nil
	}
	if proj, _ := d.metaIn["project"].(string); validID(proj) {
		return proj, nil
	}
	if p.ProjectID != "" {
		return p.ProjectID, nil
	}
	return "", invalid("A system write must name meta.project")
}

// ruleFields are the paths a write through rule cannot set.
func ruleFields(rule *ward.PolicyRule) []string {
	return append(append([]string(nil), rule.ReadonlyFields...), rule.HiddenFields...)
}

// dropFields removes paths from d. A top-level path takes the existing
// version's value back when there is one (Medplum restores top-level
// fields only); nested paths are removed. meta is left alone: the server
// owns what matters in it.
func dropFields(d *decodedResource, paths []string, existing map[string]any) error {
	for _, path := range paths {
		head, rest, nested := strings.Cut(path, ".")
		if head == "meta" || head == "resourceType" || head == "id" {
			continue
		}
		if nested {
			v, ok := d.tree[head]
			if !ok || !removePath(v, strings.Split(rest, ".")) {
				continue
			}
			raw, err := json.Marshal(v)
			if err != nil {
				return err
			}
			d.setField(head, raw, v)
			continue
		}
		d.removeField(head)
		if old, ok := existing[head]; ok {
			raw, err := json.Marshal(old)
			if err != nil {
				return err
			}
			d.setField(head, raw, old)
		}
	}
	return nil
}

// hasAnyPath reports whether d holds any of paths.
func hasAnyPath(d *decodedResource, paths []string) bool {
	for _, path := range paths {
		parts := strings.Split(path, ".")
		if parts[0] == "meta" {
			continue
		}
		if pathPresent(d.tree, parts) {
			return true
		}
	}
	return false
}

func pathPresent(v any, path []string) bool {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if pathPresent(e, path) {
				return true
			}
		}
	case map[string]any:
		next, ok := x[path[0]]
		if !ok {
			return false
		}
		return len(path) == 1 || pathPresent(next, path[1:])
	}
	return false
}

func (d *decodedResource) removeField(key string) {
	delete(d.tree, key)
	for i, f := range d.fields {
		if f.key == key {
			d.fields = append(d.fields[:i], d.fields[i+1:]...)
			return
		}
	}
}

func (d *decodedResource) setField(key string, raw json.RawMessage, v any) {
	d.tree[key] = v
	for i, f := range d.fields {
		if f.key == key {
			d.fields[i].raw = raw
			return
		}
	}
	d.fields = append(d.fields, field{key, raw})
}

// decodeTree parses stored JSON into a tree (numbers as json.Number).
func decodeTree(content []byte) map[string]any {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(content))
	dec.UseNumber()
	if dec.Decode(&m) != nil {
		return nil
	}
	return m
}

// checkpoint is a savepoint of the write transaction: the post-check
// undoes a version that fails it.
type checkpoint struct {
	t    *tx
	mark int // len(t.written) when taken
}

func (t *tx) savepoint(ctx context.Context) (*checkpoint, error) {
	// Queued index rows of earlier writes must not be undone with it.
	if err := t.flushIndex(ctx); err != nil {
		return nil, err
	}
	if _, err := t.sql.ExecContext(ctx, "SAVEPOINT ward_policy_check"); err != nil {
		return nil, err
	}
	return &checkpoint{t: t, mark: len(t.written)}, nil
}

// rollback undoes everything written since the savepoint, which stays.
func (c *checkpoint) rollback(ctx context.Context) error {
	c.t.pending = c.t.pending[:0]
	c.t.written = c.t.written[:c.mark]
	_, err := c.t.sql.ExecContext(ctx, "ROLLBACK TO SAVEPOINT ward_policy_check")
	return err
}

func (c *checkpoint) release(ctx context.Context) error {
	_, err := c.t.sql.ExecContext(ctx, "RELEASE SAVEPOINT ward_policy_check")
	return err
}

// postChecked inserts v and returns the index of the first of rules the
// written row meets; none → nothing stays written and 403. Without a
// policy (rules nil) or when the first rule has no criteria it is a plain
// insert.
func (t *tx) postChecked(ctx context.Context, p *ward.Principal, v *version, replace bool, rules []*ward.PolicyRule, before []byte) (int, error) {
	if rules == nil || len(rules[0].Criteria) == 0 || v.res.Type == "Binary" {
		if rules != nil {
			if err := checkConstraints(ctx, rules[0], before, v.res.Content); err != nil {
				return -1, err
			}
		}
		return 0, t.insertHomed(ctx, v, replace)
	}
	cp, err := t.savepoint(ctx)
	if err != nil {
		return -1, err
	}
	k, err := t.insertAndMatch(ctx, p, v, replace, rules)
	if err != nil {
		return -1, err
	}
	if k >= 0 && checkConstraints(ctx, rules[k], before, v.res.Content) != nil {
		k = -1
	}
	if k < 0 {
		if err := cp.rollback(ctx); err != nil {
			return -1, err
		}
		if err := cp.release(ctx); err != nil {
			return -1, err
		}
		return -1, forbidden()
	}
	return k, cp.release(ctx)
}

func (t *tx) insertAndMatch(ctx context.Context, p *ward.Principal, v *version, replace bool, rules []*ward.PolicyRule) (int, error) {
	if err := t.insertHomed(ctx, v, replace); err != nil {
		return -1, err
	}
	if err := t.flushIndex(ctx); err != nil {
		return -1, err
	}
	return matchOne(ctx, t.q, t.d, p, v.res.Type, v.res.ID, rules)
}

// createChecked writes a new resource under rules (create): the fields of
// the rule the new resource matches are dropped, then the post-check. The
// match is decided on the written row; when that rule drops fields the
// version is written again without them and checked again.
func (t *tx) createChecked(ctx context.Context, p *ward.Principal, project, typ, id string, d *decodedResource, rules []*ward.PolicyRule) (*version, error) {
	if rules != nil && (len(rules[0].Criteria) == 0 || typ == "Binary") {
		if err := dropFields(d, ruleFields(rules[0]), nil); err != nil {
			return nil, err
		}
	}
	v, err := t.build(ctx, p, project, typ, id, d, nil)
	if err != nil {
		return nil, err
	}
	if rules == nil || len(rules[0].Criteria) == 0 || typ == "Binary" {
		_, err := t.postChecked(ctx, p, v, false, rules, nil)
		return v, err
	}
	cp, err := t.savepoint(ctx)
	if err != nil {
		return nil, err
	}
	k, err := t.insertAndMatch(ctx, p, v, false, rules)
	if err != nil {
		return nil, err
	}
	if k >= 0 && hasAnyPath(d, ruleFields(rules[k])) {
		if err := cp.rollback(ctx); err != nil {
			return nil, err
		}
		if err := dropFields(d, ruleFields(rules[k]), nil); err != nil {
			return nil, err
		}
		if v, err = t.build(ctx, p, project, typ, id, d, nil); err != nil {
			return nil, err
		}
		if k, err = t.insertAndMatch(ctx, p, v, false, rules); err != nil {
			return nil, err
		}
	}
	if k >= 0 && checkConstraints(ctx, rules[k], nil, v.res.Content) != nil {
		k = -1
	}
	if k < 0 {
		if err := cp.rollback(ctx); err != nil {
			return nil, err
		}
		if err := cp.release(ctx); err != nil {
			return nil, err
		}
		return nil, forbidden()
	}
	return v, cp.release(ctx)
}

// preCheck is the update/delete pre-check on the existing version: it
// must be readable (404) and meet a rule granting i (403). It returns that
// rule. nil, nil without a policy.
func (t *tx) preCheck(ctx context.Context, p *ward.Principal, old *ward.Resource, i ward.Interaction) (*ward.PolicyRule, error) {
	if !enforced(p) {
		return nil, nil
	}
	readRules := rulesFor(p, old.Type, ward.InteractionRead)
	if len(readRules) == 0 {
		return nil, forbidden()
	}
	if k, err := matchOne(ctx, t.q, t.d, p, old.Type, old.ID, readRules); err != nil {
		return nil, err
	} else if k < 0 {
		return nil, notFound()
	}
	rules := rulesFor(p, old.Type, i)
	if len(rules) == 0 {
		return nil, forbidden()
	}
	k, err := matchOne(ctx, t.q, t.d, p, old.Type, old.ID, rules)
	if err != nil {
		return nil, err
	}
	if k < 0 {
		return nil, forbidden()
	}
	return rules[k], nil
}

// output returns a copy of res through the output gate (present): the
// stored version itself stays intact for OnCommit callbacks. A caller no
// entry lets read gets the written fields back unredacted: the write
// itself already dropped the granting entry's hidden fields.
func (t *tx) output(ctx context.Context, p *ward.Principal, res *ward.Resource) (*ward.Resource, error) {
	// The answer loses the hiddenFields of the first entry permitting READ
	// on what was written (spec 2.8), decided on its index rows: those
	// still queued must be written first, or the criteria see none.
	if enforced(p) && anyHidden(rulesFor(p, res.Type, ward.InteractionRead)) {
		if err := t.flushIndex(ctx); err != nil {
			return nil, err
		}
	}
	out := *res
	if err := present(ctx, t.q, t.d, p, []*ward.Resource{&out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// checkConstraints evaluates the writeConstraint expressions of rule
// (spec 2.11) on the new version after, with %before the previous version
// (empty on create): each must yield exactly one true, else 403. An
// expression that does not parse forbids the write.
func checkConstraints(ctx context.Context, rule *ward.PolicyRule, before, after []byte) error {
	if len(rule.WriteConstraints) == 0 {
		return nil
	}
	afterTree := decodeTree(after)
	vars := map[string][]fhirpath.Value{"after": {resourceValue(afterTree)}, "before": {}}
	if before != nil {
		vars["before"] = []fhirpath.Value{resourceValue(decodeTree(before))}
	}
	env := &fhirpath.Env{Vars: vars}
	for _, src := range rule.WriteConstraints {
		expr, err := fhirpath.Parse(src)
		if err != nil {
			return forbidden()
		}
		out, err := expr.Eval(ctx, afterTree, env)
		if err != nil {
			return forbidden()
		}
		if len(out) != 1 || out[0].Data != true {
			return forbidden()
		}
	}
	return nil
}

func resourceValue(tree map[string]any) fhirpath.Value {
	rt, _ := tree["resourceType"].(string)
	return fhirpath.Value{Data: tree, Type: rt}
}

// axp3 is the text of the AccessPolicy invariant axp-3 (spec 1.5).
const axp3 = "Constraint axp-3 not met: Criteria must be a search of the entry's resourceType without chained or _has parameters"

// validateAccessPolicy checks what the AccessPolicy invariants demand of
// each resource entry before the policy is stored (rows 43-44): a known
// resourceType (or "*"), and criteria "<resourceType>?<query>" ("*?…" for
// "*") whose parameters parse and neither chain nor use _has. %variables
// are substituted per membership later, so a value holding one is only
// checked for its parameter name.
func validateAccessPolicy(tree map[string]any) error {
	list, _ := tree["resource"].([]any)
	for i, r := range list {
		rm, _ := r.(map[string]any)
		typ, _ := rm["resourceType"].(string)
		if typ != "*" && !fhir.IsResourceType(typ) {
			return invalid("Invalid resource type: %s (AccessPolicy.resource[%d].resourceType)", typ, i)
		}
		criteria, ok := rm["criteria"].(string)
		if ok && !validCriteria(typ, criteria) {
			return invalid("%s (AccessPolicy.resource[%d].criteria)", axp3, i)
		}
	}
	return nil
}

// validCriteria reports whether criteria is a plain search on typ.
func validCriteria(typ, criteria string) bool {
	prefix, query, ok := strings.Cut(criteria, "?")
	if !ok || prefix != typ {
		return false
	}
	parseType := typ
	if typ == "*" {
		parseType = "Binary" // only the common parameters
	}
	for _, pair := range strings.Split(query, "&") {
		if pair == "" {
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		name, _, _ := strings.Cut(key, ":")
		if strings.Contains(name, ".") || strings.HasPrefix(key, "_has:") || strings.Contains(key, ".") {
			return false
		}
		if strings.Contains(value, "%") {
			value = ""
		}
		if _, err := search.Parse(parseType, url.Values{key: {value}}); err != nil {
			return false
		}
	}
	return true
}
