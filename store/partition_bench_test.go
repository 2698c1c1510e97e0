package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/postgres"
	"github.com/wardhealth/ward/store/storetest"
)

// BenchmarkPartitionedSchema compares the plain schema with every project
// table hash-partitioned by project_id (16 partitions, store.Layout) on
// PostgreSQL, on BenchmarkReadByID's data set: WARD_BENCH_READ_PER_PROJECT
// (1000 unless set) Patients in each of 20 projects, one database of each
// layout loaded alike; the partitioned layout also with custom plans only
// (plan_cache_mode = force_custom_plan, custom-µs). Each operation runs as a project's admin on both,
// in turn, and reports both means and the ratio (x-plain): a read by id,
// a search by name (a page of 20), and ingest (one Patient per
// transaction). SQLite has no partitions: its sub-benchmark is skipped.
// Run: WARD_TEST_POSTGRES_URL=… go test -run '^$' -bench PartitionedSchema -benchtime 2000x ./store/
func BenchmarkPartitionedSchema(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { b.Skip("hash partitions are a PostgreSQL layout") })
	b.Run("postgres", func(b *testing.B) {
		plain := storetest.OpenPostgres(b)
		partitioned := storetest.OpenPostgresWith(b, postgres.Options{HashPartitions: 16})
		custom := openCustomPlans(b, 16)
		perProject := envInt("WARD_BENCH_READ_PER_PROJECT", 1000)
		stores := []*store.Store{plain, partitioned, custom}
		var worlds []*projectsWorld
		for _, s := range stores {
			worlds = append(worlds, loadProjects(b, s, 20, perProject))
		}
		for _, s := range stores {
			analyze(b, s)
		}
		admin := func(c, i int) (context.Context, int) {
			k := i % len(worlds[c].projects)
			return ward.NewContextWithPrincipal(context.Background(), worlds[c].admin(k)), k
		}
		ops := []struct {
			name string
			do   func(i, c int) error
		}{
			{"read", func(i, c int) error {
				ctx, k := admin(c, i)
				res := worlds[c].resources[k]
				_, err := stores[c].Read(ctx, "Patient", res[(i/20*7919)%len(res)].ID)
				return err
			}},
			{"search", func(i, c int) error {
				ctx, _ := admin(c, i)
				_, err := trySearch(stores[c], ctx, "Patient", "name=Family"+itoa(i*37%1000)+"&_count=20")
				return err
			}},
			{"ingest", func(i, c int) error {
				ctx, _ := admin(c, i)
				body, _ := json.Marshal(map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": "Ingest" + itoa(i%1000)}}})
				return stores[c].Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
					_, err := tx.Create(ctx, "Patient", body)
					return err
				})
			}},
		}
		for _, op := range ops {
			b.Run(op.name, func(b *testing.B) {
				took := timeInTurns(b, len(stores), op.do)
				n := float64(b.N)
				b.ReportMetric(float64(took[0].Microseconds())/n, "plain-µs")
				b.ReportMetric(float64(took[1].Microseconds())/n, "partitioned-µs")
				b.ReportMetric(float64(took[2].Microseconds())/n, "custom-µs")
				b.ReportMetric(float64(took[1])/float64(max(took[0], 1)), "x-plain")
				b.ReportMetric(float64(took[2])/float64(max(took[0], 1)), "custom-x-plain")
			})
		}
	})
}

// openCustomPlans is the partitioned layout with plan_cache_mode =
// force_custom_plan on every connection: each execution is planned with
// its arguments, so only the caller's partitions are pruned to and locked,
// where a generic plan locks every partition at each execution.
func openCustomPlans(b *testing.B, partitions int) *store.Store {
	url, schema := storetest.PostgresSchema(b)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	s, err := postgres.Open(context.Background(), url+sep+"plan_cache_mode=force_custom_plan", postgres.Options{SearchPath: schema, MaxConns: 8, HashPartitions: partitions})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}
