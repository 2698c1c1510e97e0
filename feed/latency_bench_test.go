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
	for _, backend := range benchEngines {
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
	committed := map[string]time.Time{}
	received := consumeReceipts(ctx, b, brokers, topic, b.N, func(value []byte) (string, bool) {
		var m feed.Message
		if json.Unmarshal(value, &m) != nil {
			return "", false
		}
		return m.ID, true
	})
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
	received.wait(b, 30*time.Second)
	b.StopTimer()
	// The write's return is noted after the commit: a change received
	// before that is counted as 0.
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "writes/s")
	reportPercentiles(b, received.since(committed))
}

// receipts are when a consumer received each record, by the key its
// keyOf reads from the record's value.
type receipts struct {
	mu   sync.Mutex
	at   map[string]time.Time
	n    int
	done chan struct{} // closed once n were received or ctx ended
}

// consumeReceipts reads topic until n records were received or ctx ends,
// noting when each arrived; a record keyOf cannot read is passed over.
func consumeReceipts(ctx context.Context, b *testing.B, brokers []string, topic string, n int, keyOf func(value []byte) (string, bool)) *receipts {
	consumer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(10*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(consumer.Close)
	r := &receipts{at: map[string]time.Time{}, n: n, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for got := 0; got < n && ctx.Err() == nil; {
			consumer.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
				now := time.Now()
				key, ok := keyOf(rec.Value)
				if !ok {
					return
				}
				r.mu.Lock()
				r.at[key] = now
				got = len(r.at)
				r.mu.Unlock()
			})
		}
	}()
	return r
}

// wait fails b unless all n records are received within timeout.
func (r *receipts) wait(b *testing.B, timeout time.Duration) {
	select {
	case <-r.done:
	case <-time.After(timeout):
		r.mu.Lock()
		b.Fatalf("consumer received %d of %d", len(r.at), r.n)
	}
}

// since is, sorted, each key's time from sent to its receipt; one
// received before it was noted as sent counts as 0.
func (r *receipts) since(sent map[string]time.Time) []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var d []time.Duration
	for key, at := range sent {
		d = append(d, max(0, r.at[key].Sub(at)))
	}
	slices.Sort(d)
	return d
}

// reportPercentiles reports the p50 and p99 of sorted in milliseconds.
func reportPercentiles(b *testing.B, sorted []time.Duration) {
	b.ReportMetric(float64(sorted[len(sorted)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(sorted[len(sorted)*99/100].Microseconds())/1000, "p99-ms")
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
