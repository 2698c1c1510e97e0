package store

import (
	"context"

	"github.com/wardhealth/ward"
)

// SearchForcingPlan runs q as Store.Search does for the caller's policy,
// with the driver measurePlan would choose overridden: fromCompartment
// drives the page from the caller's one compartment when the plan has that
// alternative.
func SearchForcingPlan(ctx context.Context, s *Store, q *ward.SearchQuery, fromCompartment bool) ([]*ward.Resource, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	extra := policyPredicate(p, ward.InteractionSearch)
	pl, err := planSearch(p, q, extra, q.Count)
	if err != nil {
		return nil, err
	}
	if fromCompartment {
		pl = pl.fromCompartment()
	}
	query, args, err := compilePlan(p, q, extra, s.dialect, pl)
	if err != nil {
		return nil, err
	}
	return scanResources(ctx, s.reader, s.dialect.Rebind(query), args)
}

// PlanOf is the plan Store.Search runs for q and the caller in ctx, after
// measuring, in one line (searchPlan.String).
func PlanOf(ctx context.Context, s *Store, q *ward.SearchQuery) (string, error) {
	p, err := principal(ctx)
	if err != nil {
		return "", err
	}
	extra := policyPredicate(p, ward.InteractionSearch)
	pl, err := planSearch(p, q, extra, q.Count+1)
	if err != nil {
		return "", err
	}
	pl, err = measurePlan(ctx, s.reader, s.dialect, p, q, extra, pl)
	return pl.String(), err
}
