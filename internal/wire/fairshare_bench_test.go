package wire_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardhealth/ward/fairshare"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// BenchmarkNoisyNeighbour: project B reads one Patient at a time (by id)
// for a while alone, then again while project A floods the server with
// expensive searches from 16 clients at once; it reports B's p99 in both
// phases and their ratio (the goal: ≤ 1.5), with A's searches served at
// the server's default per project (half the processors), with a super
// admin's override of 2 and of 4, and with no fair shares. Run with
// -benchtime=1x.
func BenchmarkNoisyNeighbour(b *testing.B) {
	engines := map[string]func(testing.TB) *store.Store{"sqlite": storetest.OpenSQLite, "postgres": storetest.OpenPostgres}
	for _, engine := range []string{"sqlite", "postgres"} {
		for _, mode := range []struct {
			name   string
			shares bool
			slotsA int
		}{{"fair-default", true, 0}, {"fair-override-2", true, 2}, {"fair-override-4", true, 4}, {"unlimited", false, 0}} {
			b.Run(engine+"/"+mode.name, func(b *testing.B) {
				if engine == "postgres" && !postgresConfigured() {
					b.Skip("WARD_TEST_POSTGRES_URL not set")
				}
				s := engines[engine](b)
				// No rate limit: B alone reads faster than the default 60,000 a
				// minute on a quiet machine, and the slots are what is measured.
				defaults := fairshare.Limits{Concurrent: fairshare.DefaultConcurrent()}
				if !mode.shares {
					defaults = fairshare.Limits{}
				}
				srv, _ := startFairShareServer(b, s, defaults)
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
				tokenA, projectA := registerOwner(b, srv, "flood@example.com", "Flood Clinic")
				tokenB, _ := registerOwner(b, srv, "quiet@example.com", "Quiet Clinic")
				seedPatients(b, srv, client, "Bearer "+tokenA, 2000)
				readB := "/fhir/R4/Patient/" + seedPatients(b, srv, client, "Bearer "+tokenB, 20)
				if mode.slotsA > 0 {
					root := "Bearer " + superAdminBenchToken(b, srv)
					setSystemSetting(b, srv, client, root, projectA, fairshare.ConcurrencySetting, mode.slotsA)
				}
				const phase = 4 * time.Second
				alone := readLatencies(b, srv, client, "Bearer "+tokenB, readB, phase)
				stop := make(chan struct{})
				var searches, refused atomic.Int64
				var wg sync.WaitGroup
				for range 16 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						flood(srv, client, "Bearer "+tokenA, stop, &searches, &refused)
					}()
				}
				time.Sleep(500 * time.Millisecond)
				crowded := readLatencies(b, srv, client, "Bearer "+tokenB, readB, phase)
				close(stop)
				wg.Wait()
				p99Alone, p99Crowded := p99(alone), p99(crowded)
				b.ReportMetric(float64(p99Alone.Microseconds())/1000, "p99-alone-ms")
				b.ReportMetric(float64(p99Crowded.Microseconds())/1000, "p99-flood-ms")
				b.ReportMetric(float64(p99Crowded)/float64(p99Alone), "p99-ratio")
				b.ReportMetric(float64(searches.Load())/(phase.Seconds()+0.5), "A-searches/s")
				b.ReportMetric(float64(refused.Load())/(phase.Seconds()+0.5), "A-429/s")
				b.ReportMetric(float64(len(crowded))/phase.Seconds(), "B-reads/s")
			})
		}
	}
}

func postgresConfigured() bool {
	return strings.HasPrefix(os.Getenv("WARD_TEST_POSTGRES_URL"), "postgres")
}

// seedPatients creates n Patients in the token's project with batch
// bundles and returns the id of the last.
func seedPatients(b *testing.B, srv *httptest.Server, client *http.Client, authz string, n int) string {
	b.Helper()
	var last string
	for done := 0; done < n; done += 100 {
		var entries []string
		for i := done; i < min(n, done+100); i++ {
			entries = append(entries, fmt.Sprintf(`{"resource":{"resourceType":"Patient","name":[{"family":"Family%d","given":["Given%d"]}],"birthDate":"19%02d-01-01"},"request":{"method":"POST","url":"Patient"}}`, i, i, i%100))
		}
		body := `{"resourceType":"Bundle","type":"batch","entry":[` + strings.Join(entries, ",") + `]}`
		status, reply := benchDo(b, client, "POST", srv.URL+"/fhir/R4", authz, body)
		if status != 200 {
			b.Fatalf("seed batch: %d %s", status, reply)
		}
		var bundle struct {
			Entry []struct {
				Resource struct{ ID string } `json:"resource"`
			} `json:"entry"`
		}
		json.Unmarshal(reply, &bundle)
		last = bundle.Entry[len(bundle.Entry)-1].Resource.ID
	}
	return last
}

func benchDo(b *testing.B, client *http.Client, method, url, authz, body string) (int, []byte) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", authz)
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func superAdminBenchToken(b *testing.B, srv *httptest.Server) string {
	status, login := postJSON(b, srv, "/auth/login", "", map[string]any{
		"email": "admin@example.com", "password": adminPassword, "scope": "openid", "codeChallenge": "xyz", "codeChallengeMethod": "plain",
	})
	if status != 200 {
		b.Fatalf("admin login: %d %v", status, login)
	}
	return exchangeCode(b, srv, login)
}

// setSystemSetting sets one valueInteger of Project/id's systemSetting.
func setSystemSetting(b *testing.B, srv *httptest.Server, client *http.Client, authz, id, name string, value int) {
	status, raw := benchDo(b, client, "GET", srv.URL+"/fhir/R4/Project/"+id, authz, "")
	if status != 200 {
		b.Fatalf("GET Project: %d", status)
	}
	var project map[string]any
	json.Unmarshal(raw, &project)
	project["systemSetting"] = []any{map[string]any{"name": name, "valueInteger": value}}
	body, _ := json.Marshal(project)
	if status, raw := benchDo(b, client, "PUT", srv.URL+"/fhir/R4/Project/"+id, authz, string(body)); status != 200 {
		b.Fatalf("PUT Project: %d %s", status, raw)
	}
}

// readLatencies reads path as authz one request at a time for d.
func readLatencies(b *testing.B, srv *httptest.Server, client *http.Client, authz, path string, d time.Duration) []time.Duration {
	var out []time.Duration
	for end := time.Now().Add(d); time.Now().Before(end); {
		start := time.Now()
		status, raw := benchDo(b, client, "GET", srv.URL+path, authz, "")
		if status != 200 {
			b.Fatalf("B's read: %d %s", status, raw)
		}
		out = append(out, time.Since(start))
	}
	return out
}

// flood searches as authz until stop: a substring match over every
// Patient's name, sorted, counted, a page of 100.
func flood(srv *httptest.Server, client *http.Client, authz string, stop chan struct{}, searches, refused *atomic.Int64) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		req, _ := http.NewRequest("GET", srv.URL+fmt.Sprintf("/fhir/R4/Patient?name:contains=%d&_sort=-birthdate&_count=100&_total=accurate", i%10), nil)
		req.Header.Set("Authorization", authz)
		resp, err := client.Do(req)
		if err != nil {
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			refused.Add(1)
			time.Sleep(100 * time.Millisecond) // a polite client backs off
			continue
		}
		searches.Add(1)
	}
}

func p99(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)*99/100]
}
