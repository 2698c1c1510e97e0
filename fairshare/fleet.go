package fairshare

import (
	"context"
	"maps"
	"slices"
	"time"
)

// A fleet of processes on one database splits each project's limits
// evenly: with N live processes each enforces ceil(rate / N) requests a
// minute (a bucket of that size) and max(1, floor(slots / N)) expensive
// slots, so behind a balancer that spreads a project's requests evenly
// (round robin, least connections) the project gets about its rate and
// at most its slots fleet-wide — instead of N times them.
//
// The trade-off is an unbalanced balancer: a project whose requests all
// reach one process (sticky sessions, one client's kept-alive connection)
// gets only 1/N of its rate, and a project with fewer slots than
// processes gets one per process (up to N at once). A shared bucket in
// the database would be exact but costs a write on every request's path,
// which fair shares must not add; a split weighted by each process's
// demand would need every process to publish its per-project counts. An
// even split costs one heartbeat and one count per process every few
// seconds, off the requests' path.
//
// Each process renews a heartbeat (Fleet.BeatProcess) and counts the live
// ones (Fleet.LiveProcesses) every beat; a process that dies stops
// beating and drops out of the count within its heartbeat's time to live
// plus one beat (4 beats), raising the others' shares. A process that
// stops cleanly leaves at once (Fleet.EndProcess). A share changed by the
// fleet's size keeps each bucket's tokens (setLocked): a join or a
// departure gives no project a fresh minute's worth in the processes
// already running. What the count cannot see yet costs once: a process
// that counts before its peers' first heartbeats (a simultaneous start)
// holds a larger share until its next count (a second later: RunFleet
// counts again soon after JoinFleet), and a joining process's
// buckets start full of its share (docs/benchmarks.md has the figure).

// Fleet is where the processes on one database count each other
// (store.Store).
type Fleet interface {
	// BeatProcess says process id is alive until now+ttl.
	BeatProcess(ctx context.Context, id string, ttl time.Duration) error
	// LiveProcesses counts the processes whose heartbeat is alive.
	LiveProcesses(ctx context.Context) (int, error)
	// EndProcess removes process id's heartbeat.
	EndProcess(ctx context.Context, id string) error
}

// DefaultBeatEvery is how often a process of a fleet renews its heartbeat
// and counts the others.
const DefaultBeatEvery = 5 * time.Second

// firstRecount is when RunFleet counts the fleet again after JoinFleet.
const firstRecount = time.Second

// beatTTL is how long a heartbeat lasts: two missed beats (a slow
// database, a pause) do not yet split the shares the other way.
func beatTTL(every time.Duration) time.Duration { return 3 * every }

// Processes is how many live processes split each project's limits (1:
// alone).
func (s *Shares) Processes() int { return int(s.processes.Load()) }

// JoinFleet beats once for process id and counts the fleet, so that the
// first requests already get this process's share; then run RunFleet.
// On an error the process keeps its last count (at first: alone).
func (s *Shares) JoinFleet(ctx context.Context, f Fleet, id string, every time.Duration) error {
	if every <= 0 {
		every = DefaultBeatEvery
	}
	if err := f.BeatProcess(ctx, id, beatTTL(every)); err != nil {
		return err
	}
	n, err := f.LiveProcesses(ctx)
	if err != nil {
		return err
	}
	s.setProcesses(n)
	return nil
}

// RunFleet renews process id's heartbeat and recounts the fleet every
// `every` (default DefaultBeatEvery) until ctx ends; then it leaves the
// fleet, so the others' shares rise at their next count. A failed beat or
// count keeps the last count: a database too slow to answer does not
// raise every share at once.
func (s *Shares) RunFleet(ctx context.Context, f Fleet, id string, every time.Duration) {
	if every <= 0 {
		every = DefaultBeatEvery
	}
	// The first count comes soon: peers started with this process beat
	// after its JoinFleet counted, and until it counts them again it
	// holds a larger share.
	t := time.NewTimer(min(every, firstRecount))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			end, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := f.EndProcess(end, id); err != nil {
				s.opts.Logger.Warn("fairshare: leaving the fleet failed; the others count this process until its heartbeat expires", "err", err)
			}
			cancel()
			return
		case <-t.C:
			t.Reset(every)
		}
		if err := s.JoinFleet(ctx, f, id, every); err != nil && ctx.Err() == nil {
			s.opts.Logger.WarnContext(ctx, "fairshare: the fleet could not be counted; shares stay split as they were", "processes", s.Processes(), "err", err)
		}
	}
}

// setProcesses splits every project's limits between n processes.
func (s *Shares) setProcesses(n int) {
	n = max(1, n) // this process, even when its own beat failed
	old := s.processes.Swap(int64(n))
	if old == int64(n) {
		return
	}
	s.opts.Logger.Info("fairshare: the fleet's size changed; each project's limits are split again", "processes", n, "was", old)
	// A load racing this reads the count under the project's lock (apply),
	// so whichever of the two takes the lock last splits by the latest.
	s.mu.Lock()
	projects := slices.Collect(maps.Values(s.projects))
	s.mu.Unlock()
	now := time.Now()
	for _, p := range projects {
		p.mu.Lock()
		p.setLocked(p.limits, s.Processes(), now)
		p.mu.Unlock()
	}
}

// split is this process's share of l among n processes: the rate rounded
// up (the fleet admits at most n-1 requests a minute over the limit), the
// slots rounded down but at least one (a project is never shut out of a
// process).
func (l Limits) split(n int) Limits {
	if n <= 1 {
		return l
	}
	if l.RequestsPerMinute > 0 {
		l.RequestsPerMinute = (l.RequestsPerMinute + n - 1) / n
	}
	if l.Concurrent > 0 {
		l.Concurrent = max(1, l.Concurrent/n)
	}
	return l
}
