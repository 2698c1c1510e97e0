package fairshare_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wardhealth/ward/fairshare"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/postgres"
	"github.com/wardhealth/ward/store/storetest"
)

// TestSplit: each of n processes enforces ceil(rate/n) and
// max(1, floor(slots/n)); unlimited stays unlimited.
func TestSplit(t *testing.T) {
	for _, c := range []struct {
		limits     fairshare.Limits
		processes  int
		rate, slot int
	}{
		{fairshare.Limits{RequestsPerMinute: 600, Concurrent: 4}, 1, 600, 4},
		{fairshare.Limits{RequestsPerMinute: 600, Concurrent: 4}, 3, 200, 1},
		{fairshare.Limits{RequestsPerMinute: 601, Concurrent: 4}, 2, 301, 2},
		{fairshare.Limits{RequestsPerMinute: 1, Concurrent: 1}, 3, 1, 1},
		{fairshare.Limits{}, 3, 0, 0},
	} {
		t.Run(fmt.Sprint(c.limits, "/", c.processes), func(t *testing.T) {
			s := fairshare.New(fairshare.Options{Defaults: c.limits, Wait: time.Millisecond, Logger: quiet})
			if err := s.JoinFleet(context.Background(), fixedFleet(c.processes), "p", time.Second); err != nil {
				t.Fatal(err)
			}
			if got := drain(t, s); got != c.rate && !(c.rate == 0 && got == unlimited) {
				t.Errorf("admitted %d at once, want %d", got, c.rate)
			}
			if got := slots(t, s); got != c.slot && !(c.slot == 0 && got == unlimited) {
				t.Errorf("%d expensive requests at once, want %d", got, c.slot)
			}
		})
	}
}

// fixedFleet is a fleet of n processes that never changes.
type fixedFleet int

func (fixedFleet) BeatProcess(context.Context, string, time.Duration) error { return nil }
func (n fixedFleet) LiveProcesses(context.Context) (int, error)             { return int(n), nil }
func (fixedFleet) EndProcess(context.Context, string) error                 { return nil }

// dying is a process's fleet that dies instead of leaving: its heartbeat
// stays until it expires.
type dying struct{ fairshare.Fleet }

func (dying) EndProcess(context.Context, string) error { return nil }

// quiet drops the fleet's log lines.
var quiet = slog.New(slog.DiscardHandler)

const (
	project   = "p1"
	unlimited = 1 << 14 // above any bucket here (6000 of a process alone)
)

// drain admits the project's cheap requests until one is refused and
// returns how many were admitted (unlimited when none was refused).
func drain(t *testing.T, s *fairshare.Shares) int {
	t.Helper()
	for n := 0; n < unlimited; n++ {
		tk, err := s.Admit(context.Background(), project, false)
		if err != nil {
			var r *fairshare.Refusal
			if !errors.As(err, &r) || r.Limit != "rate" {
				t.Fatalf("request %d: %v, want a rate refusal", n+1, err)
			}
			return n
		}
		tk.Done()
	}
	return unlimited
}

// slots holds expensive requests of another project (its bucket full)
// until one is refused and returns how many ran at once (unlimited: up to
// 64 ran).
func slots(t *testing.T, s *fairshare.Shares) int {
	t.Helper()
	var held []*fairshare.Ticket
	defer func() {
		for _, tk := range held {
			tk.Done()
		}
	}()
	for range 64 {
		tk, err := s.Admit(context.Background(), "p2", true)
		if err != nil {
			return len(held)
		}
		held = append(held, tk)
	}
	return unlimited
}

// fleetStores returns n stores on one database, as n processes open it:
// on PostgreSQL each its own pool on one schema, on SQLite one store (a
// single process's database).
func fleetStores(t *testing.T, engine string, n int) []*store.Store {
	t.Helper()
	out := make([]*store.Store, n)
	switch engine {
	case "sqlite":
		s := storetest.OpenSQLite(t)
		for i := range out {
			out[i] = s
		}
	case "postgres":
		url, schema := storetest.PostgresSchema(t)
		for i := range out {
			s, err := postgres.Open(context.Background(), url, postgres.Options{SearchPath: schema, MaxConns: 4})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			out[i] = s
		}
	}
	return out
}

// fleetWindow is how long each rate measurement of TestFleetSharesOneLimit
// runs (WARD_FAIRSHARE_FLEET_WINDOW, e.g. 20s, for docs/benchmarks.md).
func fleetWindow(t *testing.T) time.Duration {
	if v := os.Getenv("WARD_FAIRSHARE_FLEET_WINDOW"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("WARD_FAIRSHARE_FLEET_WINDOW: %v", err)
		}
		return d
	}
	return time.Second
}

// rateOver empties every process's bucket, waits window and empties them
// again: what the fleet admitted over the window, per minute.
func rateOver(t *testing.T, processes []*fairshare.Shares, window time.Duration) float64 {
	t.Helper()
	for _, s := range processes {
		drain(t, s)
	}
	start := time.Now()
	time.Sleep(window)
	n := 0
	for _, s := range processes {
		n += drain(t, s)
	}
	return float64(n) / time.Since(start).Minutes()
}

// TestFleetSharesOneLimit: three processes on one database each enforce
// a third of the project's rate and slots, so the fleet admits the
// project's limit — not three times it, as three processes alone do; when
// one dies without leaving, the two others' shares rise within four beats
// and the fleet still admits the limit. Both engines (SQLite: three Shares
// on one database, as the store's statements are the same).
func TestFleetSharesOneLimit(t *testing.T) {
	const (
		limit = 6000 // a minute: 100 a second
		slotN = 4
		beat  = 100 * time.Millisecond
	)
	window := fleetWindow(t)
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			stores := fleetStores(t, engine, 3)
			ctx := context.Background()
			newShares := func() *fairshare.Shares {
				return fairshare.New(fairshare.Options{Defaults: fairshare.Limits{RequestsPerMinute: limit, Concurrent: slotN}, Wait: time.Millisecond, Logger: quiet})
			}
			var fleet []*fairshare.Shares
			var stop []context.CancelFunc
			for i, st := range stores {
				s := newShares()
				id := "process-" + strconv.Itoa(i)
				var f fairshare.Fleet = st
				if i == 0 {
					f = dying{st}
				}
				if err := s.JoinFleet(ctx, f, id, beat); err != nil {
					t.Fatal(err)
				}
				runCtx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() { defer close(done); s.RunFleet(runCtx, f, id, beat) }()
				stop = append(stop, func() { cancel(); <-done })
				fleet = append(fleet, s)
			}
			defer func() {
				for _, f := range stop[1:] {
					f()
				}
			}()
			waitFor(t, time.Second, func() bool { return fleet[0].Processes() == 3 }) // the first joined alone

			// Three processes alone (no fleet) admit three times the limit:
			// the control, measured in the same run.
			alone := []*fairshare.Shares{newShares(), newShares(), newShares()}
			aloneRate := rateOver(t, alone, window)
			fleetRate := rateOver(t, fleet, window)
			held := 0
			for _, s := range fleet {
				held += slots(t, s)
			}
			t.Logf("limit %d/min, window %v: 3 processes alone admit %.0f/min, a fleet of 3 %.0f/min (%.2f× the limit); %d of %d slots at once",
				limit, window, aloneRate, fleetRate, fleetRate/limit, held, slotN)
			within(t, "alone", aloneRate, 3*limit)
			within(t, "a fleet of 3", fleetRate, limit)
			if held != 3 { // max(1, floor(4/3)) each
				t.Errorf("a fleet of 3 ran %d expensive requests at once, want 3", held)
			}

			died := time.Now()
			stop[0]() // process 0 dies: its heartbeat stays until it expires
			survivors := fleet[1:]
			waitFor(t, 4*beat+time.Second, func() bool { return survivors[0].Processes() == 2 && survivors[1].Processes() == 2 })
			raised := time.Since(died)
			if raised > 4*beat+time.Second { // the heartbeat's time to live (3 beats) plus a beat, plus slack
				t.Errorf("the survivors counted 2 processes after %v", raised)
			}
			survivorRate := rateOver(t, survivors, window)
			held = 0
			for _, s := range survivors {
				held += slots(t, s)
			}
			t.Logf("process 0 died: the survivors split again after %v; the fleet of 2 admits %.0f/min (%.2f× the limit); %d of %d slots at once",
				raised.Round(time.Millisecond), survivorRate, survivorRate/limit, held, slotN)
			within(t, "the fleet of 2 survivors", survivorRate, limit)
			if held != slotN {
				t.Errorf("the fleet of 2 ran %d expensive requests at once, want %d", held, slotN)
			}
		})
	}
}

// within fails unless got is within 15% of want (the sleep of a loaded
// machine stretches a window; the rate is measured over its real length).
func within(t *testing.T, what string, got, want float64) {
	t.Helper()
	if got < 0.85*want || got > 1.15*want {
		t.Errorf("%s admitted %.0f/min, want %.0f/min ±15%%", what, got, want)
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFleetSizeOnMetrics: /metrics says how many processes split the
// limits.
func TestFleetSizeOnMetrics(t *testing.T) {
	s := fairshare.New(fairshare.Options{Logger: quiet})
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	for _, n := range []int{1, 3} {
		if err := s.JoinFleet(context.Background(), fixedFleet(n), "p", time.Second); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(`
# HELP ward_fairshare_processes Live processes of the fleet on this database that split each project's rate and expensive slots (1: this process alone).
# TYPE ward_fairshare_processes gauge
ward_fairshare_processes %d
`, n)
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ward_fairshare_processes"); err != nil {
			t.Error(err)
		}
	}
}
