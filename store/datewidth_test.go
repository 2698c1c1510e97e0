package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store/storetest"
)

// TestDateWidthLocksOnlyWhenItGrows: two creates of dated Observations in
// one project run at once on PostgreSQL. The search_date_width row of
// (project, Observation, date) is written only when a write widens it; a
// write that does not must not lock it, or every Observation create of a
// project waits for the one before to commit (and, with the audit trail's
// per-project lock, deadlocked under a mixed load).
func TestDateWidthLocksOnlyWhenItGrows(t *testing.T) {
	s := storetest.OpenPostgres(t)
	ctx := as(uuid.NewString())
	obs := `{"resourceType":"Observation","status":"final","code":{"text":"x"},"effectiveDateTime":"2020-01-02T03:04:05Z"}`
	create(t, s, ctx, "Observation", obs) // the width is known from here on

	holding := make(chan struct{})
	release := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
			if _, err := tx.Create(ctx, "Observation", []byte(obs)); err != nil {
				return err
			}
			// A search inside the transaction writes its queued index rows
			// (the date width among them) before the transaction ends.
			if _, err := tx.Search(ctx, &ward.SearchQuery{ResourceType: "Observation", Count: 1}); err != nil {
				return err
			}
			close(holding)
			<-release
			return nil
		})
	}()
	select {
	case <-holding:
	case err := <-first:
		t.Fatalf("first write: %v", err)
	}
	second := make(chan error, 1)
	go func() {
		second <- s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
			_, err := tx.Create(ctx, "Observation", []byte(obs))
			return err
		})
	}()
	select {
	case err := <-second:
		if err != nil {
			t.Errorf("second write: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("a create of a date no wider than the project's widest waited for another open transaction")
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first write: %v", err)
	}
}
