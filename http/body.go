package wardhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
	"github.com/wardhealth/ward/internal/rawjson"
)

// Media types accepted in request bodies.
const (
	mediaJSON      = "application/json"
	mediaFHIRJSON  = "application/fhir+json"
	mediaJSONPatch = "application/json-patch+json"
	mediaForm      = "application/x-www-form-urlencoded"
)

// maxPrealloc caps the buffer readBody allocates from a declared length
// before any byte arrived (limitBody has refused lengths over the limit).
const maxPrealloc = DefaultMaxBodyBytes

// readBody reads the whole request body. A body over the limit is ETOOLARGE.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	// Read into a buffer of the declared size: io.ReadAll grows by copying,
	// which allocates several times a large body before it is complete.
	buf := bytes.NewBuffer(make([]byte, 0, max(0, min(r.ContentLength, maxPrealloc))+bytes.MinRead))
	_, err := buf.ReadFrom(r.Body)
	data := buf.Bytes()
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, tooLarge(tooBig.Limit)
	} else if err != nil {
		return nil, invalidf("Could not read request body: %v", err)
	}
	return data, nil
}

// checkMediaType returns EUNSUPPORTED unless the request's Content-Type is
// one of allowed. A missing Content-Type is taken as the first allowed type.
func checkMediaType(r *http.Request, allowed ...string) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		for _, a := range allowed {
			if mt == a {
				return nil
			}
		}
	}
	return ward.Errorf(ward.EUNSUPPORTED, "Unsupported content type %q; expected %s", ct, allowed[0])
}

// resourceHead is what the API needs to know of a client's resource before
// handing it to the store.
type resourceHead struct {
	Type string
	ID   string
}

// readResource reads and checks a resource body of type wantType.
func readResource(r *http.Request, wantType string) ([]byte, *resourceHead, error) {
	data, err := readBody(r)
	if err != nil {
		return nil, nil, err
	}
	if len(data) == 0 {
		return nil, nil, invalidf("Missing request body")
	}
	if err := checkMediaType(r, mediaFHIRJSON, mediaJSON); err != nil {
		return nil, nil, err
	}
	head, err := checkResource(data, wantType)
	if err != nil {
		return nil, nil, err
	}
	return data, head, nil
}

// checkResource validates that data is a JSON object with a resourceType,
// equal to wantType when that is not empty, and a string id if any.
func checkResource(data []byte, wantType string) (*resourceHead, error) {
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	members, err := rawjson.Members(data)
	if err != nil {
		return nil, invalidf("Resource must be a JSON object")
	}
	head := &resourceHead{}
	if m := rawjson.Find(members, "resourceType"); m != nil {
		if err := json.Unmarshal(data[m.ValStart:m.End], &head.Type); err != nil {
			return nil, expr(invalidf("resourceType must be a string"), "resourceType")
		}
	}
	if head.Type == "" {
		return nil, expr(invalidf("Missing resourceType"), "resourceType")
	}
	if wantType != "" && head.Type != wantType {
		return nil, expr(invalidf("Incorrect resource type: expected %s, got %s", wantType, head.Type), "resourceType")
	}
	if m := rawjson.Find(members, "id"); m != nil {
		if err := json.Unmarshal(data[m.ValStart:m.End], &head.ID); err != nil {
			return nil, expr(invalidf("id must be a string"), "id")
		}
	}
	// Refuse an oversized resource from its bytes: decoding it is what
	// costs (a 10 MB array of numbers is 250 MB of Go values). A Bundle is
	// left to its own checks: batches and transactions are decoded entry
	// by entry (each entry comes through here), a stored Bundle is bounded
	// by the store's validation.
	if head.Type != "Bundle" {
		if err := fhir.CheckShapeJSON(data, head.Type); err != nil {
			return nil, err
		}
	}
	return head, nil
}

// checkJSON returns a clear EINVALID for malformed JSON.
func checkJSON(data []byte) error {
	if json.Valid(data) {
		return nil
	}
	var v any
	err := json.Unmarshal(data, &v)
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return invalidf("Invalid JSON at offset %d: %v", syntax.Offset, syntax)
	}
	return invalidf("Invalid JSON: %v", err)
}

// expr attaches an expression to a *ward.Error.
func expr(err error, expression ...string) error {
	var e *ward.Error
	if errors.As(err, &e) && len(e.Expression) == 0 {
		e2 := *e
		e2.Expression = expression
		return &e2
	}
	return err
}

// errorf wraps an error's message with a prefix, keeping its code.
func prefixError(err error, format string, args ...any) error {
	var e *ward.Error
	if !errors.As(err, &e) {
		return err
	}
	e2 := *e
	e2.Message = fmt.Sprintf(format, args...) + ": " + e.Message
	return &e2
}

// DefaultBodyBytesInFlight is the body budget when Options leaves it zero:
// four bodies of the default size limit.
const DefaultBodyBytesInFlight = 4 * DefaultMaxBodyBytes

// Bodies up to smallBody bytes (nearly every FHIR request) do not wait for
// the body budget: they cannot add up to much, and a FIFO queue would put
// them behind a large body.
const smallBody = 256 << 10

// bodyBudgetWait is how long a large body waits for the budget before the
// request is answered 429.
const bodyBudgetWait = 30 * time.Second

// bodyBudget bounds the bytes of large request bodies being handled at
// once, server-wide. Handling a body costs several times its size (the
// bytes, the decoded tree, the stored copy), so a burst of 5-17 MB bodies
// held 1.3 GB at once; a request waits before its body is read, so the
// bytes wait in the kernel's socket buffers, not in the heap.
//
// When the last large body is done the heap it used is garbage that the
// runtime would keep (and count in the RSS) until its next collection,
// which an idle server may not run for minutes: the budget then gives it
// back to the OS once (trimAfter later, if no large body came meanwhile).
type bodyBudget struct {
	sem       *semaphore.Weighted
	inFlight  atomic.Int64 // bytes held
	trimAfter time.Duration
	trimming  atomic.Bool // a trim is scheduled
	trim      func()      // debug.FreeOSMemory; a counter in tests
}

func newBodyBudget(total, maxBody int64) *bodyBudget {
	total = max(total, maxBody) // a body the limit allows must fit
	return &bodyBudget{sem: semaphore.NewWeighted(total), trimAfter: 2 * time.Second, trim: debug.FreeOSMemory}
}

// acquire waits for n bytes of the budget.
func (b *bodyBudget) acquire(ctx context.Context, n int64) error {
	if err := b.sem.Acquire(ctx, n); err != nil {
		return err
	}
	b.inFlight.Add(n)
	return nil
}

// release returns n bytes and, when no large body is left, schedules the
// trim.
func (b *bodyBudget) release(n int64) {
	b.sem.Release(n)
	if b.inFlight.Add(-n) == 0 && b.trimming.CompareAndSwap(false, true) {
		time.AfterFunc(b.trimAfter, func() {
			defer b.trimming.Store(false)
			if b.inFlight.Load() == 0 {
				b.trim()
			}
		})
	}
}

// weight is the share of the budget a request holds while it is handled:
// its declared length, or the body limit when the length is not declared.
func (b *bodyBudget) weight(r *http.Request, maxBody int64) int64 {
	switch {
	case r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0:
		return 0
	case r.ContentLength > 0 && r.ContentLength <= smallBody:
		return 0
	case r.ContentLength > 0:
		return min(r.ContentLength, maxBody)
	}
	return maxBody
}

// budgetBodies holds a large body's share of the budget while the request
// is handled; past bodyBudgetWait without it the answer is 429.
func (s *Server) budgetBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.bodies.weight(r, s.maxBodyBytes)
		if n == 0 {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.bodyWait)
		err := s.bodies.acquire(ctx, n)
		cancel()
		if err != nil {
			w.Header().Set("Retry-After", "5")
			Error(w, r, ward.Errorf(ward.ETOOMANY, "Too many large request bodies in progress; retry later"))
			return
		}
		defer s.bodies.release(n)
		next.ServeHTTP(w, r)
	})
}
