package store_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/feed"
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
					benchCreateObservations(b, s, perTx)
				})
			}
		}
	}
}

// BenchmarkOutboxConcurrentWrites is BenchmarkOutboxWrite with 32
// concurrent writers, one create per transaction, in four modes, each on
// a store of its own: the outbox off, on, on with a Kafka sink publishing
// (a feed.Publisher woken on every commit, to franz-go's in-process
// cluster kfake, which shares the machine's cores), and that with a
// feed.Pruner deleting what the sink had every second. The modes take
// turns in blocks of 200 writes, so a machine whose load drifts (other
// tests running) weighs on every mode alike; the ratios to off are
// reported. Between blocks, untimed, the sinks finish what they lag by,
// so no mode's block carries another's publishing; lag-at-end is the
// most a sink lagged by at the end of its block.
// Run: WARD_TEST_POSTGRES_URL=… go test -run '^$' -bench OutboxConcurrentWrites -benchtime 4000x ./store/
func BenchmarkOutboxConcurrentWrites(b *testing.B) {
	modes := []string{"off", "on", "kafka", "kafka+prune"}
	for _, backend := range benchBackends {
		b.Run(backend.name, func(b *testing.B) {
			stores := make([]*store.Store, len(modes))
			for i, mode := range modes {
				stores[i] = backend.open(b)
				store.SetOutbox(stores[i], mode != "off")
				if strings.HasPrefix(mode, "kafka") {
					stop := publishToKafka(b, stores[i], mode == "kafka+prune")
					defer stop()
				}
			}
			ctx := as(uuid.NewString())
			rng := rand.New(rand.NewPCG(1, 2))
			body, _ := json.Marshal(synth.Observation(rng, "Patient/"+uuid.NewString()))
			took := make([]time.Duration, len(modes))
			var lag int64
			const block = 200
			b.ResetTimer()
			for done := 0; done < b.N; done += block {
				for i, s := range stores {
					began := time.Now()
					writeConcurrently(b, s, ctx, body, 32, min(block, b.N-done))
					took[i] += time.Since(began)
					if strings.HasPrefix(modes[i], "kafka") {
						b.StopTimer()
						lag = max(lag, catchUp(b, s))
						b.StartTimer()
					}
				}
			}
			b.StopTimer()
			for i, mode := range modes {
				b.ReportMetric(float64(b.N)/took[i].Seconds(), mode+"-res/s")
				if i > 0 {
					b.ReportMetric(took[0].Seconds()/took[i].Seconds(), mode+"/off")
				}
			}
			b.ReportMetric(float64(lag), "lag-at-end")
		})
	}
}

// catchUp waits for the Kafka sink's cursor to reach the end of s's
// outbox and returns how far behind it was.
func catchUp(b *testing.B, s *store.Store) int64 {
	ctx := context.Background()
	last, err := s.OutboxLast(ctx)
	if err != nil {
		b.Fatal(err)
	}
	cursor, _ := s.OutboxCursor(ctx, "kafka")
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if at, _ := s.OutboxCursor(ctx, "kafka"); at >= last {
			return last - cursor
		}
	}
	b.Fatalf("the Kafka sink did not reach seq %d", last)
	return 0
}

// writeConcurrently creates n Observations from writers goroutines, one
// per transaction.
func writeConcurrently(b *testing.B, s *store.Store, ctx context.Context, body []byte, writers, n int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
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
	}
	wg.Wait()
}

// publishToKafka runs a Kafka publisher of s's outbox, woken on every
// commit, and with prune a Pruner every second, until the returned stop.
func publishToKafka(b *testing.B, s *store.Store, prune bool) (stop func()) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "bench"))
	if err != nil {
		b.Fatal(err)
	}
	k, err := feed.NewKafka(cluster.ListenAddrs(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	wake := make(chan struct{}, 1)
	s.OnCommit(func(context.Context, []*ward.Resource) {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	var running sync.WaitGroup
	running.Go(func() { _ = (&feed.Publisher{Source: s, Sink: k, Wake: wake}).Run(ctx) })
	if prune {
		running.Go(func() { _ = (&feed.Pruner{Source: s, Every: time.Second}).Run(ctx) })
	}
	return func() {
		cancel()
		running.Wait()
		k.Close()
		cluster.Close()
	}
}
