// Package access compiles a caller's effective access policy (spec 2.1):
// the membership's accessPolicy and access[] entries with their parameters
// substituted, the "*" fallback, and the synthetic project-admin rules of
// spec 2.9. The result is a *ward.Policy that the store enforces.
//
// It must not read the database or enforce anything itself: callers load
// the membership, project and policies, and the store applies the result.
// Build is pure, so callers cache its result per version of its inputs
// (auth does). It stays fast for memberships with hundreds of access
// entries: each criteria string is parsed once per Build, and rules that
// differ only in one filter's values are folded into one (merge.go).
package access

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/search"
)

// Input is everything Build needs, already loaded (JSON trees of the stored
// resources).
type Input struct {
	// Project is the membership's project (superAdmin, link are read).
	Project    map[string]any
	Membership map[string]any
	// Policies maps "AccessPolicy/<id>" to each policy the membership names.
	// A named policy missing here is a configuration error.
	Policies map[string]map[string]any
	// LinkedProjects, when not nil, holds the linked projects that exist
	// (id → Project). Links to projects missing from it are ignored. nil
	// trusts every Project.link entry.
	LinkedProjects map[string]map[string]any
	// Scope is the login's OAuth scope; its SMART resource scopes narrow
	// the policy (spec 2.12). Empty for Basic client auth.
	Scope string
}

// errInvalidPolicy is Medplum's text when a named policy cannot be loaded.
const errInvalidPolicy = "Cannot authenticate: Invalid access policy configuration. Please contact your administrator to update your project membership."

// Build returns the effective policy and its JSON form (the computed
// AccessPolicy resource /auth/me returns).
func Build(in Input) (*ward.Policy, map[string]any, error) {
	b := &builder{policy: &ward.Policy{}, templates: map[templateKey]*template{}, fixed: map[string]entry{}}
	sources := policySources(in.Membership)
	profile := refString(in.Membership["profile"])
	b.entries = make([]entry, 0, entryCount(sources, in.Policies)+8)
	for _, src := range sources {
		stored, ok := in.Policies[src.reference]
		if !ok || stored == nil {
			return nil, nil, ward.Errorf(ward.EINVALID, "%s", errInvalidPolicy)
		}
		b.basedOn = append(b.basedOn, map[string]any{"reference": src.reference})
		b.addPolicy(src.reference, stored, newVariables(src.parameters, profile))
	}
	if len(sources) == 0 {
		b.add(entry{json: map[string]any{"resourceType": "*"}, rule: ward.PolicyRule{ResourceType: "*", Interactions: ward.InteractionAll}})
	}
	for _, typ := range []string{"SearchParameter", "StructureDefinition"} {
		if !b.names(typ) {
			b.add(readonlyEntry(typ, nil))
		}
	}
	b.intersectScopes(parseScopes(in.Scope), launchPatient(profile))
	b.adjustForAdmin(in)
	return b.policy, b.json(), nil
}

// launchPatient is the patient patient/ scopes are confined to: the
// membership's Patient profile.
func launchPatient(profile string) string {
	if strings.HasPrefix(profile, "Patient/") {
		return profile
	}
	return ""
}

// ReadScope returns the projects a member of project may read besides its
// own (linked projects that exist) and what each exports, ready for
// ward.Principal.ReadProjects and ReadProjectTypes. linked is as in Input.
func ReadScope(project map[string]any, linked map[string]map[string]any) ([]string, map[string][]string) {
	var ids []string
	types := map[string][]string{}
	for _, id := range linkIDs(project, linked) {
		ids = append(ids, id)
		if p := linked[id]; p != nil {
			types[id] = stringList(p["exportedResourceType"])
		}
	}
	return ids, types
}

// entryCount is how many resource entries the sources hold, so the
// entries are allocated once (hundreds of access entries are common).
func entryCount(sources []source, policies map[string]map[string]any) int {
	n := 0
	for _, src := range sources {
		list, _ := policies[src.reference]["resource"].([]any)
		n += len(list)
	}
	return n
}

// source is one policy of the membership with its parameters.
type source struct {
	reference  string
	parameters []any
}

func policySources(m map[string]any) []source {
	var out []source
	if ref := refString(m["accessPolicy"]); ref != "" {
		out = append(out, source{reference: ref})
	}
	list, _ := m["access"].([]any)
	for _, a := range list {
		am, _ := a.(map[string]any)
		if am == nil {
			continue
		}
		params, _ := am["parameter"].([]any)
		out = append(out, source{reference: refString(am["policy"]), parameters: params})
	}
	return out
}

// entry is one resource rule with the JSON it shows in /auth/me.
type entry struct {
	json map[string]any
	rule ward.PolicyRule
}

type builder struct {
	policy      *ward.Policy
	entries     []entry
	basedOn     []any
	compartment string
	ipRules     []any
	// templates holds each criteria string parsed once with its variables
	// unsubstituted: a clinician with 500 access entries of one policy
	// parses that policy's criteria once, not 500 times.
	templates map[templateKey]*template
	// fixed holds the entries without variables by "<policy>#<index>".
	fixed map[string]entry
}

func (b *builder) add(e entry) { b.entries = append(b.entries, e) }

// names reports whether an entry names typ explicitly.
func (b *builder) names(typ string) bool {
	for _, e := range b.entries {
		if e.rule.ResourceType == typ {
			return true
		}
	}
	return false
}

// addPolicy appends the compartment, rules and IP rules of one stored
// policy after substituting vars.
func (b *builder) addPolicy(reference string, stored map[string]any, vars variables) {
	if ref := refString(stored["compartment"]); ref != "" {
		b.compartment = vars.text(ref)
	}
	resources, _ := stored["resource"].([]any)
	for i, r := range resources {
		rm, ok := r.(map[string]any)
		if !ok {
			continue
		}
		if !usesVariables(rm) {
			// The same whatever the parameters: compiled once per Build
			// and shared (entries are read-only once built).
			key := reference + "#" + strconv.Itoa(i)
			e, ok := b.fixed[key]
			if !ok {
				e = b.resourceEntry(rm, vars)
				b.fixed[key] = e
			}
			b.add(e)
			continue
		}
		b.add(b.resourceEntry(rm, vars))
	}
	if ip, ok := stored["ipAccessRule"].([]any); ok {
		b.ipRules = append(b.ipRules, ip...)
	}
}

// usesVariables reports whether an entry's criteria or compartment may
// hold a %variable.
func usesVariables(rm map[string]any) bool {
	c, _ := rm["criteria"].(string)
	return strings.Contains(c, "%") || strings.Contains(refString(rm["compartment"]), "%")
}

// resourceEntry compiles one AccessPolicy.resource element.
func (b *builder) resourceEntry(rm map[string]any, vars variables) entry {
	typ, _ := rm["resourceType"].(string)
	out := map[string]any{"resourceType": typ}
	rule := ward.PolicyRule{ResourceType: typ}
	if c, _ := rm["criteria"].(string); c != "" {
		out["criteria"] = vars.text(c)
		rule.Criteria = b.criteria(typ, c, vars)
	}
	if ref := refString(rm["compartment"]); ref != "" {
		ref = vars.text(ref)
		out["compartment"] = map[string]any{"reference": ref}
		rule.Criteria = append(rule.Criteria, ward.SearchFilter{Code: "_compartment", Type: "reference", Values: []ward.SearchValue{{Value: ref}}})
	}
	rule.Interactions = interactions(rm)
	if list, ok := rm["interaction"].([]any); ok && len(list) > 0 {
		out["interaction"] = list
	}
	if ro, _ := rm["readonly"].(bool); ro {
		out["readonly"] = true
	}
	rule.HiddenFields = stringList(rm["hiddenFields"])
	rule.ReadonlyFields = stringList(rm["readonlyFields"])
	copyIf(out, rm, "hiddenFields", "readonlyFields")
	if wc, ok := rm["writeConstraint"].([]any); ok {
		out["writeConstraint"] = wc
		for _, c := range wc {
			if cm, ok := c.(map[string]any); ok {
				if expr, _ := cm["expression"].(string); expr != "" {
					rule.WriteConstraints = append(rule.WriteConstraints, expr)
				}
			}
		}
	}
	return entry{json: out, rule: rule}
}

func copyIf(dst, src map[string]any, keys ...string) {
	for _, k := range keys {
		if v, ok := src[k]; ok {
			dst[k] = v
		}
	}
}

// interactions reads interaction[] (absent or empty = all, or the readonly
// set when readonly is true).
func interactions(rm map[string]any) ward.Interaction {
	list, _ := rm["interaction"].([]any)
	var out ward.Interaction
	for _, v := range list {
		s, _ := v.(string)
		out |= interactionOf(s)
	}
	if len(list) > 0 {
		return out
	}
	if ro, _ := rm["readonly"].(bool); ro {
		return ward.InteractionReadOnly
	}
	return ward.InteractionAll
}

func interactionOf(s string) ward.Interaction {
	switch s {
	case "create":
		return ward.InteractionCreate
	case "read":
		return ward.InteractionRead
	case "update":
		return ward.InteractionUpdate
	case "delete":
		return ward.InteractionDelete
	case "search":
		return ward.InteractionSearch
	case "history":
		return ward.InteractionHistory
	case "vread":
		return ward.InteractionVRead
	}
	return 0
}

// matchNothing is the criteria of a rule whose criteria cannot be parsed:
// Medplum stops filtering then; Ward grants nothing instead.
var matchNothing = []ward.SearchFilter{{Code: "_id", Type: "token", Modifier: "missing", Values: []ward.SearchValue{{Value: "true"}}}}

// parseCriteria parses "Type?query" with vars substituted value by value,
// so a parameter value can never change the query's structure. "*"
// criteria are parsed as Binary, a type with only the common parameters.
func parseCriteria(typ, criteria string, vars variables) []ward.SearchFilter {
	filters, ok := parseFilters(typ, criteria, vars)
	if !ok {
		return matchNothing
	}
	return filters
}

// parseFilters is parseCriteria reporting failure instead of matchNothing.
func parseFilters(typ, criteria string, vars variables) ([]ward.SearchFilter, bool) {
	prefix, query, ok := strings.Cut(criteria, "?")
	if !ok || (prefix != typ && !(typ == "*" && prefix == "*")) {
		return nil, false
	}
	parseType := typ
	if typ == "*" {
		parseType = "Binary"
	}
	values := url.Values{}
	for _, part := range strings.Split(query, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		values.Add(unescape(k), vars.value(v))
	}
	q, err := search.Parse(parseType, values)
	if err != nil {
		return nil, false
	}
	if len(q.Filters) == 0 {
		return nil, true // "Type?" alone: every resource of the type
	}
	return q.Filters, true
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// readonlyEntry is {resourceType: typ, readonly: true} with hidden fields.
func readonlyEntry(typ string, hidden []string) entry {
	js := map[string]any{"resourceType": typ, "readonly": true}
	if len(hidden) > 0 {
		js["hiddenFields"] = anyList(hidden)
	}
	return entry{json: js, rule: ward.PolicyRule{ResourceType: typ, Interactions: ward.InteractionReadOnly, HiddenFields: hidden}}
}

// adjustForAdmin applies spec 2.9 step 7.
func (b *builder) adjustForAdmin(in Input) {
	if super, _ := in.Project["superAdmin"].(bool); super {
		for _, typ := range ward.ProjectAdminTypes() {
			if !b.names(typ) {
				b.add(entry{json: map[string]any{"resourceType": typ}, rule: ward.PolicyRule{ResourceType: typ, Interactions: ward.InteractionAll}})
			}
		}
		return
	}
	kept := b.entries[:0]
	for _, e := range b.entries {
		if !ward.IsProjectAdminType(e.rule.ResourceType) {
			kept = append(kept, e)
		}
	}
	b.entries = kept
	if admin, _ := in.Membership["admin"].(bool); admin {
		projectID, _ := in.Project["id"].(string)
		b.addAdminRules(projectID, linkIDs(in.Project, in.LinkedProjects))
	}
}

// addAdminRules appends the synthetic project-admin entries of spec 2.9.
func (b *builder) addAdminRules(projectID string, linked []string) {
	const adminWrite = ward.InteractionAll &^ ward.InteractionDelete
	own := entry{
		json: map[string]any{
			"resourceType": "Project", "criteria": "Project?_id=" + projectID,
			"interaction":    anyList([]string{"read", "vread", "update", "history", "create", "search"}),
			"readonlyFields": anyList([]string{"features", "link", "systemSetting"}),
			"hiddenFields":   anyList([]string{"superAdmin", "systemSecret", "strictMode"}),
		},
		rule: ward.PolicyRule{
			ResourceType: "Project", Criteria: idIn(projectID), Interactions: adminWrite,
			ReadonlyFields: []string{"features", "link", "systemSetting"},
			HiddenFields:   []string{"superAdmin", "systemSecret", "strictMode"},
		},
	}
	b.add(own)
	if len(linked) > 0 {
		e := readonlyEntry("Project", []string{"superAdmin", "setting", "systemSetting", "secret", "systemSecret", "strictMode"})
		e.json["criteria"] = "Project?_id=" + strings.Join(linked, ",")
		e.rule.Criteria = idIn(linked...)
		b.add(e)
	}
	b.add(entry{
		json: map[string]any{"resourceType": "ProjectMembership", "readonlyFields": anyList([]string{"project", "user"})},
		rule: ward.PolicyRule{ResourceType: "ProjectMembership", Interactions: ward.InteractionAll, ReadonlyFields: []string{"project", "user"}},
	})
	b.add(readonlyEntry("UserSecurityRequest", nil))
	b.add(entry{
		json: map[string]any{
			"resourceType":   "User",
			"hiddenFields":   anyList(ward.SecretFields("User")),
			"readonlyFields": anyList([]string{"email", "emailVerified", "mfaEnrolled", "project"}),
		},
		rule: ward.PolicyRule{
			ResourceType: "User", Interactions: ward.InteractionAll,
			HiddenFields:   ward.SecretFields("User"),
			ReadonlyFields: []string{"email", "emailVerified", "mfaEnrolled", "project"},
		},
	})
}

func idIn(ids ...string) []ward.SearchFilter {
	vals := make([]ward.SearchValue, len(ids))
	for i, id := range ids {
		vals[i] = ward.SearchValue{Value: id}
	}
	return []ward.SearchFilter{{Code: "_id", Type: "token", Values: vals}}
}

// linkIDs returns the ids of project's links that exist in linked (all of
// them when linked is nil).
func linkIDs(project map[string]any, linked map[string]map[string]any) []string {
	links, _ := project["link"].([]any)
	var out []string
	for _, l := range links {
		lm, _ := l.(map[string]any)
		ref := refString(lm["project"])
		id, ok := strings.CutPrefix(ref, "Project/")
		if !ok || id == "" {
			continue
		}
		if linked != nil && linked[id] == nil {
			continue
		}
		out = append(out, id)
	}
	return out
}

// json is the computed AccessPolicy resource.
func (b *builder) json() map[string]any {
	resources := make([]any, len(b.entries))
	m := newMerger()
	for i := range b.entries {
		resources[i] = b.entries[i].json
		m.add(b.entries[i].rule)
	}
	b.policy.Rules = m.out
	b.policy.Compartment = b.compartment
	out := map[string]any{"resourceType": "AccessPolicy", "resource": resources}
	if len(b.basedOn) > 0 {
		out["basedOn"] = b.basedOn
	}
	if b.compartment != "" {
		out["compartment"] = map[string]any{"reference": b.compartment}
	}
	if len(b.ipRules) > 0 {
		out["ipAccessRule"] = b.ipRules
	}
	return out
}

func refString(v any) string {
	m, _ := v.(map[string]any)
	s, _ := m["reference"].(string)
	return s
}

func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func anyList(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}
