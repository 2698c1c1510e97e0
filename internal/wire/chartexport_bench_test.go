package wire_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/wardhealth/ward"
)

// BenchmarkCSVExport: the list's "Export → CSV" of 1,000 Patients (with
// an identifier, a narrative and an extension, as synthetic records have
// them; Patient/$csv, six columns) against the same search as JSON
// (Patient?_count=1000), as the project's admin through the whole handler
// with the audit trail on, response bodies read to the end.
// Run: WARD_TEST_POSTGRES_URL=… go test ./internal/wire/ -run XXX -bench CSVExport -benchtime 20x
func BenchmarkCSVExport(b *testing.B) {
	const n = 1000
	for _, eng := range benchEngines() {
		b.Run(eng.name, func(b *testing.B) {
			s := eng.open(b)
			srv := startAuditedAuthServer(&testing.T{}, s)
			b.Cleanup(srv.Close)
			owner, project := registerOwner(b, srv, "bench-csv@example.com", "CSV Bench")
			sys := ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
			err := s.Write(sys, func(ctx context.Context, tx ward.ResourceTx) error {
				for i := range n {
					body := fmt.Sprintf(`{"resourceType":"Patient","meta":{"project":%q},
						"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Pat Q Family%04d, female, born 19%02d-03-04, 1 Main St, Springfield</div>"},
						"extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex","valueCode":"F"}],
						"identifier":[{"system":"http://hospital.example/mrn","value":"MRN%06d"}],"name":[{"given":["Pat","Q"],"family":"Family%04d"}],
						"gender":"female","birthDate":"19%02d-03-04","address":[{"line":["%d Main St"],"city":"Springfield","state":"IL","postalCode":"62701"}],
						"telecom":[{"system":"phone","value":"555-%04d"}]}`, project, i, i%100, i, i, i%100, i, i)
					if _, err := tx.Create(ctx, "Patient", []byte(body)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			// Each iteration fetches both, alternating which goes first, so
			// both see the same machine; the ratio is of their means.
			const jsonPath = "/fhir/R4/Patient?_count=1000&_sort=_id"
			const csvPath = "/fhir/R4/Patient/$csv?_fields=id,name,birthdate,gender,address,telecom&_sort=_id"
			var jsonTime, csvTime time.Duration
			var jsonSize, csvSize int64
			timed := func(path string, d *time.Duration, size *int64) {
				start := time.Now()
				*size = fetch(b, srv.URL+path, "Bearer "+owner)
				*d += time.Since(start)
			}
			b.ResetTimer()
			for i := range b.N {
				if i%2 == 0 {
					timed(jsonPath, &jsonTime, &jsonSize)
					timed(csvPath, &csvTime, &csvSize)
				} else {
					timed(csvPath, &csvTime, &csvSize)
					timed(jsonPath, &jsonTime, &jsonSize)
				}
			}
			b.ReportMetric(float64(jsonTime.Milliseconds())/float64(b.N), "json-ms/op")
			b.ReportMetric(float64(csvTime.Milliseconds())/float64(b.N), "csv-ms/op")
			b.ReportMetric(float64(csvTime)/float64(jsonTime), "csv/json")
			b.ReportMetric(float64(jsonSize)/1024, "json-KiB")
			b.ReportMetric(float64(csvSize)/1024, "csv-KiB")
		})
	}
}

// fetch GETs url and reads the whole answer, returning its size.
func fetch(b *testing.B, url, authz string) int64 {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", authz)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	size, err := io.Copy(io.Discard, resp.Body)
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("%s: %d %v", url, resp.StatusCode, err)
	}
	return size
}
