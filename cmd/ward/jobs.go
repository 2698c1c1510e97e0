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
// runs in the process that accepted it. That process leases the job
// (store leases, job/<id> in the job's project) when the accepted job
// commits and renews the lease while it runs; every process looks for
// accepted jobs whose lease is gone — their process died or stopped. The
// first process to lease such a job takes it over: it runs it again from
// the start under its caller as resolved now (wardhttp.JobRunner says
// what a re-run does per kind; a caller who lost access ends it as
// error), and a job that stored no run ($expunge) is marked error with a
// reason, so a client polling one sees it end rather than wait forever.
// A process starting no longer fails the jobs the other processes of the
// fleet are running.

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
	held   map[store.LeaseRef]bool
	resume func(ctx context.Context, job *ward.Resource) error // nil: orphans are only ended

	running sync.WaitGroup // the jobs taken over here
}

func newJobLeases(s *store.Store, holder string, ttl time.Duration, logger *slog.Logger) *jobLeases {
	j := &jobLeases{s: s, holder: holder, ttl: ttl, logger: logger, held: map[store.LeaseRef]bool{}}
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

// onCommit takes the lease of a job this process accepted and releases
// it when the job ends here.
func (j *jobLeases) onCommit(ctx context.Context, written []*ward.Resource) {
	for _, res := range written {
		if res.Type != "AsyncJob" {
			continue
		}
		ref := jobLease(res)
		ctx := context.WithoutCancel(ctx)
		if jobStatus(res.Content) == "accepted" {
			if ok, err := j.s.TakeLease(ctx, ref, j.holder, j.ttl); err != nil || !ok {
				j.logger.Warn("async job: cannot lease it; another process may mark it failed", "job", res.ID, "error", err)
				continue
			}
			j.mu.Lock()
			j.held[ref] = true
			j.mu.Unlock()
			continue
		}
		j.release(ctx, ref)
	}
}

func (j *jobLeases) release(ctx context.Context, ref store.LeaseRef) {
	j.mu.Lock()
	held := j.held[ref]
	delete(j.held, ref)
	j.mu.Unlock()
	if held {
		if err := j.s.ReleaseLease(ctx, ref, j.holder); err != nil {
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

func (j *jobLeases) renew(ctx context.Context) {
	refs := j.heldRefs()
	for _, ref := range refs {
		if ok, err := j.s.TakeLease(ctx, ref, j.holder, j.ttl); err == nil && !ok {
			// Renewed too late: another process may have ended the job.
			j.logger.Warn("async job: its lease was lost", "lease", ref.Name)
			j.mu.Lock()
			delete(j.held, ref)
			j.mu.Unlock()
		}
	}
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

// takeOver leases job and, if this process got the lease, runs it again
// in the background. Two processes taking one job over race on the
// lease's upsert: one gets it, the other leaves the job.
func (j *jobLeases) takeOver(ctx context.Context, job *ward.Resource, resume func(ctx context.Context, job *ward.Resource) error) error {
	ref := jobLease(job)
	if ok, err := j.s.TakeLease(ctx, ref, j.holder, j.ttl); err != nil || !ok {
		return err
	}
	j.mu.Lock()
	j.held[ref] = true
	j.mu.Unlock()
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
	j.running.Add(1)
	go func() {
		defer j.running.Done()
		runCtx := context.WithoutCancel(ctx) // a job is not cut off by the loop's end, as one started here
		if err := resume(runCtx, current); err != nil {
			if !errors.Is(err, wardhttp.ErrNoJobRun) {
				j.logger.WarnContext(runCtx, "async job: running it again failed", "job", job.ID, "error", err)
			}
			if err := failJob(ward.NewContextWithPrincipal(runCtx, ward.SystemPrincipal()), j.s, current); err != nil && ward.ErrorCode(err) != ward.EPRECONDITION {
				j.logger.WarnContext(runCtx, "async job: marking it failed failed", "job", job.ID, "error", err)
			}
		}
		j.release(runCtx, ref)
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
// run them again). Two processes ending one job race on its version; the
// loser leaves it.
func endOrphanedJobs(ctx context.Context, s *store.Store, grace time.Duration, logger *slog.Logger) error {
	sys := ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal())
	orphans, err := orphanedJobs(ctx, s, grace)
	if err != nil {
		return err
	}
	for _, job := range orphans {
		err := failJob(sys, s, job)
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
