package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// BenchmarkFencedWrite: what a job's lease fence adds to a small write
// (one Patient per transaction): fenced and unfenced writes alternate in
// one run, and their ratio is reported (x-unfenced).
// Run: go test -run '^$' -bench FencedWrite -benchtime 2000x ./store/
func BenchmarkFencedWrite(b *testing.B) {
	for _, engine := range []struct {
		name string
		open func(testing.TB) *store.Store
	}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}} {
		b.Run(engine.name, func(b *testing.B) {
			s := engine.open(b)
			ctx := context.Background()
			l, ok, err := s.ClaimLease(ctx, store.LeaseRef{ProjectID: "p-bench", Name: "job/bench"}, "bench", time.Hour)
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
			in := ward.NewContextWithPrincipal(ctx, &ward.Principal{ProjectID: "p-bench", Admin: true})
			fenced := store.WithFence(in, l)
			write := func(ctx context.Context) time.Duration {
				start := time.Now()
				err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
					_, err := tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient","name":[{"family":"Bench"}]}`))
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			var plain, withFence time.Duration
			b.ResetTimer()
			for i := range b.N {
				if i%2 == 0 {
					plain += write(in)
				} else {
					withFence += write(fenced)
				}
			}
			n := float64(max(1, b.N/2))
			b.ReportMetric(float64(plain.Microseconds())/n, "µs/unfenced")
			b.ReportMetric(float64(withFence.Microseconds())/n, "µs/fenced")
			b.ReportMetric(float64(withFence)/float64(max(plain, 1)), "x-unfenced")
		})
	}
}
