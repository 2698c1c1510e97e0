package wire_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/auth"
	"github.com/wardhealth/ward/internal/wire"
	"github.com/wardhealth/ward/mock"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/sqlite"
	"github.com/wardhealth/ward/store/storetest"
)

// auditBenchLoads are how the clients read: one client (a read's added
// latency is one commit), 16 as fast as they can (concurrent requests
// share group commits; the ratio of throughputs), and 16 paced to 1,000
// reads/s together (the latency a read gains at a load the projection of
// the trail keeps up with).
var auditBenchLoads = []struct {
	clients int
	rate    int // reads/s over all clients; 0 = as fast as they can
}{{1, 0}, {16, 0}, {16, 1000}}

// BenchmarkAuditedRead: authenticated GET Patient/{id} by 1 and 16
// concurrent clients, audit off, on with a log that discards (the
// recording point's own cost) and on, in one run over one database (SQLite with
// synchronous=FULL as ward serve defaults, and PostgreSQL when
// WARD_TEST_POSTGRES_URL is set). Reports p50 and p99 per read.
func BenchmarkAuditedRead(b *testing.B) {
	for _, eng := range benchEngines() {
		b.Run(eng.name, func(b *testing.B) {
			s := eng.open(b)
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			srv := httptest.NewServer(nil)
			b.Cleanup(srv.Close)
			id := auth.New(s, auth.Config{BaseURL: srv.URL + "/", AdminPassword: adminPassword, BcryptCost: bcrypt.MinCost, Logger: logger})
			if err := id.Seed(context.Background()); err != nil {
				b.Fatal(err)
			}
			off := wire.Handler(s, wire.Config{BaseURL: srv.URL + "/", MaxBodyBytes: maxBody, Auth: id}, logger)
			trail := s.NewAuditLog(store.AuditOptions{})
			b.Cleanup(trail.Close)
			on := wire.Handler(s, wire.Config{BaseURL: srv.URL + "/", MaxBodyBytes: maxBody, Auth: id, Audit: trail}, logger)
			// discard prices the recording point alone: records built and
			// handed to a log that keeps nothing.
			discard := wire.Handler(s, wire.Config{BaseURL: srv.URL + "/", MaxBodyBytes: maxBody, Auth: id, Audit: &mock.AuditLog{
				RecordFn: func(context.Context, *ward.AuditRecord) error { return nil },
			}}, logger)
			srv.Config.Handler = off
			path, token := benchPatientAndToken(b, srv)
			for _, load := range auditBenchLoads {
				for _, mode := range []struct {
					name string
					h    http.Handler
				}{{"off", off}, {"discard", discard}, {"on", on}} {
					name := fmt.Sprintf("clients=%d/audit=%s", load.clients, mode.name)
					if load.rate > 0 {
						name = fmt.Sprintf("clients=%d/rate=%d/audit=%s", load.clients, load.rate, mode.name)
					}
					b.Run(name, func(b *testing.B) {
						commits := trail.Commits()
						benchConcurrentRead(b, mode.h, path, "Bearer "+token, load.clients, load.rate)
						if n := trail.Commits() - commits; n > 0 {
							b.ReportMetric(float64(b.N+1)/float64(n), "records/commit")
						}
						// The projection's backlog is this run's cost, not the next's.
						trail.Flush(context.Background())
					})
				}
			}
		})
	}
}

// benchEngine is a database a wire benchmark runs on.
type benchEngine struct {
	name string
	open func(testing.TB) *store.Store
}

// benchEngines are SQLite as ward serve runs it (openSQLiteFull) and
// PostgreSQL when WARD_TEST_POSTGRES_URL is set.
func benchEngines() []benchEngine {
	return []benchEngine{{"sqlite", openSQLiteFull}, {"postgres", storetest.OpenPostgres}}
}

func openSQLiteFull(tb testing.TB) *store.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "ward.db"), sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// benchPatientAndToken registers a project with one Patient and a client
// application, and returns the patient's path and a client token.
func benchPatientAndToken(b *testing.B, srv *httptest.Server) (path, token string) {
	owner, projectID := registerOwner(b, srv, "audit-bench@example.com", "Audit Bench")
	_, patient := postJSON(b, srv, "/fhir/R4/Patient", "Bearer "+owner, map[string]any{"resourceType": "Patient"})
	_, client := postJSON(b, srv, "/admin/projects/"+projectID+"/client", "Bearer "+owner, map[string]any{"name": "Bench"})
	cc := tokenGrant(b, srv, url.Values{"grant_type": {"client_credentials"}, "client_id": {client["id"].(string)}, "client_secret": {client["secret"].(string)}})
	return "/fhir/R4/Patient/" + patient["id"].(string), cc["access_token"].(string)
}

// benchConcurrentRead runs b.N reads of path spread over
// clients goroutines and reports the p50 and p99 latency.
func benchConcurrentRead(b *testing.B, h http.Handler, path, authz string, clients, rate int) {
	read := func() int {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", authz)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	if code := read(); code != 200 {
		b.Fatalf("warm-up read: %d", code)
	}
	latencies := make([]time.Duration, b.N)
	next := make(chan int, b.N)
	for i := range b.N {
		next <- i
	}
	close(next)
	b.ResetTimer()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pace *time.Ticker
			if rate > 0 {
				pace = time.NewTicker(time.Second * time.Duration(clients) / time.Duration(rate))
				defer pace.Stop()
			}
			for i := range next {
				if pace != nil {
					<-pace.C
				}
				start := time.Now()
				if code := read(); code != 200 {
					panic(fmt.Sprintf("read: %d", code))
				}
				latencies[i] = time.Since(start)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkAuditedIngest: transaction bundles of 100 Observations posted
// by 4 clients, audit off and on, in one run over one database. With the
// trail on, each created resource is recorded in its bundle's transaction
// (store/auditwrite.go) and indexed behind; "on+indexed" also waits for
// that indexing to finish inside the timing. Reports resources/s.
// Run: go test ./internal/wire/ -run XXX -bench AuditedIngest -benchtime 40x
func BenchmarkAuditedIngest(b *testing.B) {
	for _, eng := range benchEngines() {
		b.Run(eng.name, func(b *testing.B) {
			s := eng.open(b)
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			srv := httptest.NewServer(nil)
			b.Cleanup(srv.Close)
			id := auth.New(s, auth.Config{BaseURL: srv.URL + "/", AdminPassword: adminPassword, BcryptCost: bcrypt.MinCost, Logger: logger})
			if err := id.Seed(context.Background()); err != nil {
				b.Fatal(err)
			}
			off := wire.Handler(s, wire.Config{BaseURL: srv.URL + "/", MaxBodyBytes: maxBody, Auth: id}, logger)
			trail := s.NewAuditLog(store.AuditOptions{})
			b.Cleanup(trail.Close)
			on := wire.Handler(s, wire.Config{BaseURL: srv.URL + "/", MaxBodyBytes: maxBody, Auth: id, Audit: trail}, logger)
			srv.Config.Handler = off
			path, token := benchPatientAndToken(b, srv)
			bundle := ingestBundle(strings.TrimPrefix(path, "/fhir/R4/"), 100)
			for _, mode := range []struct {
				name    string
				h       http.Handler
				indexed bool
			}{{"off", off, false}, {"on", on, false}, {"on+indexed", on, true}} {
				b.Run("audit="+mode.name, func(b *testing.B) {
					next := make(chan struct{}, b.N)
					for range b.N {
						next <- struct{}{}
					}
					close(next)
					b.ResetTimer()
					start := time.Now()
					var wg sync.WaitGroup
					for range 4 {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for range next {
								req := httptest.NewRequest("POST", "/fhir/R4", strings.NewReader(bundle))
								req.Header.Set("Authorization", "Bearer "+token)
								req.Header.Set("Content-Type", "application/fhir+json")
								w := httptest.NewRecorder()
								mode.h.ServeHTTP(w, req)
								if w.Code != 200 {
									panic(fmt.Sprintf("bundle: %d %s", w.Code, w.Body))
								}
							}
						}()
					}
					wg.Wait()
					if mode.indexed {
						trail.Flush(context.Background())
					}
					b.ReportMetric(float64(100*b.N)/time.Since(start).Seconds(), "resources/s")
					b.StopTimer()
					trail.Flush(context.Background())
				})
			}
		})
	}
}

// ingestBundle is a transaction of n Observations of patient.
func ingestBundle(patient string, n int) string {
	var entries []string
	for i := range n {
		entries = append(entries, fmt.Sprintf(`{"resource":{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"valueQuantity":{"value":%d,"unit":"/min"},"subject":{"reference":%q}},"request":{"method":"POST","url":"Observation"}}`, 60+i%40, patient))
	}
	return `{"resourceType":"Bundle","type":"transaction","entry":[` + strings.Join(entries, ",") + `]}`
}
