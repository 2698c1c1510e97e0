package store_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestReindex wipes the index tables and checks that Reindex rebuilds
// exactly the rows the write path made, without new versions.
func TestReindex(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := as(uuid.NewString())
		p := create(t, s, ctx, "Patient", `{"resourceType":"Patient","name":[{"family":"Smith"}],"birthDate":"1970"}`)
		create(t, s, ctx, "Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/`+p.ID+`"}}`)
		before := countIndexRows(t, s)
		if before == 0 {
			t.Fatal("the write path made no index rows")
		}
		for _, table := range []string{"search_token", "search_string", "search_date", "search_reference", "resource_compartments"} {
			if _, err := s.WriterDB().Exec("DELETE FROM " + table); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Reindex(ctx, nil); ward.ErrorCode(err) != ward.EFORBIDDEN {
			t.Errorf("reindex as a project member: %v, want forbidden", err)
		}
		var calls int
		sys := ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
		if err := s.Reindex(sys, func(done, total int) { calls++ }); err != nil {
			t.Fatal(err)
		}
		if after := countIndexRows(t, s); after != before || calls == 0 {
			t.Errorf("after reindex %d index rows (progress called %d times), want %d", after, calls, before)
		}
		h, _ := s.History(ctx, ward.HistoryQuery{})
		if h.Total != 2 {
			t.Errorf("reindex wrote new versions: %d in history, want 2", h.Total)
		}
	})
}

func countIndexRows(t *testing.T, s *store.Store) int {
	t.Helper()
	total := 0
	for _, table := range []string{"search_token", "search_string", "search_date", "search_number", "search_quantity", "search_reference", "search_uri", "resource_compartments"} {
		var n int
		if err := s.DB().QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	return total
}
