package auth

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

func TestLimiterBuckets(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		account limitRule
		address limitRule
		// attempts: account, address, seconds after t0, want allowed
		attempts []struct {
			account, address string
			at               int
			ok               bool
		}
	}{
		{
			name:    "account burst then refill",
			account: limitRule{burst: 3, every: 10 * time.Second}, address: limitRule{burst: 100, every: time.Second},
			attempts: []struct {
				account, address string
				at               int
				ok               bool
			}{
				{"a@x.org", "1.1.1.1", 0, true}, {"a@x.org", "1.1.1.2", 0, true}, {"A@X.org", "1.1.1.3", 0, true},
				{"a@x.org", "1.1.1.4", 1, false}, // fourth attempt on one account from anywhere
				{"b@x.org", "1.1.1.4", 1, true},  // another account is unaffected
				{"a@x.org", "1.1.1.4", 11, true}, // one attempt back after 10 s
				{"a@x.org", "1.1.1.4", 12, false},
			},
		},
		{
			name:    "address burst across accounts",
			account: limitRule{burst: 100, every: time.Second}, address: limitRule{burst: 2, every: time.Minute},
			attempts: []struct {
				account, address string
				at               int
				ok               bool
			}{
				{"a@x.org", "9.9.9.9", 0, true}, {"b@x.org", "9.9.9.9", 0, true},
				{"c@x.org", "9.9.9.9", 0, false}, // one machine trying many accounts
				{"c@x.org", "8.8.8.8", 0, true},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLimiterWith(c.account, c.address, 1000)
			for i, a := range c.attempts {
				err := l.allow(context.Background(), t0.Add(time.Duration(a.at)*time.Second), a.account, a.address)
				if (err == nil) != a.ok {
					t.Fatalf("attempt %d (%+v): err %v", i, a, err)
				}
				if err != nil && ward.ErrorCode(err) != ward.ETOOMANY {
					t.Fatalf("attempt %d: code %s, want %s", i, ward.ErrorCode(err), ward.ETOOMANY)
				}
			}
		})
	}
}

func TestLimiterIsBounded(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	l := newLimiterWith(limitRule{burst: 1, every: time.Hour}, limitRule{burst: 1, every: time.Hour}, 3)
	for i, acct := range []string{"a", "b", "c", "d", "e"} {
		_ = l.allow(context.Background(), t0.Add(time.Duration(i)*time.Second), acct, "")
	}
	if n := l.account.Len(); n > 3 {
		t.Fatalf("%d account entries, bound is 3", n)
	}
	// The least recently used went first: "a" has a fresh bucket again,
	// "e" (just used) is still exhausted.
	if err := l.allow(context.Background(), t0.Add(10*time.Second), "e", ""); err == nil {
		t.Errorf("recent entry was evicted")
	}

	// Refilled buckets are dropped on the periodic sweep.
	idle := newLimiterWith(limitRule{burst: 2, every: time.Second}, limitRule{burst: 2, every: time.Second}, 1000)
	_ = idle.allow(context.Background(), t0, "x", "1.2.3.4")
	_ = idle.allow(context.Background(), t0.Add(2*sweepEvery), "y", "")
	if idle.account.Holds("x") {
		t.Errorf("idle entry survived the sweep")
	}
	if idle.address.Holds("1.2.3.4") {
		t.Errorf("idle address entry survived the sweep")
	}
}

func TestNilLimiterAllows(t *testing.T) {
	var l *limiter
	if err := l.allow(context.Background(), time.Now(), "a", "b"); err != nil {
		t.Fatal(err)
	}
}

func TestLoginRateLimitHTTP(t *testing.T) {
	f := newLoginFixture(t, storetest.OpenSQLite(t))
	f.s.limit = newLimiterWith(limitRule{burst: 3, every: time.Hour}, limitRule{burst: 100, every: time.Hour}, 1000)
	pa := f.project(t, "Alpha Clinic", false)
	f.member(t, pa, f.user(t, "gina@example.com", ""), "Practitioner", "Gina", "G")

	for i := 0; i < 3; i++ {
		wantError(t, f.post(t, "/auth/login", map[string]any{"email": "gina@example.com", "password": "guess number " + string(rune('a'+i))}), 400, "Email or password is invalid")
	}
	// The right password no longer helps: the account is throttled.
	w := f.post(t, "/auth/login", map[string]any{"email": "gina@example.com", "password": testPassword})
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429: %s", w.Code, w.Body)
	}
	if text, _ := outcomeText(t, w); text == "" {
		t.Errorf("429 without text")
	}
	if got := f.failed(); len(got) != 4 || got[3].Reason != "rate limited" {
		t.Errorf("failures %+v", got)
	}
}

// TestSharedLoginLimitAcrossProcesses: with SharedLoginLimits, two
// processes (two services on one database) spend from the same buckets:
// three wrong passwords spread over both throttle the account on both,
// where each alone would have seen one or two. Both engines.
func TestSharedLoginLimitAcrossProcesses(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newLoginFixture(t, st, func(c *Config) { c.SharedLoginLimits = true })
		b := New(st, f.s.cfg)
		for _, s := range []*Service{f.s, b} {
			s.limit = newLimiterWith(limitRule{burst: 3, every: time.Hour}, limitRule{burst: 100, every: time.Hour}, 1000)
			s.limit.share(st, "login", s.cfg.Logger)
		}
		pa := f.project(t, "Alpha Clinic", false)
		f.member(t, pa, f.user(t, "gina@example.com", ""), "Practitioner", "Gina", "G")
		processes := []http.Handler{f.h, b.Handler()}
		for i := range 3 {
			f.h = processes[i%2]
			wantError(t, f.post(t, "/auth/login", map[string]any{"email": "gina@example.com", "password": "wrong guess " + string(rune('a'+i))}), 400, "Email or password is invalid")
		}
		for i, h := range processes {
			f.h = h
			if w := f.post(t, "/auth/login", map[string]any{"email": "gina@example.com", "password": testPassword}); w.Code != http.StatusTooManyRequests {
				t.Errorf("process %d after 3 wrong passwords across the fleet: %d, want 429", i, w.Code)
			}
		}
	})
}
