package wardhttp

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"

	"github.com/wardhealth/ward"
)

// Async jobs taken over in a fleet. At kick-off an $export or an async
// $set-accounts stores its run (store job_runs): its kind, its caller as
// a JobCaller and its parameters. When the process running it dies,
// another one (cmd/ward's job leases, one process per job) calls
// JobRunner.Resume, which resolves the caller again — a revoked login, a
// removed or inactive membership, a changed policy count as they are now
// — and runs the job from the start under it:
//   - $export deletes the parts the dead process wrote and exports every
//     type again: the files are the export of the takeover's moment.
//   - $set-accounts sets the accounts again: applied twice, the target and
//     its compartment end with the same accounts as applied once.
//   - $expunge erases again: an erasure is one transaction, so the dead
//     process erased all or nothing; a target already gone (erased by it,
//     or since) ends the job completed, as the caller asked.
//
// A caller that lost access ends the job as error (403 outcome) without
// running it. A job started on behalf of another member with Basic client
// credentials stores no run: it ends as error, as before.
//
// Fencing: a job accepted here runs in the context JobLeases.Hold gives
// (the lease cmd/ward claimed when the job committed); a taken-over one in
// the context of the takeover's claim. Every write of the job — its parts,
// its work, the AsyncJob's end, its run's removal — goes through the store
// under that claim and is refused once another process holds the job.

// JobLeases fences the jobs a process runs (cmd/ward's job leases).
type JobLeases interface {
	// Hold returns the context the run of job (accepted in project) runs
	// in: its writes are made only while this process holds the job's
	// lease, and it is cancelled when the lease is lost. done, called when
	// the run returned, releases the lease.
	Hold(ctx context.Context, project, job string) (held context.Context, done func())
}

// holdJob is the context a job accepted here runs in, not cancelled with
// the request, and its end (Options.Jobs; unfenced without).
func (s *Server) holdJob(ctx context.Context, project, job string) (context.Context, func()) {
	ctx = context.WithoutCancel(ctx)
	if s.jobs == nil {
		return ctx, func() {}
	}
	return s.jobs.Hold(ctx, project, job)
}

// JobCaller is who started a job, as stored to be resolved again.
type JobCaller struct {
	LoginID      string `json:"login,omitempty"`
	MembershipID string `json:"membership,omitempty"` // Basic client credentials
	OnBehalfOf   string `json:"onBehalfOf,omitempty"`
	Author       string `json:"author"`
	Extended     bool   `json:"extended,omitempty"`
}

// ErrNoJobRun is Resume's answer for a job without a stored run: it
// cannot be run again, only ended.
var ErrNoJobRun = errors.New("the job stored no run to resume")

// jobRuns is implemented by stores that keep job runs.
type jobRuns interface {
	SaveJobRun(ctx context.Context, project, job, kind string, caller, params []byte) error
	LoadJobRun(ctx context.Context, project, job string) (kind string, caller, params []byte, err error)
	DropJobRun(ctx context.Context, project, job string) error
}

const (
	jobKindExport      = "export"
	jobKindSetAccounts = "set-accounts"
	jobKindExpunge     = "expunge"
)

// expungeParams is an $expunge job's stored parameters: what to erase,
// with everything.
type expungeParams struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// exportParams is an $export's stored parameters.
type exportParams struct {
	Types      []string              `json:"types"`
	Asked      []string              `json:"asked,omitempty"`
	Since      string                `json:"since,omitempty"`
	TypeFilter map[string]url.Values `json:"typeFilter,omitempty"`
	Group      string                `json:"group,omitempty"`
	Base       string                `json:"base"`
}

// setAccountsParams is an async $set-accounts' stored parameters.
type setAccountsParams struct {
	Type      string   `json:"type"`
	ID        string   `json:"id"`
	Accounts  []string `json:"accounts"`
	Propagate bool     `json:"propagate"`
}

// jobCallerOf is p as stored; ok is false when p cannot be resolved again
// (on behalf of a member with Basic client credentials: the client's own
// membership is not in p).
func jobCallerOf(p *ward.Principal) (JobCaller, bool) {
	c := JobCaller{LoginID: p.LoginID, OnBehalfOf: p.OnBehalfOf, Author: p.Author, Extended: p.Extended}
	if p.LoginID == "" {
		if p.OnBehalfOf != "" || p.MembershipID == "" {
			return c, false
		}
		c.MembershipID = p.MembershipID
	}
	return c, true
}

// saveJobRun stores job's run so another process can take it over. A
// store without runs, or a caller that cannot be resolved again, stores
// none: the job ends as error if its process dies.
func (s *Server) saveJobRun(ctx context.Context, p *ward.Principal, job, kind string, params any) error {
	runs, ok := s.store.(jobRuns)
	caller, resolvable := jobCallerOf(p)
	if !ok || !resolvable {
		return nil
	}
	return runs.SaveJobRun(ctx, p.ProjectID, job, kind, mustJSON(caller), mustJSON(params))
}

// saveRun is saveJobRun at kick-off: a run that cannot be stored costs
// only the takeover (the job runs here), so it is logged, not answered.
func (s *Server) saveRun(ctx context.Context, p *ward.Principal, job, kind string, params any) {
	if err := s.saveJobRun(ctx, p, job, kind, params); err != nil {
		s.logger.WarnContext(ctx, "async job: storing its run failed; it ends as error if this process dies", "job", job, "error", err)
	}
}

// dropJobRun deletes job's run once the job ended here.
func (s *Server) dropJobRun(ctx context.Context, project, job string) {
	if runs, ok := s.store.(jobRuns); ok {
		if err := runs.DropJobRun(context.WithoutCancel(ctx), project, job); err != nil {
			s.logger.WarnContext(ctx, "async job: deleting its run failed", "job", job, "error", err)
		}
	}
}

// JobRunner runs again the jobs whose process died.
type JobRunner struct {
	s       *Server
	resolve func(ctx context.Context, c JobCaller) (*ward.Principal, error)
}

// NewJobRunner returns a runner over st (parse: the search parser);
// resolve resolves a job's caller as it is now (auth.Service.JobPrincipal).
func NewJobRunner(st ward.ResourceStore, parse func(string, url.Values) (*ward.SearchQuery, error), logger *slog.Logger,
	resolve func(ctx context.Context, c JobCaller) (*ward.Principal, error)) *JobRunner {
	if logger == nil {
		logger = slog.Default()
	}
	return &JobRunner{s: &Server{store: st, parse: parse, logger: logger}, resolve: resolve}
}

// Resume runs job (an accepted AsyncJob the caller holds the lease of)
// again from the start under its caller as resolved now, and records its
// end in the job. ErrNoJobRun when the job stored no run.
func (r *JobRunner) Resume(ctx context.Context, job *ward.Resource) error {
	s := r.s
	runs, ok := s.store.(jobRuns)
	if !ok {
		return ErrNoJobRun
	}
	kind, stored, params, err := runs.LoadJobRun(ctx, job.ProjectID, job.ID)
	if err != nil {
		return err
	}
	if kind == "" {
		return ErrNoJobRun
	}
	var caller JobCaller
	if err := json.Unmarshal(stored, &caller); err != nil {
		return err
	}
	defer s.dropJobRun(ctx, job.ProjectID, job.ID)
	jobCtx := jobContext(ctx, &ward.Principal{ProjectID: job.ProjectID, Author: caller.Author})
	p, err := r.resolve(ctx, caller)
	if err == nil && p.ProjectID != job.ProjectID {
		err = ward.Errorf(ward.EFORBIDDEN, "moved")
	}
	if err != nil {
		s.logger.WarnContext(ctx, "async job: its caller no longer has access; not run again", "job", job.ID, "error", err)
		lost := ward.Errorf(ward.EFORBIDDEN, "The job's process stopped and the caller who started it no longer has access: it was not run again")
		return s.finishJob(jobCtx, job.ID, 0, lost)
	}
	p.Extended = caller.Extended
	runCtx, cancel := context.WithTimeout(ward.NewContextWithAccess(ward.NewContextWithPrincipal(ctx, p), nil), asyncJobTimeout)
	defer cancel()
	switch kind {
	case jobKindExport:
		return s.resumeExport(runCtx, jobCtx, job.ID, params)
	case jobKindSetAccounts:
		return s.resumeSetAccounts(runCtx, jobCtx, job.ID, params)
	case jobKindExpunge:
		return s.resumeExpunge(runCtx, jobCtx, job.ID, params)
	}
	return ErrNoJobRun
}

func (s *Server) resumeExport(runCtx, jobCtx context.Context, job string, params []byte) error {
	files, ok := s.store.(exportFiles)
	var x exportParams
	if err := json.Unmarshal(params, &x); err != nil || !ok {
		return ErrNoJobRun
	}
	// From scratch: the dead process's parts would be appended to.
	if err := files.DeleteExportFiles(runCtx, job); err != nil {
		return err
	}
	req := &exportRequest{types: x.Types, asked: x.Asked, since: x.Since, typeFilter: x.TypeFilter, group: x.Group}
	if req.typeFilter == nil {
		req.typeFilter = map[string]url.Values{}
	}
	s.runExport(runCtx, jobCtx, files, job, x.Base, req)
	return nil
}

func (s *Server) resumeSetAccounts(runCtx, jobCtx context.Context, job string, params []byte) error {
	setter, ok := s.store.(accountSetter)
	var x setAccountsParams
	if err := json.Unmarshal(params, &x); err != nil || !ok {
		return ErrNoJobRun
	}
	if !ward.PrincipalFromContext(runCtx).Admin && !ward.PrincipalFromContext(runCtx).System {
		return s.finishJob(jobCtx, job, 0, ward.Errorf(ward.EFORBIDDEN, "The caller who started the job is no longer an administrator: it was not run again"))
	}
	s.runSetAccountsJob(runCtx, jobCtx, setter, job, x.Type, x.ID, &setAccountsInput{accounts: x.Accounts, propagate: x.Propagate})
	return nil
}

func (s *Server) resumeExpunge(runCtx, jobCtx context.Context, job string, params []byte) error {
	e, ok := s.store.(expunger)
	var x expungeParams
	if err := json.Unmarshal(params, &x); err != nil || !ok {
		return ErrNoJobRun
	}
	if !mayExpunge(ward.PrincipalFromContext(runCtx), x.Type) {
		return s.finishJob(jobCtx, job, 0, ward.Errorf(ward.EFORBIDDEN, "The caller who started the job may no longer erase: it was not run again"))
	}
	s.runExpungeJob(runCtx, jobCtx, e, job, x.Type, x.ID, true)
	return nil
}
