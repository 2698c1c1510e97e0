//go:build wip && wipstub

package store

import (
	"context"

	"github.com/wardhealth/ward"
)

func runSearch(ctx context.Context, db queryer, d Dialect, p *ward.Principal, q *ward.SearchQuery) (*ward.SearchResult, error) {
	return nil, ward.Errorf(ward.EINVALID, "stub")
}
