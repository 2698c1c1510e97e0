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
	Resource     *OperationOutcome `json:"resource,omitempty"`
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
	if _, err := s.store.Read(ctx, typ, id); err != nil {
		if ward.ErrorCode(err) == ward.EFORBIDDEN {
			err = ward.Errorf(ward.ENOTFOUND, "Not found")
		}
		Error(w, r, err)
		return
	}
	jobCtx := ward.NewContextWithPrincipal(context.WithoutCancel(ctx), jobPrincipal(p))
	job, err := s.createJob(jobCtx, s.fhirBase(r)+"/"+typ+"/"+id+"/$set-accounts")
	if err != nil {
		Error(w, r, err)
		return
	}
	runCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), asyncJobTimeout)
	go func() {
		defer cancel()
		n, err := setter.SetAccounts(runCtx, typ, id, in.accounts, in.propagate)
		if err != nil {
			s.logger.WarnContext(runCtx, "$set-accounts job failed", "job", job, "target", typ+"/"+id, "error", err)
		}
		if err := s.finishJob(jobCtx, job, n, err); err != nil {
			s.logger.ErrorContext(runCtx, "$set-accounts job: recording the result failed", "job", job, "error", err)
		}
	}()
	status := s.fhirBase(r) + "/job/" + job + "/status"
	w.Header().Set("Content-Location", status)
	writeJSON(w, http.StatusAccepted, mustJSON(acceptedOutcome(status)))
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
	return s.store.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		res, err := tx.Read(ctx, "AsyncJob", id)
		if err != nil {
			return err
		}
		var job map[string]any
		if err := json.Unmarshal(res.Content, &job); err != nil {
			return err
		}
		if job["status"] == "cancelled" {
			return nil
		}
		job["transactionTime"] = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
		if runErr != nil {
			job["status"] = "error"
			job["output"] = &parameters{ResourceType: "Parameters", Parameter: []parameter{{Name: "outcome", Resource: outcomeOf(runErr)}}}
		} else {
			job["status"] = "completed"
			job["output"] = resourcesUpdated(n)
		}
		_, _, err = tx.Update(ctx, "AsyncJob", id, mustJSON(job), "")
		return err
	})
}

// handleJobStatus answers GET /fhir/R4/job/{id}/status with the AsyncJob:
// 202 while it runs, 200 once it has ended. Only the caller's project's
// jobs are found.
func (s *Server) handleJobStatus(w http.ResponseWriter, r *http.Request) {
	p := ward.PrincipalFromContext(r.Context())
	ctx := ward.NewContextWithPrincipal(r.Context(), jobPrincipal(p))
	res, err := s.store.Read(ctx, "AsyncJob", r.PathValue("id"))
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
