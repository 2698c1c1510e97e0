package wardhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
)

// FHIR Bulk Data export, as Medplum serves it (so MedplumClient.bulkExport
// works): GET|POST $export, Patient/$export and Group/{id}/$export start
// an AsyncJob (202, Content-Location = the status URL); the status answers
// 202 (X-Progress) until the manifest (200); each type's NDJSON file is
// fetched with the caller's token from the URL the manifest names. What an
// export holds is what the caller's searches return — the job pages
// through store searches made as the caller, so the walls and the access
// policy are the same SQL as any search; a type the caller may not search
// is left out, or refused (403) at kick-off when _type names it. Bad
// _type, _typeFilter and _since are 400 at kick-off, not a failed job.
// Files live in the caller's project (store/exportfiles.go) and are served
// to the job's author only.

// exportFiles is implemented by stores that keep export output.
type exportFiles interface {
	AppendExportPart(ctx context.Context, job, typ string, part int, ndjson []byte) error
	ExportParts(ctx context.Context, job, typ string, fn func(ndjson []byte) error) error
	DeleteExportFiles(ctx context.Context, job string) error
}

// exportPage is how many resources one search page, and one stored part,
// holds.
const exportPage = 1000

// exported reports whether an export holds resources of type t: not the
// definitions (ward.DefinitionTypes), nor the server's own secrets
// (ward.IsProtectedType), nor, as Medplum, binaries, jobs and the audit
// trail.
func exported(t string) bool {
	switch t {
	case "Binary", "BulkDataExport", "AsyncJob", "AuditEvent":
		return false
	}
	return !ward.IsDefinitionType(t) && !ward.IsProtectedType(t)
}

// exportRequest is what one export asked for.
type exportRequest struct {
	types      []string
	asked      []string // the types _type named, checked at kick-off
	since      string
	typeFilter map[string]url.Values // per type, further search parameters
	group      string                // Group/{id}/$export: the group's id
}

// handleExport kicks an export off.
func (s *Server) handleExport(level string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		files, ok := s.store.(exportFiles)
		if !ok {
			Error(w, r, ward.Errorf(ward.ENOTFOUND, "Operation $export is not supported"))
			return
		}
		req, err := parseExport(r, level)
		if err != nil {
			Error(w, r, err)
			return
		}
		ctx := r.Context()
		p := ward.PrincipalFromContext(ctx)
		if err := s.checkExport(ctx, req); err != nil {
			Error(w, r, err)
			return
		}
		if req.group != "" {
			if _, err := s.store.Read(ctx, "Group", req.group); err != nil {
				Error(w, r, err)
				return
			}
		}
		jobCtx := jobContext(ctx, p)
		job, err := s.createJob(jobCtx, s.fhirBase(r)+strings.TrimPrefix(r.URL.RequestURI(), "/fhir/R4"))
		if err != nil {
			Error(w, r, err)
			return
		}
		base := s.fhirBase(r)
		// Stored so another process runs it again if this one dies (jobrun.go).
		s.saveRun(jobCtx, p, job, jobKindExport, exportParams{Types: req.types, Asked: req.asked, Since: req.since, TypeFilter: req.typeFilter, Group: req.group, Base: base})
		// The export reads as the caller; its files are written in the
		// caller's project, outside the request's audit record.
		// It runs fenced by this process's lease of the job (jobrun.go).
		held, done := s.holdJob(ctx, p.ProjectID, job)
		jobCtx = jobContext(held, p)
		runCtx, cancel := context.WithTimeout(ward.NewContextWithAccess(held, nil), asyncJobTimeout)
		go func() {
			defer done()
			defer cancel()
			defer s.dropJobRun(runCtx, p.ProjectID, job)
			s.runExport(runCtx, jobCtx, files, job, base, req)
		}()
		writeAccepted(w, base+"/job/"+job+"/export")
	}
}

// parseExport reads the query: _type (unexportable names ignored, as
// Medplum; a name that is no resource type is 400), _since, _typeFilter
// (Type?search, one per type).
func parseExport(r *http.Request, level string) (*exportRequest, error) {
	q := r.URL.Query()
	req := &exportRequest{since: q.Get("_since"), typeFilter: map[string]url.Values{}}
	candidates := fhir.ResourceTypes()
	if level == "Patient" || level == "Group" {
		candidates = slices.DeleteFunc(candidates, func(t string) bool { return t != "Patient" && fhir.PatientCompartmentParams(t) == nil })
	}
	if level == "Group" {
		req.group = r.PathValue("id")
	}
	var asked []string
	for _, v := range q["_type"] {
		for _, t := range strings.Split(v, ",") {
			if !fhir.IsResourceType(t) {
				return nil, ward.Errorf(ward.EINVALID, "Invalid _type: %q", t)
			}
			asked = append(asked, t)
		}
	}
	for _, t := range candidates {
		if !exported(t) || len(asked) > 0 && !slices.Contains(asked, t) {
			continue
		}
		req.types = append(req.types, t)
		if len(asked) > 0 {
			req.asked = append(req.asked, t)
		}
	}
	for _, f := range q["_typeFilter"] {
		typ, query, found := strings.Cut(f, "?")
		values, err := url.ParseQuery(query)
		if err != nil || !found || !fhir.IsResourceType(typ) {
			return nil, ward.Errorf(ward.EINVALID, "Invalid _typeFilter: %q", f)
		}
		if _, dup := req.typeFilter[typ]; dup {
			return nil, ward.Errorf(ward.EINVALID, "Only one _typeFilter per type is supported: %s", typ)
		}
		req.typeFilter[typ] = values
	}
	return req, nil
}

// checkExport refuses at kick-off what would only fail the job later:
// every type's search (its _typeFilter, _since) must parse (400), and a
// type _type names must be one the caller may search (403) — a probe of
// one resource through the store, so the policy decides as for a search.
func (s *Server) checkExport(ctx context.Context, req *exportRequest) error {
	for typ := range req.typeFilter {
		if _, err := s.parse(typ, exportQuery(req, typ, "")); err != nil {
			return err
		}
	}
	for _, typ := range req.types {
		q, err := s.parse(typ, exportQuery(req, typ, ""))
		if err != nil {
			return err
		}
		if !slices.Contains(req.asked, typ) {
			continue
		}
		q.Count = 1
		if _, err := s.store.Search(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// exportQuery is the search of one page of typ: the type's _typeFilter,
// _since, from lastTime on ("" for the first page), oldest first.
func exportQuery(req *exportRequest, typ, lastTime string) url.Values {
	values := url.Values{}
	for k, v := range req.typeFilter[typ] {
		values[k] = slices.Clone(v)
	}
	if req.since != "" {
		values.Add("_lastUpdated", "ge"+req.since)
	}
	if lastTime != "" {
		values.Add("_lastUpdated", "ge"+lastTime)
	}
	values.Set("_sort", "_lastUpdated")
	values.Set("_count", strconv.Itoa(exportPage))
	return values
}

// runExport is the background half: one file per type, then the manifest
// in the job.
func (s *Server) runExport(ctx, jobCtx context.Context, files exportFiles, job, base string, req *exportRequest) {
	var output []map[string]string
	var runErr error
	for _, typ := range req.types {
		if cancelled, err := s.jobCancelled(jobCtx, job); err != nil || cancelled {
			return
		}
		n, err := s.exportType(ctx, files, job, typ, req)
		if ward.ErrorCode(err) == ward.EFORBIDDEN {
			continue // a type the caller's policy does not let it search
		}
		if err != nil {
			runErr = err
			break
		}
		if n > 0 {
			output = append(output, map[string]string{"type": typ, "url": base + "/job/" + job + "/export/" + typ + ".ndjson"})
		}
	}
	if runErr != nil {
		s.logger.WarnContext(ctx, "$export job failed", "job", job, "error", runErr)
	}
	err := s.updateJob(jobCtx, job, func(j map[string]any) (bool, error) {
		if j["status"] == "cancelled" {
			return false, nil
		}
		j["transactionTime"] = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
		if runErr != nil {
			j["status"] = "error"
			j["output"] = &parameters{ResourceType: "Parameters", Parameter: []parameter{{Name: "outcome", Resource: outcomeOf(runErr)}}}
			return true, nil
		}
		j["status"] = "completed"
		delete(j, "output")
		if len(output) > 0 { // an empty parameter list is invalid: the job would never end
			j["output"] = exportOutput(output)
		}
		return true, nil
	})
	if err != nil {
		s.logger.ErrorContext(ctx, "$export job: recording the result failed", "job", job, "error", err)
	}
}

// exportType pages through the caller's search of typ by key — sorted by
// _lastUpdated (then id), each page starting at the last page's last
// time, the resources already written at that very time skipped — so every
// page costs the same however far the export has gone; one stored part per
// page. It returns how many resources it wrote.
func (s *Server) exportType(ctx context.Context, files exportFiles, job, typ string, req *exportRequest) (int, error) {
	written := 0
	lastTime := ""              // of the last resource written
	atLast := map[string]bool{} // ids written at lastTime
	for part := 0; ; part++ {
		q, err := s.parse(typ, exportQuery(req, typ, lastTime))
		if err != nil {
			return written, err
		}
		res, err := s.store.Search(ctx, q)
		if err != nil {
			return written, err
		}
		fresh := slices.DeleteFunc(slices.Clone(res.Matches), func(m *ward.Resource) bool {
			return exportTime(m) == lastTime && atLast[m.ID]
		})
		if len(fresh) == 0 && len(res.Matches) == exportPage {
			return written, ward.Errorf(ward.EINTERNAL, "export of %s: more than %d resources share one last-updated time", typ, exportPage)
		}
		for _, m := range fresh {
			if t := exportTime(m); t != lastTime {
				lastTime, atLast = t, map[string]bool{}
			}
			atLast[m.ID] = true
		}
		if req.group != "" {
			fresh = slices.DeleteFunc(fresh, func(m *ward.Resource) bool { return !s.inGroup(ctx, req.group, m) })
		}
		if len(fresh) > 0 {
			var buf bytes.Buffer
			for _, m := range fresh {
				buf.Write(compactJSON(m.Content))
				buf.WriteByte('\n')
			}
			if err := files.AppendExportPart(ctx, job, typ, part, buf.Bytes()); err != nil {
				return written, err
			}
			written += len(fresh)
		}
		if len(res.Matches) < exportPage {
			return written, nil
		}
	}
}

// exportTime is m's last-updated time as a search value (milliseconds,
// the store's precision).
func exportTime(m *ward.Resource) string {
	return m.LastUpdated.UTC().Format("2006-01-02T15:04:05.000Z")
}

// inGroup reports whether m is a member of the group, or in the
// compartment of a Patient member.
func (s *Server) inGroup(ctx context.Context, group string, m *ward.Resource) bool {
	res, err := s.store.Read(ctx, "Group", group)
	if err != nil {
		return false
	}
	var g struct {
		Member []struct {
			Entity struct{ Reference string } `json:"entity"`
		} `json:"member"`
	}
	if json.Unmarshal(res.Content, &g) != nil {
		return false
	}
	for _, member := range g.Member {
		ref := member.Entity.Reference
		if ref == m.Type+"/"+m.ID || strings.HasPrefix(ref, "Patient/") && slices.Contains(m.Patients, ref) {
			return true
		}
	}
	return false
}

func exportOutput(files []map[string]string) *parameters {
	out := &parameters{ResourceType: "Parameters"}
	for _, f := range files {
		out.Parameter = append(out.Parameter, parameter{Name: "output", Part: []parameter{
			{Name: "type", ValueCode: f["type"]}, {Name: "url", ValueURI: f["url"]},
		}})
	}
	return out
}

// handleExportStatus is GET job/{id}/export: 202 with X-Progress while
// the job runs, 404 once cancelled, the manifest when done.
func (s *Server) handleExportStatus(w http.ResponseWriter, r *http.Request) {
	res, err := s.readJob(r.Context(), r.PathValue("id"))
	if err != nil {
		Error(w, r, err)
		return
	}
	var job struct {
		Status          string      `json:"status"`
		Request         string      `json:"request"`
		TransactionTime string      `json:"transactionTime"`
		Output          *parameters `json:"output"`
	}
	if err := json.Unmarshal(res.Content, &job); err != nil {
		Error(w, r, err)
		return
	}
	switch job.Status {
	case "cancelled":
		Error(w, r, ward.Errorf(ward.ENOTFOUND, "Not found"))
		return
	case "completed":
	case "error":
		writeJSON(w, http.StatusInternalServerError, mustJSON(job.Output))
		return
	default:
		w.Header().Set("X-Progress", "in progress")
		w.WriteHeader(http.StatusAccepted)
		return
	}
	manifest := map[string]any{"transactionTime": job.TransactionTime, "request": job.Request,
		"requiresAccessToken": true, "output": []any{}, "error": []any{}, "deleted": []any{}}
	var output []any
	if job.Output != nil {
		for _, p := range job.Output.Parameter {
			f := map[string]string{}
			for _, part := range p.Part {
				f[part.Name] = part.ValueCode + part.ValueURI
			}
			output = append(output, f)
		}
	}
	if output != nil {
		manifest["output"] = output
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(manifest)
}

// handleExportFile is GET job/{id}/export/{file}: one type's NDJSON,
// for the job's author only (see exportAuthorJob).
func (s *Server) handleExportFile(w http.ResponseWriter, r *http.Request) {
	files, ok := s.store.(exportFiles)
	if !ok {
		Error(w, r, ward.Errorf(ward.ENOTFOUND, "Not found"))
		return
	}
	job := r.PathValue("id")
	if err := s.exportAuthorJob(r.Context(), job); err != nil {
		Error(w, r, err)
		return
	}
	typ, ok := strings.CutSuffix(r.PathValue("file"), ".ndjson")
	if !ok || !fhir.IsResourceType(typ) {
		Error(w, r, ward.Errorf(ward.ENOTFOUND, "Not found"))
		return
	}
	p := ward.PrincipalFromContext(r.Context())
	ctx := ward.NewContextWithPrincipal(r.Context(), jobPrincipal(p))
	started := false
	err := files.ExportParts(ctx, job, typ, func(ndjson []byte) error {
		if !started {
			w.Header().Set("Content-Type", "application/fhir+ndjson")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		_, err := w.Write(ndjson)
		return err
	})
	switch {
	case err != nil && !started:
		Error(w, r, err)
	case !started:
		Error(w, r, ward.Errorf(ward.ENOTFOUND, "Not found"))
	}
}

// exportAuthorJob answers whether the caller started job (nil) or not
// (404, as a job it cannot see). A file holds what its author's searches
// returned; reading the job is not enough to read that — a member of the
// project without the author's admin rights, or a clinician of another
// clinic whose policy grants AsyncJob, must not get it.
func (s *Server) exportAuthorJob(ctx context.Context, job string) error {
	p := ward.PrincipalFromContext(ctx)
	authorView := jobPrincipal(p)
	authorView.Extended = true // meta.author is shown in extended mode only
	res, err := s.store.Read(ward.NewContextWithPrincipal(ctx, authorView), "AsyncJob", job)
	if err != nil {
		return err
	}
	if p.Author == "" || jobAuthor(res.Content) != p.Author {
		return ward.Errorf(ward.ENOTFOUND, "Not found")
	}
	return nil
}

// handleExportCancel is DELETE job/{id}/export: the job is cancelled
// and its files deleted.
func (s *Server) handleExportCancel(w http.ResponseWriter, r *http.Request) {
	job := r.PathValue("id")
	if _, err := s.readJob(r.Context(), job); err != nil {
		Error(w, r, err)
		return
	}
	p := ward.PrincipalFromContext(r.Context())
	jobCtx := jobContext(r.Context(), p)
	if err := s.updateJob(jobCtx, job, func(j map[string]any) (bool, error) {
		if j["status"] == "cancelled" {
			return false, nil
		}
		j["status"] = "cancelled"
		return true, nil
	}); err != nil {
		Error(w, r, err)
		return
	}
	if files, ok := s.store.(exportFiles); ok {
		if err := files.DeleteExportFiles(jobCtx, job); err != nil {
			Error(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte("Accepted"))
}

// compactJSON is content on one line (stored JSON already is).
func compactJSON(content []byte) []byte {
	if !bytes.ContainsAny(content, "\n\r") {
		return content
	}
	var b bytes.Buffer
	if json.Compact(&b, content) != nil {
		return bytes.ReplaceAll(content, []byte("\n"), []byte(" "))
	}
	return b.Bytes()
}
