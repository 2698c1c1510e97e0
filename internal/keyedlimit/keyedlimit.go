// Package keyedlimit is a bounded set of token buckets by key (an
// account, a remote address): golang.org/x/time/rate's limiter per key,
// with the map kept small. Idle entries (a full bucket is
// indistinguishable from a new one) are dropped, and when the set is full
// of busy entries the least recently used goes. It owns no clock and no
// lock: callers pass the time and serialize their calls.
package keyedlimit

import (
	"time"

	"golang.org/x/time/rate"
)

// Buckets is one keyed set of token buckets of one shape: burst at once,
// then one more every `every`.
type Buckets struct {
	burst   int
	every   time.Duration
	max     int
	entries map[string]*bucket
}

type bucket struct {
	lim      *rate.Limiter
	lastUsed time.Time
}

// New returns an empty set holding at most maxEntries keys.
func New(burst int, every time.Duration, maxEntries int) *Buckets {
	return &Buckets{burst: burst, every: every, max: maxEntries, entries: map[string]*bucket{}}
}

// Allow spends one token of key at now, reporting whether it had one.
func (b *Buckets) Allow(now time.Time, key string) bool {
	e := b.entries[key]
	if e == nil {
		if len(b.entries) >= b.max {
			b.DropIdle(now)
		}
		if len(b.entries) >= b.max {
			b.dropLeastRecent()
		}
		e = &bucket{lim: rate.NewLimiter(rate.Every(b.every), b.burst)}
		b.entries[key] = e
	}
	e.lastUsed = now
	return e.lim.AllowN(now, 1)
}

// Empty reports whether key has a bucket with no token left at now.
func (b *Buckets) Empty(now time.Time, key string) bool {
	e := b.entries[key]
	return key != "" && e != nil && e.lim.TokensAt(now) < 1
}

// DropIdle forgets buckets that have refilled completely.
func (b *Buckets) DropIdle(now time.Time) {
	for k, e := range b.entries {
		if e.lim.TokensAt(now) >= float64(b.burst) {
			delete(b.entries, k)
		}
	}
}

// Len is how many keys the set holds.
func (b *Buckets) Len() int { return len(b.entries) }

// Holds reports whether key has a bucket.
func (b *Buckets) Holds(key string) bool { return b.entries[key] != nil }

func (b *Buckets) dropLeastRecent() {
	var oldest string
	var at time.Time
	for k, e := range b.entries {
		if oldest == "" || e.lastUsed.Before(at) {
			oldest, at = k, e.lastUsed
		}
	}
	delete(b.entries, oldest)
}
