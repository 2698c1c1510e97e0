package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFleetRateLimit measures one project's rate limit through a fleet
// (docs/benchmarks.md, "Noisy neighbour"): three `ward serve` processes
// on one PostgreSQL behind the round-robin proxy, the project limited to
// fleetLimit requests a minute, 8 clients reading without pause (a 429
// backs off 20 ms). The fleet admits about the limit — three processes
// each enforcing the whole limit would admit three times it; after one
// is killed the survivors admit two thirds of it until their next count
// of the fleet finds the dead heartbeat expired (at most 20 s: a 15 s
// time to live and a 5 s beat), then the limit again. The measurement
// starts once the buckets' first minute's worth is spent: processes that
// loaded the project before their first count of the fleet spend theirs
// later. It runs only with WARD_FLEET_BENCH=1: a minute and a half of
// wall time for a figure.
func TestFleetRateLimit(t *testing.T) {
	if os.Getenv("WARD_FLEET_BENCH") == "" {
		t.Skip("set WARD_FLEET_BENCH=1 to measure")
	}
	const fleetLimit = 3000 // 50 a second
	f := startFleet(t, 3, "-audit=false", "-project-rate-limit", strconv.Itoa(fleetLimit))
	c := &kill9Client{base: f.base}
	c.token = c.register(t)
	patient := c.mustCreate(t, "Patient", `{"resourceType":"Patient","name":[{"family":"Shares"}]}`)
	var admitted, refused, other atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	untilStopped(&wg, 8, stop, func(w, i int) {
		switch status, _, _ := c.send("GET", "/fhir/R4/Patient/"+patient, "", ""); status {
		case 200:
			admitted.Add(1)
		case 429:
			refused.Add(1)
			time.Sleep(20 * time.Millisecond)
		default:
			other.Add(1)
		}
	})
	defer func() { close(stop); wg.Wait() }()
	// perMinute is what the fleet admitted over d, per minute.
	perMinute := func(d time.Duration) float64 {
		from, start := admitted.Load(), time.Now()
		time.Sleep(d)
		return float64(admitted.Load()-from) / time.Since(start).Minutes()
	}
	// Spend the buckets' first minute's worth (each process's share of it,
	// spent at its own pace), then measure.
	start := time.Now()
	for refused.Load() == 0 || perMinute(2*time.Second) > 1.15*fleetLimit {
		if time.Since(start) > time.Minute {
			t.Fatalf("the buckets' first minute's worth not spent within a minute: %d admitted, %d other answers", admitted.Load(), other.Load())
		}
		time.Sleep(100 * time.Millisecond)
	}
	burst, burstTook := admitted.Load(), time.Since(start)
	three := perMinute(20 * time.Second)
	t.Logf("each process's count of the fleet: %v", fleetCounts(f))

	f.kill9(t, 0)
	killed := time.Now()
	var samples []string
	recovered := time.Duration(0)
	for range 15 {
		r := perMinute(2 * time.Second)
		samples = append(samples, fmt.Sprintf("%.0f", r))
		if recovered == 0 && r >= 0.9*fleetLimit {
			recovered = time.Since(killed)
		}
	}
	two := perMinute(20 * time.Second)
	t.Logf("limit %d/min; the first minute's worth: %d requests in %v; then a fleet of 3 admits %.0f/min (%.2f× the limit); process 0 killed: per 2 s after, %s/min; back at ≥ 90%% of the limit %v after the kill; the 2 survivors then admit %.0f/min (%.2f×); %d answers neither 200 nor 429",
		fleetLimit, burst, burstTook.Round(time.Second), three, three/fleetLimit, strings.Join(samples, " "), recovered.Round(time.Second), two, two/fleetLimit, other.Load())
	for _, m := range []struct {
		what string
		got  float64
	}{{"a fleet of 3", three}, {"the 2 survivors", two}} {
		if m.got < 0.85*fleetLimit || m.got > 1.15*fleetLimit {
			t.Errorf("%s admitted %.0f/min, want %d ±15%%", m.what, m.got, fleetLimit)
		}
	}
	if recovered == 0 || recovered > 25*time.Second {
		t.Errorf("the survivors did not admit the limit again within 25 s of the kill (%v)", recovered)
	}
}

// fleetCounts reads ward_fairshare_processes of each process's /metrics.
func fleetCounts(f *fleet) []string {
	var out []string
	for _, addr := range f.addrs {
		status, _, body := (&kill9Client{base: "http://" + addr}).send("GET", "/metrics", "", "")
		n := fmt.Sprint("status ", status)
		for line := range strings.Lines(string(body)) {
			if v, ok := strings.CutPrefix(line, "ward_fairshare_processes "); ok {
				n = strings.TrimSpace(v)
			}
		}
		out = append(out, n)
	}
	return out
}
