package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestProcessHeartbeats: the live processes are those whose heartbeat
// has not expired; a process that ends leaves at once; other leases, in
// the system project or not, are not processes.
func TestProcessHeartbeats(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now()
		s.Now = func() time.Time { return now }
		live := func(want int, when string) {
			t.Helper()
			if n, err := s.LiveProcesses(ctx); err != nil || n != want {
				t.Fatalf("%s: %d live processes (%v), want %d", when, n, err, want)
			}
		}
		beat := func(id string) {
			t.Helper()
			if err := s.BeatProcess(ctx, id, 3*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		live(0, "before any beat")
		for _, l := range []store.LeaseRef{{ProjectID: ward.SystemProjectID, Name: "feed/sink"}, {ProjectID: ward.SystemProjectID, Name: "processor"}, {ProjectID: "p1", Name: "process/x"}} {
			if _, err := s.TakeLease(ctx, l, "h", time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		live(0, "with other leases only")
		beat("a")
		beat("b")
		beat("a")
		live(2, "a and b beat")
		now = now.Add(2 * time.Second)
		beat("b")
		now = now.Add(2 * time.Second) // a's heartbeat expired, b's not
		live(1, "a silent for 4 s")
		if err := s.EndProcess(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		live(0, "after b ended")
		beat("a") // a was only slow: it counts again
		live(1, "a beat again")
	})
}
