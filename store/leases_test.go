package store_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestLeases: one holder at a time; the holder renews; another takes the
// lease only once it expired or was released; concurrent takers of a free
// lease get it exactly once; live leases are listed by prefix.
func TestLeases(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now()
		s.Now = func() time.Time { return now }
		job := store.LeaseRef{ProjectID: "p1", Name: "job/1"}
		take := func(holder string) bool {
			t.Helper()
			ok, err := s.TakeLease(ctx, job, holder, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !take("a") {
			t.Fatal("a cannot take a free lease")
		}
		if take("b") {
			t.Fatal("b took a's live lease")
		}
		now = now.Add(8 * time.Second)
		if !take("a") {
			t.Fatal("a cannot renew its lease")
		}
		now = now.Add(8 * time.Second) // 16 s after the first take: renewed, still a's
		if take("b") {
			t.Fatal("b took a's renewed lease")
		}
		if live, err := s.LiveLeases(ctx, "job/"); err != nil || !slices.Equal(live, []store.LeaseRef{job}) {
			t.Fatalf("live job leases %v %v, want %v", live, err, job)
		}
		if live, _ := s.LiveLeases(ctx, "feed/"); len(live) != 0 {
			t.Fatalf("live feed leases %v, want none", live)
		}
		now = now.Add(11 * time.Second) // a died: its lease expired
		if live, _ := s.LiveLeases(ctx, "job/"); len(live) != 0 {
			t.Fatalf("live job leases %v after expiry, want none", live)
		}
		if !take("b") {
			t.Fatal("b cannot take a's expired lease")
		}
		if take("a") {
			t.Fatal("a took back b's lease")
		}
		if err := s.ReleaseLease(ctx, job, "a"); err != nil {
			t.Fatal(err)
		}
		if take("c") {
			t.Fatal("a's release (not the holder) freed b's lease")
		}
		if err := s.ReleaseLease(ctx, job, "b"); err != nil {
			t.Fatal(err)
		}
		if !take("c") {
			t.Fatal("c cannot take a released lease")
		}

		feed := store.LeaseRef{ProjectID: "system", Name: "feed/kafka"}
		var wins sync.WaitGroup
		won := make(chan string, 8)
		for _, h := range []string{"h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8"} {
			wins.Go(func() {
				ok, err := s.TakeLease(ctx, feed, h, time.Minute)
				if err != nil {
					t.Error(err)
				}
				if ok {
					won <- h
				}
			})
		}
		wins.Wait()
		close(won)
		var holders []string
		for h := range won {
			holders = append(holders, h)
		}
		if len(holders) != 1 {
			t.Fatalf("a free lease taken by %v at once, want exactly one holder", holders)
		}
		now = now.Add(2 * time.Minute)
		if err := s.DropExpiredLeases(ctx, time.Second); err != nil {
			t.Fatal(err)
		}
		var rows int
		if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM leases").Scan(&rows); err != nil || rows != 0 {
			t.Fatalf("%d lease rows after dropping the expired ones (%v), want 0", rows, err)
		}
	})
}
