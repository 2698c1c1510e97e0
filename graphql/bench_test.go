package graphql_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
	"github.com/wardhealth/ward/fhir/definitions"
	"github.com/wardhealth/ward/graphql"
	wardhttp "github.com/wardhealth/ward/http"
	"github.com/wardhealth/ward/search"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

var fullDefs = flag.Bool("graphql.fulldefs", false, "BenchmarkRequestSchema: load every R4 definition (CodeSystems and ValueSets too), not only StructureDefinitions and SearchParameters")

// benchServer serves the REST API and $graphql over s for one project
// admin, through HTTP, as ward serve does (minus tokens).
func benchServer(b *testing.B, s *store.Store, project string) *httptest.Server {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	caller := &ward.Principal{ProjectID: project, Admin: true, Author: "Practitioner/admin"}
	api := wardhttp.NewServer(wardhttp.Options{
		Store: s, Logger: logger, Parse: search.Parse, ResourceTypes: fhir.ResourceTypes(),
		Authenticate: func(*http.Request) (*ward.Principal, error) { return caller, nil },
		Operations:   []wardhttp.Route{{Pattern: "POST /fhir/R4/$graphql", Handler: graphql.New(s, logger)}},
	})
	srv := httptest.NewServer(api.Handler())
	b.Cleanup(srv.Close)
	return srv
}

func fetch(b *testing.B, srv *httptest.Server, method, path, body string) []byte {
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		b.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	return data
}

// BenchmarkRequestSchema times MedplumClient.requestSchema("Patient")'s
// query over HTTP against the real R4 definitions (the embedded
// StructureDefinitions and SearchParameters; -graphql.fulldefs loads
// everything). The first request also builds the schema; it is timed
// separately and reported as schema-build-ms.
func BenchmarkRequestSchema(b *testing.B) {
	d, err := definitions.R4()
	if err != nil {
		b.Fatal(err)
	}
	if !*fullDefs {
		d.Resources = slices.DeleteFunc(d.Resources, func(r definitions.Resource) bool {
			return r.Type != "StructureDefinition" && r.Type != "SearchParameter"
		})
	}
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			s := openBench(b, engine)
			if err := definitions.LoadData(context.Background(), s, d, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
				b.Fatal(err)
			}
			analyze(b, s, engine)
			srv := benchServer(b, s, uuid.NewString())
			body := mustJSON(map[string]any{"query": requestSchema})
			start := time.Now()
			first := fetch(b, srv, "POST", "/fhir/R4/$graphql", body)
			build := time.Since(start)
			var reply struct {
				Data struct {
					StructureDefinitionList []struct{ Snapshot struct{ Element []any } }
					SearchParameterList     []any
				}
			}
			if err := json.Unmarshal(first, &reply); err != nil || len(reply.Data.StructureDefinitionList) != 1 || len(reply.Data.SearchParameterList) == 0 {
				b.Fatalf("requestSchema answered %.300s", first)
			}
			b.ResetTimer()
			for b.Loop() {
				fetch(b, srv, "POST", "/fhir/R4/$graphql", body)
			}
			b.ReportMetric(float64(build.Milliseconds()), "first-request-ms")
			b.ReportMetric(float64(len(first)), "bytes")
			b.ReportMetric(float64(len(reply.Data.StructureDefinitionList[0].Snapshot.Element)), "elements")
			b.ReportMetric(float64(len(reply.Data.SearchParameterList)), "params")
		})
	}
}

// BenchmarkPatientListNested compares PatientList(_count: 20) with each
// patient's managingOrganization resolved against the REST search that
// returns the same data (Patient?_count=20&_include=Patient:organization),
// both over HTTP in the same loop; graphql/rest is the ratio of their
// times.
func BenchmarkPatientListNested(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			s := openBench(b, engine)
			w := &world{s: s, project: uuid.NewString(), ids: map[string]string{}}
			for i := 0; i < 10; i++ {
				w.create(b, w.project, fmt.Sprintf("org%d", i), fmt.Sprintf(`{"resourceType":"Organization","name":"Clinic %d"}`, i))
			}
			for i := 0; i < 200; i++ {
				w.create(b, w.project, fmt.Sprintf("p%d", i), fmt.Sprintf(`{"resourceType":"Patient","name":[{"given":["P%d"],"family":"Bench"}],"birthDate":"1970-01-01","managingOrganization":{"reference":"Organization/{org%d}"}}`, i, i%10))
			}
			analyze(b, s, engine)
			srv := benchServer(b, s, w.project)
			gq := mustJSON(map[string]any{"query": `{ PatientList(_count: 20) { id name { given family } birthDate managingOrganization { reference resource { ... on Organization { id name } } } } }`})
			rest := "/fhir/R4/Patient?_count=20&_include=Patient:organization"
			fetch(b, srv, "POST", "/fhir/R4/$graphql", gq) // builds the schema
			var gTime, rTime time.Duration
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				fetch(b, srv, "POST", "/fhir/R4/$graphql", gq)
				t1 := time.Now()
				fetch(b, srv, "GET", rest, "")
				rTime += time.Since(t1)
				gTime += t1.Sub(t0)
			}
			n := float64(b.N)
			b.ReportMetric(float64(gTime.Microseconds())/n, "graphql-µs/op")
			b.ReportMetric(float64(rTime.Microseconds())/n, "rest-µs/op")
			b.ReportMetric(float64(gTime)/float64(rTime), "graphql/rest")
		})
	}
}

// analyze gives PostgreSQL's planner statistics after the bulk load, as
// autovacuum would soon after it: without them the definition searches
// take 100–200 ms over REST and GraphQL alike.
func analyze(b *testing.B, s *store.Store, engine string) {
	if engine != "postgres" {
		return
	}
	if _, err := s.DB().Exec("ANALYZE"); err != nil {
		b.Fatal(err)
	}
}

func openBench(b *testing.B, engine string) *store.Store {
	if engine == "postgres" {
		return storetest.OpenPostgres(b)
	}
	return storetest.OpenSQLite(b)
}
