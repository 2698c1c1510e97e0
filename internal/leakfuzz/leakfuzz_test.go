package leakfuzz

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

var (
	seedFlag   = flag.Uint64("leakfuzz.seed", 1, "seed of the world and the requests")
	strictFlag = flag.Bool("leakfuzz.strict", false, "send the request shapes of the known differences too (exclusions_test.go)")
	nFlag      = flag.Int("leakfuzz.n", 0, "number of random requests (default 3000 on SQLite, 1500 on PostgreSQL)")
)

// TestLeakFuzz builds a random world, sends random requests as random
// callers and fails on any difference from the model, and on any delivery
// of a rest-hook Subscription its author may not read (checkDeliveries);
// then every caller exports each clinical type (checkExports).
func TestLeakFuzz(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		n := *nFlag
		if n == 0 {
			n = 3000
			if strings.Contains(t.Name(), "postgres") {
				n = 1500
			}
		}
		f := newFuzzer(t, s, *seedFlag)
		f.strict = *strictFlag
		f.subscribe(t, s)
		for range n {
			f.randomStep()
			f.checkDeliveries()
		}
		f.checkSubscriptionsRan(t)
		f.checkState()
		f.checkExports()
		f.checkAuditTrail()
		f.logStats(t)
		f.fail(t, n)
	})
}

func newFuzzer(t *testing.T, s *store.Store, seed uint64) *fuzzer {
	srv := startServer(t, s)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	ownerA, projectA := register(t, srv, "owner-a@example.com", "Clinics MSO")
	ownerB, projectB := register(t, srv, "owner-b@example.com", "Control Project")
	w := newWorld(t, client{t: t, srv: srv}, rng, ownerA, projectA, ownerB, projectB)
	return &fuzzer{world: w, seed: seed}
}

// fail reports every finding (the first ones in full) with a summary.
func (f *fuzzer) fail(t *testing.T, n int) {
	if len(f.findings) == 0 {
		return
	}
	counts := map[string]int{}
	for i, d := range f.findings {
		counts[d.kind]++
		if i < 40 {
			t.Errorf("%s seed=%d step=%d caller=%s: %s\n    %s", d.kind, f.seed, d.step, d.caller, d.request, d.detail)
		}
	}
	var b strings.Builder
	for _, c := range f.callers {
		fmt.Fprintf(&b, "  %s: %s\n", c.name, c.desc)
	}
	t.Errorf("seed %d, %d requests: %d leaks, %d misses, %d other differences\ncallers:\n%s",
		f.seed, n, counts[leak], counts[miss], counts[diff], b.String())
	if os.Getenv("LEAKFUZZ_DUMP") != "" {
		for _, d := range f.findings[min(40, len(f.findings)):] {
			t.Logf("%s step=%d caller=%s: %s\n    %s", d.kind, d.step, d.caller, d.request, d.detail)
		}
	}
}

// logStats logs how many answers of each kind and status the run compared,
// and how many model resources carry accounts.
func (f *fuzzer) logStats(t *testing.T) {
	var keys []string
	for k := range f.stats {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " [%s]=%d", k, f.stats[k])
	}
	withAccounts := 0
	for _, r := range f.m.res {
		if len(r.accounts) > 0 {
			withAccounts++
		}
	}
	t.Logf("seed %d: %d resources (%d with accounts), answers:%s", f.seed, len(f.m.res), withAccounts, b.String())
}
