package leakfuzz

import (
	"slices"
	"strings"
)

// The model: who may see and change what, straight from the spec (sections
// 2.3–2.8 and 3.1–3.2), over the fuzzer's own copy of every resource.

// mres is the model's copy of one resource.
type mres struct {
	typ, id, project string
	body             map[string]any // content without meta
	accounts         []string       // references, computed by the model
	deleted          bool
	author           string   // the caller that wrote the current version
	versions         []string // version ids from Ward's write answers, oldest first
	tainted          bool     // the model lost track (a write disagreed): not compared
}

func (r *mres) ref() string { return r.typ + "/" + r.id }

// patientFields names, per type, the fields whose Patient references put
// the resource in that patient's compartment (Patient CompartmentDefinition).
func patientFields(typ string) []string {
	switch typ {
	case "Observation", "Encounter", "DiagnosticReport", "Communication":
		return []string{"subject"}
	case "Task":
		return []string{"for"}
	}
	return nil
}

func refOf(v any) string {
	m, _ := v.(map[string]any)
	s, _ := m["reference"].(string)
	return s
}

// patientRefs are the Patient references of body (spec 3.1 step 4).
func patientRefs(typ string, body map[string]any) []string {
	if typ == "AuditEvent" {
		return auditPatientRefs(body)
	}
	var out []string
	for _, f := range patientFields(typ) {
		if ref := refOf(body[f]); strings.HasPrefix(ref, "Patient/") {
			out = append(out, ref)
		}
	}
	return out
}

// compartments is meta.compartment (spec 3.1): project, accounts, the
// patient itself and the patients it references.
func (r *mres) compartments() []string {
	out := []string{"Project/" + r.project}
	for _, a := range r.accounts {
		if !strings.HasPrefix(a, "Project/") {
			out = append(out, a)
		}
	}
	if r.typ == "Patient" {
		out = append(out, r.ref())
	}
	out = append(out, patientRefs(r.typ, r.body)...)
	return dedup(out)
}

func dedup(in []string) []string {
	var out []string
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// idPart is what SQL compares for _compartment (spec 3.3): the id.
func idPart(ref string) string {
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

// filter is one search filter: code=v1,v2 (values OR-ed). hop, when set,
// evaluates a chained or _has value (it needs the caller's rules: every
// hop is filtered by the caller's policy too, spec 2.6).
type filter struct {
	code   string
	values []string
	hop    func(r *mres, value string) bool
	// eval, when set, is the whole filter (a _filter expression).
	eval func(r *mres) bool
}

// parseCriteria splits "Type?a=1&b=2,3" into filters (AND).
func parseCriteria(criteria string) []filter {
	_, query, _ := strings.Cut(criteria, "?")
	var out []filter
	for _, part := range strings.Split(query, "&") {
		if part == "" {
			continue
		}
		code, vals, _ := strings.Cut(part, "=")
		out = append(out, filter{code: code, values: strings.Split(vals, ",")})
	}
	return out
}

// matches evaluates one filter against r. Unknown codes never match, so a
// filter the model does not know shows up as a difference.
func (f filter) matches(r *mres) bool {
	if f.eval != nil {
		return f.eval(r)
	}
	if code, negated := strings.CutSuffix(f.code, ":not"); negated {
		return !filter{code: code, values: f.values, hop: f.hop}.matches(r)
	}
	if f.hop != nil {
		return slices.ContainsFunc(f.values, func(v string) bool { return f.hop(r, v) })
	}
	return slices.ContainsFunc(f.values, func(v string) bool { return valueMatches(f.code, v, r) })
}

func valueMatches(code, v string, r *mres) bool {
	switch code {
	case "_id":
		return r.id == v
	case "_compartment":
		return slices.ContainsFunc(r.compartments(), func(c string) bool { return idPart(c) == idPart(v) })
	case "status", "gender":
		s, _ := r.body[code].(string)
		return s == v
	case "subject", "patient":
		return slices.Contains(patientRefs(r.typ, r.body), v)
	}
	return false
}

func matchAll(fs []filter, r *mres) bool {
	for _, f := range fs {
		if !f.matches(r) {
			return false
		}
	}
	return true
}

// Interactions.
const (
	iRead, iVread, iHistory, iSearch = "read", "vread", "history", "search"
	iCreate, iUpdate, iDelete        = "create", "update", "delete"
)

var readInteractions = []string{iSearch, iRead, iHistory, iVread}

// mentry is one resource rule of the effective policy, substituted.
type mentry struct {
	typ          string
	interactions []string // nil = all
	criteria     []filter // nil = every resource of the type
	hidden       []string
	readonly     []string
}

func (e mentry) allows(interaction, typ string) bool {
	if e.typ != typ && e.typ != "*" {
		return false
	}
	return e.interactions == nil || slices.Contains(e.interactions, interaction)
}

// mcaller is a caller as the model sees it: project and effective policy.
type mcaller struct {
	name        string
	project     string
	profile     string // Practitioner/<id>
	admin       bool
	entries     []mentry
	compartment string // policy compartment, "" when none
}

// shallow is spec 2.4: some entry grants the interaction on the type.
func (c *mcaller) shallow(interaction, typ string) bool {
	return slices.ContainsFunc(c.entries, func(e mentry) bool { return e.allows(interaction, typ) })
}

// entryFor is spec 2.5: the first entry granting interaction on r, or nil.
// Reads also need r in the caller's project; writes too (4.2).
func (c *mcaller) entryFor(interaction string, r *mres) *mentry {
	if r.project != c.project {
		return nil
	}
	for i := range c.entries {
		e := &c.entries[i]
		if e.allows(interaction, r.typ) && matchAll(e.criteria, r) {
			return e
		}
	}
	return nil
}

func (c *mcaller) can(interaction string, r *mres) bool { return c.entryFor(interaction, r) != nil }

// hiddenFor is the hidden fields of the first entry that permits read (2.8).
func (c *mcaller) hiddenFor(r *mres) []string {
	if e := c.entryFor(iRead, r); e != nil {
		return e.hidden
	}
	return nil
}

// model is the world as the fuzzer believes it is.
type model struct {
	res   map[string]*mres // by reference
	order []string         // references in creation order (deterministic picks)
}

func newModel() *model { return &model{res: map[string]*mres{}} }

func (m *model) add(r *mres) {
	m.res[r.ref()] = r
	m.order = append(m.order, r.ref())
}

// derivedAccounts is spec 3.2 for a caller who may not write accounts: the
// policy compartment on create; a Patient keeps its existing accounts;
// other types take the accounts of every patient they reference. Accounts
// the caller submitted are never kept (Ward closes the gap of 3.2/3.5).
// When that derives nothing, an update keeps the existing accounts: this
// is what Medplum does for a client that sends back the meta.accounts it
// read (Ward's documented rule, store/accounts.go); a create gets none.
func (m *model) derivedAccounts(c *mcaller, typ string, body map[string]any, existing *mres) []string {
	var out []string
	if existing == nil && c.compartment != "" {
		out = append(out, c.compartment)
	}
	if typ == "Patient" {
		if existing != nil {
			out = append(out, existing.accounts...)
		}
		return dedup(out)
	}
	for _, p := range patientRefs(typ, body) {
		if pr := m.res[p]; pr != nil && !pr.deleted {
			out = append(out, pr.accounts...)
		}
	}
	if len(out) == 0 && existing != nil {
		return existing.accounts
	}
	return dedup(out)
}

// visible lists, in model order, what a search by c for typ may return
// before the query's own filters: the caller's project, not deleted, and
// some entry granting search (spec 2.6).
func (m *model) searchable(c *mcaller, typ string) []*mres {
	var out []*mres
	for _, ref := range m.order {
		r := m.res[ref]
		if r.typ == typ && !r.deleted && c.can(iSearch, r) {
			out = append(out, r)
		}
	}
	return out
}

// stripFields removes top-level and dotted paths from a JSON tree (2.8).
func stripFields(v any, paths []string) {
	for _, p := range paths {
		stripPath(v, strings.Split(p, "."))
	}
}

func stripPath(v any, parts []string) {
	switch t := v.(type) {
	case []any:
		for _, x := range t {
			stripPath(x, parts)
		}
	case map[string]any:
		if len(parts) == 1 {
			delete(t, parts[0])
			return
		}
		stripPath(t[parts[0]], parts[1:])
	}
}

// hasPath reports whether path is present in a JSON tree.
func hasPath(v any, path string) bool {
	return pathPresent(v, strings.Split(path, "."))
}

func pathPresent(v any, parts []string) bool {
	switch t := v.(type) {
	case []any:
		return slices.ContainsFunc(t, func(x any) bool { return pathPresent(x, parts) })
	case map[string]any:
		x, ok := t[parts[0]]
		if !ok {
			return false
		}
		if len(parts) == 1 {
			return true
		}
		return pathPresent(x, parts[1:])
	}
	return false
}
