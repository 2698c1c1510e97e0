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
)

// BenchmarkOutboxWrite is write throughput with the outbox on and off
// (docs/benchmarks.md): Observation creates, one per transaction and 100
// per transaction, the two modes alternating within one run.
// Run: go test -run '^$' -bench OutboxWrite -benchtime 3000x -count 3 ./store/
func BenchmarkOutboxWrite(b *testing.B) {
	for _, backend := range benchBackends {
		for _, perTx := range []int{1, 100} {
			for _, on := range []bool{false, true} {
				mode := "off"
				if on {
					mode = "on"
				}
				b.Run(backend.name+"/perTx="+itoa(perTx)+"/outbox="+mode, func(b *testing.B) {
					s := backend.open(b)
					store.SetOutbox(s, on)
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
}

// BenchmarkOutboxConcurrentWrites is BenchmarkOutboxWrite with 32
// concurrent writers, one create per transaction: the outbox orders its
// rows by taking a lock from its insert to the commit, which is the step
// concurrent commits would otherwise share.
// Run: WARD_TEST_POSTGRES_URL=… go test -run '^$' -bench OutboxConcurrentWrites -benchtime 3000x -count 2 ./store/
func BenchmarkOutboxConcurrentWrites(b *testing.B) {
	for _, backend := range benchBackends {
		for _, on := range []bool{false, true} {
			mode := "off"
			if on {
				mode = "on"
			}
			b.Run(backend.name+"/outbox="+mode, func(b *testing.B) {
				s := backend.open(b)
				store.SetOutbox(s, on)
				ctx := as(uuid.NewString())
				rng := rand.New(rand.NewPCG(1, 2))
				body, _ := json.Marshal(synth.Observation(rng, "Patient/"+uuid.NewString()))
				b.SetParallelism(16) // 32 writers on two cores
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
							_, err := tx.Create(ctx, "Observation", body)
							return err
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
			})
		}
	}
}
