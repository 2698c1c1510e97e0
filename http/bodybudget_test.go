package wardhttp

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardhealth/ward"
)

// TestBodyBudget: large bodies handled at once never exceed the budget. A
// large body that finds the budget spent waits, and is answered 429 if it
// stays spent; small bodies never wait; once a body is done its share is
// free again.
func TestBodyBudget(t *testing.T) {
	const mb = 1 << 20
	s := &Server{maxBodyBytes: 4 * mb, bodies: newBodyBudget(6*mb, 4*mb), bodyWait: 200 * time.Millisecond}
	entered, release := make(chan int64, 8), make(chan struct{})
	var mu sync.Mutex
	var inFlight, peak int64
	h := s.budgetBodies(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight += r.ContentLength
		peak = max(peak, inFlight)
		mu.Unlock()
		entered <- r.ContentLength
		if r.ContentLength > smallBody {
			select { // held until released (a bound, so a broken budget fails instead of hanging)
			case <-release:
			case <-time.After(5 * time.Second):
			}
		}
		mu.Lock()
		inFlight -= r.ContentLength
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	send := func(size int) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/fhir/R4/Binary", bytes.NewReader(make([]byte, size))))
		return rec
	}

	// Two bodies of 3 MB fill the 6 MB budget and are held in the handler.
	results := make(chan int, 2)
	for range 2 {
		go func() { results <- send(3 * mb).Code }()
		<-entered
	}
	// A third waits, then is refused with a clear 429.
	rec := send(3 * mb)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "Too many large request bodies") {
		t.Errorf("third large body while the budget is spent: %d %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	// A small body does not wait.
	if rec := send(100 << 10); rec.Code != http.StatusCreated {
		t.Errorf("small body while the budget is spent: %d %s", rec.Code, rec.Body)
	}
	<-entered
	// A waiting large body gets in as soon as one finishes.
	third := make(chan int, 1)
	go func() { third <- send(3 * mb).Code }()
	time.Sleep(20 * time.Millisecond) // let it start waiting
	release <- struct{}{}
	if code := <-results; code != http.StatusCreated {
		t.Errorf("first large body: %d", code)
	}
	<-entered
	close(release)
	if code := <-results; code != http.StatusCreated {
		t.Errorf("second large body: %d", code)
	}
	if code := <-third; code != http.StatusCreated {
		t.Errorf("large body that waited: %d", code)
	}
	if peak > 6*mb+100<<10 {
		t.Errorf("%d bytes of bodies in flight at once, budget %d", peak, 6*mb)
	}
}

// TestReadBodyPreallocates: a declared length is read into one buffer of
// that size, not grown by copying (io.ReadAll allocated twice a large body).
func TestReadBodyPreallocates(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 8<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 4 {
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		if data, err := readBody(r); err != nil || len(data) != len(body) {
			t.Fatalf("readBody: %d bytes, %v", len(data), err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / 4; per > uint64(len(body))*5/4 {
		t.Errorf("reading an 8 MB body allocated %d MB", per>>20)
	}
}

// TestBodyBudgetGivesMemoryBack: once the last large body is done the
// budget returns the heap to the OS (once), not while bodies are in flight.
func TestBodyBudgetGivesMemoryBack(t *testing.T) {
	b := newBodyBudget(8<<20, 4<<20)
	trims := make(chan struct{}, 4)
	b.trim, b.trimAfter = func() { trims <- struct{}{} }, 50*time.Millisecond
	ctx := t.Context()
	if err := b.acquire(ctx, 3<<20); err != nil {
		t.Fatal(err)
	}
	if err := b.acquire(ctx, 3<<20); err != nil {
		t.Fatal(err)
	}
	b.release(3 << 20)
	select {
	case <-trims:
		t.Fatal("trimmed with a large body still in flight")
	case <-time.After(150 * time.Millisecond):
	}
	b.release(3 << 20)
	select {
	case <-trims:
	case <-time.After(5 * time.Second):
		t.Fatal("no trim after the last large body")
	}
	select {
	case <-trims:
		t.Fatal("trimmed twice")
	case <-time.After(150 * time.Millisecond):
	}
}

// TestCheckResourceRefusesShapeFromBytes: a resource over the shape limits
// is refused before anything decodes it (the store would decode a 4 MB
// array of numbers into about 100 MB of Go values first), naming where.
func TestCheckResourceRefusesShapeFromBytes(t *testing.T) {
	body := []byte(`{"resourceType":"Patient","name":[{"given":[0` + strings.Repeat(",1", 2_000_000) + `]}]}`)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := checkResource(body, "Patient")
	runtime.ReadMemStats(&after)
	var e *ward.Error
	if !errors.As(err, &e) || e.Code != ward.EINVALID || len(e.Expression) != 1 || e.Expression[0] != "Patient.name[0].given" {
		t.Fatalf("got %v, want EINVALID at Patient.name[0].given", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("refusing it allocated %d KB", got>>10)
	}
	// A Bundle's entries are checked one by one, not the Bundle whole.
	entries := strings.TrimSuffix(strings.Repeat(`{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},`, 10_001), ",")
	if _, err := checkResource([]byte(`{"resourceType":"Bundle","type":"batch","entry":[`+entries+`]}`), "Bundle"); err != nil {
		t.Errorf("a batch of 10,001 entries: %v", err)
	}
}
