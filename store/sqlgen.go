package store

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/index"
)

// compiler turns a ward.SearchQuery into SQL over the resources table and
// the search index tables. The project wall is its own doing: every
// resources alias it opens and every index subquery it writes is limited
// to the principal's projects, so a caller cannot phrase a query that
// escapes it. Values only ever travel as arguments.
type compiler struct {
	p       *ward.Principal
	extra   Predicate
	sql     strings.Builder
	args    []any
	aliases int
	now     time.Time
	// inPredicate is set while the extra predicate's own criteria are
	// written, so a criteria chain does not apply the predicate again.
	inPredicate bool
	// probedIn maps a filter to the filters checked on each of its index
	// rows (indexProbe) inside its own subquery rather than on their own;
	// probed holds the latter, which resourcesWhere then skips.
	probedIn map[*ward.SearchFilter][]*ward.SearchFilter
	probed   map[*ward.SearchFilter]bool
	// d, when set, names the index of per-resource lookups (ByResource).
	d Dialect
}

// byResource is d.ByResource(table), "" without a dialect.
func (c *compiler) byResource(table string) string {
	if c.d == nil {
		return ""
	}
	return c.d.ByResource(table)
}

// Predicate is the seam for access policies: a further condition on every
// resources row a search touches (the matches, chain targets, _has
// sources and included resources). For a resource type it returns the
// criteria a row must meet — filters ANDed within one criteria, criteria
// ORed — or restricted=false when the type is not limited. A restricted
// type with no criteria matches nothing. The criteria are compiled by the
// same code as the search itself, under the same project wall. A nil
// Predicate restricts nothing.
type Predicate func(resourceType string) (anyOf [][]ward.SearchFilter, restricted bool)

// newCompiler returns a compiler for p. A nil principal, or one without a
// project that is not the system principal, is a programming error: the
// wall could not be written, so nothing is compiled.
func newCompiler(p *ward.Principal, extra Predicate, now time.Time) (*compiler, error) {
	if p == nil {
		return nil, errors.New("store: search without a principal")
	}
	if !p.System && p.ProjectID == "" {
		return nil, errors.New("store: search by a principal without a project")
	}
	return &compiler{p: p, extra: extra, now: now}, nil
}

func (c *compiler) w(s ...string) {
	for _, x := range s {
		c.sql.WriteString(x)
	}
}

func (c *compiler) arg(v any) {
	c.sql.WriteByte('?')
	c.args = append(c.args, v)
}

func (c *compiler) alias(prefix string) string {
	c.aliases++
	return prefix + strconv.Itoa(c.aliases)
}

// wall writes the project wall of typ's rows on col (see scope.go).
// A row of unknown type (typ "") is limited to every readable project;
// the query it belongs to limits the type.
func (c *compiler) wall(col, typ string) {
	sw := scopeWriter{w: c.w, arg: c.arg}
	if typ == "" {
		if ids := allReadProjects(c.p); ids != nil {
			sw.in(col, ids)
		}
		return
	}
	sw.wall(c.p, typ, col, "")
}

// wallAny is the wall of rows of any type: typeCol holds their type.
func (c *compiler) wallAny(col, typeCol string) {
	scopeWriter{w: c.w, arg: c.arg}.wall(c.p, "", col, typeCol)
}

// resourcesWhere writes the conditions every visible row of typ under alias
// a meets: its type, the project wall, not deleted, and the filters.
func (c *compiler) resourcesWhere(a, typ string, filters []ward.SearchFilter) error {
	c.w(a, ".resource_type = ")
	c.arg(typ)
	c.wall(a+".project_id", typ)
	c.w(" AND ", a, ".deleted = 0")
	if err := c.predicate(a, typ); err != nil {
		return err
	}
	for i := range filters {
		if c.probed[&filters[i]] {
			continue // checked inside its driver's subquery
		}
		c.w(" AND ")
		if err := c.filter(a, typ, &filters[i]); err != nil {
			return err
		}
	}
	return nil
}

// predicate writes " AND (criteria OR …)" of the extra predicate for typ.
func (c *compiler) predicate(a, typ string) error {
	if c.extra == nil || c.inPredicate {
		return nil
	}
	c.inPredicate = true
	defer func() { c.inPredicate = false }()
	return c.policyOn(typ, func(f *ward.SearchFilter) error { return c.filter(a, typ, f) })
}

// policyOn writes the extra predicate of typ, " AND (criteria OR …)",
// each criterion written by one: nothing when typ is not restricted, and
// " AND 1 = 0" when no criteria admit a row. The rows of resources and
// the index rows (indexPolicyOn) differ only in how a criterion is tested.
func (c *compiler) policyOn(typ string, one func(*ward.SearchFilter) error) error {
	anyOf, restricted := c.extra(typ)
	if !restricted {
		return nil
	}
	if len(anyOf) == 0 {
		c.w(" AND 1 = 0")
		return nil
	}
	c.w(" AND (")
	for i, criteria := range anyOf {
		if i > 0 {
			c.w(" OR ")
		}
		c.w("(1 = 1")
		for j := range criteria {
			c.w(" AND ")
			if err := one(&criteria[j]); err != nil {
				return err
			}
		}
		c.w(")")
	}
	c.w(")")
	return nil
}

// filter writes one parameter's condition on alias a (values ORed).
func (c *compiler) filter(a, typ string, f *ward.SearchFilter) error {
	switch {
	case f.Expr != nil:
		return c.expr(a, typ, f.Expr)
	case f.Has != nil:
		return c.has(a, typ, f.Has)
	case f.Chain != nil:
		return c.chain(a, typ, f)
	case f.Code == "_id":
		return c.idFilter(a, f)
	case f.Code == "_lastUpdated":
		return c.lastUpdated(a, f)
	case f.Code == "_compartment":
		return c.compartment(a, typ, f)
	case f.Code == "_project" && f.Modifier == "missing":
		// System resources carry no project.
		if f.Values[0].Value == "true" {
			c.w(a, ".project_id = ''")
		} else {
			c.w(a, ".project_id <> ''")
		}
		return nil
	case f.Code == "_project":
		c.w("(")
		for i, v := range f.Values {
			if i > 0 {
				c.w(" OR ")
			}
			c.w(a, ".project_id = ")
			c.arg(lastSegment(v.Value))
		}
		c.w(")")
		return nil
	}
	table, ok := indexTable[f.Type]
	if !ok {
		return ward.Errorf(ward.EINVALID, "Search parameter %s (%s) is not supported", f.Code, f.Type)
	}
	param := f.Code
	if f.Modifier == "identifier" {
		table, param = "search_token", f.Code+":identifier"
	}
	if f.Modifier == "missing" {
		missing := f.Values[0].Value == "true"
		c.indexMembership(a, typ, table, param, missing, nil)
		return nil
	}
	negate := f.Modifier == "not"
	var err error
	c.indexMembership(a, typ, table, param, negate, func(t string) {
		c.w("(")
		for i, v := range f.Values {
			if i > 0 {
				c.w(" OR ")
			}
			if err == nil {
				err = c.value(t, typ, f, v)
			}
		}
		c.w(")")
		for _, g := range c.probedIn[f] {
			c.w(" AND ")
			if err == nil {
				err = c.indexProbe(t, typ, g)
			}
		}
	})
	return err
}

// expr writes a _filter expression on alias a: each comparison is the
// condition of the filter it means, so it keeps every wall of a plain
// search (the project wall of its index subquery, the policy on chain and
// _has targets); the tree only joins those with AND, OR and NOT. Every
// condition is true or false, never NULL (memberships, not comparisons of
// nullable columns), so NOT is the complement within the rows the outer
// query already limits to the caller's.
func (c *compiler) expr(a, typ string, e *ward.FilterExpr) error {
	switch e.Op {
	case ward.FilterCompare:
		c.w("(")
		err := c.filter(a, typ, &e.Compare.Filter)
		c.w(")")
		return err
	case ward.FilterNot:
		c.w("NOT ")
		return c.expr(a, typ, &e.Operands[0])
	}
	join := " AND "
	if e.Op == ward.FilterOr {
		join = " OR "
	}
	c.w("(")
	for i := range e.Operands {
		if i > 0 {
			c.w(join)
		}
		if err := c.expr(a, typ, &e.Operands[i]); err != nil {
			return err
		}
	}
	c.w(")")
	return nil
}

var indexTable = map[string]string{
	"token": "search_token", "string": "search_string", "date": "search_date",
	"number": "search_number", "quantity": "search_quantity",
	"reference": "search_reference", "uri": "search_uri",
}

// indexMembership writes "[NOT] (a.project_id, a.id) IN (SELECT … FROM table
// WHERE param = ? AND cond)". The subquery is not correlated, so an engine
// may drive the search from the index; it repeats the project wall so the
// leading index column is used.
func (c *compiler) indexMembership(a, typ, table, param string, negate bool, cond func(t string)) {
	t := c.alias("t")
	if negate {
		c.w("NOT ")
	}
	c.w("(", a, ".project_id, ", a, ".id) IN (SELECT ", t, ".project_id, ", t, ".resource_id FROM ", table, " ", t, " WHERE ", t, ".resource_type = ")
	c.arg(typ)
	c.wall(t+".project_id", typ)
	c.w(" AND ", t, ".param = ")
	c.arg(param)
	if cond != nil {
		c.w(" AND ")
		cond(t)
	}
	c.w(")")
}

// indexProbe writes "EXISTS (SELECT 1 FROM table WHERE it is the row of
// index row t's resource AND param = ? AND f's values)": f, a date range,
// checked on each index row its driver's subquery reads, by the table's
// resource index, so the set of ids that subquery returns is already
// narrowed to the range. Written on its own, f's subquery would collect
// every row of the range first — for date=ge last month over millions of
// records, far more than the few hundred rows of one patient.
func (c *compiler) indexProbe(t, typ string, f *ward.SearchFilter) error {
	table := indexTable[f.Type]
	u := c.alias("t")
	c.w("EXISTS (SELECT 1 FROM ", table, " ", u, c.byResource(table), " WHERE ", u, ".project_id = ", t, ".project_id AND ", u,
		".resource_type = ", t, ".resource_type AND ", u, ".resource_id = ", t, ".resource_id AND ", u, ".param = ")
	c.arg(f.Code)
	c.w(" AND (")
	for i, v := range f.Values {
		if i > 0 {
			c.w(" OR ")
		}
		if err := c.value(u, typ, f, v); err != nil {
			return err
		}
	}
	c.w("))")
	return nil
}

// value writes the condition one value puts on index row alias t.
func (c *compiler) value(t, typ string, f *ward.SearchFilter, v ward.SearchValue) error {
	switch f.Type {
	case "token":
		if f.Modifier == "identifier" || f.Modifier == "" || f.Modifier == "not" {
			c.token(t, v.Value)
			return nil
		}
		if f.Modifier == "text" {
			c.w(t, ".text LIKE ")
			c.arg("%" + escapeLike(strings.ToLower(v.Value)) + "%")
			c.w(` ESCAPE '\'`)
		}
		return nil
	case "reference":
		if f.Modifier == "identifier" {
			c.token(t, v.Value)
			return nil
		}
		c.reference(t, f.Modifier, v.Value)
		return nil
	case "string":
		c.stringValue(t, f.Modifier, v.Value)
		return nil
	case "uri":
		c.uri(t, f.Modifier, v.Value)
		return nil
	case "date":
		low, high, ok := index.DateRange(v.Value)
		if !ok {
			return ward.Errorf(ward.EINVALID, "Invalid date value for parameter %s: %s", f.Code, v.Value)
		}
		c.dateRange(t+".low", t+".high", v.Prefix, low, high)
		c.dateLowBound(t, typ, f.Code, v.Prefix, low, high)
		return nil
	case "number":
		return c.number(t, f.Code, v.Prefix, v.Value)
	case "quantity":
		return c.quantity(t, f.Code, v)
	}
	return ward.Errorf(ward.EINVALID, "Search parameter %s (%s) is not supported", f.Code, f.Type)
}

// token writes code, system|code, |code or system|.
func (c *compiler) token(t, v string) {
	system, code, hasSystem := splitToken(v)
	switch {
	case !hasSystem:
		c.w(t, ".code = ")
		c.arg(code)
	case code == "":
		c.w(t, ".system = ")
		c.arg(system)
	default:
		c.w("(", t, ".system = ")
		c.arg(system)
		c.w(" AND ", t, ".code = ")
		c.arg(code)
		c.w(")")
	}
}

// splitToken splits at the first unescaped | and removes \| escapes.
func splitToken(v string) (system, code string, hasSystem bool) {
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' {
			i++
			continue
		}
		if v[i] == '|' {
			return unescapeBar(v[:i]), unescapeBar(v[i+1:]), true
		}
	}
	return "", unescapeBar(v), false
}

func unescapeBar(s string) string { return strings.ReplaceAll(s, `\|`, "|") }

func (c *compiler) reference(t, modifier, v string) {
	typ, id, ok := index.ParseReference(v)
	switch {
	case ok && typ != "":
		c.w("(", t, ".target_type = ")
		c.arg(typ)
		c.w(" AND ", t, ".target_id = ")
		c.arg(id)
		c.w(")")
	case modifier != "" && !strings.Contains(v, "/"):
		c.w("(", t, ".target_type = ")
		c.arg(modifier)
		c.w(" AND ", t, ".target_id = ")
		c.arg(v)
		c.w(")")
	default:
		c.w(t, ".target_id = ")
		c.arg(v)
	}
}

// stringValue: starts-with on the normalised value by default, as a range
// so a btree index serves it on both engines.
func (c *compiler) stringValue(t, modifier, v string) {
	switch modifier {
	case "exact":
		c.w(t, ".exact = ")
		c.arg(v)
	case "contains":
		c.w(t, ".value LIKE ")
		c.arg("%" + escapeLike(index.NormalizeString(v)) + "%")
		c.w(` ESCAPE '\'`)
	default:
		c.prefix(t+".value", index.NormalizeString(v))
	}
}

func (c *compiler) uri(t, modifier, v string) {
	switch modifier {
	case "below":
		c.prefix(t+".value", v)
	case "above":
		c.w("substr(CAST(")
		c.arg(v)
		c.w(" AS TEXT), 1, length(", t, ".value)) = ", t, ".value")
	default:
		c.w(t, ".value = ")
		c.arg(v)
	}
}

// prefix writes col >= p AND col < p+U+10FFFF (byte order on both engines).
func (c *compiler) prefix(col, p string) {
	c.w("(", col, " >= ")
	c.arg(p)
	c.w(" AND ", col, " < ")
	c.arg(p + "\U0010FFFF")
	c.w(")")
}

// dateRange compares a stored range [lowCol, highCol] with the search
// range [low, high] under prefix, as FHIR R4 defines for dates.
func (c *compiler) dateRange(lowCol, highCol, prefix string, low, high int64) {
	switch prefix {
	case "", "eq":
		c.both(false, lowCol, ">=", low, highCol, "<=", high)
	case "ne":
		c.both(true, lowCol, ">=", low, highCol, "<=", high)
	case "lt":
		c.cmp(lowCol, "<", low)
	case "gt":
		c.cmp(highCol, ">", high)
	case "le":
		c.cmp(lowCol, "<=", high)
	case "ge":
		c.cmp(highCol, ">=", low)
	case "sa":
		c.cmp(lowCol, ">", high)
	case "eb":
		c.cmp(highCol, "<", low)
	case "ap":
		// Approximately: within 10% of the distance from now, at least the
		// value's own precision.
		mid := low/2 + high/2
		gap := c.now.UnixMicro() - mid
		if gap < 0 {
			gap = -gap
		}
		d := gap / 10
		c.both(false, lowCol, "<=", satAdd(high, d), highCol, ">=", satAdd(low, -d))
	}
}

// cmp writes "col op ?".
func (c *compiler) cmp(col, op string, v any) {
	c.w(col, " ", op, " ")
	c.arg(v)
}

// both writes "[NOT ](a opA ? AND b opB ?)".
func (c *compiler) both(not bool, a, opA string, x any, b, opB string, y any) {
	if not {
		c.w("NOT ")
	}
	c.w("(")
	c.cmp(a, opA, x)
	c.w(" AND ")
	c.cmp(b, opB, y)
	c.w(")")
}

func satAdd(a, b int64) int64 {
	s := a + b
	if b > 0 && s < a {
		return math.MaxInt64
	}
	if b < 0 && s > a {
		return math.MinInt64
	}
	return s
}

func (c *compiler) number(t, code, prefix, v string) error {
	val, low, high, ok := index.NumberRange(v)
	if !ok {
		return ward.Errorf(ward.EINVALID, "Invalid number value for parameter %s: %s", code, v)
	}
	col := t + ".value"
	switch prefix {
	case "", "eq":
		c.both(false, col, ">=", low, col, "<", high)
	case "ne":
		c.both(true, col, ">=", low, col, "<", high)
	case "lt", "eb":
		c.cmp(col, "<", val)
	case "gt", "sa":
		c.cmp(col, ">", val)
	case "le":
		c.cmp(col, "<=", val)
	case "ge":
		c.cmp(col, ">=", val)
	case "ap":
		d := math.Abs(val) / 10
		c.both(false, col, ">=", val-d, col, "<=", val+d)
	}
	return nil
}

// quantity: number[|system[|code]]; with no system the code may match the
// coded unit or the human unit.
func (c *compiler) quantity(t, code string, v ward.SearchValue) error {
	parts := strings.SplitN(v.Value, "|", 3)
	c.w("(")
	if err := c.number(t, code, v.Prefix, parts[0]); err != nil {
		return err
	}
	if len(parts) > 1 && parts[1] != "" {
		c.w(" AND ", t, ".system = ")
		c.arg(parts[1])
	}
	if len(parts) > 2 && parts[2] != "" {
		if parts[1] == "" {
			c.w(" AND (", t, ".code = ")
			c.arg(parts[2])
			c.w(" OR ", t, ".unit = ")
			c.arg(parts[2])
			c.w(")")
		} else {
			c.w(" AND ", t, ".code = ")
			c.arg(parts[2])
		}
	}
	c.w(")")
	return nil
}

func (c *compiler) idFilter(a string, f *ward.SearchFilter) error {
	if f.Modifier == "missing" {
		if f.Values[0].Value == "true" {
			c.w("1 = 0")
		} else {
			c.w("1 = 1")
		}
		return nil
	}
	if f.Modifier == "not" {
		c.w("NOT ")
	}
	c.w(a, ".id IN (")
	for i, v := range f.Values {
		if i > 0 {
			c.w(", ")
		}
		c.arg(v.Value)
	}
	c.w(")")
	return nil
}

func (c *compiler) lastUpdated(a string, f *ward.SearchFilter) error {
	if f.Modifier == "missing" {
		c.w(map[bool]string{true: "1 = 0", false: "1 = 1"}[f.Values[0].Value == "true"])
		return nil
	}
	c.w("(")
	for i, v := range f.Values {
		if i > 0 {
			c.w(" OR ")
		}
		low, high, ok := index.DateRange(v.Value)
		if !ok {
			return ward.Errorf(ward.EINVALID, "Invalid date value for parameter _lastUpdated: %s", v.Value)
		}
		c.dateRange(a+".last_updated", a+".last_updated", v.Prefix, low, high)
	}
	c.w(")")
	return nil
}

// nilUUID never matches: Medplum maps non-UUID compartment values to it.
const nilUUID = "00000000-0000-0000-0000-000000000000"

// compartment: the row's meta.compartment holds any of the values.
func (c *compiler) compartment(a, typ string, f *ward.SearchFilter) error {
	c.compartmentOf(a+".project_id", a+".resource_type", a+".id", typ, f)
	return nil
}

// compartmentOf is compartment for the row whose key is in the columns
// project, rtype and id: a resources row, or an index row (rangePage
// checks the policy on the date index before reading any resource).
func (c *compiler) compartmentOf(project, rtype, id, typ string, f *ward.SearchFilter) {
	k := c.alias("k")
	if f.Modifier == "not" {
		c.w("NOT ")
	}
	// A correlated probe of the (project_id, resource_type, resource_id)
	// index: a few index rows per candidate. A row-value IN (SELECT …) made
	// SQLite materialise every resource of every listed compartment on each
	// query, and PostgreSQL's generic plans did the same (docs/benchmarks.md,
	// "Organization walls").
	ids := compartmentValueIDs(f.Values)
	col := k + ".compartment"
	if len(ids) > 1 {
		// Several compartments (a clinician of 50 clinics): seek the
		// (project_id, resource_type, resource_id) index once and check the
		// resource's few compartment rows. Left usable, the compartment
		// column made SQLite seek the primary key once per listed value.
		col = "(" + col + " || '')"
	}
	c.w("EXISTS (SELECT 1 FROM resource_compartments ", k, " WHERE ", k, ".project_id = ", project, " AND ",
		k, ".resource_type = ", rtype, " AND ", k, ".resource_id = ", id, " AND ", col, " IN (")
	for i, id := range ids {
		if i > 0 {
			c.w(", ")
		}
		c.arg(id)
	}
	c.w(")")
	if typ == "" {
		c.wallAny(k+".project_id", k+".resource_type")
	} else {
		c.wall(k+".project_id", typ)
	}
	c.w(")")
}

// compartmentValueIDs returns the ids a _compartment value list names (Type/id
// or a bare id). A value that is not a UUID can match nothing (an
// unsubstituted %organization, say): it is dropped, or becomes the nil
// UUID when nothing else is left, so the list is never empty.
func compartmentValueIDs(values []ward.SearchValue) []string {
	ids := make([]string, 0, len(values))
	for _, v := range values {
		if id := lastSegment(v.Value); index.IsUUID(id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		ids = append(ids, nilUUID)
	}
	return ids
}

func lastSegment(v string) string {
	if i := strings.LastIndexByte(v, '/'); i >= 0 {
		return v[i+1:]
	}
	return v
}

// chain: subject:Patient.name=x — a reference of a to a visible TargetType
// row that matches the chained filter. The target is scoped by the wall.
// The targets are a sub-plan of their own (target_id IN (SELECT …)), not
// a join: a target may lie in another project than the reference (a
// linked project), and Citus joins distributed tables only on their
// distribution column.
func (c *compiler) chain(a, typ string, f *ward.SearchFilter) error {
	t := c.alias("t")
	r := c.alias("r")
	c.w("(", a, ".project_id, ", a, ".id) IN (SELECT ", t, ".project_id, ", t, ".resource_id FROM search_reference ", t, " WHERE ", t, ".resource_type = ")
	c.arg(typ)
	c.wall(t+".project_id", typ)
	c.w(" AND ", t, ".param = ")
	c.arg(f.Code)
	c.w(" AND ", t, ".target_type = ")
	c.arg(f.TargetType)
	c.w(" AND ", t, ".target_id IN (SELECT ", r, ".id FROM resources ", r, " WHERE ")
	if err := c.resourcesWhere(r, f.TargetType, []ward.SearchFilter{*f.Chain}); err != nil {
		return err
	}
	c.w("))")
	return nil
}

// has: _has:Type:ref:filter — a visible Type row whose ref points at a and
// matches the filter.
func (c *compiler) has(a, typ string, h *ward.HasFilter) error {
	t := c.alias("t")
	r := c.alias("r")
	c.w(a, ".id IN (SELECT ", t, ".target_id FROM search_reference ", t, " JOIN resources ", r, " ON ", r, ".project_id = ", t, ".project_id AND ",
		r, ".resource_type = ", t, ".resource_type AND ", r, ".id = ", t, ".resource_id WHERE ", t, ".resource_type = ")
	c.arg(h.ResourceType)
	c.wall(t+".project_id", h.ResourceType)
	c.w(" AND ", t, ".param = ")
	c.arg(h.Reference)
	c.w(" AND ", t, ".target_type = ")
	c.arg(typ)
	c.w(" AND ")
	if err := c.resourcesWhere(r, h.ResourceType, []ward.SearchFilter{h.Filter}); err != nil {
		return err
	}
	c.w(")")
	return nil
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// dateWideOpen is beyond every real date (±2^62 µs is ±146,000 years), so
// "bound - width" cannot overflow when width is below it.
const dateWideOpen = int64(1) << 62

// dateLowBound adds, for prefixes that only bound high from below (ge, gt,
// ap), the implied bound low >= bound - width, where width is the widest
// range stored for the parameter: high - low <= width. It changes no
// result, but lets the engine scan the low index over [bound - width, …)
// rather than half of it (date=ge2020-01&date=lt2020-02 becomes a narrow
// range instead of two half-index scans).
func (c *compiler) dateLowBound(t, typ, param, prefix string, low, high int64) {
	var bound int64
	switch prefix {
	case "ge":
		bound = low
	case "gt":
		bound = high
	case "ap":
		mid := low/2 + high/2
		gap := c.now.UnixMicro() - mid
		if gap < 0 {
			gap = -gap
		}
		bound = satAdd(low, -gap/10)
	default:
		return
	}
	if bound <= -dateWideOpen || bound >= dateWideOpen {
		return
	}
	w := c.alias("w")
	// No width row (rows written by other means): no bound.
	c.w(" AND ", t, ".low >= (SELECT CASE WHEN MAX(", w, ".width) IS NULL OR MAX(", w, ".width) >= ")
	c.arg(dateWideOpen)
	c.w(" THEN ")
	c.arg(int64(math.MinInt64))
	c.w(" ELSE ")
	c.arg(bound)
	c.w(" - MAX(", w, ".width) END FROM search_date_width ", w, " WHERE ", w, ".resource_type = ")
	c.arg(typ)
	c.wall(w+".project_id", typ)
	c.w(" AND ", w, ".param = ")
	c.arg(param)
	c.w(")")
}
