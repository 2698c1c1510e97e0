package store

import "github.com/wardhealth/ward"

// orDriver picks a _filter filter a search can be driven by: an or of
// reference equalities (a resource's timeline in the Medplum app:
// based-on eq X or focus eq X or subject eq X). Written as it is, an or of
// index memberships cannot drive a query: both engines walk every row of
// the type and probe each membership — 85 times the plain search on one of
// the references over 10,000 Tasks (docs/benchmarks.md). -1 when none fits.
func orDriver(filters []ward.SearchFilter) int {
	for i := range filters {
		if e := filters[i].Expr; e != nil && e.Op == ward.FilterOr && referenceEqualities(e.Operands) {
			return i
		}
	}
	return -1
}

// referenceEqualities reports that every operand is a single-valued
// reference equality on the searched type's own index (no chain, no _has,
// no :identifier or :missing).
func referenceEqualities(operands []ward.FilterExpr) bool {
	for i := range operands {
		c := operands[i].Compare
		if c == nil {
			return false
		}
		f := &c.Filter
		if f.Type != "reference" || f.Chain != nil || f.Has != nil || len(f.Values) != 1 || f.Code[0] == '_' ||
			f.Modifier == "identifier" || f.Modifier == "missing" {
			return false
		}
	}
	return true
}

// orDriven compiles q read from the union of the index rows of
// q.Filters[i]'s comparisons (the few resources that point at X), then
// checks the other filters, the wall and the policy on each row as the
// plain query does, in the same order: the driver changes what the page
// costs, never its rows.
func (c *compiler) orDriven(q *ward.SearchQuery, i, limit int) (string, []any, error) {
	u := c.alias("u")
	// One SELECT per reference, each a seek of the target index (an OR
	// inside one SELECT made SQLite read every reference of the type).
	c.w("SELECT ", resourceColumns, " FROM (")
	for j, o := range q.Filters[i].Expr.Operands {
		f := &o.Compare.Filter
		if j > 0 {
			c.w(" UNION ")
		}
		x := c.alias("x")
		c.w("SELECT ", x, ".project_id, ", x, ".resource_id FROM search_reference ", x, " WHERE ", x, ".resource_type = ")
		c.arg(q.ResourceType)
		c.wall(x+".project_id", q.ResourceType)
		c.w(" AND ", x, ".param = ")
		c.arg(f.Code)
		c.w(" AND ")
		c.reference(x, f.Modifier, f.Values[0].Value)
	}
	c.w(") ", u, " JOIN resources r ON r.project_id = ", u, ".project_id AND r.resource_type = ")
	c.arg(q.ResourceType)
	c.w(" AND r.id = ", u, ".resource_id WHERE ")
	// The union is the or itself, under the same wall: like driven's
	// driver, it is not checked again.
	others := append(append([]ward.SearchFilter{}, q.Filters[:i]...), q.Filters[i+1:]...)
	if err := c.resourcesWhere("r", q.ResourceType, others); err != nil {
		return "", nil, err
	}
	return c.orderAndPage("r", q, limit)
}
