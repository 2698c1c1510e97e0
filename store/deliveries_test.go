package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/postgres"
	"github.com/wardhealth/ward/store/storetest"
)

func queued(project string, seqs ...int64) []store.Delivery {
	var out []store.Delivery
	for _, seq := range seqs {
		out = append(out, store.Delivery{ProjectID: project, SubscriptionID: "sub", ChangeSeq: seq,
			ResourceType: "Patient", ResourceID: fmt.Sprint("p", seq), VersionID: "v1", Interaction: "create"})
	}
	return out
}

// TestDeliveryQueue: deliveries are queued with the cursor's move or not
// at all; a claim holds a row for its lease, after which another claim
// takes it and the first can no longer finish it; a retry counts the
// attempt and waits.
func TestDeliveryQueue(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now()
		s.Now = func() time.Time { return now }
		if ok, stored, err := s.QueueDeliveries(ctx, "hooks", 0, 2, queued("p1", 1, 2), time.Minute); err != nil || !ok || stored != 2 {
			t.Fatalf("queue from 0: ok=%v stored=%d err=%v, want queued, cursor 2", ok, stored, err)
		}
		if ok, stored, err := s.QueueDeliveries(ctx, "hooks", 0, 3, queued("p1", 1, 2, 3), time.Minute); err != nil || ok || stored != 2 {
			t.Fatalf("queue from a stale cursor: ok=%v stored=%d err=%v, want refused with cursor 2", ok, stored, err)
		}
		if seq, _ := s.OutboxCursor(ctx, "hooks"); seq != 2 {
			t.Fatalf("cursor %d, want 2", seq)
		}
		first, err := s.ClaimDeliveries(ctx, now, time.Minute, 10)
		if err != nil || len(first) != 2 {
			t.Fatalf("claim: %d rows, %v; want the 2 queued", len(first), err)
		}
		if again, err := s.ClaimDeliveries(ctx, now.Add(59*time.Second), time.Minute, 10); err != nil || len(again) != 0 {
			t.Fatalf("claim within the lease: %d rows, %v; want none", len(again), err)
		}
		if skipped, err := s.ClaimDeliveries(ctx, now.Add(61*time.Second), time.Minute, 10, "other", "sub"); err != nil || len(skipped) != 0 {
			t.Fatalf("claim skipping their subscription: %d rows, %v; want none", len(skipped), err)
		}
		later, err := s.ClaimDeliveries(ctx, now.Add(61*time.Second), time.Minute, 1)
		if err != nil || len(later) != 1 {
			t.Fatalf("claim after the lease: %d rows, %v; want 1 (limit)", len(later), err)
		}
		stale := first[0]
		if stale.ChangeSeq != later[0].ChangeSeq {
			stale = first[1]
		}
		if ok, err := s.FinishDelivery(ctx, stale); err != nil || ok {
			t.Fatalf("finish with a lapsed claim: ok=%v err=%v, want refused", ok, err)
		}
		if ok, err := s.RetryDelivery(ctx, later[0], now.Add(2*time.Minute), true); err != nil || !ok {
			t.Fatalf("retry: ok=%v err=%v", ok, err)
		}
		if due, ok, err := s.NextDeliveryDue(ctx); err != nil || !ok || !due.Before(now.Add(2*time.Minute)) {
			t.Fatalf("next due %v ok=%v err=%v, want the other row's lease end first", due, ok, err)
		}
		if _, ok, err := s.NextDeliveryDue(ctx, "sub"); err != nil || ok {
			t.Fatalf("next due skipping the only subscription: ok=%v err=%v, want none", ok, err)
		}
		retried, err := s.ClaimDeliveries(ctx, now.Add(3*time.Minute), time.Minute, 10)
		if err != nil || len(retried) != 2 {
			t.Fatalf("claim after both are due: %d rows, %v", len(retried), err)
		}
		for _, x := range retried {
			want := 0
			if x.ChangeSeq == later[0].ChangeSeq {
				want = 1
			}
			if x.Attempts != want {
				t.Errorf("change %d has %d attempts, want %d", x.ChangeSeq, x.Attempts, want)
			}
		}
		if n, err := s.FinishDeliveries(ctx, append(retried, stale)); err != nil || n != 2 {
			t.Fatalf("finish both and a lapsed claim: %d removed, %v; want the 2 held", n, err)
		}
		if n, err := s.QueuedDeliveries(ctx); err != nil || n != 0 {
			t.Fatalf("%d deliveries left, want none", n)
		}
		mine := queued("p1", 3)
		mine[0].Claim = "handed"
		if ok, _, err := s.QueueDeliveries(ctx, "hooks", 2, 3, mine, time.Minute); err != nil || !ok {
			t.Fatalf("queue claimed: ok=%v err=%v", ok, err)
		}
		if got, err := s.ClaimDeliveries(ctx, now.Add(59*time.Second), time.Minute, 10); err != nil || len(got) != 0 {
			t.Fatalf("a delivery queued claimed was claimed again within its lease: %d rows, %v", len(got), err)
		}
		if n, err := s.FinishDeliveries(ctx, mine); err != nil || n != 1 {
			t.Fatalf("finish the handed delivery: %d, %v", n, err)
		}
	})
}

// TestDeliveryClaimsOfTwoProcesses: two stores on one PostgreSQL database
// claiming at once never both get one row.
func TestDeliveryClaimsOfTwoProcesses(t *testing.T) {
	url, schema := storetest.PostgresSchema(t)
	ctx := context.Background()
	var stores []*store.Store
	for range 2 {
		s, err := postgres.Open(ctx, url, postgres.Options{SearchPath: schema, MaxConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	seqs := make([]int64, 2000)
	for i := range seqs {
		seqs[i] = int64(i + 1)
	}
	if ok, _, err := stores[0].QueueDeliveries(ctx, "hooks", 0, 2000, queued("p1", seqs...), time.Minute); err != nil || !ok {
		t.Fatalf("queue: ok=%v err=%v", ok, err)
	}
	var mu sync.Mutex
	claimed := map[int64]int{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%2]
			for {
				got, err := s.ClaimDeliveries(ctx, time.Now(), time.Hour, 7)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, x := range got {
					claimed[x.ChangeSeq]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(claimed) != len(seqs) {
		t.Fatalf("%d rows claimed, want %d", len(claimed), len(seqs))
	}
	for seq, n := range claimed {
		if n != 1 {
			t.Fatalf("change %d claimed %d times", seq, n)
		}
	}
}
