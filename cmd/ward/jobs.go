package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/search"
	"github.com/wardhealth/ward/store"
)

// Async jobs in a fleet. An AsyncJob ($export, $expunge, $set-accounts)
// runs in the process that accepted it. That process leases the job
// (store leases, job/<id> in the job's project) when the accepted job
// commits and renews the lease while it runs; every process looks for
// accepted jobs whose lease is gone — their process died or stopped — and
// marks them error with a reason, so a client polling one sees it end
// rather than wait forever. A process starting no longer fails the jobs
// the other processes of the fleet are running.

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

	mu   sync.Mutex
	held map[store.LeaseRef]bool
}

func newJobLeases(s *store.Store, holder string, ttl time.Duration, logger *slog.Logger) *jobLeases {
	j := &jobLeases{s: s, holder: holder, ttl: ttl, logger: logger, held: map[store.LeaseRef]bool{}}
	s.OnCommit(j.onCommit)
	return j
}

// startJobLeases leases this process's jobs and ends the orphans of the
// fleet until ctx ends; stop releases the leases this process still holds
// (its jobs die with it), so another process ends those jobs at once.
func startJobLeases(ctx context.Context, s *store.Store, logger *slog.Logger) (stop func()) {
	j := newJobLeases(s, processID(), jobLeaseTTL, logger)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		j.loop(ctx, jobLeaseRenew)
	}()
	return func() {
		cancel()
		<-done
		j.releaseAll(context.Background())
	}
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

func (j *jobLeases) releaseAll(ctx context.Context) {
	j.mu.Lock()
	refs := make([]store.LeaseRef, 0, len(j.held))
	for ref := range j.held {
		refs = append(refs, ref)
	}
	j.mu.Unlock()
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
		if err := endOrphanedJobs(ctx, j.s, j.ttl, j.logger); err != nil && ctx.Err() == nil {
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
	j.mu.Lock()
	refs := make([]store.LeaseRef, 0, len(j.held))
	for ref := range j.held {
		refs = append(refs, ref)
	}
	j.mu.Unlock()
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

// endOrphanedJobs marks error every accepted AsyncJob that no process
// leases and that was last written more than grace ago (its lease is
// taken just after its commit): the process that ran it stopped. Two
// processes ending one job race on its version; the loser leaves it.
func endOrphanedJobs(ctx context.Context, s *store.Store, grace time.Duration, logger *slog.Logger) error {
	sys := ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal())
	q, err := search.Parse("AsyncJob", url.Values{"status": {"accepted"}, "_count": {"1000"}})
	if err != nil {
		return err
	}
	res, err := s.Search(sys, q)
	if err != nil || len(res.Matches) == 0 {
		return err
	}
	live, err := s.LiveLeases(ctx, jobLeasePrefx)
	if err != nil {
		return err
	}
	leased := map[store.LeaseRef]bool{}
	for _, ref := range live {
		leased[ref] = true
	}
	for _, job := range res.Matches {
		if leased[jobLease(job)] || time.Since(job.LastUpdated) < grace {
			continue
		}
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
