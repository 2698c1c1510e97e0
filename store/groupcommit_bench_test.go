package store_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/internal/synth"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/postgres"
	"github.com/wardhealth/ward/store/sqlite"
	"github.com/wardhealth/ward/store/storetest"
)

// BenchmarkGroupCommit compares concurrent writes with and without
// batching commits, in one run: the two stores of an engine take turns in
// blocks of 640 writes, so load drifting on the machine weighs on both
// alike. SQLite as ward serve runs it (synchronous=FULL, a file on disk)
// with group commit off and on; PostgreSQL (8 connections: the test
// server is shared) as configured and with commit_delay=200µs, commit_siblings=4
// (server settings a superuser may also set per connection), when
// WARD_TEST_POSTGRES_URL is set. Each kind of write (single creates from
// 32 writers; writes of 100 creates, a transaction bundle's, from 4)
// reports resources/s, p50 and p99 of a write's latency per mode, and
// the ratio of the second mode's throughput to the first's.
// Run: go test -run '^$' -bench GroupCommit -benchtime 6400x ./store/
func BenchmarkGroupCommit(b *testing.B) {
	openSQLite := func(group bool) func(b *testing.B) *store.Store {
		return func(b *testing.B) *store.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "ward.db"), sqlite.Options{Synchronous: "FULL", NoGroupCommit: !group})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}
	}
	openPostgres := func(params string) func(b *testing.B) *store.Store {
		return func(b *testing.B) *store.Store {
			url, schema := storetest.PostgresSchema(b)
			sep := "?"
			if strings.Contains(url, "?") {
				sep = "&"
			}
			if params != "" {
				url += sep + params
			}
			s, err := postgres.Open(context.Background(), url, postgres.Options{SearchPath: schema, MaxConns: 8})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			var delay string
			if err := s.WriterDB().QueryRow("SHOW commit_delay").Scan(&delay); err != nil {
				b.Fatal(err)
			}
			if want := "0"; params != "" && delay == want {
				b.Fatalf("commit_delay is %s with %s: not applied", delay, params)
			}
			return s
		}
	}
	type mode struct {
		name string
		open func(b *testing.B) *store.Store
	}
	engines := []struct {
		name  string
		modes [2]mode
	}{
		{"sqlite", [2]mode{{"group-off", openSQLite(false)}, {"group-on", openSQLite(true)}}},
		{"postgres", [2]mode{{"plain", openPostgres("")}, {"commit-delay", openPostgres("commit_delay=200&commit_siblings=4")}}},
	}
	for _, engine := range engines {
		for _, kind := range []struct {
			name           string
			perTx, writers int
		}{{"single-c32", 1, 32}, {"bundle100-c4", 100, 4}} {
			b.Run(engine.name+"/"+kind.name, func(b *testing.B) {
				var stores [2]*store.Store
				for i, m := range engine.modes {
					stores[i] = m.open(b)
				}
				ctx := as(uuid.NewString())
				rng := rand.New(rand.NewPCG(1, 2))
				bodies := make([][]byte, 200)
				for i := range bodies {
					bodies[i], _ = json.Marshal(synth.Observation(rng, "Patient/"+uuid.NewString()))
				}
				var took [2]time.Duration
				var lat [2][]time.Duration
				block := 640
				b.ResetTimer()
				for done := 0; done < b.N; done += block {
					for i, s := range stores {
						n := min(block, b.N-done)
						began := time.Now()
						lat[i] = append(lat[i], writeTimed(b, s, ctx, bodies, kind.writers, n, kind.perTx)...)
						took[i] += time.Since(began)
					}
				}
				b.StopTimer()
				for i, m := range engine.modes {
					slices.Sort(lat[i])
					b.ReportMetric(float64(b.N)/took[i].Seconds(), m.name+"-res/s")
					b.ReportMetric(float64(lat[i][len(lat[i])/2].Microseconds())/1000, m.name+"-p50-ms")
					b.ReportMetric(float64(lat[i][len(lat[i])*99/100].Microseconds())/1000, m.name+"-p99-ms")
				}
				b.ReportMetric(took[0].Seconds()/took[1].Seconds(), "x")
			})
		}
	}
}

// writeTimed creates n Observations, perTx per transaction, from writers
// goroutines, and returns each transaction's latency.
func writeTimed(b *testing.B, s *store.Store, ctx context.Context, bodies [][]byte, writers, n, perTx int) []time.Duration {
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for {
				first := next.Add(int64(perTx)) - int64(perTx)
				if first >= int64(n) {
					return
				}
				began := time.Now()
				err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
					for j := first; j < first+int64(perTx) && j < int64(n); j++ {
						if _, err := tx.Create(ctx, "Observation", bodies[j%int64(len(bodies))]); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Error(err)
					return
				}
				d := time.Since(began)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return lat
}
