package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/auth"
	wardhttp "github.com/wardhealth/ward/http"
	"github.com/wardhealth/ward/search"
	"github.com/wardhealth/ward/store"
)

// Async jobs in a fleet. An AsyncJob ($export, $expunge, $set-accounts)
// runs in the process that accepted it. That process claims the job's
// lease (store leases, job/<id> in the job's project) when the accepted
// job commits and renews it while the job runs; every process looks for
// accepted jobs whose lease is gone — their process died or stopped. The
// first process to claim such a job takes it over: it runs it again from
// the start under its caller as resolved now (wardhttp.JobRunner says
// what a re-run does per kind, $expunge included: erasing again what is
// already erased ends the same; a caller who lost access ends it as
// error), and a job that stored no run (a caller on behalf of another
// member with Basic client credentials) is marked error with a reason, so
// a client polling one sees it end rather than wait forever. A process
// starting no longer fails the jobs the other processes are running.
//
// Fencing: a holder may stall past its lease (a GC pause, a partition)
// while another process takes its job over. Every claim has a token
// (store.ClaimLease), and a job runs in a context fenced by its claim
// (store.WithFence, through wardhttp.JobLeases.Hold or the takeover):
// each of its writes — export files, the work itself, its run's removal,
// the AsyncJob's completion — is made, in its own transaction, only while
// the claim still holds the lease, so a holder that woke after a takeover
// writes nothing (store.ErrLeaseLost). A renewal that finds the claim gone
// cancels the job's context: the stale run stops at its next step.

const (
	jobLeaseTTL   = 15 * time.Second
	jobLeaseRenew = 5 * time.Second // and how often orphans are looked for
	jobLeasePrefx = "job/"
)

// processID names this process in the leases it holds (for an operator
// reading the table: host, pid, and a random part for uniqueness).
func processID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), uuid.NewString()[:8])
}

// jobLeases holds the leases of the jobs this process runs.
type jobLeases struct {
	s      *store.Store
	holder string
	ttl    time.Duration
	logger *slog.Logger

	mu     sync.Mutex
	held   map[store.LeaseRef]*heldJob
	resume func(ctx context.Context, job *ward.Resource) error // nil: orphans are only ended

	running sync.WaitGroup // the jobs taken over here
}

// heldJob is a claim this process holds on a job, and what to stop when
// a renewal finds it lost.
type heldJob struct {
	lease   store.Lease
	renewed time.Time
	runs    int                  // runs of the job holding it: released when the last ends
	cancels []context.CancelFunc // the contexts of its runs
}

var _ wardhttp.JobLeases = (*jobLeases)(nil)

func newJobLeases(s *store.Store, holder string, ttl time.Duration, logger *slog.Logger) *jobLeases {
	j := &jobLeases{s: s, holder: holder, ttl: ttl, logger: logger, held: map[store.LeaseRef]*heldJob{}}
	s.OnCommit(j.onCommit)
	return j
}

// startJobLeases leases this process's jobs and ends the orphans of the
// fleet until ctx ends; stop releases the leases this process still holds
// (its jobs die with it), so another process ends those jobs at once.
func startJobLeases(ctx context.Context, s *store.Store, logger *slog.Logger) (j *jobLeases, stop func()) {
	j = newJobLeases(s, processID(), jobLeaseTTL, logger)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		j.loop(ctx, jobLeaseRenew)
	}()
	return j, func() {
		cancel()
		<-done
		j.releaseAll(context.Background())
	}
}

// jobRunner is what resumes the jobs this process takes over: the http
// layer's runner, with callers resolved by identity as they are now.
func jobRunner(s *store.Store, identity *auth.Service, logger *slog.Logger) func(ctx context.Context, job *ward.Resource) error {
	resolve := func(ctx context.Context, c wardhttp.JobCaller) (*ward.Principal, error) {
		return identity.JobPrincipal(ctx, c.LoginID, c.MembershipID, c.OnBehalfOf)
	}
	return wardhttp.NewJobRunner(s, search.Parse, logger, resolve).Resume
}

// resumeWith makes this process take orphaned jobs over with resume
// instead of only ending them.
func (j *jobLeases) resumeWith(resume func(ctx context.Context, job *ward.Resource) error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.resume = resume
}

func (j *jobLeases) resumer() func(ctx context.Context, job *ward.Resource) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.resume
}

func jobLease(res *ward.Resource) store.LeaseRef {
	return store.LeaseRef{ProjectID: res.ProjectID, Name: jobLeasePrefx + res.ID}
}

// claim claims ref for this process. A claim that replaces one this
// process held with another token (it stalled and took its own job over)
// stops the old claim's runs.
func (j *jobLeases) claim(ctx context.Context, ref store.LeaseRef) (store.Lease, bool, error) {
	l, ok, err := j.s.ClaimLease(ctx, ref, j.holder, j.ttl)
	if err != nil || !ok {
		return l, ok, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if h := j.held[ref]; h != nil && h.lease.Token == l.Token {
		h.renewed = time.Now()
		return l, true, nil
	} else if h != nil {
		h.stop()
	}
	j.held[ref] = &heldJob{lease: l, renewed: time.Now()}
	return l, true, nil
}

func (h *heldJob) stop() {
	for _, cancel := range h.cancels {
		cancel()
	}
	h.cancels = nil
}

// onCommit claims the lease of a job this process accepted, and releases
// it when the job ends here unless a run still holds it (the run releases
// it when it returns: a job cancelled mid-run finishes under its lease).
func (j *jobLeases) onCommit(ctx context.Context, written []*ward.Resource) {
	for _, res := range written {
		if res.Type != "AsyncJob" {
			continue
		}
		ref := jobLease(res)
		ctx := context.WithoutCancel(ctx)
		j.mu.Lock()
		h := j.held[ref]
		running := h != nil && h.runs > 0
		j.mu.Unlock()
		if jobStatus(res.Content) == "accepted" {
			if h != nil {
				continue
			}
			if _, ok, err := j.claim(ctx, ref); err != nil || !ok {
				j.logger.Warn("async job: cannot lease it; another process may take it over", "job", res.ID, "error", err)
			}
			continue
		}
		if !running {
			j.release(ctx, ref)
		}
	}
}

// Hold implements wardhttp.JobLeases: the run of a job accepted here runs
// in ctx fenced by this process's claim (taken when the job committed, or
// now), cancelled when a renewal finds the claim lost; done releases it.
// A job this process cannot claim runs fenced by no lease at all, so it
// writes nothing: the process that holds it runs it.
func (j *jobLeases) Hold(ctx context.Context, project, job string) (context.Context, func()) {
	ref := store.LeaseRef{ProjectID: project, Name: jobLeasePrefx + job}
	j.mu.Lock()
	if h := j.heldNamed(ref.Name); h != nil {
		ref = h.lease.Ref // the job's project as committed (a system caller's)
	}
	j.mu.Unlock()
	if j.heldLease(ref) == nil {
		if _, ok, err := j.claim(ctx, ref); err != nil || !ok {
			j.logger.Warn("async job: not leased here; it runs nowhere until a process takes it over", "job", job, "error", err)
			ctx, cancel := context.WithCancel(store.WithFence(ctx, store.Lease{Ref: ref, Holder: j.holder, Token: -1}))
			cancel()
			return ctx, func() {}
		}
	}
	return j.attach(ctx, ref)
}

// attach runs one run of ref's job in ctx fenced by the claim held, and
// returns its end.
func (j *jobLeases) attach(ctx context.Context, ref store.LeaseRef) (context.Context, func()) {
	j.mu.Lock()
	defer j.mu.Unlock()
	h := j.held[ref]
	if h == nil { // lost meanwhile
		ctx, cancel := context.WithCancel(store.WithFence(ctx, store.Lease{Ref: ref, Holder: j.holder, Token: -1}))
		cancel()
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancel(store.WithFence(ctx, h.lease))
	h.runs++
	h.cancels = append(h.cancels, cancel)
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			j.mu.Lock()
			last := j.held[ref] == h && h.runs == 1
			h.runs--
			j.mu.Unlock()
			if last {
				j.release(context.WithoutCancel(ctx), ref)
			}
			cancel()
		})
	}
}

func (j *jobLeases) heldLease(ref store.LeaseRef) *heldJob {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.held[ref]
}

// heldNamed is the claim held on the lease named name (j.mu held).
func (j *jobLeases) heldNamed(name string) *heldJob {
	for ref, h := range j.held {
		if ref.Name == name {
			return h
		}
	}
	return nil
}

// release gives up the claim held on ref, if any: only that claim, never
// another process's (or a later one of this process).
func (j *jobLeases) release(ctx context.Context, ref store.LeaseRef) {
	j.mu.Lock()
	h := j.held[ref]
	delete(j.held, ref)
	j.mu.Unlock()
	if h != nil {
		if err := j.s.ReleaseClaim(ctx, h.lease); err != nil {
			j.logger.Warn("async job: releasing its lease failed", "lease", ref.Name, "error", err)
		}
	}
}

// heldRefs copies the held leases' refs, so they can be renewed or released
// without holding j.mu across a database round trip.
func (j *jobLeases) heldRefs() []store.LeaseRef {
	j.mu.Lock()
	defer j.mu.Unlock()
	refs := make([]store.LeaseRef, 0, len(j.held))
	for ref := range j.held {
		refs = append(refs, ref)
	}
	return refs
}

func (j *jobLeases) releaseAll(ctx context.Context) {
	refs := j.heldRefs()
	for _, ref := range refs {
		j.release(ctx, ref)
	}
}

// loop renews the held leases and ends orphaned jobs every `every`.
func (j *jobLeases) loop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		j.renew(ctx)
		if err := j.endOrphans(ctx); err != nil && ctx.Err() == nil {
			j.logger.Warn("async jobs: looking for orphaned jobs failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// renew renews every claim held, each on its own: on PostgreSQL a
// renewal waits for the job's write in progress (it holds the lease row,
// store.WithFence), and one long erasure must not hold up the others'.
// A claim another took over, or one not renewed within its time to live
// (the database did not answer), is lost: its runs' contexts are
// cancelled, and their writes are refused anyway.
func (j *jobLeases) renew(ctx context.Context) {
	var wg sync.WaitGroup
	for _, ref := range j.heldRefs() {
		h := j.heldLease(ref)
		if h == nil {
			continue
		}
		wg.Go(func() {
			ok, err := j.s.RenewLease(ctx, h.lease, j.ttl)
			j.mu.Lock()
			defer j.mu.Unlock()
			switch {
			case j.held[ref] != h:
			case err == nil && ok:
				h.renewed = time.Now()
			case err == nil && !ok, time.Since(h.renewed) > j.ttl:
				j.logger.Warn("async job: its lease was lost; stopping its run here", "lease", ref.Name, "error", err)
				delete(j.held, ref)
				h.stop()
			}
		})
	}
	wg.Wait()
}

func jobStatus(content []byte) string {
	var j struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(content, &j)
	return j.Status
}

// endOrphans takes over (or, without a resumer, ends) every accepted
// AsyncJob that no process leases.
func (j *jobLeases) endOrphans(ctx context.Context) error {
	resume := j.resumer()
	if resume == nil {
		return endOrphanedJobs(ctx, j.s, j.ttl, j.logger)
	}
	orphans, err := orphanedJobs(ctx, j.s, j.ttl)
	if err != nil {
		return err
	}
	for _, job := range orphans {
		if err := j.takeOver(ctx, job, resume); err != nil {
			return err
		}
	}
	return nil
}

// takeOver claims job and, if this process got it, runs it again in the
// background, fenced by the claim. Two processes taking one job over race
// on the lease's upsert: one gets it, the other leaves the job.
func (j *jobLeases) takeOver(ctx context.Context, job *ward.Resource, resume func(ctx context.Context, job *ward.Resource) error) error {
	ref := jobLease(job)
	if _, ok, err := j.claim(ctx, ref); err != nil || !ok {
		return err
	}
	// Read again under the lease: the job may have ended, and its lease
	// been released, since it was listed.
	sys := ward.NewContextWithPrincipal(ctx, ward.SystemPrincipalIn(job.ProjectID))
	current, err := j.s.Read(sys, "AsyncJob", job.ID)
	if err != nil || jobStatus(current.Content) != "accepted" {
		j.release(ctx, ref)
		if ward.ErrorCode(err) == ward.ENOTFOUND {
			return nil
		}
		return err
	}
	j.logger.InfoContext(ctx, "ward: taking over an async job whose process stopped", "job", job.ID, "holder", j.holder)
	// A job is not cut off by the loop's end, as one started here; it is
	// by the loss of its lease.
	runCtx, done := j.attach(context.WithoutCancel(ctx), ref)
	j.running.Add(1)
	go func() {
		defer j.running.Done()
		defer done()
		if err := resume(runCtx, current); err != nil {
			if !errors.Is(err, wardhttp.ErrNoJobRun) {
				j.logger.WarnContext(runCtx, "async job: running it again failed", "job", job.ID, "error", err)
			}
			err := failJob(ward.NewContextWithPrincipal(runCtx, ward.SystemPrincipal()), j.s, current)
			if err != nil && ward.ErrorCode(err) != ward.EPRECONDITION && !errors.Is(err, store.ErrLeaseLost) {
				j.logger.WarnContext(runCtx, "async job: marking it failed failed", "job", job.ID, "error", err)
			}
		}
	}()
	return nil
}

// orphanedJobs lists the accepted AsyncJobs that no process leases and
// that were last written more than grace ago (a job's lease is taken just
// after its commit): the process that ran them stopped.
func orphanedJobs(ctx context.Context, s *store.Store, grace time.Duration) ([]*ward.Resource, error) {
	sys := ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal())
	q, err := search.Parse("AsyncJob", url.Values{"status": {"accepted"}, "_count": {"1000"}})
	if err != nil {
		return nil, err
	}
	res, err := s.Search(sys, q)
	if err != nil || len(res.Matches) == 0 {
		return nil, err
	}
	live, err := s.LiveLeases(ctx, jobLeasePrefx)
	if err != nil {
		return nil, err
	}
	leased := map[store.LeaseRef]bool{}
	for _, ref := range live {
		leased[ref] = true
	}
	var out []*ward.Resource
	for _, job := range res.Matches {
		if !leased[jobLease(job)] && time.Since(job.LastUpdated) >= grace {
			out = append(out, job)
		}
	}
	return out, nil
}

// endOrphanedJobs marks every orphaned job error (a process that cannot
// run them again), each under a claim of its lease so that a holder that
// only stalled cannot complete it afterwards. Two processes ending one job
// race on the claim and on its version; the loser leaves it.
func endOrphanedJobs(ctx context.Context, s *store.Store, grace time.Duration, logger *slog.Logger) error {
	sys := ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal())
	orphans, err := orphanedJobs(ctx, s, grace)
	if err != nil {
		return err
	}
	holder := processID()
	for _, job := range orphans {
		l, ok, err := s.ClaimLease(ctx, jobLease(job), holder, jobLeaseTTL)
		if err != nil {
			return err
		}
		if !ok {
			continue // its holder renewed it, or another process claimed it
		}
		err = failJob(store.WithFence(sys, l), s, job)
		if rerr := s.ReleaseClaim(context.WithoutCancel(ctx), l); err == nil {
			err = rerr
		}
		if ward.ErrorCode(err) == ward.EPRECONDITION {
			continue // another process ended it, or it just finished
		}
		if err != nil {
			return err
		}
		logger.WarnContext(ctx, "ward: an async job whose process stopped is marked failed", "job", job.ID)
	}
	return nil
}

// failJob marks job error: interrupted, to be started again.
func failJob(ctx context.Context, s *store.Store, job *ward.Resource) error {
	return s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		var j map[string]any
		if err := json.Unmarshal(job.Content, &j); err != nil {
			return err
		}
		j["status"] = "error"
		j["transactionTime"] = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
		j["output"] = map[string]any{"resourceType": "Parameters", "parameter": []any{map[string]any{"name": "outcome", "resource": map[string]any{
			"resourceType": "OperationOutcome",
			"issue": []any{map[string]any{"severity": "error", "code": "incomplete",
				"details": map[string]any{"text": "Interrupted: the server running the job stopped; start it again"}}},
		}}}}
		body, _ := json.Marshal(j)
		_, _, err := tx.Update(ctx, "AsyncJob", job.ID, body, job.VersionID)
		return err
	})
}
