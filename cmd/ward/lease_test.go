package main

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
)

// TestLeasedWorkTakenOver: of two processes running one leased piece of
// work (a feed sink's publisher), one works at a time; when it stops
// cleanly the other takes over within a retry interval, and when it dies
// (its database connection gone, so no renewal) the other takes over
// after the lease's time to live — never both at once. Both engines.
func TestLeasedWorkTakenOver(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			open := processes(t, engine)
			sa, sb := open(), open()
			ttl := 900 * time.Millisecond
			ref := store.LeaseRef{ProjectID: ward.SystemProjectID, Name: "feed/test"}
			var working, overlap atomic.Int32
			var mu sync.Mutex
			var who []string
			work := func(name string) func(ctx context.Context) {
				return func(ctx context.Context) {
					if working.Add(1) > 1 {
						overlap.Add(1)
					}
					mu.Lock()
					who = append(who, name)
					mu.Unlock()
					<-ctx.Done()
					working.Add(-1)
				}
			}
			current := func() string {
				mu.Lock()
				defer mu.Unlock()
				if len(who) == 0 {
					return ""
				}
				return who[len(who)-1]
			}
			waitFor := func(name string, within time.Duration) time.Duration {
				t.Helper()
				start := time.Now()
				for current() != name {
					if time.Since(start) > within {
						t.Fatalf("%s did not take the work over within %v (last worker %q)", name, within, current())
					}
					time.Sleep(10 * time.Millisecond)
				}
				return time.Since(start)
			}

			ctxA, stopA := context.WithCancel(context.Background())
			doneA := make(chan struct{})
			a := &leaser{s: sa, holder: "A", ttl: ttl, logger: quiet}
			go func() { defer close(doneA); a.runLeased(ctxA, ref, work("A")) }()
			waitFor("A", ttl)
			ctxB, stopB := context.WithCancel(context.Background())
			defer stopB()
			doneB := make(chan struct{})
			b := &leaser{s: sb, holder: "B", ttl: ttl, logger: quiet}
			go func() { defer close(doneB); b.runLeased(ctxB, ref, work("B")) }()
			time.Sleep(2 * ttl)
			if current() != "A" {
				t.Fatalf("%s works while A holds the lease", current())
			}
			stopA()
			<-doneA
			t.Logf("clean stop: B took over in %v", waitFor("B", ttl))

			// C dies: its store closes under it, so it cannot renew.
			sc := open()
			stopB()
			<-doneB
			ctxC, stopC := context.WithCancel(context.Background())
			defer stopC()
			c := &leaser{s: sc, holder: "C", ttl: ttl, logger: quiet}
			go c.runLeased(ctxC, ref, work("C"))
			waitFor("C", 2*ttl)
			ctxD, stopD := context.WithCancel(context.Background())
			defer stopD()
			d := &leaser{s: sb, holder: "D", ttl: ttl, logger: quiet}
			go d.runLeased(ctxD, ref, work("D"))
			sc.Close()
			t.Logf("death: D took over in %v (lease TTL %v)", waitFor("D", 3*ttl), ttl)
			if n := overlap.Load(); n != 0 {
				t.Errorf("two processes worked at once %d times", n)
			}
		})
	}
}
