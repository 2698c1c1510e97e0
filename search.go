package ward

// SearchQuery is a parsed FHIR search (package search builds it from a URL
// query; AccessPolicy criteria use the same parser). It carries no SQL: the
// store compiles it, ANDed with the caller's project and policy.
type SearchQuery struct {
	ResourceType string
	Filters      []SearchFilter // ANDed; one per parameter occurrence
	Sort         []SortKey
	Count        int    // page size; 0 = default (20); capped at 1000
	Offset       int    // rows to skip
	Total        string // "", "none", "estimate" or "accurate"
	Summary      string // "", "count", "true", "text", "data", "false"
	Elements     []string
	Includes     []Include // _include
	RevIncludes  []Include // _revinclude
}

// SearchFilter is one parameter occurrence, e.g. code=a,b. Its Values are ORed.
type SearchFilter struct {
	Code     string // parameter code, e.g. "code", "_id", "subject"
	Type     string // token, string, reference, date, number, quantity, uri, special
	Modifier string // "", exact, contains, missing, not, text, identifier, above, below, in, or a resource type
	Values   []SearchValue

	// Chain is set for a chained parameter: subject:Patient.name=x is
	// {Code: subject, TargetType: Patient, Chain: {Code: name, …}}.
	TargetType string
	Chain      *SearchFilter

	// Has is set for _has:Type:reference:filter (reverse chaining).
	Has *HasFilter

	// Expr is set for a _filter expression that is more than comparisons
	// joined by and (those become filters of their own): {Code: "_filter",
	// Type: "special", Expr: …}.
	Expr *FilterExpr
}

// FilterOp is the kind of a FilterExpr node.
type FilterOp string

const (
	FilterCompare FilterOp = ""    // a comparison: Compare
	FilterAnd     FilterOp = "and" // every Operand holds
	FilterOr      FilterOp = "or"  // some Operand holds
	FilterNot     FilterOp = "not" // the one Operand does not hold
)

// FilterExpr is a parsed _filter expression (FHIR R4 search_filter): a
// boolean tree whose leaves are comparisons, each meaning one ordinary
// search filter. It carries no SQL: the store compiles each leaf as the
// plain search parameter it means, inside the same walls.
type FilterExpr struct {
	Op       FilterOp
	Operands []FilterExpr      // and/or: two or more; not: one
	Compare  *FilterComparison // Op FilterCompare
}

// FilterComparison is one `path op value` of a _filter, as written (Value
// unquoted) and as the filter it means.
type FilterComparison struct {
	Path, Operator, Value string
	Filter                SearchFilter
}

// Leaves counts the comparisons of e.
func (e *FilterExpr) Leaves() int {
	if e.Op == FilterCompare {
		return 1
	}
	n := 0
	for i := range e.Operands {
		n += e.Operands[i].Leaves()
	}
	return n
}

// ParamCount is the number of search parameters q compiles into: one per
// filter, a _filter expression counting each of its comparisons. Limits on
// the cost of a search (search's and $graphql's) count these.
func (q *SearchQuery) ParamCount() int {
	n := 0
	for i := range q.Filters {
		if e := q.Filters[i].Expr; e != nil {
			n += e.Leaves()
		} else {
			n++
		}
	}
	return n
}

// SearchValue is one ORed value with its comparison prefix (eq ne lt gt le ge
// sa eb ap; "" when the type takes no prefix). Value has FHIR escapes removed.
type SearchValue struct {
	Prefix string
	Value  string
}

// HasFilter is _has:ResourceType:Reference:Filter: resources that are the
// target of a ResourceType whose Reference parameter points at them and that
// match Filter.
type HasFilter struct {
	ResourceType string
	Reference    string
	Filter       SearchFilter
}

// SortKey is one _sort key.
type SortKey struct {
	Code       string
	Descending bool
}

// Include is one _include / _revinclude value: SourceType:Param[:TargetType].
// Param "*" includes every reference parameter.
type Include struct {
	SourceType string
	Param      string
	TargetType string
	Iterate    bool
}
