package wardhttp

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fairshare"
)

// The audit recording point (issue 11). Every route that needs a principal
// is mounted through Server.private, which wraps it in audited: one place
// records every FHIR access, allowed or refused, and a route cannot be
// added without being recorded (TestEveryFHIRRouteIsAudited walks the
// mux). The wrapper builds the ward.AuditRecord from the request, the
// caller and the answer's status; handlers only annotate what they
// touched through the note in the request context (noteResource,
// noteSearch, noteEntry). The record is handed to ward.AuditLog.Record
// before the response header leaves: an access that cannot be recorded is
// answered 500, its body never served.
//
// A write's record is the store's to make, in the write's own transaction
// (store/auditwrite.go): the wrapper puts a ward.Access in the request
// context (each Bundle entry gets its own), the store records each
// resource written for it and marks it, and the wrapper then records only
// what the store did not — a refused or failed write, or the operation
// around the writes.
//
// Batches and transactions get one record for the Bundle (action E, its
// HTTP status) and one per entry (the entry's own interaction, action and
// status), all with the same request id: BALP audits each RESTful
// interaction, and an auditor asking "who read Patient/x" must find a read
// done inside a batch as readily as a plain one.

// maxAuditPatients bounds the patients one search record names.
const maxAuditPatients = 100

// routeAudit is what a route pattern says about the accesses it serves.
type routeAudit struct {
	interaction string
	action      string // BALP: C, R, U, D or E
}

// auditOf derives the interaction and action of a private route pattern.
// Operations (a "$name" segment) are E with the operation as interaction.
func auditOf(pattern string) routeAudit {
	if known, ok := restAudits[pattern]; ok {
		return known
	}
	for _, seg := range strings.Split(pattern, "/") {
		if strings.HasPrefix(seg, "$") && seg != "{$}" {
			return routeAudit{seg, "E"}
		}
	}
	return routeAudit{"operation", "E"}
}

// patternType is the resource type a pattern names literally
// ("GET /fhir/R4/Patient/{id}/$everything" → Patient), or "".
func patternType(pattern string) string {
	_, path, _ := strings.Cut(pattern, " ")
	rest, ok := strings.CutPrefix(path, "/fhir/R4/")
	if !ok {
		return ""
	}
	first, _, _ := strings.Cut(rest, "/")
	if first == "job" {
		return "AsyncJob"
	}
	if first == "" || first[0] < 'A' || first[0] > 'Z' {
		return ""
	}
	return first
}

// restAudits names the restful interaction of each REST pattern.
var restAudits = map[string]routeAudit{
	"POST /fhir/R4":                           {"batch", "E"},
	"POST /fhir/R4/{$}":                       {"batch", "E"},
	"GET /fhir/R4/_history":                   {"history-system", "R"},
	"GET /fhir/R4/{type}":                     {"search-type", "E"},
	"POST /fhir/R4/{type}/_search":            {"search-type", "E"},
	"POST /fhir/R4/{type}":                    {"create", "C"},
	"POST /fhir/R4/Binary":                    {"create", "C"},
	"PUT /fhir/R4/Binary/{id}":                {"update", "U"},
	"PUT /fhir/R4/{type}":                     {"update", "U"},
	"DELETE /fhir/R4/{type}":                  {"delete", "D"},
	"GET /fhir/R4/{type}/_history":            {"history-type", "R"},
	"GET /fhir/R4/{type}/{id}":                {"read", "R"},
	"PUT /fhir/R4/{type}/{id}":                {"update", "U"},
	"PATCH /fhir/R4/{type}/{id}":              {"patch", "U"},
	"DELETE /fhir/R4/{type}/{id}":             {"delete", "D"},
	"GET /fhir/R4/{type}/{id}/_history":       {"history-instance", "R"},
	"GET /fhir/R4/{type}/{id}/_history/{vid}": {"vread", "R"},
	"GET /fhir/R4/job/{id}/status":            {"job-status", "E"},
	"DELETE /fhir/R4/job/{id}/status":         {"job-cancel", "E"},
	"POST /fhir/R4/AsyncJob/{id}/$cancel":     {"job-cancel", "E"},
	"GET /fhir/R4/Patient/{id}/$everything":   {"$everything", "E"},
	"POST /fhir/R4/Patient/{id}/$everything":  {"$everything", "E"},
	"POST /fhir/R4/{type}/{id}/$set-accounts": {"$set-accounts", "E"},
	"POST /fhir/R4/{type}/{id}/$expunge":      {"$expunge", "D"},
	"GET /fhir/R4/job/{id}/export":            {"export-status", "E"},
	"DELETE /fhir/R4/job/{id}/export":         {"export-cancel", "E"},
	"GET /fhir/R4/job/{id}/export/{file}":     {"export-download", "R"},
}

// auditNote is what one access touched, filled by the handler. A Bundle's
// note holds one child note per entry.
type auditNote struct {
	mu        sync.Mutex
	principal *ward.Principal
	rec       ward.AuditRecord
	access    *ward.Access // in the context of the store calls made for it
	entries   []*auditNote
}

// withAccess returns ctx carrying n and an Access that starts from n's
// record as it stands.
func (n *auditNote) withAccess(ctx context.Context) context.Context {
	n.access = &ward.Access{Record: n.rec}
	return ward.NewContextWithAccess(context.WithValue(ctx, auditNoteKey{}, n), n.access)
}

// storeRecorded reports that the store recorded the write n describes,
// which succeeded: the wrapper's own record of it would be a second one.
func (n *auditNote) storeRecorded(status int) bool {
	switch n.rec.Action {
	case "C", "U", "D":
		return status < 400 && n.access != nil && n.access.WriteRecorded()
	}
	return false
}

type auditNoteKey struct{}

func noteFrom(ctx context.Context) *auditNote {
	n, _ := ctx.Value(auditNoteKey{}).(*auditNote)
	return n
}

// noteCaller tells the record who the caller is (requirePrincipal).
func noteCaller(ctx context.Context, p *ward.Principal) {
	if n := noteFrom(ctx); n != nil {
		n.principal = p
	}
}

// noteReason keeps the OperationOutcome text of a refusal (Error).
func noteReason(ctx context.Context, reason string) {
	if n := noteFrom(ctx); n != nil {
		n.mu.Lock()
		n.rec.Reason = reason
		n.mu.Unlock()
	}
}

// NoteQuery tells the audit record of the request in ctx the query an
// operation ran, such as $graphql's document. Operations served by other
// packages call it; it does nothing when auditing is off.
func NoteQuery(ctx context.Context, query string) {
	n := noteFrom(ctx)
	if n == nil {
		return
	}
	n.mu.Lock() // the store bounds what a record keeps of it
	n.rec.Query = query
	n.mu.Unlock()
}

// NotePatients adds the patients of resources an operation served to the
// audit record of the request in ctx (bounded, as a search's), such as
// $graphql's reads and searches. It does nothing when auditing is off.
func NotePatients(ctx context.Context, resources ...*ward.Resource) {
	fairshare.NoteReturned(ctx, len(resources))
	n := noteFrom(ctx)
	if n == nil || len(resources) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	seen := make(map[string]bool, len(n.rec.Patients))
	for _, p := range n.rec.Patients {
		seen[p] = true
	}
	for _, r := range resources {
		for _, p := range r.Patients {
			if len(n.rec.Patients) == maxAuditPatients {
				return
			}
			if !seen[p] {
				seen[p] = true
				n.rec.Patients = append(n.rec.Patients, p)
			}
		}
	}
}

// noteInteraction overrides the route's interaction (a Bundle is a batch
// or a transaction).
func noteInteraction(ctx context.Context, interaction string) {
	if n := noteFrom(ctx); n != nil {
		n.rec.Interaction = interaction
	}
}

// noteResource records the resource a read or write concerned, with its
// patient compartment.
func noteResource(ctx context.Context, res *ward.Resource) {
	if res != nil {
		fairshare.NoteReturned(ctx, 1)
	}
	n := noteFrom(ctx)
	if n == nil || res == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rec.ResourceType, n.rec.ResourceID, n.rec.VersionID = res.Type, res.ID, res.VersionID
	n.rec.Patients = res.Patients
}

// noteSearch records a search's query, the number of matches on the page
// and the distinct patients of the page, included resources too (bounded).
func noteSearch(ctx context.Context, query string, matches, included []*ward.Resource) {
	fairshare.NoteReturned(ctx, len(matches)+len(included))
	n := noteFrom(ctx)
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rec.Query, n.rec.Results = query, len(matches)
	n.rec.Patients = distinctPatients(maxAuditPatients, matches, included)
}

func distinctPatients(limit int, pages ...[]*ward.Resource) []string {
	var out []string
	seen := make(map[string]bool)
	for _, res := range slices.Concat(pages...) {
		for _, p := range res.Patients {
			if len(out) == limit {
				return out
			}
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// noteEntry starts the note of one Bundle entry (op nil: an entry that
// failed its checks) and returns the context its handlers annotate;
// finishEntry sets its answer.
func noteEntry(ctx context.Context, op *entryOp) context.Context {
	parent := noteFrom(ctx)
	if parent == nil {
		return ctx
	}
	parent.mu.Lock()
	child := &auditNote{rec: ward.AuditRecord{Results: -1, Time: parent.rec.Time, Kind: parent.rec.Kind,
		Address: parent.rec.Address, UserAgent: parent.rec.UserAgent, RequestID: parent.rec.RequestID}}
	parent.entries = append(parent.entries, child)
	parent.mu.Unlock()
	a := routeAudit{"batch-entry", "E"}
	if op != nil {
		a = entryAudit(op)
		child.rec.ResourceType, child.rec.ResourceID, child.rec.VersionID = op.typ, op.id, op.vid
		child.rec.Query = op.query
	}
	child.rec.Interaction, child.rec.Action = a.interaction, a.action
	return child.withAccess(ctx)
}

// resetEntries forgets the entry notes of a transaction run that is
// started over.
func resetEntries(ctx context.Context) {
	if n := noteFrom(ctx); n != nil {
		n.mu.Lock()
		n.entries = nil
		n.mu.Unlock()
	}
}

// finishEntry sets an entry's status from its result or error.
func finishEntry(ctx context.Context, res *result, err error) {
	n := noteFrom(ctx)
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case err != nil:
		n.rec.Status = ErrorStatus(err)
		n.rec.Reason = outcomeText(err)
	case res != nil:
		n.rec.Status = res.status
		if v := res.resource; v != nil {
			n.rec.ResourceType, n.rec.ResourceID, n.rec.VersionID = v.Type, v.ID, v.VersionID
			n.rec.Patients = v.Patients
		}
	}
}

// entryAudit is the interaction of a Bundle entry.
func entryAudit(op *entryOp) routeAudit {
	switch op.method {
	case "POST":
		return routeAudit{"create", "C"}
	case "PUT":
		return routeAudit{"update", "U"}
	case "PATCH":
		return routeAudit{"patch", "U"}
	case "DELETE":
		return routeAudit{"delete", "D"}
	}
	switch {
	case op.history && op.id != "":
		return routeAudit{"history-instance", "R"}
	case op.history && op.typ != "":
		return routeAudit{"history-type", "R"}
	case op.history:
		return routeAudit{"history-system", "R"}
	case op.vid != "":
		return routeAudit{"vread", "R"}
	case op.id != "":
		return routeAudit{"read", "R"}
	}
	return routeAudit{"search-type", "E"}
}

// outcomeText is the text of err's OperationOutcome.
func outcomeText(err error) string {
	if o := outcomeOf(err); len(o.Issue) > 0 && o.Issue[0].Details != nil {
		return o.Issue[0].Details.Text
	}
	return ""
}

// audited records every request h serves. With no AuditLog it is h.
func (s *Server) audited(pattern string, h http.Handler) http.Handler {
	if s.audit == nil {
		return h
	}
	a, literalType := auditOf(pattern), patternType(pattern)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := &auditNote{rec: ward.AuditRecord{
			Time:         time.Now().UTC().Truncate(time.Millisecond),
			Kind:         "rest",
			Action:       a.action,
			Interaction:  a.interaction,
			Address:      r.RemoteAddr,
			UserAgent:    r.UserAgent(),
			RequestID:    requestIDFrom(r.Context()),
			ResourceType: r.PathValue("type"),
			ResourceID:   r.PathValue("id"),
			VersionID:    r.PathValue("vid"),
			Results:      -1,
		}}
		if n.rec.ResourceType == "" {
			n.rec.ResourceType = literalType
		}
		if strings.Contains(pattern, "{type}") && a.action == "E" {
			n.rec.Query = r.URL.RawQuery
		}
		aw := &auditWriter{ResponseWriter: w, s: s, r: r, note: n}
		r = r.WithContext(n.withAccess(r.Context()))
		defer func() {
			if v := recover(); v != nil {
				if !aw.recorded { // recoverPanics answers 500: record that
					aw.record(http.StatusInternalServerError)
				}
				panic(v)
			}
		}()
		h.ServeHTTP(aw, r)
		if !aw.recorded {
			aw.WriteHeader(http.StatusOK)
		}
	})
}

// withheldHeaders describe the answer an unrecorded access does not get;
// the rest (X-Request-Id, CORS) stay.
var withheldHeaders = []string{"ETag", "Last-Modified", "Location", "Content-Location", "Content-Type", "Content-Length"}

// errNotRecorded is what a handler's Write returns once the audit log has
// refused the record: its answer is replaced by a 500.
var errNotRecorded = errors.New("audit record failed: response withheld")

// auditWriter holds the response back until the access is recorded.
type auditWriter struct {
	http.ResponseWriter
	s        *Server
	r        *http.Request
	note     *auditNote
	recorded bool
	failed   bool
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *auditWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *auditWriter) WriteHeader(status int) {
	if w.recorded {
		if !w.failed {
			w.ResponseWriter.WriteHeader(status)
		}
		return
	}
	if err := w.record(status); err != nil {
		w.failed = true
		w.s.logger.ErrorContext(w.r.Context(), "audit record failed", "error", err,
			"method", w.r.Method, "path", w.r.URL.Path)
		for _, k := range withheldHeaders {
			w.Header().Del(k)
		}
		writeJSON(w.ResponseWriter, http.StatusInternalServerError,
			mustJSON(outcomeOf(ward.Errorf(ward.EINTERNAL, "audit record failed"))))
		return
	}
	w.ResponseWriter.WriteHeader(status)
}

// Flush sends nothing before the access is recorded (a flush would send
// the header).
func (w *auditWriter) Flush() {
	if !w.recorded {
		w.WriteHeader(http.StatusOK)
	}
	if !w.failed {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
	}
}

func (w *auditWriter) Write(p []byte) (int, error) {
	if !w.recorded {
		w.WriteHeader(http.StatusOK)
	}
	if w.failed {
		return 0, errNotRecorded
	}
	return w.ResponseWriter.Write(p)
}

// record finishes the records of the request (the Bundle's entries
// first) and hands them to the audit log; it returns once all are durable.
func (w *auditWriter) record(status int) error {
	w.recorded = true
	n := w.note
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rec.SetCaller(n.principal)
	n.rec.Status, n.rec.Outcome = status, outcomeCode(status)
	if status < 400 {
		n.rec.Reason = ""
	}
	if n.principal == nil && status == http.StatusUnauthorized && len(n.entries) == 0 && !w.s.anon.admit(&n.rec) {
		return nil // counted into its address's summary record
	}
	var recs []*ward.AuditRecord
	if !n.storeRecorded(status) {
		recs = append(recs, &n.rec)
	}
	for _, e := range n.entries {
		e.mu.Lock()
		rec := e.rec
		e.mu.Unlock()
		if rec.Status != 0 && e.storeRecorded(rec.Status) {
			continue
		}
		rec.SetCaller(n.principal)
		if rec.Status == 0 { // a transaction that failed as a whole
			rec.Status = status
		}
		rec.Outcome = outcomeCode(rec.Status)
		recs = append(recs, &rec)
	}
	return w.s.recordAll(w.r.Context(), recs)
}

// recordAll records recs concurrently, so a Bundle's records share the
// audit log's group commits.
func (s *Server) recordAll(ctx context.Context, recs []*ward.AuditRecord) error {
	ctx = context.WithoutCancel(ctx) // a client hanging up must not lose its record
	if len(recs) == 0 {
		return nil
	}
	if len(recs) == 1 {
		return s.audit.Record(ctx, recs[0])
	}
	errs := make([]error, len(recs))
	var wg sync.WaitGroup
	for i, rec := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.audit.Record(ctx, rec)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// outcomeCode is the FHIR AuditEvent outcome of an HTTP status.
func outcomeCode(status int) string {
	switch {
	case status >= 500:
		return "8"
	case status >= 400:
		return "4"
	}
	return "0"
}
