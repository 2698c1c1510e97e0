package wardhttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/wardhealth/ward"
	wardhttp "github.com/wardhealth/ward/http"
	"github.com/wardhealth/ward/mock"
)

// records decodes the JSON log lines written so far.
func logRecords(t *testing.T, b *mock.SyncBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestClientAbortIsNotAServerError: a client that hangs up while the store
// is busy is logged and counted as 499 (client closed request), never as an
// ERROR or a 500; a timeout inside the server stays an error.
func TestClientAbortIsNotAServerError(t *testing.T) {
	for _, tc := range []struct {
		name       string
		method     string
		path, body string
		clientQuit bool // the client disconnects during the store call
		storeErr   func(ctx context.Context) error
		wantStatus int
		wantError  bool // an ERROR record is logged
	}{
		{"read, client hangs up", "GET", "/fhir/R4/Patient/1", "", true,
			func(ctx context.Context) error { return fmt.Errorf("read patient: %w", ctx.Err()) }, 499, false},
		{"search, client hangs up", "GET", "/fhir/R4/Patient", "", true,
			func(ctx context.Context) error { return fmt.Errorf("search: %w", ctx.Err()) }, 499, false},
		{"batch, client hangs up", "POST", "/fhir/R4",
			`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/1"}}]}`, true,
			func(ctx context.Context) error { return fmt.Errorf("read patient: %w", ctx.Err()) }, 499, false},
		{"read, the server's own timeout", "GET", "/fhir/R4/Patient/1", "", false,
			func(context.Context) error { return fmt.Errorf("read patient: %w", context.DeadlineExceeded) }, 500, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inStore := make(chan struct{})
			wait := func(ctx context.Context) error {
				close(inStore)
				if tc.clientQuit {
					<-ctx.Done()
				}
				return tc.storeErr(ctx)
			}
			st := &mock.ResourceStore{
				ReadFn: func(ctx context.Context, _, _ string) (*ward.Resource, error) { return nil, wait(ctx) },
				SearchFn: func(ctx context.Context, _ *ward.SearchQuery) (*ward.SearchResult, error) {
					return nil, wait(ctx)
				},
			}
			var logs mock.SyncBuffer
			srv := wardhttp.NewServer(wardhttp.Options{
				Store:         st,
				Authenticate:  func(*http.Request) (*ward.Principal, error) { return &ward.Principal{ProjectID: "p1"}, nil },
				Parse:         fakeParse,
				ResourceTypes: []string{"Patient"},
				Logger:        slog.New(slog.NewJSONHandler(&logs, nil)),
			})
			handled := make(chan struct{})
			api := srv.Handler()
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(handled)
				api.ServeHTTP(w, r)
			}))
			defer hs.Close()

			ctx, hangUp := context.WithCancel(context.Background())
			defer hangUp()
			req, _ := http.NewRequestWithContext(ctx, tc.method, hs.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/fhir+json")
			go func() {
				<-inStore
				if tc.clientQuit {
					hangUp()
				}
			}()
			if resp, err := hs.Client().Do(req); err == nil {
				resp.Body.Close()
			}
			select {
			case <-handled:
			case <-time.After(10 * time.Second):
				t.Fatal("the handler never returned")
			}

			var line map[string]any
			for _, rec := range logRecords(t, &logs) {
				if got := rec["level"] == "ERROR"; got && !tc.wantError {
					t.Errorf("logged as an error: %v", rec)
				}
				if rec["msg"] == "request" {
					line = rec
				}
			}
			if line == nil || line["status"] != float64(tc.wantStatus) {
				t.Errorf("request log line %v, want status %d", line, tc.wantStatus)
			}
			if tc.wantError && !strings.Contains(fmt.Sprint(logRecords(t, &logs)), "ERROR") {
				t.Errorf("a server timeout was not logged as an error: %v", logRecords(t, &logs))
			}
			route := "GET /fhir/R4/{type}/{id}"
			switch tc.path {
			case "/fhir/R4/Patient":
				route = "GET /fhir/R4/{type}"
			case "/fhir/R4":
				route = "POST /fhir/R4"
			}
			want := fmt.Sprintf(`
# HELP ward_http_requests_total HTTP requests by route pattern, method and status.
# TYPE ward_http_requests_total counter
ward_http_requests_total{method=%q,route=%q,status="%d"} 1
`, tc.method, route, tc.wantStatus)
			if err := testutil.GatherAndCompare(srv.Registry(), strings.NewReader(want), "ward_http_requests_total"); err != nil {
				t.Error(err)
			}
		})
	}
}
