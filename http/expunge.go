package wardhttp

import (
	"context"
	"fmt"
	"net/http"

	"github.com/wardhealth/ward"
)

// expunger is implemented by stores that erase (store/expunge.go).
type expunger interface {
	Expunge(ctx context.Context, typ, id string, everything bool) (int, error)
}

// handleExpunge is POST {type}/{id}/$expunge[?everything=true], Medplum's
// erasure: the resource with every version (200), and with everything a
// Patient's whole compartment or, for super admins, a whole Project (202
// and an AsyncJob, as Medplum). Project admins erase in their own project;
// the store records the erasure in the trail.
func (s *Server) handleExpunge(w http.ResponseWriter, r *http.Request) {
	e, ok := s.store.(expunger)
	if !ok {
		Error(w, r, ward.Errorf(ward.ENOTFOUND, "Operation $expunge is not supported"))
		return
	}
	everything := false
	switch v := r.URL.Query().Get("everything"); v {
	case "", "false":
	case "true":
		everything = true
	default:
		Error(w, r, ward.Errorf(ward.EINVALID, "Invalid value for everything: %q (true or false)", v))
		return
	}
	typ, id := r.PathValue("type"), r.PathValue("id")
	if everything || typ == "Project" {
		s.startExpunge(w, r, e, typ, id, everything)
		return
	}
	n, err := e.Expunge(r.Context(), typ, id, false)
	if err != nil {
		Error(w, r, err)
		return
	}
	noteResource(r.Context(), &ward.Resource{Type: typ, ID: id})
	writeJSON(w, http.StatusOK, mustJSON(infoOutcome("ok", fmt.Sprintf("Expunged %d resources", n))))
}

// startExpunge answers a compartment's or a project's erasure as Medplum
// does: 202 with the AsyncJob's status URL, the work in the background.
// What can be refused at once is refused at once: a caller who may not
// erase (403), a target it cannot read (404), everything on a type
// without a compartment or a Project without it (400).
func (s *Server) startExpunge(w http.ResponseWriter, r *http.Request, e expunger, typ, id string, everything bool) {
	ctx := r.Context()
	p := ward.PrincipalFromContext(ctx)
	switch {
	case !mayExpunge(p, typ):
		Error(w, r, ward.Errorf(ward.EFORBIDDEN, "Forbidden"))
		return
	case !everything || typ != "Patient" && typ != "Project":
		Error(w, r, ward.Errorf(ward.EINVALID, "everything=true erases a Patient's compartment or a whole Project"))
		return
	}
	if err := s.readTarget(ctx, typ, id); err != nil {
		Error(w, r, err)
		return
	}
	noteResource(ctx, &ward.Resource{Type: typ, ID: id})
	jobCtx := jobContext(ctx, p)
	job, err := s.createJob(jobCtx, s.fhirBase(r)+"/"+typ+"/"+id+"/$expunge?everything=true")
	if err != nil {
		Error(w, r, err)
		return
	}
	// Stored so another process runs it again if this one dies (jobrun.go).
	s.saveRun(jobCtx, p, job, jobKindExpunge, expungeParams{Type: typ, ID: id})
	held, done := s.holdJob(ctx, p.ProjectID, job)
	jobCtx = jobContext(held, p)
	// The request is recorded now, as accepted; the erasure, with the
	// same request id, when the job has done it (its own Access).
	runCtx, cancel := context.WithTimeout(held, asyncJobTimeout)
	if a := ward.AccessFromContext(ctx); a != nil {
		runCtx = ward.NewContextWithAccess(runCtx, &ward.Access{Record: a.Record})
	}
	go func() {
		defer done()
		defer cancel()
		defer s.dropJobRun(runCtx, p.ProjectID, job)
		s.runExpungeJob(runCtx, jobCtx, e, job, typ, id, false)
	}()
	writeAccepted(w, s.fhirBase(r)+"/job/"+job+"/status")
}

// mayExpunge reports whether p may erase a compartment (a project admin
// or the system) or, typ Project, a whole project (the system: super
// admins).
func mayExpunge(p *ward.Principal, typ string) bool {
	if typ == "Project" {
		return p.System
	}
	return p.Admin || p.System
}

// runExpungeJob is the background half of an async $expunge, here or in
// the process that took the job over (rerun): a target already gone on a
// re-run was erased by the run that died (an erasure is one transaction)
// or since, and the job ends completed, as asked.
func (s *Server) runExpungeJob(runCtx, jobCtx context.Context, e expunger, job, typ, id string, rerun bool) {
	n, err := e.Expunge(runCtx, typ, id, true)
	if rerun && ward.ErrorCode(err) == ward.ENOTFOUND {
		n, err = 0, nil
	}
	if err != nil {
		s.logger.WarnContext(runCtx, "$expunge job failed", "job", job, "target", typ+"/"+id, "error", err)
	}
	if typ == "Project" && ward.PrincipalFromContext(jobCtx).ProjectID == id {
		return // the job went with the project
	}
	if err := s.finishJob(jobCtx, job, n, err); err != nil {
		s.logger.ErrorContext(runCtx, "$expunge job: recording the result failed", "job", job, "error", err)
	}
}
