package store

import (
	"context"

	"github.com/wardhealth/ward"
)

// SearchWithPredicate runs q as Store.Search does, under an extra
// predicate: the tests of the access-policy seam use it until a policy
// package passes one for real.
func SearchWithPredicate(ctx context.Context, s *Store, q *ward.SearchQuery, extra Predicate) (*ward.SearchResult, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	return runSearchWith(ctx, s.reader, s.dialect, p, q, extra)
}
