package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestOnCommit: callbacks see exactly the versions of committed
// transactions, deletions included, and nothing of a rolled back one.
func TestOnCommit(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		var seen [][]string
		s.OnCommit(func(_ context.Context, written []*ward.Resource) {
			var refs []string
			for _, r := range written {
				ref := r.Reference()
				if r.Deleted {
					ref += " deleted"
				}
				refs = append(refs, ref)
			}
			seen = append(seen, refs)
		})
		ctx := as(uuid.NewString())
		p := create(t, s, ctx, "Patient", `{"resourceType":"Patient"}`)
		boom := errors.New("boom")
		err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
			if _, err := tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient"}`)); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("rolled back write: %v", err)
		}
		if err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error { return tx.Delete(ctx, "Patient", p.ID) }); err != nil {
			t.Fatal(err)
		}
		want := [][]string{{"Patient/" + p.ID}, {"Patient/" + p.ID + " deleted"}}
		if len(seen) != len(want) || seen[0][0] != want[0][0] || len(seen[1]) != 1 || seen[1][0] != want[1][0] {
			t.Errorf("OnCommit saw %v, want %v", seen, want)
		}
	})
}
