package graphql

import (
	"sort"

	"github.com/graphql-go/graphql/gqlerrors"
)

// locate turns the locations of errs into lines and columns of query.
// parseQuery parses without the source, so graphql-go reports each
// location as line 1, column offset+1; this is the line and column it
// would have computed with the source (a line ends at \r\n, \n or \r),
// found with one scan of query for all errors instead of one per error.
func locate(errs []gqlerrors.FormattedError, query string) {
	var breaks []int // offset just past each line break
	for i := 0; i < len(query); i++ {
		switch {
		case query[i] == '\r' && i+1 < len(query) && query[i+1] == '\n':
			i++
			breaks = append(breaks, i+1)
		case query[i] == '\n' || query[i] == '\r':
			breaks = append(breaks, i+1)
		}
	}
	for _, e := range errs {
		for j, loc := range e.Locations {
			if loc.Line != 1 {
				continue // already placed
			}
			offset := loc.Column - 1
			// line breaks that start before offset
			n := sort.Search(len(breaks), func(k int) bool { return breakStart(query, breaks[k]) >= offset })
			if n > 0 {
				e.Locations[j].Line = n + 1
				e.Locations[j].Column = offset + 1 - breaks[n-1]
			}
		}
	}
}

// breakStart is the offset of the line break that ends just before end.
func breakStart(query string, end int) int {
	if end >= 2 && query[end-2:end] == "\r\n" {
		return end - 2
	}
	return end - 1
}
