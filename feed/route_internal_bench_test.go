package feed

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// BenchmarkRouteBatch is the routing alone (docs/benchmarks.md): a batch
// of 500 changes over some of 1,000 projects, each with its own feed
// configuration, routed to a sink — one read of the batch's projects'
// configurations and a lookup per change; ns per change.
// Run: go test -run '^$' -bench RouteBatch ./feed/
func BenchmarkRouteBatch(b *testing.B) {
	for _, engine := range []struct {
		name string
		open func(testing.TB) *store.Store
	}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}} {
		b.Run(engine.name, func(b *testing.B) {
			s := engine.open(b)
			ctx := ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
			projects := make([]string, 1000)
			for i := range projects {
				projects[i] = uuid.NewString()
				c := &ward.FeedConfig{Enabled: true, Sinks: []string{"kafka"}, Types: []string{"Observation", "Patient"}}
				if err := s.SetFeedConfig(ctx, projects[i], c); err != nil {
					b.Fatal(err)
				}
			}
			routes := &Routes{Configs: s}
			for _, spread := range []int{1, 50, 500} {
				b.Run(fmt.Sprintf("projects-per-batch=%d", spread), func(b *testing.B) {
					batch := make([]store.Change, 500)
					for i := range batch {
						batch[i] = store.Change{Seq: int64(i + 1), ProjectID: projects[i%spread], Type: "Observation", ID: uuid.NewString()}
					}
					b.ResetTimer()
					for range b.N {
						if _, err := routes.changes(ctx, "kafka", batch); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/change")
				})
			}
		})
	}
}
