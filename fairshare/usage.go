package fairshare

import (
	"context"
	"sync"
	"time"

	"github.com/wardhealth/ward"
)

// Defaults of Run.
const (
	DefaultFlushEvery   = time.Minute
	DefaultMeasureEvery = time.Hour
)

// usageState holds the request counts not yet handed to the UsageStore
// and the last measurement of every project.
type usageState struct {
	mu       sync.Mutex
	pending  map[dayKey]int64
	measured map[string]ward.UsageDay
}

type dayKey struct{ project, day string }

// Day is the usage report's day of t: its UTC date.
func Day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func (u *usageState) count(project string, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.pending == nil {
		u.pending = map[dayKey]int64{}
	}
	u.pending[dayKey{project, Day(at)}]++
}

// take empties the pending counts and returns them.
func (u *usageState) take() []ward.UsageDay {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]ward.UsageDay, 0, len(u.pending))
	for k, n := range u.pending {
		out = append(out, ward.UsageDay{ProjectID: k.project, Day: k.day, Requests: n})
	}
	clear(u.pending)
	return out
}

// putBack returns counts a failed flush could not store.
func (u *usageState) putBack(counts []ward.UsageDay) {
	for _, c := range counts {
		u.mu.Lock()
		if u.pending == nil {
			u.pending = map[dayKey]int64{}
		}
		u.pending[dayKey{c.ProjectID, c.Day}] += c.Requests
		u.mu.Unlock()
	}
}

func (u *usageState) setMeasured(days []ward.UsageDay) {
	m := make(map[string]ward.UsageDay, len(days))
	for _, d := range days {
		m[d.ProjectID] = d
	}
	u.mu.Lock()
	u.measured = m
	u.mu.Unlock()
}

func (u *usageState) lastMeasured() map[string]ward.UsageDay {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.measured
}

// Flush hands the request counts since the last flush to store. Counts it
// could not store stay for the next flush.
func (s *Shares) Flush(ctx context.Context, store ward.UsageStore) error {
	counts := s.usage.take()
	if len(counts) == 0 {
		return nil
	}
	if err := store.AddRequests(ctx, counts); err != nil {
		s.usage.putBack(counts)
		return err
	}
	return nil
}

// Measure measures every project's storage, resources and users for
// today's usage and for /metrics.
func (s *Shares) Measure(ctx context.Context, store ward.UsageStore) error {
	days, err := store.MeasureUsage(ctx, Day(time.Now()))
	if err != nil {
		return err
	}
	s.usage.setMeasured(days)
	return nil
}

// Run flushes the request counts every flushEvery and measures usage at
// start and every measureEvery, until ctx ends; then it flushes once
// more (a restart loses no count that reached Done before it). ctx must
// carry a system principal (the store's usage calls require one).
func (s *Shares) Run(ctx context.Context, store ward.UsageStore, flushEvery, measureEvery time.Duration) {
	if flushEvery <= 0 {
		flushEvery = DefaultFlushEvery
	}
	if measureEvery <= 0 {
		measureEvery = DefaultMeasureEvery
	}
	measure := func() {
		if err := s.Measure(ctx, store); err != nil && ctx.Err() == nil {
			s.opts.Logger.WarnContext(ctx, "fairshare: usage measurement failed", "err", err)
		}
	}
	measure()
	flush, remeasure := time.NewTicker(flushEvery), time.NewTicker(measureEvery)
	defer flush.Stop()
	defer remeasure.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if err := s.Flush(final, store); err != nil {
				s.opts.Logger.Error("fairshare: the last request counts could not be stored", "err", err)
			}
			cancel()
			return
		case <-flush.C:
			if err := s.Flush(ctx, store); err != nil {
				s.opts.Logger.WarnContext(ctx, "fairshare: request counts not stored yet", "err", err)
			}
		case <-remeasure.C:
			measure()
		}
	}
}
