package feed_test

import (
	"context"
	"encoding/json"
	"fmt"
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
// (docs/benchmarks.md): Observation creates, one per transaction, paced
// at a steady rate shared by concurrent writers (a tick no writer is free
// for is lost, so writes/s shows the rate reached), published by a
// Publisher woken on every commit to franz-go's in-process cluster, read
// by a consumer; the time from the write's return to the consumer's
// receipt, p50 and p99. Settings: 1 writer at 500/s, 16 writers at
// 250/s (below what this machine's writers reach) and at 1,000/s.
// Run: WARD_TEST_POSTGRES_URL=… go test -run '^$' -bench KafkaLatency -benchtime 5000x ./feed/
func BenchmarkKafkaLatency(b *testing.B) {
	for _, backend := range []struct {
		name string
		open func(testing.TB) *store.Store
	}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}} {
		for _, load := range []struct{ writers, rate int }{{1, 500}, {16, 250}, {16, 1000}} {
			b.Run(fmt.Sprintf("%s/writers=%d/rate=%d", backend.name, load.writers, load.rate), func(b *testing.B) {
				kafkaLatency(b, backend.open(b), load.writers, load.rate)
			})
		}
	}
}

func kafkaLatency(b *testing.B, s *store.Store, writers, rate int) {
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
	ticks := pace(ctx, b.N, time.Second/time.Duration(rate))
	b.ResetTimer()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range ticks {
				var id string
				err := s.Write(wctx, func(ctx context.Context, tx ward.ResourceTx) error {
					r, err := tx.Create(ctx, "Observation", body)
					if err == nil {
						id = r.ID
					}
					return err
				})
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				committed[id] = time.Now()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := b.Elapsed()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		mu.Lock()
		b.Fatalf("consumer received %d of %d", len(received), b.N)
	}
	b.StopTimer()
	// The write's return is noted after the commit: a change received
	// before that is counted as 0.
	var latencies []time.Duration
	for id, at := range committed {
		latencies = append(latencies, max(0, received[id].Sub(at)))
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "writes/s")
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
}

// pace hands out n ticks, one every period, to whichever writer is free;
// a tick no writer is free for is lost. The channel closes after the
// n-th.
func pace(ctx context.Context, n int, period time.Duration) <-chan struct{} {
	ticks := make(chan struct{})
	go func() {
		defer close(ticks)
		t := time.NewTicker(period)
		defer t.Stop()
		for sent := 0; sent < n; {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			select {
			case ticks <- struct{}{}:
				sent++
			default: // every writer busy
			}
		}
	}()
	return ticks
}
