package graphql

import (
	"context"

	"github.com/wardhealth/ward"
	wardhttp "github.com/wardhealth/ward/http"
)

// notingStore is the store as the resolvers see it: every resource a read
// or search returns names its patients to the request's audit record
// (wardhttp.NotePatients), so a $graphql that showed a patient's data is
// found in that patient's access history like a REST read.
type notingStore struct {
	ward.ResourceStore
}

func (s notingStore) Read(ctx context.Context, typ, id string) (*ward.Resource, error) {
	res, err := s.ResourceStore.Read(ctx, typ, id)
	if err == nil {
		wardhttp.NotePatients(ctx, res)
	}
	return res, err
}

func (s notingStore) Search(ctx context.Context, q *ward.SearchQuery) (*ward.SearchResult, error) {
	res, err := s.ResourceStore.Search(ctx, q)
	if err == nil {
		wardhttp.NotePatients(ctx, res.Matches...)
		wardhttp.NotePatients(ctx, res.Included...)
	}
	return res, err
}
