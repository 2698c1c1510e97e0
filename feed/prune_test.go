package feed_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/wardhealth/ward/feed"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestPruneHoldsRowsForASinkWhoseBrokerIsDown: rows the Kafka sink has had
// are pruned (all but the highest); while its broker is down writes go on
// and the outbox grows, pruning keeps every row the sink has not had; once
// the broker is back the sink catches up with all of them and they are
// pruned too.
func TestPruneHoldsRowsForASinkWhoseBrokerIsDown(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		broker := startBroker(t)
		m := feed.NewOutboxMetrics()
		pruner := &feed.Pruner{Source: s, Metrics: m, Batch: 3}
		stop := runPublisher(t, s, newKafka(t, broker.addrs()))
		defer stop()
		proj := uuid.NewString()

		writeChanges(t, s, proj, 2, 3)
		before := waitCursor(t, s, "kafka", lastOf(t, s))
		if got, err := pruner.Prune(context.Background()); err != nil || got.Deleted != before-1 {
			t.Fatalf("pruned %+v, %v; want the %d rows below the highest", got, err, before-1)
		}
		if rows := testutil.ToFloat64(metricOf(m, "ward_outbox_rows")); rows != 1 {
			t.Fatalf("ward_outbox_rows %v after the sink had every change, want 1", rows)
		}

		broker.stop()
		began := time.Now()
		writeChanges(t, s, proj, 3, 3) // 12 writes while the broker is down
		if took := time.Since(began); took > 5*time.Second {
			t.Fatalf("12 writes took %v with the broker down", took)
		}
		last := lastOf(t, s)
		if _, err := pruner.Prune(context.Background()); err != nil {
			t.Fatal(err)
		}
		held, err := s.OutboxAfter(context.Background(), before, 100)
		if err != nil || int64(len(held)) != last-before {
			t.Fatalf("with the broker down the outbox holds %d changes after the sink's cursor, want %d (%v)", len(held), last-before, err)
		}
		if rows := testutil.ToFloat64(metricOf(m, "ward_outbox_rows")); rows != float64(last-before) {
			t.Fatalf("ward_outbox_rows %v with the broker down, want %d", rows, last-before)
		}

		broker.start()
		waitCursor(t, s, "kafka", last)
		got := consumeKafka(t, broker.addrs(), len(held))
		assertHas(t, got, held)
		if _, err := pruner.Prune(context.Background()); err != nil {
			t.Fatal(err)
		}
		if rows := testutil.ToFloat64(metricOf(m, "ward_outbox_rows")); rows != 1 {
			t.Fatalf("ward_outbox_rows %v once the sink caught up, want 1", rows)
		}
	})
}

// TestPruneDropsPastTheLimitWithAnAlert: with the broker down from the
// start and a limit of 5 rows, writes go on; pruning drops the older rows
// for the Kafka sink with an ERROR naming it, ward_outbox_over_limit and
// ward_outbox_dropped_total; once the broker is back the sink gets the 5
// rows kept, and the alert clears.
func TestPruneDropsPastTheLimitWithAnAlert(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		broker := startBroker(t)
		broker.stop()
		m := feed.NewOutboxMetrics()
		var logs syncBuffer
		pruner := &feed.Pruner{Source: s, Metrics: m, MaxRows: 5, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
		stop := runPublisher(t, s, newKafka(t, broker.addrs()))
		defer stop()
		waitCursor(t, s, "kafka", 0) // the publisher confirmed its cursor

		began := time.Now()
		writeChanges(t, s, uuid.NewString(), 2, 4) // 10 writes
		if took := time.Since(began); took > 5*time.Second {
			t.Fatalf("10 writes took %v with the broker down", took)
		}
		last := lastOf(t, s)
		got, err := pruner.Prune(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got.Through != last-5 || got.Dropped["kafka"] != last-5 {
			t.Fatalf("pruned %+v, want through %d with %d dropped for kafka", got, last-5, last-5)
		}
		if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "sink=kafka") {
			t.Fatalf("no ERROR naming the sink:\n%s", logs.String())
		}
		if v := testutil.ToFloat64(metricOf(m, "ward_outbox_over_limit")); v != 1 {
			t.Fatalf("ward_outbox_over_limit %v, want 1", v)
		}
		if v := testutil.ToFloat64(metricOf(m, "ward_outbox_dropped_total")); v != float64(last-5) {
			t.Fatalf("ward_outbox_dropped_total %v, want %d", v, last-5)
		}
		if v := testutil.ToFloat64(metricOf(m, "ward_outbox_rows")); v != 5 {
			t.Fatalf("ward_outbox_rows %v, want 5", v)
		}
		kept, err := s.OutboxAfter(context.Background(), got.Through, 100)
		if err != nil || len(kept) != 5 {
			t.Fatalf("outbox holds %d rows after the drop, want 5 (%v)", len(kept), err)
		}

		broker.start()
		waitCursor(t, s, "kafka", last)
		assertHas(t, consumeKafka(t, broker.addrs(), 5), kept)
		if _, err := pruner.Prune(context.Background()); err != nil {
			t.Fatal(err)
		}
		if v := testutil.ToFloat64(metricOf(m, "ward_outbox_over_limit")); v != 0 {
			t.Fatalf("ward_outbox_over_limit %v once the sink caught up, want 0", v)
		}
	})
}

// TestPruneLetsRetiredCursorsGo: a cursor nobody confirmed within
// RetiredAfter holds no rows (it is moved where they were pruned, and
// counted); a confirmed one holds what it has not had.
func TestPruneLetsRetiredCursorsGo(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		writeChanges(t, s, uuid.NewString(), 2, 2)
		last := lastOf(t, s)
		if err := s.SetOutboxCursor(ctx, "gone", 1); err != nil {
			t.Fatal(err)
		}
		later := &feed.Pruner{Source: s, RetiredAfter: time.Hour, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }}
		if err := s.SetOutboxCursor(ctx, "held", 2); err != nil {
			t.Fatal(err)
		}
		now := &feed.Pruner{Source: s, RetiredAfter: time.Hour}
		if got, err := now.Prune(ctx); err != nil || got.Through != 1 {
			t.Fatalf("pruned %+v, %v; want through 1, the oldest live cursor", got, err)
		}
		got, err := later.Prune(ctx) // both retired by then
		if err != nil || got.Through != last-1 || got.Dropped["gone"] != last-2 || got.Dropped["held"] != last-3 {
			t.Fatalf("pruned %+v, %v; want through %d, %d dropped for gone and %d for held", got, err, last-1, last-2, last-3)
		}
		if seq, _ := s.OutboxCursor(ctx, "gone"); seq != last-1 {
			t.Fatalf("retired cursor at %d, want moved to %d", seq, last-1)
		}
	})
}

// broker is a kfake cluster that can go down and come back on its port
// with its data (its topics' ids, the records acknowledged).
type broker struct {
	t    *testing.T
	port int
	dir  string
	c    *kfake.Cluster
}

func startBroker(t *testing.T) *broker {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &broker{t: t, port: l.Addr().(*net.TCPAddr).Port, dir: t.TempDir()}
	l.Close()
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *broker) start() {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(b.port), kfake.DataDir(b.dir), kfake.SeedTopics(3, topic))
	if err != nil {
		b.t.Fatal(err)
	}
	b.c = c
}

func (b *broker) stop() {
	if b.c != nil {
		b.c.Close()
		b.c = nil
	}
}

func (b *broker) addrs() []string { return []string{"127.0.0.1:" + strconv.Itoa(b.port)} }

// runPublisher runs a publisher of sink until the returned stop, which
// waits for it a few seconds at most: a produce to a broker that is down
// ends only at its delivery timeout.
func runPublisher(t *testing.T, s *store.Store, sink feed.Sink) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- (&feed.Publisher{Source: s, Sink: sink, Batch: 7, Poll: 5 * time.Millisecond}).Run(ctx)
	}()
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
}

// waitCursor waits for sink's stored cursor to reach seq, and returns it.
func waitCursor(t *testing.T, s *store.Store, sink string, seq int64) int64 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		cursors, err := s.OutboxCursors(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cursors {
			if c.Sink == sink && c.Seq >= seq {
				return c.Seq
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s's cursor did not reach %d", sink, seq)
	return 0
}

func lastOf(t *testing.T, s *store.Store) int64 {
	t.Helper()
	_, last, err := s.OutboxBounds(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// assertHas checks that got holds each of want, with its versionId, and
// each resource's versions in seq order.
func assertHas(t *testing.T, got []received, want []store.Change) {
	t.Helper()
	bySeq := map[int64]received{}
	lastOf := map[string]int64{}
	for _, m := range got {
		bySeq[m.Seq] = m
		key := m.Project + "/" + m.Type + "/" + m.ID
		if m.Seq < lastOf[key] {
			t.Errorf("%s: seq %d received after %d", key, m.Seq, lastOf[key])
		}
		lastOf[key] = max(lastOf[key], m.Seq)
	}
	for _, c := range want {
		if m, ok := bySeq[c.Seq]; !ok || m.VersionID != c.VersionID || m.ID != c.ID {
			t.Errorf("change %d (%s/%s %s) not received as committed: %+v", c.Seq, c.Type, c.ID, c.VersionID, m.Message)
		}
	}
}

// metricOf is the one metric named of m's collection.
func metricOf(m prometheus.Collector, name string) prometheus.Collector {
	return collectorFunc(func(ch chan<- prometheus.Metric) {
		all := make(chan prometheus.Metric, 64)
		m.Collect(all)
		close(all)
		for metric := range all {
			if strings.Contains(metric.Desc().String(), `"`+name+`"`) {
				ch <- metric
			}
		}
	})
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
