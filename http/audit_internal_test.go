package wardhttp

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/mock"
)

// TestBodyRefusalsAreAuditedInTheCallersProject: the body limit's 413 and
// the body budget's 429 on a FHIR route are recorded like any refusal, in
// the caller's project.
func TestBodyRefusalsAreAuditedInTheCallersProject(t *testing.T) {
	const mb = 1 << 20
	var mu sync.Mutex
	var records []ward.AuditRecord
	entered, release := make(chan struct{}), make(chan struct{})
	hold := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		w.WriteHeader(http.StatusOK)
	})
	s := NewServer(Options{
		Store:             &mock.ResourceStore{},
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxBodyBytes:      4 * mb,
		BodyBytesInFlight: 4 * mb,
		ResourceTypes:     []string{"Binary", "Patient"},
		Authenticate: func(r *http.Request) (*ward.Principal, error) {
			return &ward.Principal{ProjectID: "caller-project"}, nil
		},
		Operations: []Route{{Pattern: "POST /fhir/R4/$hold", Handler: hold}},
		Audit: &mock.AuditLog{RecordFn: func(_ context.Context, rec *ward.AuditRecord) error {
			mu.Lock()
			defer mu.Unlock()
			records = append(records, *rec)
			return nil
		}},
	})
	s.bodyWait = 50 * time.Millisecond
	h := s.Handler()
	send := func(path string, size int) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", path, bytes.NewReader(make([]byte, size))))
		return w
	}
	last := func() ward.AuditRecord {
		mu.Lock()
		defer mu.Unlock()
		if len(records) == 0 {
			t.Fatal("no audit record")
		}
		return records[len(records)-1]
	}

	if w := send("/fhir/R4/Patient", 5*mb); w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("declared oversized body: %d", w.Code)
	}
	if rec := last(); rec.Status != 413 || rec.ProjectID != "caller-project" || rec.Interaction != "create" {
		t.Errorf("413 recorded as %+v", rec)
	}

	done := make(chan struct{})
	go func() { send("/fhir/R4/$hold", 4*mb); close(done) }()
	<-entered // the whole budget is held
	w := send("/fhir/R4/Binary", 2*mb)
	close(release)
	<-done
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("large body while the budget is spent: %d", w.Code)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, rec := range records {
		if rec.Status == 429 {
			if rec.ProjectID != "caller-project" || !strings.Contains(rec.Reason, "Too many large request bodies") || rec.Outcome != "4" {
				t.Errorf("429 recorded as %+v", rec)
			}
			return
		}
	}
	t.Errorf("the 429 left no audit record: %+v", records)
}

// TestDistinctPatients: a search record names each patient of the page
// once, included resources' too, and no more than its bound.
func TestDistinctPatients(t *testing.T) {
	res := func(patients ...string) *ward.Resource { return &ward.Resource{Patients: patients} }
	for _, tc := range []struct {
		name              string
		limit             int
		matches, included []*ward.Resource
		want              []string
	}{
		{"distinct", 10, []*ward.Resource{res("Patient/a"), res("Patient/a", "Patient/b")}, nil, []string{"Patient/a", "Patient/b"}},
		{"included", 10, []*ward.Resource{res("Patient/a")}, []*ward.Resource{res("Patient/c")}, []string{"Patient/a", "Patient/c"}},
		{"bounded", 2, []*ward.Resource{res("Patient/a", "Patient/b", "Patient/c")}, nil, []string{"Patient/a", "Patient/b"}},
		{"none", 10, []*ward.Resource{res()}, nil, nil},
	} {
		if got := distinctPatients(tc.limit, tc.matches, tc.included); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
