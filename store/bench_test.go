package store_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/internal/synth"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// benchBackends are the engines every store benchmark runs on
// (PostgreSQL only when WARD_TEST_POSTGRES_URL is set).
var benchBackends = []struct {
	name string
	open func(testing.TB) *store.Store
}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}}

// BenchmarkWrite measures the write path (validate, index, insert) per
// resource: one resource per transaction, and 100 per transaction as a
// transaction bundle does. Run: go test -tags wip -run '^$' -bench Write ./store/
func BenchmarkWrite(b *testing.B) {
	for _, backend := range benchBackends {
		for _, perTx := range []int{1, 100} {
			b.Run(backend.name+"/perTx="+itoa(perTx), func(b *testing.B) {
				s := backend.open(b)
				ctx := as(uuid.NewString())
				rng := rand.New(rand.NewPCG(1, 2))
				bodies := make([][]byte, 1000)
				for i := range bodies {
					bodies[i], _ = json.Marshal(synth.Observation(rng, "Patient/"+uuid.NewString()))
				}
				b.ResetTimer()
				for i := 0; i < b.N; i += perTx {
					err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
						for j := i; j < i+perTx && j < b.N; j++ {
							if _, err := tx.Create(ctx, "Observation", bodies[j%len(bodies)]); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
			})
		}
	}
}

func itoa(n int) string {
	return string(rune('0'+n/100%10)) + string(rune('0'+n/10%10)) + string(rune('0'+n%10))
}
