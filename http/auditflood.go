package wardhttp

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/internal/keyedlimit"
)

// Unauthenticated requests and the trail. A 401 with no caller is recorded
// in the server's trail like any refusal, but anyone can send one: without
// a bound, a flood of them is a flood of durable writes, paid for by every
// tenant whose records share the commits. Each remote address gets
// anonBurst records at once, then anonPerSecond a second, and all
// addresses together anonAllPerSecond; past that its 401s are answered
// the same but counted, and every anonSummaryEvery one summary record per
// address says how many went unrecorded one by one.
const (
	anonBurst        = 20
	anonPerSecond    = 10
	anonAllPerSecond = 500
	anonSummaryEvery = 10 * time.Second
	anonMaxAddresses = 100_000
)

// anonTrail decides which unauthenticated refusals are recorded one by one.
type anonTrail struct {
	mu       sync.Mutex
	perAddr  *keyedlimit.Buckets
	all      *rate.Limiter
	skipped  map[string]*ward.AuditRecord // this period's summaries, by address
	flushing bool
	every    time.Duration
	record   func(ctx context.Context, rec *ward.AuditRecord) error
	logger   interface {
		ErrorContext(ctx context.Context, msg string, args ...any)
	}
}

func newAnonTrail(record func(context.Context, *ward.AuditRecord) error, logger interface {
	ErrorContext(ctx context.Context, msg string, args ...any)
}) *anonTrail {
	return &anonTrail{
		perAddr: keyedlimit.New(anonBurst, time.Second/anonPerSecond, anonMaxAddresses),
		all:     rate.NewLimiter(anonAllPerSecond, anonAllPerSecond),
		skipped: map[string]*ward.AuditRecord{},
		every:   anonSummaryEvery,
		record:  record,
		logger:  logger,
	}
}

// admit reports whether rec, an unauthenticated refusal, is recorded on
// its own; if not it is counted into its address's summary.
func (a *anonTrail) admit(rec *ward.AuditRecord) bool {
	host := rec.Address
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.perAddr.Allow(now, host) && a.all.AllowN(now, 1) {
		return true
	}
	s := a.skipped[host]
	if s == nil {
		if len(a.skipped) >= anonMaxAddresses {
			host = "(other addresses)"
			s = a.skipped[host]
		}
	}
	if s == nil {
		s = &ward.AuditRecord{Time: rec.Time, ProjectID: ward.SystemProjectID, Kind: rec.Kind, Action: "E",
			Interaction: "unauthenticated", Outcome: "4", Status: rec.Status, Address: host, UserAgent: rec.UserAgent}
		a.skipped[host] = s
	}
	s.Results++
	if !a.flushing {
		a.flushing = true
		go a.flush()
	}
	return false
}

// flush writes the summaries every period, and stops once a period passed
// with none.
func (a *anonTrail) flush() {
	ctx := context.Background()
	for {
		time.Sleep(a.every)
		a.mu.Lock()
		batch := a.skipped
		a.skipped = map[string]*ward.AuditRecord{}
		if len(batch) == 0 {
			a.flushing = false
			a.mu.Unlock()
			return
		}
		a.mu.Unlock()
		for _, s := range batch {
			s.Reason = fmt.Sprintf("%d unauthenticated requests from %s since %s not recorded one by one (rate limited)",
				s.Results, s.Address, s.Time.Format(time.RFC3339))
			if err := a.record(ctx, s); err != nil {
				a.logger.ErrorContext(ctx, "audit summary of unauthenticated requests failed", "address", s.Address, "error", err)
			}
		}
	}
}
