package feed_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/feed"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// BenchmarkKafkaLatency is commit → Kafka consumer latency
// (docs/benchmarks.md): Observation creates at a steady 500 per second,
// one per transaction, published by a Publisher woken on every commit to
// franz-go's in-process cluster, read by a consumer; the time from the
// write's return to the consumer's receipt, p50 and p99.
// Run: go test -run '^$' -bench KafkaLatency -benchtime 3000x ./feed/
func BenchmarkKafkaLatency(b *testing.B) {
	for _, backend := range []struct {
		name string
		open func(testing.TB) *store.Store
	}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}} {
		b.Run(backend.name, func(b *testing.B) {
			s := backend.open(b)
			brokers := kafkaCluster(b)
			k, err := feed.NewKafka(brokers, topic)
			if err != nil {
				b.Fatal(err)
			}
			defer k.Close()
			wake := make(chan struct{}, 1)
			s.OnCommit(func(context.Context, []*ward.Resource) {
				select {
				case wake <- struct{}{}:
				default:
				}
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go (&feed.Publisher{Source: s, Sink: k, Wake: wake}).Run(ctx)

			var mu sync.Mutex
			committed, received := map[string]time.Time{}, map[string]time.Time{}
			consumer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(10*time.Millisecond))
			if err != nil {
				b.Fatal(err)
			}
			defer consumer.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				for n := 0; n < b.N && ctx.Err() == nil; {
					consumer.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
						now := time.Now()
						var m feed.Message
						if json.Unmarshal(r.Value, &m) != nil {
							return
						}
						mu.Lock()
						received[m.ID] = now
						n = len(received)
						mu.Unlock()
					})
				}
			}()
			wctx := ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: uuid.NewString()})
			body := []byte(`{"resourceType":"Observation","status":"final","code":{"text":"latency"}}`)
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			b.ResetTimer()
			for range b.N {
				<-tick.C
				var id string
				err := s.Write(wctx, func(ctx context.Context, tx ward.ResourceTx) error {
					r, err := tx.Create(ctx, "Observation", body)
					if err == nil {
						id = r.ID
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				mu.Lock()
				committed[id] = time.Now()
				mu.Unlock()
			}
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				mu.Lock()
				b.Fatalf("consumer received %d of %d", len(received), b.N)
			}
			b.StopTimer()
			// The write's return is noted after the commit: a change
			// received before that is counted as 0.
			var latencies []time.Duration
			for id, at := range committed {
				latencies = append(latencies, max(0, received[id].Sub(at)))
			}
			slices.Sort(latencies)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
			b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
