package fairshare

import (
	"container/list"
	"context"
	"log/slog"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/wardhealth/ward"
)

// Names of the Project.systemSetting entries (valueInteger) that override
// the server's defaults for one project. systemSetting is Medplum's list
// of settings only super admins may change.
const (
	// RateLimitSetting is Medplum's name for a request limit per minute;
	// Medplum applies it per client address, Ward per project.
	RateLimitSetting = "rateLimit"
	// ConcurrencySetting is Ward's: how many expensive requests of the
	// project run at once.
	ConcurrencySetting = "concurrentExpensiveRequests"
)

// Defaults of Options.
const (
	DefaultRequestsPerMinute = 60000 // Medplum's default rateLimit
	DefaultWait              = 2 * time.Second
	DefaultTopProjects       = 20
)

// DefaultConcurrent is the default of expensive requests of one project at
// once: half the processors (at least one). A project then never holds
// every core, nor more than a quarter of SQLite's readers (2×GOMAXPROCS),
// so the others' requests find both (docs/benchmarks.md: with 4 of a
// 2-core machine's, another project's reads waited for a reader).
func DefaultConcurrent() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// maxAge bounds how long a project's limits are kept without a reload:
// the writes of another process reach Invalidate through NOTIFY, this
// covers a missed notification (as the caller cache's bound does).
const maxAge = 5 * time.Minute

// Limits are one project's shares. Zero means unlimited in Options.Defaults;
// in what Options.Load returns, zero means "the default".
type Limits struct {
	RequestsPerMinute int
	// Concurrent is how many expensive requests run at once; more wait
	// up to Options.Wait for a slot, then are refused.
	Concurrent int
}

// Options configure Shares.
type Options struct {
	Defaults Limits
	// Wait is how long an expensive request waits for one of its
	// project's slots before a 429 (default DefaultWait).
	Wait time.Duration
	// Load returns a project's overrides (Project.systemSetting). An
	// error leaves the defaults in force for that request.
	Load func(ctx context.Context, projectID string) (Limits, error)
	// TopProjects is how many projects /metrics labels (the busiest by
	// requests since start); default DefaultTopProjects.
	TopProjects int
	Logger      *slog.Logger
}

// Shares admits the requests of known callers by their project's limits.
// Its zero value is not usable; call New.
type Shares struct {
	opts  Options
	loads singleflight.Group

	mu       sync.Mutex
	projects map[string]*project
	gen      uint64 // invalidations so far: a load that raced one is not kept

	// processes is how many live processes split each project's limits
	// (fleet.go): 1 alone, as on SQLite.
	processes atomic.Int64

	usage usageState
}

// project is one project's state in this process.
type project struct {
	id string

	mu       sync.Mutex
	bucket   *rate.Limiter // nil: no rate limit; its own lock
	limits   Limits        // the project's, for the whole fleet
	share    Limits        // this process's part of limits (fleet.go)
	loaded   time.Time     // zero: load before use
	inUse    int           // expensive requests running
	waiting  list.List     // of chan struct{}, first come first served
	counters counters
}

// New returns Shares with opts' defaults filled in.
func New(opts Options) *Shares {
	if opts.Wait <= 0 {
		opts.Wait = DefaultWait
	}
	if opts.TopProjects <= 0 {
		opts.TopProjects = DefaultTopProjects
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Shares{opts: opts, projects: map[string]*project{}}
	s.processes.Store(1)
	return s
}

// Refusal is Admit's answer past a limit: a 429 whose Retry-After is
// RetryAfter (whole seconds, at least one).
type Refusal struct {
	RetryAfter time.Duration
	Limit      string // "rate" or "concurrency", for the metrics
	err        *ward.Error
}

func (r *Refusal) Error() string { return r.err.Error() }

// Unwrap gives the ward.Error (ETOOMANY) the http layer maps to 429.
func (r *Refusal) Unwrap() error { return r.err }

// RetryAfterSeconds is the Retry-After header's value.
func (r *Refusal) RetryAfterSeconds() int {
	return max(1, int(math.Ceil(r.RetryAfter.Seconds())))
}

// Admit admits one request of projectID: it spends a token of the
// project's rate and, for an expensive request, takes one of its slots
// (waiting up to Options.Wait). The Ticket must be Done when the request
// ends. Past a limit it returns a *Refusal.
func (s *Shares) Admit(ctx context.Context, projectID string, expensive bool) (*Ticket, error) {
	p := s.project(projectID)
	limits := s.limitsOf(ctx, p)
	share := p.shareOf()
	now := time.Now()
	if r := p.reserve(now); r != nil && (!r.OK() || r.DelayFrom(now) > 0) {
		wait := time.Minute
		if r.OK() {
			wait = r.DelayFrom(now)
			r.CancelAt(now)
		}
		p.counters.refused("rate")
		return nil, &Refusal{RetryAfter: wait, Limit: "rate",
			err: ward.Errorf(ward.ETOOMANY, "Too Many Requests: the project's limit is %d requests per minute", limits.RequestsPerMinute)}
	}
	t := &Ticket{s: s, p: p, start: now}
	if expensive && share.Concurrent > 0 {
		if err := p.acquire(ctx, s.opts.Wait); err != nil {
			p.counters.refused("concurrency")
			return nil, &Refusal{RetryAfter: time.Second, Limit: "concurrency",
				err: ward.Errorf(ward.ETOOMANY, "Too Many Requests: the project already runs %d searches or other expensive requests", share.Concurrent)}
		}
		t.slot = true
	}
	return t, nil
}

// project returns projectID's state, created on first use.
func (s *Shares) project(projectID string) *project {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.projects[projectID]
	if p == nil {
		p = &project{id: projectID}
		s.projects[projectID] = p
	}
	return p
}

// limitsOf returns p's limits, loading them when they are not cached.
func (s *Shares) limitsOf(ctx context.Context, p *project) Limits {
	p.mu.Lock()
	limits, loaded := p.limits, p.loaded
	p.mu.Unlock()
	if !loaded.IsZero() && time.Since(loaded) < maxAge {
		return limits
	}
	v, _, _ := s.loads.Do(p.id, func() (any, error) { return s.load(ctx, p), nil })
	return v.(Limits)
}

// load reads p's overrides and applies them over the defaults. They are
// kept unless an invalidation happened meanwhile.
func (s *Shares) load(ctx context.Context, p *project) Limits {
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	limits := s.opts.Defaults
	keep := true
	if s.opts.Load != nil {
		over, err := s.opts.Load(context.WithoutCancel(ctx), p.id)
		if err != nil {
			s.opts.Logger.WarnContext(ctx, "fairshare: the project's limits could not be read; defaults apply", "project", p.id, "err", err)
			keep = false
		}
		limits = over.over(limits)
	}
	s.mu.Lock()
	keep = keep && s.gen == gen
	s.mu.Unlock()
	p.apply(limits, &s.processes, keep)
	return limits
}

// over returns d with the non-zero fields of l in place of its own.
func (l Limits) over(d Limits) Limits {
	if l.RequestsPerMinute > 0 {
		d.RequestsPerMinute = l.RequestsPerMinute
	}
	if l.Concurrent > 0 {
		d.Concurrent = l.Concurrent
	}
	return d
}

// reserve takes one token of p's bucket at now; nil without a rate limit.
func (p *project) reserve(now time.Time) *rate.Reservation {
	p.mu.Lock()
	b := p.bucket
	p.mu.Unlock()
	if b == nil {
		return nil
	}
	return b.ReserveN(now, 1)
}

// apply sets p's limits, split between the processes counted now.
func (p *project) apply(l Limits, processes *atomic.Int64, keep bool) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setLocked(l, int(processes.Load()), now)
	if keep {
		p.loaded = now
	}
}

// setLocked sets p's limits and this process's share of them. A changed
// rate gets a new, full bucket that refills at the share per minute and
// holds a minute's worth (as Medplum's per-minute window allows); a share
// changed only by the fleet's size keeps the bucket's tokens, so a
// process joining or leaving gives nobody a fresh minute's worth.
func (p *project) setLocked(l Limits, processes int, now time.Time) {
	share := l.split(processes)
	switch {
	case share.RequestsPerMinute <= 0:
		p.bucket = nil
	case p.bucket == nil || l.RequestsPerMinute != p.limits.RequestsPerMinute:
		p.bucket = rate.NewLimiter(perMinute(share.RequestsPerMinute), share.RequestsPerMinute)
	case share.RequestsPerMinute != p.share.RequestsPerMinute:
		p.bucket.SetLimitAt(now, perMinute(share.RequestsPerMinute))
		p.bucket.SetBurstAt(now, share.RequestsPerMinute)
	}
	p.limits, p.share = l, share
	p.wakeLocked(share.Concurrent) // a raised limit lets waiters in
}

func perMinute(n int) rate.Limit { return rate.Limit(float64(n) / 60) }

// shareOf is this process's share of p's limits.
func (p *project) shareOf() Limits {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.share
}

// Invalidate forgets the limits of the Projects written (a "*" type: of
// every project). Wire it where the caller cache's Invalidate is.
func (s *Shares) Invalidate(written []*ward.Resource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range written {
		switch r.Type {
		case "Project":
			s.gen++
			if p := s.projects[r.ID]; p != nil {
				p.forget()
			}
		case "*":
			s.gen++
			for _, p := range s.projects {
				p.forget()
			}
		}
	}
}

func (p *project) forget() {
	p.mu.Lock()
	p.loaded = time.Time{}
	p.mu.Unlock()
}

// acquire takes one of p's slots in this process, waiting up to wait.
func (p *project) acquire(ctx context.Context, wait time.Duration) error {
	p.mu.Lock()
	if limit := p.share.Concurrent; (limit <= 0 || p.inUse < limit) && p.waiting.Len() == 0 {
		p.inUse++
		p.mu.Unlock()
		return nil
	}
	ready := make(chan struct{})
	e := p.waiting.PushBack(ready)
	p.mu.Unlock()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
	case <-timer.C:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-ready: // handed a slot as the wait ended: give it back
		p.inUse--
		p.wakeLocked(p.share.Concurrent)
	default:
		p.waiting.Remove(e)
	}
	return context.DeadlineExceeded
}

// release gives a slot back to the first waiter, if any.
func (p *project) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inUse--
	p.wakeLocked(p.share.Concurrent)
}

// wakeLocked hands free slots to waiters in order (limit 0: no limit).
func (p *project) wakeLocked(limit int) {
	for p.waiting.Len() > 0 && (limit <= 0 || p.inUse < limit) {
		e := p.waiting.Front()
		p.waiting.Remove(e)
		p.inUse++
		close(e.Value.(chan struct{}))
	}
}

// Ticket is one admitted request.
type Ticket struct {
	s        *Shares
	p        *project
	start    time.Time
	slot     bool
	returned int64
	mu       sync.Mutex
}

// Returned counts n resources the request returned (the per-project
// metric; rows scanned are not measured).
func (t *Ticket) Returned(n int) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.returned += int64(n)
	t.mu.Unlock()
}

// Done ends the request: its slot goes to the next waiter, its counts to
// the metrics and the day's usage.
func (t *Ticket) Done() {
	if t.slot {
		t.p.release()
	}
	t.mu.Lock()
	returned := t.returned
	t.mu.Unlock()
	t.p.counters.observe(time.Since(t.start), returned)
	t.s.usage.count(t.p.id, time.Now())
}

type ticketKey struct{}

// NewContext returns ctx carrying t.
func NewContext(ctx context.Context, t *Ticket) context.Context {
	return context.WithValue(ctx, ticketKey{}, t)
}

// NoteReturned counts n resources returned by the request in ctx, if it
// was admitted.
func NoteReturned(ctx context.Context, n int) {
	t, _ := ctx.Value(ticketKey{}).(*Ticket)
	t.Returned(n)
}
