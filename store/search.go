package store

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
)

const (
	// maxIncludeDepth bounds _include:iterate / _revinclude:iterate.
	maxIncludeDepth = 3
	// maxIncluded bounds the resources one include step adds.
	maxIncluded = 1000
)

// columns every search reads, in scan order.
const resourceColumns = "r.resource_type, r.id, r.version_id, r.project_id, r.last_updated, r.content"

// runSearch executes q for principal p: one query for the page (one more
// row than asked, to know whether another page exists), one COUNT when
// asked, and one query per include step.
func runSearch(ctx context.Context, db queryer, d Dialect, p *ward.Principal, q *ward.SearchQuery) (*ward.SearchResult, error) {
	return runSearchWith(ctx, db, d, p, q, nil)
}

// runSearchWith is runSearch with an extra predicate (an access policy)
// on every resource the search reads.
func runSearchWith(ctx context.Context, db queryer, d Dialect, p *ward.Principal, q *ward.SearchQuery, extra Predicate) (*ward.SearchResult, error) {
	res := &ward.SearchResult{Total: -1}
	count := q.Count
	if count == 0 && q.Summary != "count" {
		count = defaultCount
	}
	count = min(count, maxCount)
	if q.Total == "accurate" || q.Total == "estimate" || q.Summary == "count" {
		n, err := countMatches(ctx, db, d, p, q, extra)
		if err != nil {
			return nil, err
		}
		res.Total = n
	}
	if count == 0 || q.Summary == "count" {
		return res, nil
	}
	pl, err := planDriver(ctx, db, d, p, q, extra, count+1)
	if err != nil {
		return nil, err
	}
	query, args, err := compilePlanned(p, q, extra, count+1, d, pl)
	if err != nil {
		return nil, err
	}
	if res.Matches, err = scanResources(ctx, db, d.Rebind(query), args); err != nil {
		return nil, err
	}
	if len(res.Matches) > count {
		res.Matches, res.HasMore = res.Matches[:count], true
	}
	if res.Included, err = includes(ctx, db, d, p, extra, q, res.Matches); err != nil {
		return nil, err
	}
	return res, nil
}

// compileSearch returns the page query of q with limit rows, for p and
// limited further by extra (nil for none).
func compileSearch(p *ward.Principal, q *ward.SearchQuery, extra Predicate, limit int, d Dialect) (string, []any, error) {
	return compilePlanned(p, q, extra, limit, d, plan{})
}

// compilePlanned is compileSearch with what planDriver learned: the
// choice of driver changes the cost of the page, never its rows or order.
func compilePlanned(p *ward.Principal, q *ward.SearchQuery, extra Predicate, limit int, d Dialect, pl plan) (string, []any, error) {
	c, err := newCompiler(p, extra, time.Now())
	if err != nil {
		return "", nil, err
	}
	c.d = d
	if j := orDriver(q.Filters); j >= 0 {
		if i := driverFilter(q.Filters); i < 0 || q.Filters[i].Type == "date" {
			return c.orDriven(q, j, limit) // filterplan.go
		}
	}
	if len(q.Sort) == 0 {
		i := driverFilter(q.Filters)
		id, single := c.compartmentDriver(q.ResourceType)
		switch {
		case single && (i < 0 || pl.fromCompartment):
			return c.compartmentPage(q, id, i, limit)
		case i >= 0:
			return c.driven(q, i, limit, d)
		}
	}
	c.probeRangesBeside(q.Filters)
	c.w("SELECT ", resourceColumns, " FROM resources r WHERE ")
	if err := c.resourcesWhere("r", q.ResourceType, q.Filters); err != nil {
		return "", nil, err
	}
	return c.orderAndPage("r", q, limit)
}

func countMatches(ctx context.Context, db queryer, d Dialect, p *ward.Principal, q *ward.SearchQuery, extra Predicate) (int, error) {
	c, err := newCompiler(p, extra, time.Now())
	if err != nil {
		return 0, err
	}
	c.w("SELECT COUNT(*) FROM resources r WHERE ")
	if err := c.resourcesWhere("r", q.ResourceType, q.Filters); err != nil {
		return 0, err
	}
	var n int
	err = db.QueryRowContext(ctx, d.Rebind(c.sql.String()), c.args...).Scan(&n)
	return n, err
}

// orderAndPage ends a search's SQL over alias a: its order, then the page.
func (c *compiler) orderAndPage(a string, q *ward.SearchQuery, limit int) (string, []any, error) {
	if err := c.orderBy(a, q.ResourceType, q.Sort); err != nil {
		return "", nil, err
	}
	c.w(" LIMIT ")
	c.arg(limit)
	c.w(" OFFSET ")
	c.arg(max(q.Offset, 0))
	return c.sql.String(), c.args, nil
}

// orderBy writes the sort keys, then r.id so pages are stable. The
// default order is by id: it follows the primary key, so a page of an
// unfiltered search reads only the rows it returns.
func (c *compiler) orderBy(a, typ string, keys []ward.SortKey) error {
	c.w(" ORDER BY ")
	for _, k := range keys {
		dir := " ASC"
		if k.Descending {
			dir = " DESC"
		}
		switch k.Code {
		case "_id":
			c.w(a, ".id", dir, ", ")
			continue
		case "_lastUpdated":
			c.w(a, ".last_updated", dir, ", ")
			continue
		}
		expr, err := c.sortExpr(a, typ, k)
		if err != nil {
			return err
		}
		// Rows without a value sort last on both engines.
		c.w("(", expr, ") IS NULL, (", expr, ")", dir, ", ")
	}
	c.w(a, ".id")
	return nil
}

// sortExpr is a correlated MIN (MAX when descending) over the parameter's
// index rows. The parameter code is checked by the parser and written as
// an argument, never as text.
func (c *compiler) sortExpr(a, typ string, k ward.SortKey) (string, error) {
	param, ok := lookupParamType(typ, k.Code)
	if !ok {
		return "", ward.Errorf(ward.EINVALID, "Unknown sort parameter: %s", k.Code)
	}
	table, col := indexTable[param], map[string]string{
		"token": "code", "string": "value", "date": "low", "number": "value",
		"quantity": "value", "reference": "target_id", "uri": "value",
	}[param]
	if k.Descending && param == "date" {
		col = "high"
	}
	if table == "" {
		return "", ward.Errorf(ward.EINVALID, "Cannot sort by %s", k.Code)
	}
	agg := "MIN"
	if k.Descending {
		agg = "MAX"
	}
	t := c.alias("s")
	var b strings.Builder
	b.WriteString("SELECT " + agg + "(" + t + "." + col + ") FROM " + table + " " + t + c.byResource(table) + " WHERE " + t + ".project_id = " + a + ".project_id AND " +
		t + ".resource_type = " + a + ".resource_type AND " + t + ".resource_id = " + a + ".id AND " + t + ".param = ?")
	// The wall again, as constants: Citus (and PostgreSQL's partition
	// pruning) route a correlated subquery by its own project_id filter,
	// not by the outer row's.
	wall, wallArgs := projectClause(c.p, typ, t+".project_id", "")
	b.WriteString(wall)
	// The expression is written twice (IS NULL, then the key).
	for range 2 {
		c.args = append(append(c.args, k.Code), wallArgs...)
	}
	return b.String(), nil
}

func lookupParamType(typ, code string) (string, bool) {
	p, ok := fhir.LookupSearchParam(typ, code)
	if !ok {
		return "", false
	}
	return p.Type, true
}

// scanResources reads rows of resourceColumns.
func scanResources(ctx context.Context, db queryer, query string, args []any) ([]*ward.Resource, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ward.Resource
	for rows.Next() {
		r := &ward.Resource{}
		var lu int64
		var content string
		if err := rows.Scan(&r.Type, &r.ID, &r.VersionID, &r.ProjectID, &lu, &content); err != nil {
			return nil, err
		}
		r.LastUpdated = fromMicros(lu)
		r.Content = []byte(content)
		out = append(out, r)
	}
	return out, rows.Err()
}

// includes follows _include and _revinclude from the matches, then (for
// :iterate) from what was included, up to maxIncludeDepth steps. Every
// step is a search of its own under the same project wall.
func includes(ctx context.Context, db queryer, d Dialect, p *ward.Principal, extra Predicate, q *ward.SearchQuery, matches []*ward.Resource) ([]*ward.Resource, error) {
	if len(matches) == 0 || (len(q.Includes) == 0 && len(q.RevIncludes) == 0) {
		return nil, nil
	}
	seen := make(map[string]bool, len(matches))
	for _, m := range matches {
		seen[m.Reference()] = true
	}
	var included []*ward.Resource
	from := matches
	for depth := 0; depth < maxIncludeDepth && len(from) > 0; depth++ {
		var next []*ward.Resource
		for _, inc := range q.Includes {
			if depth > 0 && !inc.Iterate {
				continue
			}
			found, err := includeStep(ctx, db, d, p, extra, inc, from, false)
			if err != nil {
				return nil, err
			}
			next = appendNew(next, found, seen)
		}
		for _, inc := range q.RevIncludes {
			if depth > 0 && !inc.Iterate {
				continue
			}
			found, err := includeStep(ctx, db, d, p, extra, inc, from, true)
			if err != nil {
				return nil, err
			}
			next = appendNew(next, found, seen)
		}
		included = append(included, next...)
		from = next
	}
	return included, nil
}

func appendNew(dst, found []*ward.Resource, seen map[string]bool) []*ward.Resource {
	for _, r := range found {
		if !seen[r.Reference()] {
			seen[r.Reference()] = true
			dst = append(dst, r)
		}
	}
	return dst
}

// includeStep runs one _include (targets of from's references) or
// _revinclude (resources referring to from). Every resource it reads
// passes the same conditions as a match: project wall, not deleted, and
// the extra predicate of its type.
func includeStep(ctx context.Context, db queryer, d Dialect, p *ward.Principal, extra Predicate, inc ward.Include, from []*ward.Resource, rev bool) ([]*ward.Resource, error) {
	ids, types := includeKeys(inc, from, rev)
	if len(ids) == 0 {
		return nil, nil
	}
	if !rev && inc.TargetType == "" && extra != nil {
		// The predicate depends on the target's type: find the types the
		// references point at, then include each type on its own.
		return includeByTargetType(ctx, db, d, p, extra, inc, from, ids)
	}
	c, err := newCompiler(p, extra, time.Now())
	if err != nil {
		return nil, err
	}
	c.w("SELECT ", resourceColumns, " FROM resources r WHERE ")
	if rev || inc.TargetType != "" {
		typ := inc.SourceType
		if !rev {
			typ = inc.TargetType
		}
		if err := c.resourcesWhere("r", typ, nil); err != nil {
			return nil, err
		}
		c.w(" AND ")
	} else {
		c.w("r.deleted = 0")
		c.wallAny("r.project_id", "r.resource_type")
		c.w(" AND ")
	}
	c.includedBy(inc, rev, ids, types)
	c.w(" ORDER BY r.resource_type, r.id LIMIT ")
	c.arg(maxIncluded)
	return scanResources(ctx, db, d.Rebind(c.sql.String()), c.args)
}

// includeKeys returns the ids (and their types) an include step starts
// from: for _include only the resources of the source type.
func includeKeys(inc ward.Include, from []*ward.Resource, rev bool) (ids, types []string) {
	typeSeen := map[string]bool{}
	for _, r := range from {
		if !rev && r.Type != inc.SourceType {
			continue
		}
		ids = append(ids, r.ID)
		if !typeSeen[r.Type] {
			typeSeen[r.Type] = true
			types = append(types, r.Type)
		}
	}
	return ids, types
}

// includedBy writes the condition that r is reached by the include: the
// target of a reference from ids (_include), or the source of a reference
// to them (_revinclude). The reference rows are walled like r.
func (c *compiler) includedBy(inc ward.Include, rev bool, ids, types []string) {
	t := c.alias("t")
	if rev {
		c.w("(r.project_id, r.id) IN (SELECT ", t, ".project_id, ", t, ".resource_id")
	} else {
		c.w("(r.resource_type, r.id) IN (SELECT ", t, ".target_type, ", t, ".target_id")
	}
	c.w(" FROM search_reference ", t, " WHERE ", t, ".resource_type = ")
	c.arg(inc.SourceType)
	c.wall(t+".project_id", inc.SourceType)
	c.includeParam(t, inc.Param)
	if rev {
		c.in(t+".target_type", types)
		c.in(t+".target_id", ids)
	} else {
		c.in(t+".resource_id", ids)
	}
	if inc.TargetType != "" {
		c.w(" AND ", t, ".target_type = ")
		c.arg(inc.TargetType)
	}
	c.w(")")
}

// includeByTargetType runs an _include without a target type once per
// type its references point at.
func includeByTargetType(ctx context.Context, db queryer, d Dialect, p *ward.Principal, extra Predicate, inc ward.Include, from []*ward.Resource, ids []string) ([]*ward.Resource, error) {
	c, err := newCompiler(p, nil, time.Now())
	if err != nil {
		return nil, err
	}
	t := c.alias("t")
	c.w("SELECT DISTINCT ", t, ".target_type FROM search_reference ", t, " WHERE ", t, ".resource_type = ")
	c.arg(inc.SourceType)
	c.wall(t+".project_id", inc.SourceType)
	c.includeParam(t, inc.Param)
	c.in(t+".resource_id", ids)
	c.w(" AND ", t, ".target_type <> '' ORDER BY ", t, ".target_type")
	types, err := queryStrings(ctx, db, d.Rebind(c.sql.String()), c.args)
	if err != nil {
		return nil, err
	}
	var out []*ward.Resource
	for _, typ := range types {
		one := inc
		one.TargetType = typ
		found, err := includeStep(ctx, db, d, p, extra, one, from, false)
		if err != nil {
			return nil, err
		}
		out = append(out, found...)
	}
	return out, nil
}

func queryStrings(ctx context.Context, db queryer, query string, args []any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (c *compiler) includeParam(t, param string) {
	if param == "*" {
		return
	}
	c.w(" AND ", t, ".param = ")
	c.arg(param)
}

// in writes " AND col IN (?, …)".
func (c *compiler) in(col string, vals []string) {
	c.w(" AND ", col, " IN (")
	c.list(vals)
	c.w(")")
}

// list writes vals as arguments, comma-separated.
func (c *compiler) list(vals []string) {
	for i, v := range vals {
		if i > 0 {
			c.w(", ")
		}
		c.arg(v)
	}
}

// SearchSQL returns the page query Search issues for q (already rebound
// for the engine) and its arguments. Benchmarks run it bare to measure
// what Ward adds on top of the database.
func (s *Store) SearchSQL(ctx context.Context, q *ward.SearchQuery) (string, []any, error) {
	p, err := principal(ctx)
	if err != nil {
		return "", nil, err
	}
	count := q.Count
	if count == 0 {
		count = defaultCount
	}
	query, args, err := compileSearch(p, q, nil, min(count, maxCount)+1, s.dialect)
	return s.dialect.Rebind(query), args, err
}

// probeRangesBeside has the date filters of a sorted search that also has
// a single token or reference equality (driverFilter) checked inside that
// filter's subquery, on each of its index rows: AuditEvent?entity=
// Patient/x&date=ge…&_sort=-date, or a chart's Observation?subject=…
// &date=ge…, reads the patient's index rows and keeps those in the range
// before any resource row is read, instead of collecting every row of the
// range.
func (c *compiler) probeRangesBeside(filters []ward.SearchFilter) {
	i := driverFilter(filters)
	if i < 0 || filters[i].Type == "date" || filters[i].Modifier == "not" {
		return
	}
	for j := range filters {
		g := &filters[j]
		// _lastUpdated is a column of the resource row, not an index row.
		if j == i || g.Type != "date" || g.Code == "_lastUpdated" || g.Chain != nil || g.Has != nil || g.Modifier != "" {
			continue
		}
		if c.probed == nil {
			c.probed, c.probedIn = map[*ward.SearchFilter]bool{}, map[*ward.SearchFilter][]*ward.SearchFilter{}
		}
		c.probed[g] = true
		c.probedIn[&filters[i]] = append(c.probedIn[&filters[i]], g)
	}
}

// driverFilter picks the filter a search in id order can be driven by: a
// single-valued token or reference equality (its index is in id order, so
// the first page costs one page of lookups), else a date filter (a covering
// range scan). -1 when none fits.
func driverFilter(filters []ward.SearchFilter) int {
	date := -1
	for i := range filters {
		f := &filters[i]
		if f.Chain != nil || f.Has != nil || strings.HasPrefix(f.Code, "_") || len(f.Values) != 1 {
			continue
		}
		switch {
		case f.Type == "token" && f.Modifier == "":
			if _, code, _ := splitToken(f.Values[0].Value); code != "" {
				return i
			}
		case f.Type == "reference" && (f.Modifier == "" || f.Modifier != "identifier" && f.Modifier != "missing"):
			return i
		case f.Type == "date" && f.Modifier == "" && date < 0:
			date = i
		}
	}
	return date
}

// driven compiles q joined from the index rows of filters[i]: the rows are
// read in resource id order and grouped so a resource with several
// matching rows counts once. Further date filters on the same parameter
// are checked on the same index row (date=ge…&date=lt… is one range).
func (c *compiler) driven(q *ward.SearchQuery, i, limit int, d Dialect) (string, []any, error) {
	f := &q.Filters[i]
	if f.Type == "date" && onlyRange(q.Filters, f.Code) && c.indexPolicy(q.ResourceType) {
		return c.rangePage(q, f, limit)
	}
	x := c.alias("d")
	c.w("SELECT ", resourceColumns, " FROM ", indexTable[f.Type], " ", x, " JOIN resources r ON r.project_id = ", x,
		".project_id AND r.resource_type = ", x, ".resource_type AND r.id = ", x, ".resource_id WHERE ", x, ".resource_type = ")
	c.arg(q.ResourceType)
	c.wall(x+".project_id", q.ResourceType)
	c.w(" AND ", x, ".param = ")
	c.arg(f.Code)
	others := make([]ward.SearchFilter, 0, len(q.Filters))
	for j := range q.Filters {
		g := &q.Filters[j]
		sameRange := f.Type == "date" && g.Code == f.Code && g.Modifier == "" && len(g.Values) == 1
		if j != i && !sameRange {
			others = append(others, *g)
			continue
		}
		c.w(" AND ")
		if err := c.value(x, q.ResourceType, g, g.Values[0]); err != nil {
			return "", nil, err
		}
	}
	c.w(" AND ")
	if err := c.resourcesWhere("r", q.ResourceType, others); err != nil {
		return "", nil, err
	}
	// SQLite streams GROUP BY on the index order only with the driver's
	// column alone; PostgreSQL needs the primary key to select r's columns.
	c.w(" GROUP BY ", x, ".resource_id")
	if d.Name() == "postgres" {
		c.w(", r.project_id, r.resource_type, r.id")
	}
	c.w(" ORDER BY ", x, ".resource_id LIMIT ")
	c.arg(limit)
	c.w(" OFFSET ")
	c.arg(max(q.Offset, 0))
	return c.sql.String(), c.args, nil
}

// compartmentDriver returns the one compartment every row the caller's
// policy lets through must carry, when the policy for typ is a single rule
// with a single-valued _compartment filter: a clinician of one clinic. In a
// big project such rows are sparse, so walking the rows in id order and
// probing each would read a hundred rows per match.
func (c *compiler) compartmentDriver(typ string) (string, bool) {
	if c.extra == nil {
		return "", false
	}
	anyOf, restricted := c.extra(typ)
	if !restricted || len(anyOf) != 1 {
		return "", false
	}
	for _, f := range anyOf[0] {
		if f.Code != "_compartment" || f.Modifier != "" || f.Chain != nil || f.Has != nil {
			continue
		}
		if ids := compartmentValueIDs(f.Values); len(ids) == 1 && ids[0] != nilUUID {
			return ids[0], true
		}
	}
	return "", false
}

// compartmentPage compiles a search in id order driven from the
// compartment's primary key (project_id, compartment, resource_type,
// resource_id): a page costs a page of lookups. The policy and every
// filter are still checked on r; filters[probe] (-1 for none), the filter
// planDriver found less selective than the compartment, is checked by a
// seek of r's own index rows rather than a list of all its matches.
func (c *compiler) compartmentPage(q *ward.SearchQuery, compartment string, probe, limit int) (string, []any, error) {
	k := c.alias("k")
	c.w("SELECT ", resourceColumns, " FROM resource_compartments ", k, " JOIN resources r ON r.project_id = ", k,
		".project_id AND r.resource_type = ", k, ".resource_type AND r.id = ", k, ".resource_id WHERE ", k, ".compartment = ")
	c.arg(compartment)
	c.w(" AND ", k, ".resource_type = ")
	c.arg(q.ResourceType)
	c.wall(k+".project_id", q.ResourceType)
	others := q.Filters
	if probe >= 0 {
		var err error
		if others, err = c.probe("r", q, probe); err != nil {
			return "", nil, err
		}
	}
	c.w(" AND ")
	if err := c.resourcesWhere("r", q.ResourceType, others); err != nil {
		return "", nil, err
	}
	c.w(" ORDER BY ", k, ".resource_id LIMIT ")
	c.arg(limit)
	c.w(" OFFSET ")
	c.arg(max(q.Offset, 0))
	return c.sql.String(), c.args, nil
}

// onlyRange reports that every filter is a single-valued date filter on code.
func onlyRange(filters []ward.SearchFilter, code string) bool {
	for _, g := range filters {
		if g.Code != code || g.Type != "date" || g.Modifier != "" || len(g.Values) != 1 || g.Chain != nil || g.Has != nil {
			return false
		}
	}
	return true
}

// rangePage compiles a search made only of date bounds on one parameter:
// the page of ids is taken from the covering date index first, and only
// that page's rows are read. (Joining the rows first read every match.)
// An access policy made of compartments only (indexPolicy) is checked on
// the index rows by the same probes, so the page of ids is already the
// caller's; the outer query checks it on r again.
// Deleting a resource deletes its index rows, so the ids are live; the
// outer query checks the wall and deletion again all the same.
func (c *compiler) rangePage(q *ward.SearchQuery, f *ward.SearchFilter, limit int) (string, []any, error) {
	x := c.alias("d")
	c.w("SELECT ", resourceColumns, " FROM resources r WHERE ")
	if err := c.resourcesWhere("r", q.ResourceType, nil); err != nil {
		return "", nil, err
	}
	c.w(" AND (r.project_id, r.id) IN (SELECT ", x, ".project_id, ", x, ".resource_id FROM search_date ", x, " WHERE ", x, ".resource_type = ")
	c.arg(q.ResourceType)
	c.wall(x+".project_id", q.ResourceType)
	c.w(" AND ", x, ".param = ")
	c.arg(f.Code)
	for j := range q.Filters {
		g := &q.Filters[j]
		c.w(" AND ")
		if err := c.value(x, q.ResourceType, g, g.Values[0]); err != nil {
			return "", nil, err
		}
	}
	c.indexPolicyOn(x, q.ResourceType)
	c.w(" GROUP BY ", x, ".project_id, ", x, ".resource_id ORDER BY ", x, ".resource_id LIMIT ")
	c.arg(limit)
	c.w(" OFFSET ")
	c.arg(max(q.Offset, 0))
	c.w(") ORDER BY r.id")
	return c.sql.String(), c.args, nil
}

// plan is what planDriver learned from the data before the page query is
// compiled.
type plan struct {
	// fromCompartment: drive the page from the caller's one compartment
	// and probe the driver filter, which matches more rows.
	fromCompartment bool
}

const (
	// densityRows is how many rows of the first page's worth planDriver
	// reads from each side, times the page size.
	densityRows = 4
	// maxDensityRows bounds that read for deep pages.
	maxDensityRows = 5000
)

// planDriver decides, for a caller whose policy confines the type to one
// compartment (a clinician of one clinic) searching with a filter that
// could drive the page, which of the two drives it. Both are read in
// resource id order, and the cost of a page is the number of rows walked
// on the driving side before limit rows pass the other: walking the
// sparser side is cheaper, by the ratio of the two densities (a clinic
// holding 1 % of the Observations against a code held by 5 % is 5×). The
// density is measured where the page starts: the id of the n-th row of
// each side, read from the two indexes (2n index rows), the side reaching
// further being the sparser. A date range is not in id order, and counting
// it cost as much as reading it: rangePage reads it whole, as for the
// admin, with the compartment checked on each index row. The plan changes
// what the page costs, never its rows: both queries carry every condition.
func planDriver(ctx context.Context, db queryer, d Dialect, p *ward.Principal, q *ward.SearchQuery, extra Predicate, limit int) (plan, error) {
	if extra == nil || len(q.Sort) > 0 || p.System || len(readProjectsFor(p, q.ResourceType)) != 1 {
		// Without one project the indexes are not in id order.
		return plan{}, nil
	}
	i := driverFilter(q.Filters)
	if i < 0 {
		return plan{}, nil
	}
	c, err := newCompiler(p, extra, time.Now())
	if err != nil {
		return plan{}, err
	}
	compartment, ok := c.compartmentDriver(q.ResourceType)
	if !ok {
		return plan{}, nil
	}
	f := &q.Filters[i]
	if f.Type == "date" {
		// Not in id order: rangePage reads the range whole, checking the
		// compartment on each index row.
		return plan{}, nil
	}
	n := min(max(q.Offset, 0)+densityRows*limit, maxDensityRows)
	typ := q.ResourceType
	k, t := c.alias("k"), c.alias("t")
	c.w("SELECT (SELECT ", k, ".resource_id FROM resource_compartments ", k, " WHERE ", k, ".compartment = ")
	c.arg(compartment)
	c.w(" AND ", k, ".resource_type = ")
	c.arg(typ)
	c.wall(k+".project_id", typ)
	c.w(" ORDER BY ", k, ".resource_id LIMIT 1 OFFSET ")
	c.arg(n - 1)
	c.w("), (SELECT ", t, ".resource_id FROM ", indexTable[f.Type], " ", t, " WHERE ", t, ".resource_type = ")
	c.arg(typ)
	c.wall(t+".project_id", typ)
	c.w(" AND ", t, ".param = ")
	c.arg(f.Code)
	c.w(" AND ")
	if err := c.value(t, typ, f, f.Values[0]); err != nil {
		return plan{}, err
	}
	c.w(" ORDER BY ", t, ".resource_id LIMIT 1 OFFSET ")
	c.arg(n - 1)
	c.w(")")
	var inCompartment, inFilter sql.NullString
	if err := db.QueryRowContext(ctx, d.Rebind(c.sql.String()), c.args...).Scan(&inCompartment, &inFilter); err != nil {
		return plan{}, err
	}
	// A side with fewer than n rows is the sparser; both: either is cheap.
	sparser := !inCompartment.Valid && inFilter.Valid ||
		inCompartment.Valid && inFilter.Valid && inCompartment.String > inFilter.String
	return plan{fromCompartment: sparser}, nil
}

// probe writes " AND EXISTS (…)": q.Filters[i] checked on a's own index
// rows (a seek of the resource's rows, not a list of every match). For a
// date, the other bounds on the same parameter are checked on the same
// index row, as driven does. It returns the filters left to write.
func (c *compiler) probe(a string, q *ward.SearchQuery, i int) ([]ward.SearchFilter, error) {
	f := &q.Filters[i]
	t := c.alias("t")
	param := t + ".param"
	if f.Type == "date" {
		// Keeps SQLite on the (…, resource_id) index: with param usable it
		// may scan the whole range of the low index for every candidate.
		param = "(" + param + " || '')"
	}
	c.w(" AND EXISTS (SELECT 1 FROM ", indexTable[f.Type], " ", t, " WHERE ", t, ".project_id = ", a, ".project_id AND ",
		t, ".resource_type = ", a, ".resource_type AND ", t, ".resource_id = ", a, ".id AND ", param, " = ")
	c.arg(f.Code)
	others := make([]ward.SearchFilter, 0, len(q.Filters))
	for j := range q.Filters {
		g := &q.Filters[j]
		sameRange := f.Type == "date" && g.Type == "date" && g.Code == f.Code && g.Modifier == "" && len(g.Values) == 1 && g.Chain == nil && g.Has == nil
		if j != i && !sameRange {
			others = append(others, *g)
			continue
		}
		c.w(" AND ")
		if err := c.value(t, q.ResourceType, g, g.Values[0]); err != nil {
			return nil, err
		}
	}
	c.w(")")
	return others, nil
}

// indexPolicy reports whether the extra predicate of typ can be checked on
// index rows alone: every criterion is a _compartment filter.
func (c *compiler) indexPolicy(typ string) bool {
	if c.extra == nil {
		return true
	}
	anyOf, restricted := c.extra(typ)
	if !restricted {
		return true
	}
	for _, criteria := range anyOf {
		for _, f := range criteria {
			if f.Code != "_compartment" || f.Chain != nil || f.Has != nil || f.Modifier != "" && f.Modifier != "not" {
				return false
			}
		}
	}
	return true
}

// indexPolicyOn writes the extra predicate of typ (indexPolicy) on the
// index row x: " AND (criteria OR …)".
func (c *compiler) indexPolicyOn(x, typ string) {
	if c.extra == nil {
		return
	}
	// compartmentOf writes SQL only; it has no error to pass on.
	_ = c.policyOn(typ, func(f *ward.SearchFilter) error {
		c.compartmentOf(x+".project_id", x+".resource_type", x+".resource_id", typ, f)
		return nil
	})
}
