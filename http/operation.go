package wardhttp

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/wardhealth/ward"
)

// $set-accounts (spec 3.4) and the status of the asynchronous jobs it
// starts. The store does the work (store.Store.SetAccounts); this file
// reads the Parameters, answers with resourcesUpdated and, for
// "Prefer: respond-async" with propagate, runs it in the background and
// records it in an AsyncJob of the caller's project.

// accountSetter is implemented by stores that run $set-accounts.
type accountSetter interface {
	SetAccounts(ctx context.Context, typ, id string, accounts []string, propagate bool) (int, error)
}

// asyncJobTimeout bounds a background $set-accounts: it no longer depends
// on the request, but it must end.
const asyncJobTimeout = 15 * time.Minute

// setAccountsInput is the operation's Parameters.
type setAccountsInput struct {
	accounts  []string
	propagate bool
}

func (s *Server) handleSetAccounts(w http.ResponseWriter, r *http.Request) {
	setter, ok := s.store.(accountSetter)
	if !ok {
		Error(w, r, ward.Errorf(ward.ENOTFOUND, "Operation $set-accounts is not supported"))
		return
	}
	in, err := readSetAccounts(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	typ, id := r.PathValue("type"), r.PathValue("id")
	if in.propagate && preferAsync(r) {
		s.startSetAccounts(w, r, setter, typ, id, in)
		return
	}
	n, err := setter.SetAccounts(r.Context(), typ, id, in.accounts, in.propagate)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, mustJSON(resourcesUpdated(n)))
}

// readSetAccounts reads the Parameters body: accounts (Reference, 0..*)
// and propagate (boolean, 0..1). Other parameters are ignored.
func readSetAccounts(r *http.Request) (*setAccountsInput, error) {
	data, _, err := readResource(r, "Parameters")
	if err != nil {
		return nil, err
	}
	var body struct {
		Parameter []struct {
			Name           string `json:"name"`
			ValueReference *struct {
				Reference string `json:"reference"`
			} `json:"valueReference"`
			ValueBoolean *bool `json:"valueBoolean"`
		} `json:"parameter"`
	}
	if err := json.Unmarshal(data, &body); err != nil {
		return nil, invalidf("Invalid Parameters: %v", err)
	}
	in := &setAccountsInput{}
	seenPropagate := false
	for _, p := range body.Parameter {
		switch p.Name {
		case "accounts":
			if p.ValueReference == nil || strings.TrimSpace(p.ValueReference.Reference) == "" {
				return nil, expr(invalidf("Expected valueReference with a reference for parameter 'accounts'"), "Parameters.parameter")
			}
			in.accounts = append(in.accounts, p.ValueReference.Reference)
		case "propagate":
			if p.ValueBoolean == nil {
				return nil, expr(invalidf("Expected valueBoolean for parameter 'propagate'"), "Parameters.parameter")
			}
			if seenPropagate {
				return nil, expr(invalidf("Expected 0..1 values for parameter 'propagate'"), "Parameters.parameter")
			}
			seenPropagate, in.propagate = true, *p.ValueBoolean
		}
	}
	return in, nil
}

// preferAsync reports "Prefer: respond-async".
func preferAsync(r *http.Request) bool {
	for _, v := range r.Header.Values("Prefer") {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), "respond-async") {
				return true
			}
		}
	}
	return false
}

// parameters is a FHIR Parameters resource of the members used here.
type parameters struct {
	ResourceType string      `json:"resourceType"`
	Parameter    []parameter `json:"parameter"`
}

type parameter struct {
	Name         string            `json:"name"`
	ValueInteger *int              `json:"valueInteger,omitempty"`
	ValueCode    string            `json:"valueCode,omitempty"`
	ValueURI     string            `json:"valueUri,omitempty"`
	Resource     *OperationOutcome `json:"resource,omitempty"`
	Part         []parameter       `json:"part,omitempty"`
}

func resourcesUpdated(n int) *parameters {
	return &parameters{ResourceType: "Parameters", Parameter: []parameter{{Name: "resourcesUpdated", ValueInteger: &n}}}
}

// startSetAccounts answers 202 with the job's status URL and runs the
// operation in the background. What can be refused at once is: a
// non-admin (403) and a target the caller cannot read (404).
func (s *Server) startSetAccounts(w http.ResponseWriter, r *http.Request, setter accountSetter, typ, id string, in *setAccountsInput) {
	ctx := r.Context()
	p := ward.PrincipalFromContext(ctx)
	if !p.Admin && !p.System {
		Error(w, r, ward.Errorf(ward.EFORBIDDEN, "Forbidden"))
		return
	}
	if err := s.readTarget(ctx, typ, id); err != nil {
		Error(w, r, err)
		return
	}
	jobCtx := jobContext(ctx, p)
	job, err := s.createJob(jobCtx, s.fhirBase(r)+"/"+typ+"/"+id+"/$set-accounts")
	if err != nil {
		Error(w, r, err)
		return
	}
	// Stored so another process runs it again if this one dies (jobrun.go).
	s.saveRun(jobCtx, p, job, jobKindSetAccounts, setAccountsParams{Type: typ, ID: id, Accounts: in.accounts, Propagate: in.propagate})
	// It runs fenced by this process's lease of the job (jobrun.go).
	held, done := s.holdJob(ctx, p.ProjectID, job)
	jobCtx = jobContext(held, p)
	runCtx, cancel := context.WithTimeout(held, asyncJobTimeout)
	go func() {
		defer done()
		defer cancel()
		defer s.dropJobRun(runCtx, p.ProjectID, job)
		s.runSetAccountsJob(runCtx, jobCtx, setter, job, typ, id, in)
	}()
	writeAccepted(w, s.fhirBase(r)+"/job/"+job+"/status")
}

// runSetAccountsJob is the background half of an async $set-accounts. A
// job cancelled before it starts only sets the target's accounts (what
// Medplum's worker has done when it first sees the cancellation) and stays
// cancelled without output. Once started, the propagation is one
// transaction (store.Store.SetAccounts) with no batch boundary to stop
// at: a job cancelled while it runs finishes its work, and stays
// cancelled without output.
func (s *Server) runSetAccountsJob(runCtx, jobCtx context.Context, setter accountSetter, job, typ, id string, in *setAccountsInput) {
	cancelled, err := s.jobCancelled(jobCtx, job)
	if err != nil {
		s.logger.ErrorContext(runCtx, "$set-accounts job: reading its status failed", "job", job, "error", err)
		return
	}
	if cancelled {
		if _, err := setter.SetAccounts(runCtx, typ, id, in.accounts, false); err != nil {
			s.logger.WarnContext(runCtx, "$set-accounts job cancelled before it ran: setting the target failed", "job", job, "target", typ+"/"+id, "error", err)
		}
		return
	}
	n, err := setter.SetAccounts(runCtx, typ, id, in.accounts, in.propagate)
	if err != nil {
		s.logger.WarnContext(runCtx, "$set-accounts job failed", "job", job, "target", typ+"/"+id, "error", err)
	}
	if err := s.finishJob(jobCtx, job, n, err); err != nil {
		s.logger.ErrorContext(runCtx, "$set-accounts job: recording the result failed", "job", job, "error", err)
	}
}

// jobCancelled reports whether the AsyncJob has been cancelled.
func (s *Server) jobCancelled(ctx context.Context, id string) (bool, error) {
	res, err := s.store.Read(ctx, "AsyncJob", id)
	if err != nil {
		return false, err
	}
	var job struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(res.Content, &job); err != nil {
		return false, err
	}
	return job.Status == "cancelled", nil
}

// writeAccepted answers an async kick-off as Medplum: 202, the job's
// status URL in Content-Location and in an accepted OperationOutcome.
func writeAccepted(w http.ResponseWriter, status string) {
	w.Header().Set("Content-Location", status)
	writeJSON(w, http.StatusAccepted, mustJSON(acceptedOutcome(status)))
}

// readTarget checks that an operation's target exists for the caller: a
// type its policy does not grant is as missing as an id that does not
// exist (404), so an operation reveals nothing a read would not.
func (s *Server) readTarget(ctx context.Context, typ, id string) error {
	_, err := s.store.Read(ctx, typ, id)
	if ward.ErrorCode(err) == ward.EFORBIDDEN {
		return ward.Errorf(ward.ENOTFOUND, "Not found")
	}
	return err
}

// acceptedOutcome is Medplum's accepted(location): an informational
// OperationOutcome whose diagnostics name the status URL.
func acceptedOutcome(location string) any {
	type issue struct {
		Severity    string   `json:"severity"`
		Code        string   `json:"code"`
		Details     *Details `json:"details"`
		Diagnostics string   `json:"diagnostics"`
	}
	return struct {
		ResourceType string  `json:"resourceType"`
		ID           string  `json:"id"`
		Issue        []issue `json:"issue"`
	}{"OperationOutcome", "accepted", []issue{{"information", "informational", &Details{Text: "Accepted"}, location}}}
}

// jobContext is the context an AsyncJob of the request in ctx is written
// and read in: not cancelled with the request, as jobPrincipal, and
// outside the request's audit Access — the job is the server's
// bookkeeping, not a write the caller asked for, and recording it as one
// would take the place of the request's own record.
func jobContext(ctx context.Context, p *ward.Principal) context.Context {
	ctx = ward.NewContextWithPrincipal(context.WithoutCancel(ctx), jobPrincipal(p))
	return ward.NewContextWithAccess(ctx, nil)
}

// jobPrincipal reads and writes the caller's AsyncJobs: the caller's
// project and author, without the caller's access policy, which need not
// grant AsyncJob. The project wall still applies, so a job of another
// project is not found.
func jobPrincipal(p *ward.Principal) *ward.Principal {
	return &ward.Principal{ProjectID: p.ProjectID, Author: p.Author}
}

// createJob stores an accepted AsyncJob and returns its id.
func (s *Server) createJob(ctx context.Context, request string) (string, error) {
	job := map[string]any{
		"resourceType": "AsyncJob",
		"status":       "accepted",
		"requestTime":  time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		"request":      request,
	}
	var id string
	err := s.store.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		res, err := tx.Create(ctx, "AsyncJob", mustJSON(job))
		if err != nil {
			return err
		}
		id = res.ID
		return nil
	})
	return id, err
}

// finishJob records the result: completed with resourcesUpdated, or
// error with the OperationOutcome. A job cancelled meanwhile stays so.
func (s *Server) finishJob(ctx context.Context, id string, n int, runErr error) error {
	return s.updateJob(ctx, id, func(job map[string]any) (bool, error) {
		if job["status"] == "cancelled" {
			return false, nil
		}
		job["transactionTime"] = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
		if runErr != nil {
			job["status"] = "error"
			job["output"] = &parameters{ResourceType: "Parameters", Parameter: []parameter{{Name: "outcome", Resource: outcomeOf(runErr)}}}
		} else {
			job["status"] = "completed"
			job["output"] = resourcesUpdated(n)
		}
		return true, nil
	})
}

// jobWriteAttempts bounds the re-reads when the job changed between its
// read and its write (a cancellation racing the worker's result).
const jobWriteAttempts = 3

// updateJob applies change to the AsyncJob and writes it when change says
// so, only over the version it read: the worker's result and a
// cancellation never overwrite each other.
func (s *Server) updateJob(ctx context.Context, id string, change func(job map[string]any) (bool, error)) error {
	var err error
	for range jobWriteAttempts {
		err = s.store.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
			res, err := tx.Read(ctx, "AsyncJob", id)
			if err != nil {
				return err
			}
			var job map[string]any
			if err := json.Unmarshal(res.Content, &job); err != nil {
				return err
			}
			write, err := change(job)
			if err != nil || !write {
				return err
			}
			_, _, err = tx.Update(ctx, "AsyncJob", id, mustJSON(job), res.VersionID)
			return err
		})
		if ward.ErrorCode(err) != ward.EPRECONDITION {
			return err
		}
	}
	return err
}

// handleJobCancel answers DELETE /fhir/R4/job/{id}/status (Medplum's
// job.ts) and POST /fhir/R4/AsyncJob/{id}/$cancel (asyncjobcancel.ts): an
// accepted job becomes cancelled (202 with an accepted OperationOutcome,
// or 200 All OK for $cancel), a cancelled one stays so, an ended one is
// 400. Project admins cancel their project's jobs; other callers only a
// job their access policy lets them read.
func (s *Server) handleJobCancel(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := ward.PrincipalFromContext(ctx)
	id := r.PathValue("id")
	if !p.Admin && !p.System {
		if _, err := s.store.Read(ctx, "AsyncJob", id); err != nil {
			Error(w, r, err)
			return
		}
	}
	err := s.updateJob(ward.NewContextWithPrincipal(ctx, jobPrincipal(p)), id, func(job map[string]any) (bool, error) {
		switch job["status"] {
		case "accepted":
			job["status"] = "cancelled"
			return true, nil
		case "cancelled":
			return false, nil
		}
		return false, invalidf("AsyncJob cannot be cancelled if status is not 'accepted', job had status '%v'", job["status"])
	})
	if err != nil {
		Error(w, r, err)
		return
	}
	if r.Method == http.MethodDelete {
		// The async pattern's answer: 202 and an informational outcome
		// without a location.
		writeJSON(w, http.StatusAccepted, mustJSON(infoOutcome("accepted", "Accepted")))
		return
	}
	writeJSON(w, http.StatusOK, mustJSON(allOK()))
}

// handleJobStatus answers GET /fhir/R4/job/{id}/status with the AsyncJob:
// 202 while it runs, 200 once it has ended. Only the caller's project's
// jobs are found.
func (s *Server) handleJobStatus(w http.ResponseWriter, r *http.Request) {
	res, err := s.readJob(r.Context(), r.PathValue("id"))
	if err != nil {
		Error(w, r, err)
		return
	}
	var job struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(res.Content, &job); err != nil {
		Error(w, r, err)
		return
	}
	status := http.StatusOK
	if job.Status == "accepted" {
		status = http.StatusAccepted
	}
	writeJSON(w, status, res.Content)
}

// readJob reads an AsyncJob for its status. Project admins read their
// project's jobs, and anyone the job they started; any other caller only
// what its own access policy lets it read. A job's request and output name
// its target (Patient/<id>/$set-accounts, how many resources it moved), so
// a clinician must not read another clinic's job by its id. Not theirs is
// answered as their own read answers, so an id's existence is not told.
func (s *Server) readJob(ctx context.Context, id string) (*ward.Resource, error) {
	p := ward.PrincipalFromContext(ctx)
	asCaller := jobPrincipal(p)
	asCaller.Extended = p.Extended
	if p.Admin || p.System {
		return s.store.Read(ward.NewContextWithPrincipal(ctx, asCaller), "AsyncJob", id)
	}
	// The author check needs meta.author, which the store shows only in
	// extended mode; the answer is read again as the caller sees it.
	authorView := jobPrincipal(p)
	authorView.Extended = true
	res, err := s.store.Read(ward.NewContextWithPrincipal(ctx, authorView), "AsyncJob", id)
	if err == nil && p.Author != "" && jobAuthor(res.Content) == p.Author {
		return s.store.Read(ward.NewContextWithPrincipal(ctx, asCaller), "AsyncJob", id)
	}
	return s.store.Read(ctx, "AsyncJob", id)
}

// jobAuthor is the meta.author reference of an AsyncJob.
func jobAuthor(content []byte) string {
	var job struct {
		Meta struct {
			Author struct {
				Reference string `json:"reference"`
			} `json:"author"`
		} `json:"meta"`
	}
	_ = json.Unmarshal(content, &job)
	return job.Meta.Author.Reference
}
