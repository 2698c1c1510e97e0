package feed_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/feed"
	"github.com/wardhealth/ward/feed/feedtest"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestProjectFeedsOnKafka: each project's own feed goes to its own topic
// with only its changes, of the types its admin chose; a project without
// a feed has no topic; the server-wide topic gets nothing while the
// server-wide feed is off, and everything once a super admin turns it on;
// a project whose feed is turned off gets nothing more.
func TestProjectFeedsOnKafka(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		brokers := kafkaCluster(t)
		projA, projB, projC := uuid.NewString(), uuid.NewString(), uuid.NewString()
		setFeed(t, s, projA, &ward.FeedConfig{Enabled: true, Sinks: []string{"kafka"}})
		setFeed(t, s, projB, &ward.FeedConfig{Enabled: true, Sinks: []string{"kafka", "nats"}, Types: []string{"Observation"}})
		setFeed(t, s, projC, &ward.FeedConfig{Enabled: true, Sinks: []string{"nats"}}) // not this sink
		writeChanges(t, s, projA, 2, 3)
		writeChanges(t, s, projB, 2, 2)
		writeChanges(t, s, projC, 1, 1)
		sink := newKafka(t, brokers)
		routes := &feed.Routes{Configs: s}
		runRoutedUntilCaughtUp(t, s, sink, routes)

		gotA := consumeTopic(t, brokers, sink.ProjectTopic(projA), countProject(t, s, projA)+1)
		assertOnly(t, "A's topic", gotA, projA, countProject(t, s, projA), nil)
		gotB := consumeTopic(t, brokers, sink.ProjectTopic(projB), countProject(t, s, projB))
		assertOnly(t, "B's topic", gotB, projB, countType(t, s, projB, "Observation"), map[string]bool{"Observation": true})
		if got := consumeTopic(t, brokers, sink.ProjectTopic(projC), 1); len(got) != 0 {
			t.Errorf("C's Kafka topic received %d changes though C's feed is on NATS only", len(got))
		}
		if got := consumeTopic(t, brokers, topic, 1); len(got) != 0 {
			t.Errorf("the server-wide topic received %d changes while the server-wide feed is off", len(got))
		}

		// A's admin turns A's feed off; a super admin turns the
		// server-wide feed on: from the feed's position onward.
		setFeed(t, s, projA, &ward.FeedConfig{Enabled: false, Sinks: []string{"kafka"}})
		setFeed(t, s, ward.SystemProjectID, &ward.FeedConfig{Enabled: true, Sinks: []string{"kafka"}})
		before := outboxLen(t, s)
		writeChanges(t, s, projA, 1, 2)
		writeChanges(t, s, projB, 1, 2)
		runRoutedUntilCaughtUp(t, s, sink, routes)
		if got := consumeTopic(t, brokers, sink.ProjectTopic(projA), len(gotA)+1); len(got) != len(gotA) {
			t.Errorf("A's topic received %d changes after A's feed was turned off", len(got)-len(gotA))
		}
		shared := consumeTopic(t, brokers, topic, outboxLen(t, s)-before+1)
		if len(shared) != outboxLen(t, s)-before {
			t.Errorf("the server-wide topic received %d changes, want the %d written since it was turned on", len(shared), outboxLen(t, s)-before)
		}
		for _, m := range shared {
			if m.Seq <= int64(before) {
				t.Errorf("the server-wide topic received change %d, from before it was turned on", m.Seq)
			}
		}
	})
}

// TestProjectFeedsOnNATS: project B's consumer, on B's subjects, receives
// B's changes of the chosen types and nothing of A; once B's feed is off
// it receives nothing more.
func TestProjectFeedsOnNATS(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		url := feedtest.NATS(t)
		projA, projB := uuid.NewString(), uuid.NewString()
		setFeed(t, s, projA, &ward.FeedConfig{Enabled: true, Sinks: []string{"nats"}})
		setFeed(t, s, projB, &ward.FeedConfig{Enabled: true, Sinks: []string{"nats"}, Types: []string{"Patient"}})
		writeChanges(t, s, projA, 2, 2)
		writeChanges(t, s, projB, 3, 2)
		sink := newNATS(t, url)
		routes := &feed.Routes{Configs: s}
		runRoutedUntilCaughtUp(t, s, sink, routes)
		onlyB := consumeNATS(t, url, "ward."+projB+".>", -1)
		assertOnly(t, "B's subjects", onlyB, projB, countType(t, s, projB, "Patient"), map[string]bool{"Patient": true})
		onlyA := consumeNATS(t, url, "ward."+projA+".>", -1)
		assertOnly(t, "A's subjects", onlyA, projA, countProject(t, s, projA), nil)

		setFeed(t, s, projB, &ward.FeedConfig{Enabled: false})
		writeChanges(t, s, projB, 2, 1)
		runRoutedUntilCaughtUp(t, s, sink, routes)
		if got := consumeNATS(t, url, "ward."+projB+".>", -1); len(got) != len(onlyB) {
			t.Errorf("B's subjects received %d changes after B's feed was turned off", len(got)-len(onlyB))
		}
	})
}

// TestAuditFeed: each project's audit records reach its own audit topic
// (Kafka) and subject (NATS) in chain order, none of another project's;
// a project whose audit feed is off sends none; records from before the
// sink's first start are not sent.
func TestAuditFeed(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		brokers, url := kafkaCluster(t), feedtest.NATS(t)
		l := s.NewAuditLog(store.AuditOptions{})
		t.Cleanup(l.Close)
		projA, projB, projC := uuid.NewString(), uuid.NewString(), uuid.NewString()
		recordAudit(t, l, projA, 2) // history: before the feed started
		l.Flush(context.Background())
		setFeed(t, s, projA, &ward.FeedConfig{Enabled: true, Sinks: []string{"kafka", "nats"}, Audit: true})
		setFeed(t, s, projB, &ward.FeedConfig{Enabled: true, Sinks: []string{"kafka", "nats"}, Audit: true})
		setFeed(t, s, projC, &ward.FeedConfig{Enabled: true, Sinks: []string{"kafka", "nats"}}) // changes only
		routes := &feed.Routes{Configs: s}
		kafka, nats := newKafka(t, brokers), newNATS(t, url)
		stop := runAuditFeeds(t, s, routes, kafka, nats)
		defer stop()
		for range 3 {
			recordAudit(t, l, projA, 7)
			recordAudit(t, l, projB, 4)
			recordAudit(t, l, projC, 2)
		}
		l.Flush(context.Background())
		waitAuditCursors(t, s, "kafka", "nats")

		for _, c := range []struct {
			project string
			want    int
		}{{projA, 21}, {projB, 12}} {
			fromKafka := consumeAuditTopic(t, brokers, kafka.AuditTopic(c.project), c.want+1)
			assertAuditInOrder(t, "Kafka "+kafka.AuditTopic(c.project), fromKafka, c.project, c.want, 2*boolInt(c.project == projA))
			fromNATS := consumeAuditNATS(t, url, feed.AuditSubject(c.project))
			assertAuditInOrder(t, "NATS "+feed.AuditSubject(c.project), fromNATS, c.project, c.want, 2*boolInt(c.project == projA))
		}
		if got := consumeAuditTopic(t, brokers, kafka.AuditTopic(projC), 1); len(got) != 0 {
			t.Errorf("C's audit topic received %d records though C's audit feed is off", len(got))
		}
		if got := consumeAuditNATS(t, url, feed.AuditSubject(projC)); len(got) != 0 {
			t.Errorf("C's audit subject received %d records though C's audit feed is off", len(got))
		}
	})
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func setFeed(t *testing.T, s *store.Store, project string, c *ward.FeedConfig) {
	t.Helper()
	if err := s.SetFeedConfig(ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal()), project, c); err != nil {
		t.Fatal(err)
	}
}

func countType(t *testing.T, s *store.Store, project, typ string) int {
	n := 0
	for _, c := range outbox(t, s) {
		if c.ProjectID == project && c.Type == typ {
			n++
		}
	}
	return n
}

// assertOnly checks got holds want changes, all of project and (when
// types is set) of those types, each resource's in order.
func assertOnly(t *testing.T, what string, got []received, project string, want int, types map[string]bool) {
	t.Helper()
	if len(got) != want {
		t.Errorf("%s received %d changes, want %d", what, len(got), want)
	}
	last := map[string]int64{}
	for _, m := range got {
		if m.Project != project {
			t.Fatalf("%s received %s/%s of project %s", what, m.Type, m.ID, m.Project)
		}
		if types != nil && !types[m.Type] {
			t.Errorf("%s received a %s, not a chosen type", what, m.Type)
		}
		if m.Seq < last[m.ID] {
			t.Errorf("%s: %s/%s seq %d after %d", what, m.Type, m.ID, m.Seq, last[m.ID])
		}
		last[m.ID] = m.Seq
	}
}

// runRoutedUntilCaughtUp runs a routed publisher of sink until its cursor
// reaches the end of the outbox, then stops it.
func runRoutedUntilCaughtUp(t *testing.T, s *store.Store, sink feed.RoutedSink, routes *feed.Routes) {
	t.Helper()
	runPublisherUntilCaughtUp(t, s, &feed.Publisher{Source: s, Sink: sink, Routes: routes, Batch: 7, Poll: 5 * time.Millisecond})
}

// consumeTopic reads name from its start until it has n records or none
// came for a second.
func consumeTopic(t *testing.T, brokers []string, name string, n int) []received {
	t.Helper()
	var out []received
	eachRecord(t, brokers, name, n, func(r *kgo.Record) {
		var m received
		if err := json.Unmarshal(r.Value, &m.Message); err != nil {
			t.Fatal(err)
		}
		m.key = string(r.Key)
		out = append(out, m)
	})
	return out
}

func consumeAuditTopic(t *testing.T, brokers []string, name string, n int) []feed.AuditMessage {
	t.Helper()
	var out []feed.AuditMessage
	eachRecord(t, brokers, name, n, func(r *kgo.Record) {
		var m feed.AuditMessage
		if err := json.Unmarshal(r.Value, &m); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != m.Project {
			t.Errorf("audit record of %s keyed %q", m.Project, r.Key)
		}
		out = append(out, m)
	})
	return out
}

func eachRecord(t *testing.T, brokers []string, name string, n int, fn func(*kgo.Record)) {
	t.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(name), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := 0
	for got < n {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fetches := c.PollFetches(ctx)
		cancel()
		before := got
		fetches.EachRecord(func(r *kgo.Record) {
			got++
			fn(r)
		})
		if got == before {
			return
		}
	}
}

func consumeAuditNATS(t *testing.T, url, subject string) []feed.AuditMessage {
	t.Helper()
	var out []feed.AuditMessage
	for _, data := range natsMessages(t, url, subject) {
		var m feed.AuditMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// recordAudit records n reads in project.
func recordAudit(t *testing.T, l *store.AuditLog, project string, n int) {
	t.Helper()
	for range n {
		rec := &ward.AuditRecord{Time: time.Now(), ProjectID: project, Kind: "rest", Action: "R", Interaction: "read",
			Outcome: "0", Status: 200, User: "User/u1", Profile: "Practitioner/p1", RequestID: uuid.NewString(),
			ResourceType: "Observation", ResourceID: uuid.NewString(), Results: -1}
		if err := l.Record(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
}

// runAuditFeeds runs an audit feed of each sink and waits until each has
// started (its cursors at the trail's present).
func runAuditFeeds(t *testing.T, s *store.Store, routes *feed.Routes, sinks ...feed.AuditSink) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, len(sinks))
	for _, sink := range sinks {
		go func() {
			_ = (&feed.AuditFeed{Source: s, Sink: sink, Routes: routes, Batch: 5, Poll: 5 * time.Millisecond, SaveEvery: 20 * time.Millisecond}).Run(ctx)
			done <- struct{}{}
		}()
	}
	for _, sink := range sinks {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, started, err := s.AuditFeedCursors(context.Background(), sink.Name()); err == nil && started {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the %s audit feed did not start", sink.Name())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return func() {
		cancel()
		for range sinks {
			<-done
		}
	}
}

// waitAuditCursors waits until each sink's audit cursors reach every
// project's mark.
func waitAuditCursors(t *testing.T, s *store.Store, sinks ...string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for _, sink := range sinks {
		for {
			marks, err := s.AuditMarks(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cursors, _, err := s.AuditFeedCursors(ctx, sink)
			if err != nil {
				t.Fatal(err)
			}
			behind := 0
			for p, m := range marks {
				if cursors[p] < m {
					behind++
				}
			}
			if behind == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the %s audit feed is behind in %d projects", sink, behind)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// assertAuditInOrder checks got is project's records after its first
// skipped ones, each once, in chain order.
func assertAuditInOrder(t *testing.T, what string, got []feed.AuditMessage, project string, want int, skipped int64) {
	t.Helper()
	if len(got) != want {
		t.Errorf("%s received %d records, want %d", what, len(got), want)
	}
	for i, m := range got {
		if m.Project != project {
			t.Fatalf("%s received a record of project %s", what, m.Project)
		}
		if m.Seq != skipped+int64(i)+1 || m.Type != "AuditEvent" || m.ID == "" || m.Hash == "" || m.Time.IsZero() {
			t.Fatalf("%s record %d: %+v, want seq %d", what, i, m, skipped+int64(i)+1)
		}
	}
}

// natsMessages is every message of the stream on subject, from its start.
func natsMessages(t *testing.T, url, subject string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, msg := range feedtest.Read(t, url, feed.Stream, subject, -1) {
		out = append(out, msg.Data)
	}
	return out
}

// TestAuditFeedResumesAfterCrash: an audit feed stopped after the broker
// acknowledged but before its cursors moved sends those records again
// after a restart — nothing is lost, and each project's records still
// arrive in chain order from where the consumer last was.
func TestAuditFeedResumesAfterCrash(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		brokers := kafkaCluster(t)
		l := s.NewAuditLog(store.AuditOptions{})
		t.Cleanup(l.Close)
		proj := uuid.NewString()
		setFeed(t, s, proj, &ward.FeedConfig{Enabled: true, Sinks: []string{"kafka"}, Audit: true})
		routes := &feed.Routes{Configs: s}
		k := newKafka(t, brokers)
		runAuditFeeds(t, s, routes, k)() // started at the present, then stopped
		recordAudit(t, l, proj, 9)
		l.Flush(context.Background())

		ctx, cancel := context.WithCancel(context.Background())
		crashing := &crashAfterAudit{AuditSink: k, cancel: cancel}
		_ = (&feed.AuditFeed{Source: s, Sink: crashing, Routes: routes, Batch: 4, Poll: 5 * time.Millisecond}).Run(ctx)
		if cursors, _, _ := s.AuditFeedCursors(context.Background(), "kafka"); cursors[proj] != 0 {
			t.Fatalf("cursor moved to %d though the feed died before storing it", cursors[proj])
		}
		stop := runAuditFeeds(t, s, routes, k)
		waitAuditCursors(t, s, "kafka")
		stop()
		got := consumeAuditTopic(t, brokers, k.AuditTopic(proj), 14)
		seen := map[int64]bool{}
		for i, m := range got {
			if i > 0 && m.Seq != got[i-1].Seq+1 && !(m.Seq == 1 && got[i-1].Seq == 4) {
				t.Errorf("record %d has seq %d after %d", i, m.Seq, got[i-1].Seq)
			}
			seen[m.Seq] = true
		}
		for seq := int64(1); seq <= 9; seq++ {
			if !seen[seq] {
				t.Errorf("record %d never delivered", seq)
			}
		}
		if len(got) != 13 {
			t.Errorf("%d records delivered, want the 9 and the 4 sent before the crash again", len(got))
		}
	})
}

// crashAfterAudit lets the broker acknowledge a batch, then stops the
// feed before it can store its cursors.
type crashAfterAudit struct {
	feed.AuditSink
	cancel context.CancelFunc
}

func (c *crashAfterAudit) DeliverAudit(ctx context.Context, records []feed.AuditDelivery) error {
	if err := c.AuditSink.DeliverAudit(ctx, records); err != nil {
		return err
	}
	c.cancel()
	return nil
}
