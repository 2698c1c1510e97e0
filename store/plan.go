package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/index"
)

// A search is planned, then compiled: planSearch decides from the query,
// the caller and its policy alone how the page is read (what drives it,
// which filters are probes, the order it pages in, the projects it
// touches); measurePlan may refine that choice from the data (the density
// probe); compilePlan writes the SQL of the plan. The plan decides what a
// page costs, never its rows: every plan's SQL carries the wall, the
// policy and every filter. Tests assert plans (plan_test.go) apart from
// the SQL text.

// driverKind is what a search's page is read from.
type driverKind int

const (
	// driveTable reads the resources rows in page order (by a _sort, or by
	// id along the primary key), each filter checked on the row.
	driveTable driverKind = iota
	// driveIndex joins from the index rows of one filter (a token or
	// reference equality) in resource id order: a page costs a page of
	// lookups when the other conditions pass.
	driveIndex
	// driveDate walks a date filter's covering index in date order (low,
	// high, resource id), each resource at its first matching row: a page
	// costs a page of index rows however many rows the range holds.
	driveDate
	// driveCompartment walks the caller's one compartment in id order; the
	// filter that could have driven is a probe.
	driveCompartment
	// driveOr reads the union of an or of reference equalities (_filter).
	driveOr
	// driveCompartmentIndex walks the compartment index (compartmentindex.
	// go) of the caller's one compartment and the driving filter: a token
	// equality in resource id order, a date range in date order. Its rows
	// are the intersection of the two, so a page costs a page of index
	// rows however sparse the clinic and the filter are in the project.
	driveCompartmentIndex
)

func (k driverKind) String() string {
	switch k {
	case driveIndex:
		return "index"
	case driveDate:
		return "date"
	case driveCompartment:
		return "compartment"
	case driveOr:
		return "or"
	case driveCompartmentIndex:
		return "compartment-index"
	}
	return "table"
}

// pageOrder is the order the rows of a search come in, and so the order
// pages are cut in.
type pageOrder int

const (
	// orderID is by resource id: the default of a search that no date drives.
	orderID pageOrder = iota
	// orderDate is by the driving date's index row (low, high, id): the
	// default of a search a date filter drives, so a page does not sort
	// the whole range.
	orderDate
	// orderSort is by the query's _sort keys, then id.
	orderSort
)

func (o pageOrder) String() string {
	switch o {
	case orderDate:
		return "date"
	case orderSort:
		return "sort"
	}
	return "id"
}

// searchPlan is how one page of a search is read.
type searchPlan struct {
	Driver driverKind
	// Filter is the index in q.Filters of the driving filter (driveIndex,
	// driveDate, driveOr), of the filter a compartment-driven page probes,
	// or of the equality carrying RangesBeside (driveTable); -1 for none.
	Filter int
	// Compartment is the caller's one compartment (the policy confines the
	// type to it): the driver of driveCompartment, or the alternative
	// measurePlan weighs against a driveIndex filter. "" for none.
	Compartment string
	// Probes are the filters checked by a seek of each candidate's own
	// index rows rather than a list of every match (driveCompartment).
	Probes []int
	// RangesBeside are date filters checked on the index rows of Filter
	// inside its subquery (a sorted search with an equality and a range).
	RangesBeside []int
	// PolicyOnIndex: the policy (compartments only) is checked on the
	// driver's index rows before any resource row is read.
	PolicyOnIndex bool
	Order         pageOrder
	// Rows is the estimated number of rows on the driving side, from the
	// density probe: exact when below RowsCap, else at least RowsCap; -1
	// when nothing was measured.
	Rows, RowsCap int
	// Projects are the projects (Citus: the shards) the page reads; nil
	// for a system caller without a home: every project.
	Projects []string
	Limit    int
	Offset   int
}

// String is a plan in one line, for tests and debugging.
func (pl searchPlan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", pl.Driver)
	if pl.Filter >= 0 {
		fmt.Fprintf(&b, "[%d]", pl.Filter)
	}
	if pl.Compartment != "" {
		fmt.Fprintf(&b, " compartment=%s", pl.Compartment)
	}
	if len(pl.Probes) > 0 {
		fmt.Fprintf(&b, " probes=%v", pl.Probes)
	}
	if len(pl.RangesBeside) > 0 {
		fmt.Fprintf(&b, " beside=%v", pl.RangesBeside)
	}
	if pl.PolicyOnIndex {
		b.WriteString(" policy-on-index")
	}
	fmt.Fprintf(&b, " order=%s rows=%d projects=%v limit=%d offset=%d", pl.Order, pl.Rows, pl.Projects, pl.Limit, pl.Offset)
	return b.String()
}

// planSearch decides, without reading data, how a page of limit rows of q
// is read for p under extra (nil: no policy).
func planSearch(p *ward.Principal, q *ward.SearchQuery, extra Predicate, limit int) (searchPlan, error) {
	c, err := newCompiler(p, extra, time.Time{})
	if err != nil {
		return searchPlan{}, err
	}
	pl := searchPlan{Filter: -1, Rows: -1, Limit: limit, Offset: max(q.Offset, 0)}
	if p.System {
		pl.Projects = p.Home
	} else {
		pl.Projects = readProjectsFor(p, q.ResourceType)
	}
	if len(q.Sort) > 0 {
		pl.Order = orderSort
	}
	i := driverFilter(q.Filters)
	if j := orDriver(q.Filters); j >= 0 && (i < 0 || q.Filters[i].Type == "date") {
		pl.Driver, pl.Filter = driveOr, j
		return pl, nil
	}
	if len(q.Sort) > 0 {
		pl.Driver = driveTable
		if beside := rangesBeside(q.Filters); len(beside) > 0 {
			pl.Filter, pl.RangesBeside = i, beside
		}
		return pl, nil
	}
	if id, ok := c.compartmentIndexDriver(q.ResourceType); ok && i >= 0 && !p.System && len(pl.Projects) == 1 &&
		compartmentIndexed(&q.Filters[i]) {
		// The same filter and order as the plan without it (an admin's):
		// pages differ only by the rows the policy keeps out.
		pl.Driver, pl.Filter, pl.Compartment = driveCompartmentIndex, i, id
		if q.Filters[i].Type == "date" {
			pl.Order = orderDate
		}
		return pl, nil
	}
	compartment, single := c.compartmentDriver(q.ResourceType)
	switch {
	case i >= 0 && q.Filters[i].Type == "date":
		// A date range read in date order costs a page of index rows;
		// in id order (from the compartment too) it reads the range whole.
		pl.Driver, pl.Filter, pl.Order = driveDate, i, orderDate
		pl.PolicyOnIndex = extra != nil && c.indexPolicy(q.ResourceType)
	case single && i < 0:
		pl.Driver, pl.Compartment = driveCompartment, compartment
	case i >= 0:
		pl.Driver, pl.Filter = driveIndex, i
		if single && !p.System && len(pl.Projects) == 1 {
			// The alternative measurePlan weighs; across projects the
			// indexes are not in id order.
			pl.Compartment = compartment
		}
	}
	return pl, nil
}

// fromCompartment turns a driveIndex plan with a compartment alternative
// into the compartment-driven one, the filter a probe. Other plans are
// returned as they are.
func (pl searchPlan) fromCompartment() searchPlan {
	if pl.Driver != driveIndex || pl.Compartment == "" {
		return pl
	}
	pl.Driver, pl.Probes = driveCompartment, []int{pl.Filter}
	return pl
}

const (
	// densityRows is how many rows of the first page's worth measurePlan
	// reads from each side, times the page size.
	densityRows = 4
	// maxDensityRows bounds that read for deep pages.
	maxDensityRows = 5000
)

// measurePlan decides, for a driveIndex plan with a compartment alternative
// (a clinician of one clinic searching with an equality), which of the two
// drives the page. Both are read in resource id order, and the cost of a
// page is the number of rows walked on the driving side before limit rows
// pass the other: walking the sparser side is cheaper, by the ratio of the
// two densities (a clinic holding 1 % of the Observations against a code
// held by 5 % is 5×). The density is measured where the page starts: the
// first n rows of each side (n = offset + 4 × page), read from the two
// indexes in one statement, counted and their last id taken; the side with
// fewer rows, or reaching further into the id space, is the sparser.
func measurePlan(ctx context.Context, db queryer, d Dialect, p *ward.Principal, q *ward.SearchQuery, extra Predicate, pl searchPlan) (searchPlan, error) {
	if pl.Driver != driveIndex || pl.Compartment == "" {
		return pl, nil
	}
	c, err := newCompiler(p, extra, time.Now())
	if err != nil {
		return pl, err
	}
	f := &q.Filters[pl.Filter]
	n := min(pl.Offset+densityRows*pl.Limit, maxDensityRows)
	typ := q.ResourceType
	k, t, a, b := c.alias("k"), c.alias("t"), c.alias("a"), c.alias("b")
	c.w("SELECT ", a, ".n, ", a, ".last, ", b, ".n, ", b, ".last FROM (SELECT COUNT(*) AS n, MAX(x.resource_id) AS last FROM (SELECT ",
		k, ".resource_id FROM resource_compartments ", k, " WHERE ", k, ".compartment = ")
	c.arg(pl.Compartment)
	c.w(" AND ", k, ".resource_type = ")
	c.arg(typ)
	c.wall(k+".project_id", typ)
	c.w(" ORDER BY ", k, ".resource_id LIMIT ")
	c.arg(n)
	c.w(") x) ", a, ", (SELECT COUNT(*) AS n, MAX(y.resource_id) AS last FROM (SELECT ", t, ".resource_id FROM ", indexTable[f.Type], " ", t, " WHERE ", t, ".resource_type = ")
	c.arg(typ)
	c.wall(t+".project_id", typ)
	c.w(" AND ", t, ".param = ")
	c.arg(f.Code)
	c.w(" AND ")
	if err := c.value(t, typ, f, f.Values[0]); err != nil {
		return pl, err
	}
	c.w(" ORDER BY ", t, ".resource_id LIMIT ")
	c.arg(n)
	c.w(") y) ", b)
	var inCompartment, inFilter int
	var lastCompartment, lastFilter sql.NullString
	if err := db.QueryRowContext(ctx, d.Rebind(c.sql.String()), c.args...).Scan(&inCompartment, &lastCompartment, &inFilter, &lastFilter); err != nil {
		return pl, err
	}
	// A side with fewer than n rows is the sparser; both: either is cheap.
	sparser := inCompartment < inFilter ||
		inCompartment == n && inFilter == n && lastCompartment.String > lastFilter.String
	pl.Rows, pl.RowsCap = inFilter, n
	if sparser {
		pl = pl.fromCompartment()
		pl.Rows = inCompartment
	}
	return pl, nil
}

// driverFilter picks the filter a search can be driven by: a single-valued
// token or reference equality (its index is in id order, so the first page
// costs one page of lookups), else a date filter (a covering range scan).
// -1 when none fits.
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

// rangesBeside returns the date filters of a sorted search that also has a
// single token or reference equality (driverFilter), to be checked inside
// that filter's subquery on each of its index rows: AuditEvent?entity=
// Patient/x&date=ge…&_sort=-date, or a chart's Observation?subject=…
// &date=ge…, reads the patient's index rows and keeps those in the range
// before any resource row is read, instead of collecting every row of the
// range.
func rangesBeside(filters []ward.SearchFilter) []int {
	i := driverFilter(filters)
	if i < 0 || filters[i].Type == "date" || filters[i].Modifier == "not" {
		return nil
	}
	var out []int
	for j := range filters {
		g := &filters[j]
		// _lastUpdated is a column of the resource row, not an index row.
		if j == i || g.Type != "date" || g.Code == "_lastUpdated" || g.Chain != nil || g.Has != nil || g.Modifier != "" {
			continue
		}
		out = append(out, j)
	}
	return out
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

// compartmentIndexDriver is compartmentDriver when the compartment is one
// the compartment index holds: the policy's reference names its type, and
// the type is neither Patient nor Project (indexedCompartmentType). With
// several clinics (a clinician of 50) it is not used: a walk per clinic
// reads a page from each, where the plans without it read ≈ 2 index rows
// per match when the clinics hold half of the rows.
func (c *compiler) compartmentIndexDriver(typ string) (string, bool) {
	id, ok := c.compartmentDriver(typ)
	if !ok {
		return "", false
	}
	anyOf, _ := c.extra(typ)
	for _, f := range anyOf[0] {
		if f.Code != "_compartment" || f.Modifier != "" || f.Chain != nil || f.Has != nil || len(f.Values) != 1 {
			continue
		}
		// Every _compartment filter of the criteria holds for every row it
		// lets through, so any one of them can drive.
		if rtype, rid, ok := index.ParseReference(f.Values[0].Value); ok && rid == id && indexedCompartmentType(rtype) {
			return id, true
		}
	}
	return "", false
}

// compartmentIndexed reports whether the driving filter f (driverFilter)
// has its rows in the compartment index: a token equality with a code or
// a date range.
func compartmentIndexed(f *ward.SearchFilter) bool {
	switch f.Type {
	case "token":
		_, code, _ := splitToken(f.Values[0].Value)
		return f.Modifier == "" && code != ""
	case "date":
		return f.Modifier == ""
	}
	return false
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
