package store

import "github.com/wardhealth/ward"

// CompileSearch is the SQL a search runs, for the query-plan tests.
func CompileSearch(p *ward.Principal, q *ward.SearchQuery, d Dialect) (string, []any, error) {
	return compileSearch(p, q, nil, 21, d)
}
