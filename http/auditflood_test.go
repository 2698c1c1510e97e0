package wardhttp

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/mock"
)

// TestAnonymousFloodIsSummarized: a flood of unauthenticated requests from
// one address is answered 401 throughout, recorded one by one up to the
// address's allowance and then as one summary that counts the rest; every
// request is accounted for, and another address's 401 is still recorded
// on its own.
func TestAnonymousFloodIsSummarized(t *testing.T) {
	var mu sync.Mutex
	var records []ward.AuditRecord
	s := NewServer(Options{
		Store:         &mock.ResourceStore{},
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		ResourceTypes: []string{"Patient"},
		Authenticate:  func(*http.Request) (*ward.Principal, error) { return nil, nil },
		Audit: &mock.AuditLog{RecordFn: func(_ context.Context, rec *ward.AuditRecord) error {
			mu.Lock()
			defer mu.Unlock()
			records = append(records, *rec)
			return nil
		}},
	})
	s.anon.every = 100 * time.Millisecond
	h := s.Handler()
	get := func(addr string) int {
		r := httptest.NewRequest("GET", "/fhir/R4/Patient/x", nil)
		r.RemoteAddr = addr
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	const flood = 500
	for range flood {
		if code := get("203.0.113.7:4000"); code != 401 {
			t.Fatalf("a flooding request answered %d, want 401", code)
		}
	}
	if code := get("198.51.100.2:5000"); code != 401 {
		t.Fatalf("another address answered %d", code)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		var one, summarized, other int
		for _, rec := range records {
			switch {
			case rec.Address == "198.51.100.2:5000":
				other++
			case rec.Interaction == "unauthenticated":
				summarized += rec.Results
			default:
				one++
			}
		}
		mu.Unlock()
		if one+summarized == flood {
			if one > anonBurst+5 || other != 1 {
				t.Errorf("%d flooding requests recorded one by one (allowance %d), the other address %d times", one, anonBurst, other)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d recorded one by one + %d in summaries, want all %d accounted for", one, summarized, flood)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
