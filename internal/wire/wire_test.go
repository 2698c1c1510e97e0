package wire_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wardhealth/ward/internal/wire"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// server starts the fully wired HTTP API on s.
func server(t *testing.T, s *store.Store) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(nil)
	srv.Config.Handler = wire.Handler(s, wire.Config{BaseURL: srv.URL + "/", MaxBodyBytes: 1 << 20, Authenticate: wire.HeaderProject}, slog.New(slog.DiscardHandler))
	t.Cleanup(srv.Close)
	return srv
}

type client struct {
	t    *testing.T
	base string
}

func (c client) do(method, path, body string, headers ...string) (int, http.Header, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(data, &out)
	return resp.StatusCode, resp.Header, out
}

// TestEndToEnd drives the wired server through the REST API on each backend.
func TestEndToEnd(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		srv := server(t, s)
		c := client{t, srv.URL}

		status, h, p := c.do("POST", "/fhir/R4/Patient", `{"resourceType":"Patient","name":[{"family":"Smith","given":["Ann"]}],"birthDate":"1970-05-01","gender":"female"}`)
		if status != 201 || h.Get("Location") == "" || h.Get("ETag") == "" {
			t.Fatalf("create: %d %v %v", status, h, p)
		}
		id := p["id"].(string)

		status, _, _ = c.do("GET", "/fhir/R4/Patient/"+id, "")
		if status != 200 {
			t.Errorf("read: %d", status)
		}
		tx := `{"resourceType":"Bundle","type":"transaction","entry":[
		 {"fullUrl":"urn:uuid:1f9e5c62-0b7e-4c55-9a4e-5b0f5d1d2a01","resource":{"resourceType":"Patient","name":[{"family":"Jones"}]},"request":{"method":"POST","url":"Patient"}},
		 {"resource":{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
		  "subject":{"reference":"urn:uuid:1f9e5c62-0b7e-4c55-9a4e-5b0f5d1d2a01"},"effectiveDateTime":"2021-03-04T05:06:07Z",
		  "valueQuantity":{"value":72,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}},"request":{"method":"POST","url":"Observation"}}]}`
		status, _, b := c.do("POST", "/fhir/R4", tx)
		if status != 200 {
			t.Fatalf("transaction: %d %v", status, b)
		}
		searches := []struct {
			query string
			want  int
		}{
			{"/fhir/R4/Patient?name=smi", 1},
			{"/fhir/R4/Patient?birthdate=lt1980", 1},
			{"/fhir/R4/Observation?code=http://loinc.org|8867-4", 1},
			{"/fhir/R4/Observation?subject:Patient.name=jones", 1},
			{"/fhir/R4/Observation?date=2021-03", 1},
			{"/fhir/R4/Observation?value-quantity=gt70", 1},
			{"/fhir/R4/Observation?value-quantity=lt70", 0},
			{"/fhir/R4/Patient?_has:Observation:subject:code=8867-4", 1},
		}
		for _, sc := range searches {
			status, _, b := c.do("GET", sc.query, "")
			entries, _ := b["entry"].([]any)
			if status != 200 || len(entries) != sc.want {
				t.Errorf("%s: %d with %d entries, want %d (%v)", sc.query, status, len(entries), sc.want, b)
			}
		}
		status, _, b = c.do("GET", "/fhir/R4/Observation?_include=Observation:subject", "")
		if entries, _ := b["entry"].([]any); status != 200 || len(entries) != 2 {
			t.Errorf("_include: %d, %v", status, b)
		}
		bad := []struct {
			method, path, body string
			want               int
		}{
			{"GET", "/fhir/R4/Patient?foo=bar", "", 400},
			{"GET", "/fhir/R4/Patient?birthdate=2020-13", "", 400},
			{"GET", "/fhir/R4/Foo/" + id, "", 404},
			{"POST", "/fhir/R4/Patient", `{"resourceType":"Patient",`, 400},
			{"POST", "/fhir/R4/Patient", `{"resourceType":"Patient","active":"yes"}`, 400},
			{"POST", "/fhir/R4/Patient", `{"resourceType":"Patient","x":"` + strings.Repeat("a", 2<<20) + `"}`, 413},
			{"PUT", "/fhir/R4/Patient/" + id, `{"resourceType":"Patient","id":"other"}`, 400},
		}
		for _, bc := range bad {
			status, _, b := c.do(bc.method, bc.path, bc.body)
			if status != bc.want || b["resourceType"] != "OperationOutcome" {
				t.Errorf("%s %s: %d %v, want %d OperationOutcome", bc.method, bc.path, status, b["resourceType"], bc.want)
			}
		}
		for _, path := range []string{"/healthcheck", "/fhir/R4/metadata", "/metrics"} {
			if status, _, _ := c.do("GET", path, ""); status != 200 {
				t.Errorf("GET %s: %d", path, status)
			}
		}
	})
}

// TestMetricsApart: Handlers serves the API without /metrics (404 there,
// also for the console) and the metrics on their own handler, counting the
// API's requests.
func TestMetricsApart(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		api, metrics := wire.Handlers(s, wire.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		for _, path := range []string{"/healthcheck", "/metrics"} {
			w := httptest.NewRecorder()
			api.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
			want := map[string]int{"/healthcheck": 200, "/metrics": 404}[path]
			if w.Code != want {
				t.Errorf("GET %s on the API: %d, want %d", path, w.Code, want)
			}
		}
		w := httptest.NewRecorder()
		metrics.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
		for _, series := range []string{
			`ward_http_requests_total{method="GET",route="GET /healthcheck",status="200"} 1`,
			`ward_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
			`go_sql_max_open_connections{db_name="ward_read"}`, "go_goroutines", "process_resident_memory_bytes",
		} {
			if w.Code != 200 || !strings.Contains(w.Body.String(), series) {
				t.Errorf("metrics %d lack %s", w.Code, series)
			}
		}
	})
}
