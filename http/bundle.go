package wardhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/internal/rawjson"
)

// bundleIn is the part of a batch or transaction Bundle the server reads.
type bundleIn struct {
	ResourceType string    `json:"resourceType"`
	Type         string    `json:"type"`
	Entry        []entryIn `json:"entry"`
}

type entryIn struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Request  *struct {
		Method      string `json:"method"`
		URL         string `json:"url"`
		IfMatch     string `json:"ifMatch"`
		IfNoneExist string `json:"ifNoneExist"`
	} `json:"request"`
}

// entryOp is one checked Bundle entry.
type entryOp struct {
	index       int
	method      string
	typ, id     string
	vid         string // GET …/_history/{vid}
	history     bool   // GET …/_history
	query       string // raw query of a conditional or search url
	fullURL     string
	resource    []byte
	head        *resourceHead
	ifMatch     string
	ifNoneExist string

	// Decided before any write:
	assignedID string         // create under this id (a urn:uuid others may reference)
	existing   *ward.Resource // conditional create/update resolved to this resource
}

// methodOrder is FHIR's transaction processing order.
var methodOrder = map[string]int{"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}

func (s *Server) handleBundle(w http.ResponseWriter, r *http.Request) {
	body, _, err := readResource(r, "Bundle")
	if err != nil {
		Error(w, r, err)
		return
	}
	var in bundleIn
	if err := json.Unmarshal(body, &in); err != nil {
		Error(w, r, invalidf("Invalid Bundle: %v", err))
		return
	}
	v := s.viewOf(r)
	if in.Type == "transaction" {
		noteInteraction(r.Context(), in.Type)
	}
	switch in.Type {
	case "transaction":
		s.serveTransaction(w, r, v, in.Entry)
	case "batch":
		s.serveBatch(w, r, v, in.Entry)
	default:
		Error(w, r, expr(invalidf("Bundle type must be batch or transaction, got %q", in.Type), "Bundle.type"))
	}
}

// serveTransaction runs every entry in one store.Write: all succeed or the
// first failure is the answer and nothing is kept.
func (s *Server) serveTransaction(w http.ResponseWriter, r *http.Request, v view, entries []entryIn) {
	ops := make([]*entryOp, len(entries))
	fullURLs := make(map[string]int, len(entries))
	for i := range entries {
		op, err := s.checkEntry(i, &entries[i])
		if err != nil {
			Error(w, r, err)
			return
		}
		// FHIR bdl-7: references to a fullUrl used twice would be ambiguous.
		if first, dup := fullURLs[op.fullURL]; dup && op.fullURL != "" {
			Error(w, r, expr(invalidf("Bundle entry %d repeats the fullUrl of entry %d: %s", i, first, op.fullURL), fmt.Sprintf("Bundle.entry[%d].fullUrl", i)))
			return
		}
		fullURLs[op.fullURL] = i
		ops[i] = op
	}
	results := make([]*result, len(ops))
	err := s.store.Write(r.Context(), func(ctx context.Context, tx ward.ResourceTx) error {
		ops := freshOps(ops) // a transaction run again starts over
		resetEntries(ctx)
		b := newBundleRun(s, v)
		for _, op := range ops {
			if err := b.resolveID(ctx, tx, op); err != nil {
				return entryError(op.index, err)
			}
		}
		if err := lockRows(ctx, tx, writeTargets(ops)...); err != nil {
			return err
		}
		for _, op := range processingOrder(ops) {
			ectx := noteEntry(ctx, op)
			res, err := b.exec(ectx, tx, tx, op)
			finishEntry(ectx, res, err)
			if err != nil {
				return entryError(op.index, err)
			}
			results[op.index] = res
		}
		return nil
	})
	if err != nil {
		resetEntries(r.Context()) // nothing was kept: the Bundle's record tells the refusal
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, responseBundle("transaction-response", v, results, nil))
}

// serveBatch runs each entry in its own store.Write (reads without one), in
// Bundle order; a failure becomes that entry's response.outcome.
func (s *Server) serveBatch(w http.ResponseWriter, r *http.Request, v view, entries []entryIn) {
	ctx := r.Context()
	ops := make([]*entryOp, len(entries))
	results := make([]*result, len(entries))
	errs := make([]error, len(entries))
	b := newBundleRun(s, v)
	for i := range entries {
		ops[i], errs[i] = s.checkEntry(i, &entries[i])
	}
	for i, op := range ops {
		if errs[i] == nil {
			errs[i] = b.resolveID(ctx, s.store, op)
		}
	}
	// Batch entries are independent: run them in Bundle order.
	for i, op := range ops {
		ectx := noteEntry(r.Context(), op)
		s.runBatchEntry(ectx, b, op, &results[i], &errs[i])
		finishEntry(ectx, results[i], errs[i])
	}
	if clientGone(r) { // the entries failed because nobody waits for them
		Error(w, r, ctx.Err())
		return
	}
	for i, err := range errs {
		if err != nil && ward.ErrorCode(err) == ward.EINTERNAL {
			loggerFrom(ctx).ErrorContext(ctx, "batch entry failed", "entry", i, "error", err)
		}
	}
	writeJSON(w, http.StatusOK, responseBundle("batch-response", v, results, errs))
}

// runBatchEntry runs one checked batch entry (none when *errp already
// holds its failure): a read on the store, a write in its own transaction.
func (s *Server) runBatchEntry(ctx context.Context, b *bundleRun, op *entryOp, resp **result, errp *error) {
	if *errp != nil {
		return
	}
	if op.method == "GET" || op.method == "HEAD" {
		*resp, *errp = b.exec(ctx, s.store, nil, op)
		return
	}
	*errp = s.store.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		var err error
		*resp, err = b.exec(ctx, tx, tx, op)
		return err
	})
}

// processingOrder returns ops (nil ones skipped) in FHIR order: DELETE, POST,
// PUT/PATCH, GET, each group in Bundle order.
func processingOrder(ops []*entryOp) []*entryOp {
	var groups [4][]*entryOp
	for _, op := range ops {
		if op != nil {
			g := methodOrder[op.method]
			groups[g] = append(groups[g], op)
		}
	}
	out := make([]*entryOp, 0, len(ops))
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// entryError names the entry an error came from.
func entryError(i int, err error) error {
	if ward.ErrorCode(err) == ward.EINTERNAL {
		return fmt.Errorf("bundle entry %d: %w", i, err)
	}
	return expr(prefixError(err, "Bundle entry %d", i), fmt.Sprintf("Bundle.entry[%d]", i))
}

// checkEntry validates one entry's request and resource.
func (s *Server) checkEntry(i int, e *entryIn) (*entryOp, error) {
	where := fmt.Sprintf("Bundle.entry[%d]", i)
	if e.Request == nil {
		return nil, expr(invalidf("Bundle entry %d has no request", i), where+".request")
	}
	op := &entryOp{
		index:       i,
		method:      strings.ToUpper(e.Request.Method),
		fullURL:     e.FullURL,
		ifMatch:     parseETag(e.Request.IfMatch),
		ifNoneExist: e.Request.IfNoneExist,
	}
	if _, ok := methodOrder[op.method]; !ok {
		return nil, expr(invalidf("Bundle entry %d: unsupported method %q", i, e.Request.Method), where+".request.method")
	}
	if err := s.parseEntryURL(op, e.Request.URL); err != nil {
		return nil, expr(prefixError(err, "Bundle entry %d", i), where+".request.url")
	}
	if op.method == "POST" || op.method == "PUT" || op.method == "PATCH" {
		if len(e.Resource) == 0 || string(e.Resource) == "null" {
			return nil, expr(invalidf("Bundle entry %d: %s needs a resource", i, op.method), where+".resource")
		}
		wantType := op.typ
		if op.method == "PATCH" {
			wantType = "Binary"
		}
		head, err := checkResource(e.Resource, wantType)
		if err != nil {
			return nil, expr(prefixError(err, "Bundle entry %d", i), where+".resource")
		}
		op.resource, op.head = e.Resource, head
	}
	return op, nil
}

// parseEntryURL reads request.url: [Type][/id[/_history[/vid]]][?query],
// relative to the FHIR base (an absolute URL is cut at "/fhir/R4/").
func (s *Server) parseEntryURL(op *entryOp, raw string) error {
	if i := strings.Index(raw, "/fhir/R4/"); i >= 0 && strings.Contains(raw[:i], "://") {
		raw = raw[i+len("/fhir/R4/"):]
	}
	raw = strings.TrimPrefix(raw, "/")
	path, query, _ := strings.Cut(raw, "?")
	op.query = query
	parts := strings.Split(path, "/")
	if path == "_history" && op.method == "GET" {
		op.history = true
		return nil
	}
	if path == "" || !s.types[parts[0]] {
		return ward.Errorf(ward.ENOTFOUND, "Unknown resource type in %q", raw)
	}
	op.typ = parts[0]
	switch {
	case len(parts) == 1:
		if op.method == "PATCH" {
			return invalidf("PATCH needs a url Type/id, got %q", raw)
		}
		if (op.method == "PUT" || op.method == "DELETE") && query == "" {
			return invalidf("%s needs a url Type/id or Type?search, got %q", op.method, raw)
		}
	case len(parts) == 2 && parts[1] == "_history" && op.method == "GET":
		op.history = true
	case len(parts) == 2 && parts[1] != "" && op.method != "POST":
		op.id = parts[1]
	case len(parts) == 3 && parts[2] == "_history" && op.method == "GET":
		op.id, op.history = parts[1], true
	case len(parts) == 4 && parts[2] == "_history" && op.method == "GET":
		op.id, op.vid = parts[1], parts[3]
	default:
		return invalidf("Unsupported %s url %q", op.method, raw)
	}
	return nil
}

// bundleRun holds what entries of one Bundle share: the ids given to
// urn:uuid fullUrls and the conditional references already resolved.
type bundleRun struct {
	s        *Server
	v        view
	urns     map[string]string // "urn:uuid:…" → "Type/id"
	condRefs map[string]string // "Type?query" → "Type/id"
}

func newBundleRun(s *Server, v view) *bundleRun {
	return &bundleRun{s: s, v: v, urns: make(map[string]string), condRefs: make(map[string]string)}
}

// resolveID decides, before any write, which resource an entry's urn:uuid
// fullUrl stands for, so references to it can be rewritten wherever they
// are: a POST gets a fresh id (or the match of its ifNoneExist), a
// conditional PUT the id of its match or a fresh one.
func (b *bundleRun) resolveID(ctx context.Context, rd ward.ResourceReader, op *entryOp) error {
	if op == nil {
		return nil
	}
	urn := strings.HasPrefix(op.fullURL, "urn:uuid:")
	switch {
	case op.method == "POST" && op.ifNoneExist != "":
		query := b.rewriteQuery(strings.TrimPrefix(op.ifNoneExist, op.typ+"?"))
		existing, err := b.s.matchCondition(ctx, rd, op.typ, query, "ifNoneExist")
		if err != nil {
			return err
		}
		op.existing = existing
		if existing == nil && urn {
			op.assignedID = ward.NewID()
		}
	case op.method == "POST" && urn:
		op.assignedID = ward.NewID()
	case op.method == "PUT" && op.id == "" && urn:
		op.query = b.rewriteQuery(op.query)
		existing, err := b.s.matchCondition(ctx, rd, op.typ, op.query, "search")
		if err != nil {
			return err
		}
		op.existing = existing
		if existing == nil {
			op.assignedID = ward.NewID()
		}
	}
	if !urn {
		return nil
	}
	switch {
	case op.existing != nil:
		b.urns[op.fullURL] = op.existing.Reference()
	case op.assignedID != "":
		b.urns[op.fullURL] = op.typ + "/" + op.assignedID
	case op.id != "" && (op.method == "PUT" || op.method == "PATCH"):
		b.urns[op.fullURL] = op.typ + "/" + op.id
	}
	return nil
}

// exec rewrites an entry's references and runs it. tx is nil for reads
// outside a transaction.
func (b *bundleRun) exec(ctx context.Context, rd ward.ResourceReader, tx ward.ResourceTx, op *entryOp) (*result, error) {
	if op.resource != nil {
		content, err := b.rewriteReferences(ctx, rd, op.resource)
		if err != nil {
			return nil, err
		}
		op.resource = content
	}
	op.query = b.rewriteQuery(op.query)
	s := b.s
	switch op.method {
	case "GET", "HEAD":
		return b.read(ctx, rd, op)
	case "POST":
		switch {
		case op.existing != nil:
			return &result{status: 200, resource: op.existing}, nil
		case op.assignedID != "":
			return s.createWithID(ctx, tx, op.typ, op.assignedID, op.resource)
		}
		return s.create(ctx, tx, op.typ, op.resource, "")
	case "PUT":
		switch {
		case op.id != "":
			if op.head.ID == "" {
				content, err := setID(op.resource, op.id)
				if err != nil {
					return nil, err
				}
				op.resource, op.head.ID = content, op.id
			}
			return s.update(ctx, tx, op.typ, op.id, op.resource, op.head, op.ifMatch)
		case op.existing != nil:
			content, err := setID(op.resource, op.existing.ID)
			if err != nil {
				return nil, err
			}
			res, created, err := tx.Update(ctx, op.typ, op.existing.ID, content, op.ifMatch)
			if err != nil {
				return nil, err
			}
			return &result{status: statusCreated(created), resource: res}, nil
		case op.assignedID != "":
			return s.createWithID(ctx, tx, op.typ, op.assignedID, op.resource)
		}
		return s.conditionalUpdate(ctx, tx, op.typ, op.query, op.resource, op.head, op.ifMatch)
	case "PATCH":
		patch, err := binaryPatch(op.resource)
		if err != nil {
			return nil, err
		}
		return s.patch(ctx, tx, op.typ, op.id, patch, op.ifMatch)
	case "DELETE":
		if op.id != "" {
			return s.deleteResource(ctx, tx, op.typ, op.id)
		}
		return s.conditionalDelete(ctx, tx, op.typ, op.query)
	}
	return nil, invalidf("Unsupported method %q", op.method)
}

// read runs a GET entry: read, vread, history or search.
func (b *bundleRun) read(ctx context.Context, rd ward.ResourceReader, op *entryOp) (*result, error) {
	params, err := url.ParseQuery(op.query)
	if err != nil {
		return nil, invalidf("Invalid query %q: %v", op.query, err)
	}
	var body []byte
	switch {
	case op.history:
		body, err = b.s.historyBundle(ctx, rd, b.v, op.typ, op.id, params)
	case op.vid != "":
		res, err := rd.VRead(ctx, op.typ, op.id, op.vid)
		if err != nil {
			return nil, err
		}
		return &result{status: 200, resource: res}, nil
	case op.id != "":
		res, err := rd.Read(ctx, op.typ, op.id)
		if err != nil {
			return nil, err
		}
		return &result{status: 200, resource: res}, nil
	default:
		body, err = b.s.searchBundle(ctx, rd, b.v, op.typ, params)
	}
	if err != nil {
		return nil, err
	}
	return &result{status: 200, body: body}, nil
}

// binaryPatch returns the JSON Patch carried by a PATCH entry's Binary.
func binaryPatch(resource []byte) ([]byte, error) {
	var bin struct {
		ContentType string `json:"contentType"`
		Data        []byte `json:"data"`
	}
	if err := json.Unmarshal(resource, &bin); err != nil {
		return nil, invalidf("PATCH entry needs a Binary with base64 data: %v", err)
	}
	if mt, _, _ := strings.Cut(bin.ContentType, ";"); strings.TrimSpace(mt) != mediaJSONPatch {
		return nil, invalidf("PATCH entry Binary must have contentType %s", mediaJSONPatch)
	}
	if err := checkJSON(bin.Data); err != nil {
		return nil, err
	}
	return bin.Data, nil
}

// rewriteReferences replaces urn:uuid strings of this Bundle's entries and
// conditional references (reference: "Type?query") by "Type/id".
func (b *bundleRun) rewriteReferences(ctx context.Context, rd ward.ResourceReader, content []byte) ([]byte, error) {
	out, err := rewriteStrings(content, func(key, value string) (string, bool, error) {
		if strings.HasPrefix(value, "urn:uuid:") {
			ref, ok := b.urns[value]
			return ref, ok, nil
		}
		if key == "reference" {
			if typ, query, ok := strings.Cut(value, "?"); ok && b.s.types[typ] {
				ref, err := b.resolveConditionalRef(ctx, rd, value, typ, query)
				return ref, err == nil, err
			}
		}
		return "", false, nil
	})
	if err == rawjson.ErrMalformed {
		return nil, invalidf("Invalid JSON resource")
	}
	return out, err
}

func (b *bundleRun) resolveConditionalRef(ctx context.Context, rd ward.ResourceReader, ref, typ, query string) (string, error) {
	if resolved, ok := b.condRefs[ref]; ok {
		return resolved, nil
	}
	match, err := b.s.matchCondition(ctx, rd, typ, b.rewriteQuery(query), "conditional reference")
	if err != nil {
		return "", prefixError(err, "Conditional reference %q", ref)
	}
	if match == nil {
		return "", invalidf("Conditional reference %q did not match any resource", ref)
	}
	b.condRefs[ref] = match.Reference()
	return match.Reference(), nil
}

// rewriteQuery replaces urn:uuid values in a search query.
func (b *bundleRun) rewriteQuery(query string) string {
	if !strings.Contains(query, "urn") || len(b.urns) == 0 {
		return query
	}
	values, err := url.ParseQuery(query)
	if err != nil {
		return query
	}
	changed := false
	for _, vs := range values {
		for i, v := range vs {
			if ref, ok := b.urns[v]; ok {
				vs[i], changed = ref, true
			}
		}
	}
	if !changed {
		return query
	}
	return values.Encode()
}

// responseBundle writes a batch-response or transaction-response; errs (for
// batch) holds the failure of each entry that has no result.
func responseBundle(typ string, v view, results []*result, errs []error) []byte {
	var b bytes.Buffer
	b.Grow(64 + 512*len(results))
	b.WriteString(`{"resourceType":"Bundle","type":"` + typ + `","entry":[`)
	for i, res := range results {
		if i > 0 {
			b.WriteByte(',')
		}
		if errs != nil && errs[i] != nil {
			status := ErrorStatus(errs[i])
			b.WriteString(`{"response":{"status":`)
			b.Write(jsonString(entryStatus(status)))
			b.WriteString(`,"outcome":`)
			b.Write(mustJSON(outcomeOf(errs[i])))
			b.WriteString(`}}`)
			continue
		}
		writeResponseEntry(&b, v, res)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func writeResponseEntry(b *bytes.Buffer, v view, res *result) {
	b.WriteByte('{')
	if r := res.resource; r != nil {
		b.WriteString(`"fullUrl":`)
		b.Write(jsonString(v.fhirBase + "/" + r.Reference()))
		b.WriteString(`,"resource":`)
		b.Write(v.attachments.content(r, r.Content))
		b.WriteByte(',')
	} else if res.body != nil {
		b.WriteString(`"resource":`)
		b.Write(res.body)
		b.WriteByte(',')
	}
	b.WriteString(`"response":{"status":`)
	b.Write(jsonString(entryStatus(res.status)))
	if r := res.resource; r != nil {
		// Medplum's location is Type/id, without the version, for every
		// entry that names a resource (reads too).
		b.WriteString(`,"location":`)
		b.Write(jsonString(r.Reference()))
		b.WriteString(`,"etag":`)
		b.Write(jsonString(etag(r.VersionID)))
		b.WriteString(`,"lastModified":`)
		b.Write(jsonString(fhirInstant(r.LastUpdated)))
	}
	// Medplum always sends the entry's outcome, success included.
	outcome := res.outcome
	if outcome == nil {
		outcome = mustJSON(successOutcome(res.status))
	}
	b.WriteString(`,"outcome":`)
	b.Write(outcome)
	b.WriteString(`}}`)
}

// entryStatus is a Bundle entry's response.status as Medplum writes it: the
// bare code ("201"), which Medplum's app compares with '200'.
func entryStatus(status int) string { return strconv.Itoa(status) }

// successOutcome is Medplum's outcome of a successful entry: "created"
// for 201, "All OK" otherwise.
func successOutcome(status int) *OperationOutcome {
	if status == http.StatusCreated {
		return infoOutcome("created", "Created")
	}
	return allOK()
}
