package mock

import (
	"context"

	"github.com/wardhealth/ward"
)

var (
	_ ward.ResourceStore = (*ResourceStore)(nil)
	_ ward.ResourceTx    = (*ResourceTx)(nil)
)

// ResourceStore mocks ward.ResourceStore. PingFn, when set, is served by
// Ping (stores may offer it for health checks).
type ResourceStore struct {
	ReadFn    func(ctx context.Context, resourceType, id string) (*ward.Resource, error)
	VReadFn   func(ctx context.Context, resourceType, id, versionID string) (*ward.Resource, error)
	HistoryFn func(ctx context.Context, q ward.HistoryQuery) (*ward.HistoryPage, error)
	SearchFn  func(ctx context.Context, q *ward.SearchQuery) (*ward.SearchResult, error)
	WriteFn   func(ctx context.Context, fn func(ctx context.Context, tx ward.ResourceTx) error) error
	PingFn    func(ctx context.Context) error
}

func (s *ResourceStore) Read(ctx context.Context, resourceType, id string) (*ward.Resource, error) {
	return s.ReadFn(ctx, resourceType, id)
}

func (s *ResourceStore) VRead(ctx context.Context, resourceType, id, versionID string) (*ward.Resource, error) {
	return s.VReadFn(ctx, resourceType, id, versionID)
}

func (s *ResourceStore) History(ctx context.Context, q ward.HistoryQuery) (*ward.HistoryPage, error) {
	return s.HistoryFn(ctx, q)
}

func (s *ResourceStore) Search(ctx context.Context, q *ward.SearchQuery) (*ward.SearchResult, error) {
	return s.SearchFn(ctx, q)
}

func (s *ResourceStore) Write(ctx context.Context, fn func(ctx context.Context, tx ward.ResourceTx) error) error {
	return s.WriteFn(ctx, fn)
}

// Ping calls PingFn; without it the store reports itself healthy.
func (s *ResourceStore) Ping(ctx context.Context) error {
	if s.PingFn == nil {
		return nil
	}
	return s.PingFn(ctx)
}

// ResourceTx mocks ward.ResourceTx.
type ResourceTx struct {
	ReadFn    func(ctx context.Context, resourceType, id string) (*ward.Resource, error)
	VReadFn   func(ctx context.Context, resourceType, id, versionID string) (*ward.Resource, error)
	HistoryFn func(ctx context.Context, q ward.HistoryQuery) (*ward.HistoryPage, error)
	SearchFn  func(ctx context.Context, q *ward.SearchQuery) (*ward.SearchResult, error)
	CreateFn  func(ctx context.Context, resourceType string, content []byte) (*ward.Resource, error)
	UpdateFn  func(ctx context.Context, resourceType, id string, content []byte, ifMatch string) (*ward.Resource, bool, error)
	DeleteFn  func(ctx context.Context, resourceType, id string) error
}

func (tx *ResourceTx) Read(ctx context.Context, resourceType, id string) (*ward.Resource, error) {
	return tx.ReadFn(ctx, resourceType, id)
}

func (tx *ResourceTx) VRead(ctx context.Context, resourceType, id, versionID string) (*ward.Resource, error) {
	return tx.VReadFn(ctx, resourceType, id, versionID)
}

func (tx *ResourceTx) History(ctx context.Context, q ward.HistoryQuery) (*ward.HistoryPage, error) {
	return tx.HistoryFn(ctx, q)
}

func (tx *ResourceTx) Search(ctx context.Context, q *ward.SearchQuery) (*ward.SearchResult, error) {
	return tx.SearchFn(ctx, q)
}

func (tx *ResourceTx) Create(ctx context.Context, resourceType string, content []byte) (*ward.Resource, error) {
	return tx.CreateFn(ctx, resourceType, content)
}

func (tx *ResourceTx) Update(ctx context.Context, resourceType, id string, content []byte, ifMatch string) (*ward.Resource, bool, error) {
	return tx.UpdateFn(ctx, resourceType, id, content, ifMatch)
}

func (tx *ResourceTx) Delete(ctx context.Context, resourceType, id string) error {
	return tx.DeleteFn(ctx, resourceType, id)
}
