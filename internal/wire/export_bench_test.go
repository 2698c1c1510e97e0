package wire_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardhealth/ward"
)

// BenchmarkBulkExport: a system-level export of a project of
// WARD_EXPORT_RESOURCES Observations (default 20,000) as its admin, from
// kick-off to the downloaded file (read as a stream, counted, not kept);
// resources/s and the peak Go heap while it ran (sampled every 10 ms)
// against the heap before.
// Run: WARD_TEST_POSTGRES_URL=… go test ./internal/wire/ -run XXX -bench BulkExport -benchtime 1x -timeout 1h
func BenchmarkBulkExport(b *testing.B) {
	n := 20_000
	if v, err := strconv.Atoi(os.Getenv("WARD_EXPORT_RESOURCES")); err == nil && v > 0 {
		n = v
	}
	for _, eng := range benchEngines() {
		b.Run(eng.name, func(b *testing.B) {
			s := eng.open(b)
			srv := startAuditedAuthServer(&testing.T{}, s)
			b.Cleanup(srv.Close)
			owner, project := registerOwner(b, srv, "bench-export@example.com", "Export Bench")
			sys := ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
			for start := 0; start < n; start += 500 {
				err := s.Write(sys, func(ctx context.Context, tx ward.ResourceTx) error {
					for i := start; i < min(n, start+500); i++ {
						body := fmt.Sprintf(`{"resourceType":"Observation","meta":{"project":%q},"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"valueQuantity":{"value":%d,"unit":"/min"}}`, project, 60+i%40)
						if _, err := tx.Create(ctx, "Observation", []byte(body)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			c := fhirClient{t: &testing.T{}, base: srv.URL, authz: "Bearer " + owner}
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			var peak atomic.Uint64
			stop := make(chan struct{})
			go func() {
				var m runtime.MemStats
				for {
					select {
					case <-stop:
						return
					case <-time.After(10 * time.Millisecond):
						runtime.ReadMemStats(&m)
						if m.HeapInuse > peak.Load() {
							peak.Store(m.HeapInuse)
						}
					}
				}
			}()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				manifest, _ := exportAndWaitFor(c.t, c, "$export?_type=Observation", 30*time.Minute)
				if got := countLines(b, c, manifest["output"].([]any)[0].(map[string]any)["url"].(string)); got != n {
					b.Fatalf("exported %d, want %d", got, n)
				}
			}
			elapsed := time.Since(start)
			close(stop)
			b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "resources/s")
			b.ReportMetric(float64(peak.Load()-min(peak.Load(), before.HeapInuse))/(1<<20), "peak-heap-MB-added")
		})
	}
}

// countLines downloads url with c's token as a stream and counts its lines.
func countLines(b *testing.B, c fhirClient, url string) int {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", c.authz)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("download: %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	n := 0
	for sc.Scan() {
		n++
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	return n
}
