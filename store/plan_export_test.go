package store

import (
	"context"

	"github.com/wardhealth/ward"
)

// SearchForcingPlan runs q as Store.Search does for the caller's policy,
// with the driver planDriver would choose overridden: fromCompartment
// drives the page from the caller's one compartment when it has one.
func SearchForcingPlan(ctx context.Context, s *Store, q *ward.SearchQuery, fromCompartment bool) ([]*ward.Resource, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	query, args, err := compilePlanned(p, q, policyPredicate(p, ward.InteractionSearch), q.Count, s.dialect, plan{fromCompartment: fromCompartment})
	if err != nil {
		return nil, err
	}
	return scanResources(ctx, s.reader, s.dialect.Rebind(query), args)
}
