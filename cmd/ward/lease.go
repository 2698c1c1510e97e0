package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/wardhealth/ward/store"
)

// Work that one process of a fleet does at a time — a feed sink's
// publisher, the definitions load — runs under a store lease: the process
// holding it works and renews it; the others wait and take it over once
// it expires (its holder died) or is released (its holder stopped).

// leaseTTL is how long a silent holder keeps its work: a takeover waits
// at most this long (plus one retry interval).
const leaseTTL = 10 * time.Second

// leaser takes leases for one process.
type leaser struct {
	s      *store.Store
	holder string
	ttl    time.Duration
	logger *slog.Logger
}

func (l *leaser) retryEvery() time.Duration { return l.ttl / 3 }

// runLeased runs work whenever this process holds ref, until ctx ends:
// it waits for the lease, runs work with a context cancelled when the
// lease is lost (not renewed within its time to live), and takes the
// lease again afterwards. The lease is released when ctx ends.
func (l *leaser) runLeased(ctx context.Context, ref store.LeaseRef, work func(ctx context.Context)) {
	for {
		if ok, err := l.s.TakeLease(ctx, ref, l.holder, l.ttl); err == nil && ok {
			l.logger.Info("lease taken", "lease", ref.Name, "holder", l.holder)
			l.hold(ctx, ref, work)
			if ctx.Err() != nil {
				release(l, ref)
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(l.retryEvery()):
		}
	}
}

// hold runs work while renewing ref; it returns when work returned or
// the lease was lost.
func (l *leaser) hold(ctx context.Context, ref store.LeaseRef, work func(ctx context.Context)) {
	workCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		work(workCtx)
	}()
	renewed := time.Now()
	t := time.NewTicker(l.retryEvery())
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		ok, err := l.s.TakeLease(ctx, ref, l.holder, l.ttl)
		switch {
		case err == nil && ok:
			renewed = time.Now()
			continue
		case err == nil && !ok, time.Since(renewed) > l.ttl-l.retryEvery():
			// Another process holds it, or may soon: stop before both work.
			l.logger.Warn("lease lost; stopping its work", "lease", ref.Name, "error", err)
			cancel()
			<-done
			return
		}
	}
}

// release gives ref up so another process takes it over at once.
func release(l *leaser, ref store.LeaseRef) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.s.ReleaseLease(ctx, ref, l.holder); err != nil {
		l.logger.Warn("releasing a lease failed; another process takes it when it expires", "lease", ref.Name, "error", err)
	}
}

// once runs work in one process of the fleet: the one that takes ref
// first; the others wait for the lease and run work after it (work must
// be a no-op once done, as the definitions load is). It returns when work
// ran here or ctx ended.
func (l *leaser) once(ctx context.Context, ref store.LeaseRef, work func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l.runLeased(ctx, ref, func(workCtx context.Context) {
		work(workCtx)
		if workCtx.Err() == nil { // done here; a lost lease is taken again
			cancel()
		}
	})
}
