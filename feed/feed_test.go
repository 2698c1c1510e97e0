package feed_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/feed"
	"github.com/wardhealth/ward/feed/feedtest"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

const topic = "ward-changes"

// TestKafkaDeliversEveryChangeInOrder: every committed change reaches a
// Kafka consumer once, each resource's versions in commit order, keyed by
// project and resource with the project in a header.
func TestKafkaDeliversEveryChangeInOrder(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		brokers := kafkaCluster(t)
		projA, projB := uuid.NewString(), uuid.NewString()
		writeChanges(t, s, projA, 3, 4)
		writeChanges(t, s, projB, 2, 3)
		sink := newKafka(t, brokers)
		runUntilCaughtUp(t, s, sink, nil)
		got := consumeKafka(t, brokers, outboxLen(t, s))
		assertDelivered(t, s, got, false)
		for _, m := range got {
			if m.header != m.Project || m.key != m.Project+"/"+m.Type+"/"+m.ID {
				t.Fatalf("record key %q header %q for %s/%s of %s", m.key, m.header, m.Type, m.ID, m.Project)
			}
		}
	})
}

// TestKafkaResumesAfterCrash: a publisher stopped after the broker
// acknowledged but before its cursor moved sends that batch again after
// a restart — nothing is lost, and the copies carry the same versionIds.
func TestKafkaResumesAfterCrash(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		brokers := kafkaCluster(t)
		proj := uuid.NewString()
		writeChanges(t, s, proj, 2, 3)
		ctx, cancel := context.WithCancel(context.Background())
		crashing := &crashAfterPublish{Sink: newKafka(t, brokers), cancel: cancel}
		p := &feed.Publisher{Source: s, Sink: crashing, Batch: 4}
		if err := p.Run(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("crashed publisher: %v", err)
		}
		if seq, _ := s.OutboxCursor(context.Background(), "kafka"); seq != 0 {
			t.Fatalf("cursor moved to %d though the publisher died before advancing it", seq)
		}
		writeChanges(t, s, proj, 1, 2) // written while the publisher is down
		runUntilCaughtUp(t, s, newKafka(t, brokers), nil)
		got := consumeKafka(t, brokers, outboxLen(t, s)+4)
		assertDelivered(t, s, got, true)
	})
}

// TestNATSDeliversPerProjectSubjects: every change reaches JetStream under
// ward.<project>.<type>; a consumer filtering on project B's subjects sees
// all of B and nothing of A; a restart between publish and cursor advance
// loses nothing (JetStream drops the copies by message id).
func TestNATSDeliversPerProjectSubjects(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		url := feedtest.NATS(t)
		projA, projB := uuid.NewString(), uuid.NewString()
		writeChanges(t, s, projA, 3, 3)
		writeChanges(t, s, projB, 2, 2)

		ctx, cancel := context.WithCancel(context.Background())
		crashing := &crashAfterPublish{Sink: newNATS(t, url), cancel: cancel}
		_ = (&feed.Publisher{Source: s, Sink: crashing, Batch: 5}).Run(ctx)
		runUntilCaughtUp(t, s, newNATS(t, url), nil)

		all := consumeNATS(t, url, "ward.>", outboxLen(t, s))
		assertDelivered(t, s, all, false)
		onlyB := consumeNATS(t, url, "ward."+projB+".>", -1)
		if len(onlyB) == 0 {
			t.Fatal("project B's consumer received nothing")
		}
		for _, m := range onlyB {
			if m.Project != projB {
				t.Fatalf("project B's consumer received %s/%s of project %s", m.Type, m.ID, m.Project)
			}
		}
		if want := countProject(t, s, projB); len(onlyB) != want {
			t.Errorf("project B's consumer received %d changes, want %d", len(onlyB), want)
		}
	})
}

// TestPublisherSendsOnlyChosenTypes: with Types set, other types are
// passed over and the cursor still reaches the end of the outbox.
func TestPublisherSendsOnlyChosenTypes(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		url := feedtest.NATS(t)
		writeChanges(t, s, uuid.NewString(), 2, 2)
		runUntilCaughtUp(t, s, newNATS(t, url), map[string]bool{"Observation": true})
		for _, m := range consumeNATS(t, url, "ward.>", -1) {
			if m.Type != "Observation" {
				t.Fatalf("sent a %s though only Observation was chosen", m.Type)
			}
		}
	})
}

// TestMetricsShowLag: a sink's lag on /metrics is what is committed and
// not yet acknowledged, and falls to 0 once its publisher caught up.
func TestMetricsShowLag(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		url := feedtest.NATS(t)
		writeChanges(t, s, uuid.NewString(), 2, 2)
		m := feed.NewMetrics(s.OutboxLast, "nats")
		if lag := testutil.ToFloat64(metricOf(m, "ward_feed_lag")); lag != float64(outboxLen(t, s)) {
			t.Fatalf("lag before publishing %v, want %d", lag, outboxLen(t, s))
		}
		sink := newNATS(t, url)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- (&feed.Publisher{Source: s, Sink: sink, Metrics: m, Poll: 5 * time.Millisecond}).Run(ctx)
		}()
		defer func() { cancel(); <-done }()
		deadline := time.Now().Add(10 * time.Second)
		for testutil.ToFloat64(metricOf(m, "ward_feed_lag")) != 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if lag := testutil.ToFloat64(metricOf(m, "ward_feed_lag")); lag != 0 {
			t.Fatalf("lag %v after catching up", lag)
		}
		if n, _ := testutil.GatherAndCount(registry(m), "ward_feed_published_total"); n != 1 {
			t.Fatalf("%d published series", n)
		}
	})
}

type collectorFunc func(ch chan<- prometheus.Metric)

func (f collectorFunc) Describe(chan<- *prometheus.Desc)    {}
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }

func registry(m *feed.Metrics) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	return reg
}

// writeChanges writes, in project, patients Patients and for each an
// Observation updated versions-1 times, one transaction per write.
func writeChanges(t *testing.T, s *store.Store, project string, patients, versions int) {
	t.Helper()
	ctx := ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: project, Admin: true, Author: "Practitioner/admin"})
	for range patients {
		var pid, oid string
		write(t, s, ctx, func(ctx context.Context, tx ward.ResourceTx) error {
			p, err := tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient"}`))
			if err == nil {
				pid = p.ID
			}
			return err
		})
		for v := range versions {
			write(t, s, ctx, func(ctx context.Context, tx ward.ResourceTx) error {
				body := fmt.Sprintf(`{"resourceType":"Observation","status":"final","code":{"text":"v%d"},"subject":{"reference":"Patient/%s"}}`, v, pid)
				if oid == "" {
					o, err := tx.Create(ctx, "Observation", []byte(body))
					if err == nil {
						oid = o.ID
					}
					return err
				}
				_, _, err := tx.Update(ctx, "Observation", oid, []byte(body[:1]+`"id":"`+oid+`",`+body[1:]), "")
				return err
			})
		}
	}
}

func write(t *testing.T, s *store.Store, ctx context.Context, fn func(context.Context, ward.ResourceTx) error) {
	t.Helper()
	if err := s.Write(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

// outbox is every change on s's outbox.
func outbox(t *testing.T, s *store.Store) []store.Change {
	t.Helper()
	changes, err := s.OutboxAfter(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	return changes
}

func outboxLen(t *testing.T, s *store.Store) int { return len(outbox(t, s)) }

func countProject(t *testing.T, s *store.Store, project string) int {
	n := 0
	for _, c := range outbox(t, s) {
		if c.ProjectID == project {
			n++
		}
	}
	return n
}

// runUntilCaughtUp runs a publisher of sink until its cursor reaches the
// end of the outbox, then stops it.
func runUntilCaughtUp(t *testing.T, s *store.Store, sink feed.Sink, types map[string]bool) {
	t.Helper()
	runPublisherUntilCaughtUp(t, s, &feed.Publisher{Source: s, Sink: sink, Types: types, Batch: 7, Poll: 5 * time.Millisecond})
}

// runPublisherUntilCaughtUp runs p until its sink's cursor reaches the end
// of the outbox, then stops it.
func runPublisherUntilCaughtUp(t *testing.T, s *store.Store, p *feed.Publisher) {
	t.Helper()
	changes := outbox(t, s)
	last := changes[len(changes)-1].Seq
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if seq, err := s.OutboxCursor(context.Background(), p.Sink.Name()); err == nil && seq == last {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s publisher did not reach seq %d", p.Sink.Name(), last)
}

// crashAfterPublish lets the broker acknowledge a batch, then stops the
// publisher before it can move its cursor: a kill between the two.
type crashAfterPublish struct {
	feed.Sink
	cancel context.CancelFunc
}

func (c *crashAfterPublish) Publish(ctx context.Context, changes []store.Change) error {
	if err := c.Sink.Publish(ctx, changes); err != nil {
		return err
	}
	c.cancel()
	return nil
}

// received is one delivered change with its Kafka key and header.
type received struct {
	feed.Message
	key, header string
}

// assertDelivered checks that got holds every outbox change, each
// resource's in seq order, and copies only of the same version (none
// unless dups).
func assertDelivered(t *testing.T, s *store.Store, got []received, dups bool) {
	t.Helper()
	want := outbox(t, s)
	seen := map[int64]int{}
	lastOf := map[string]int64{}
	for _, m := range got {
		seen[m.Seq]++
		key := m.Project + "/" + m.Type + "/" + m.ID
		if prev, ok := lastOf[key]; ok && m.Seq < prev && seen[m.Seq] == 1 {
			t.Errorf("%s: seq %d delivered after %d", key, m.Seq, prev)
		}
		lastOf[key] = max(lastOf[key], m.Seq)
	}
	copies := 0
	for _, c := range want {
		switch n := seen[c.Seq]; {
		case n == 0:
			t.Errorf("change %d (%s %s/%s) never delivered", c.Seq, c.Operation, c.Type, c.ID)
		case n > 1:
			copies++
		}
	}
	for _, m := range got {
		c := want[m.Seq-1]
		if m.VersionID != c.VersionID || m.ID != c.ID || m.Operation != c.Operation || m.Project != c.ProjectID {
			t.Errorf("delivered %+v for change %+v", m.Message, c)
		}
	}
	if copies > 0 && !dups {
		t.Errorf("%d changes delivered more than once", copies)
	}
	if dups && copies == 0 {
		t.Errorf("the batch acknowledged before the crash was not sent again")
	}
}

func kafkaCluster(t testing.TB) []string {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func newKafka(t *testing.T, brokers []string) *feed.Kafka {
	k, err := feed.NewKafka(brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	return k
}

// consumeKafka reads the topic from its start until it has n records.
func consumeKafka(t *testing.T, brokers []string, n int) []received {
	t.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []received
	for len(out) < n && ctx.Err() == nil {
		fetches := c.PollFetches(ctx)
		fetches.EachRecord(func(r *kgo.Record) {
			var m received
			if err := json.Unmarshal(r.Value, &m.Message); err != nil {
				t.Fatal(err)
			}
			m.key = string(r.Key)
			for _, h := range r.Headers {
				if h.Key == "ward-project" {
					m.header = string(h.Value)
				}
			}
			out = append(out, m)
		})
	}
	return out
}

func newNATS(t *testing.T, url string) *feed.NATS {
	n, err := feed.NewNATS(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

// consumeNATS reads the stream's messages on subject from its start: n of
// them, or (n < 0) all there are.
func consumeNATS(t *testing.T, url, subject string, n int) []received {
	t.Helper()
	var out []received
	for _, msg := range feedtest.Read(t, url, feed.Stream, subject, n) {
		var m received
		if err := json.Unmarshal(msg.Data, &m.Message); err != nil {
			t.Fatal(err)
		}
		if want := "ward." + m.Project + "." + m.Type; msg.Subject != want {
			t.Fatalf("subject %s, want %s", msg.Subject, want)
		}
		out = append(out, m)
	}
	return out
}
