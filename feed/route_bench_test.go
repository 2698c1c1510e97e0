package feed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/feed"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// benchProjects is how many projects the routing benchmarks configure.
const benchProjects = 1000

var benchEngines = []struct {
	name string
	open func(testing.TB) *store.Store
}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}}

// BenchmarkRoutedPublish is the publishing cost per change with 1,000
// projects each with its own feed configuration (docs/benchmarks.md):
// b.N creates spread over the projects (a transaction of up to five per
// project), then a Publisher catches up on them into franz-go's
// in-process Kafka — to the shared topic only (the server-wide feed from
// the flags, no project configured), to each project's own topic (1,000
// configurations, server-wide off), or to both.
// Run: go test -run '^$' -bench RoutedPublish -benchtime 5000x ./feed/
func BenchmarkRoutedPublish(b *testing.B) {
	for _, engine := range benchEngines {
		b.Run(engine.name, func(b *testing.B) {
			s := engine.open(b)
			projects := make([]string, benchProjects)
			for i := range projects {
				projects[i] = uuid.NewString()
			}
			brokers := kafkaCluster(b)
			k, err := feed.NewKafka(brokers, topic)
			if err != nil {
				b.Fatal(err)
			}
			defer k.Close()
			warmTopics(b, k, projects)
			on := &ward.FeedConfig{Enabled: true, Sinks: []string{"kafka"}}
			for _, mode := range []struct {
				name          string
				server, owned bool
			}{{"server-wide", true, false}, {"1000-project-feeds", false, true}, {"both", true, true}} {
				b.Run(mode.name, func(b *testing.B) {
					for _, p := range projects {
						var c *ward.FeedConfig
						if mode.owned {
							c = on
						}
						setFeedTB(b, s, p, c)
					}
					routes := &feed.Routes{Configs: s}
					if mode.server {
						routes.Default = on
					}
					sink := &renamed{Kafka: k, name: fmt.Sprint("bench-", mode.name, "-", b.N)}
					from, err := s.OutboxLast(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					if err := s.SetOutboxCursor(context.Background(), sink.Name(), from); err != nil {
						b.Fatal(err)
					}
					writeSpread(b, s, projects, b.N)
					b.ResetTimer()
					catchUp(b, s, sink, routes)
					b.StopTimer()
					b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/change")
				})
			}
		})
	}
}

// BenchmarkAuditFeedLag is the audit feed's lag (docs/benchmarks.md):
// records paced at 500 per second, round-robin over 1,000 projects, fed
// to the server-wide audit topic by an AuditFeed polling every 50 ms (as
// ward serve runs it); the time from Record's return to a consumer's receipt, p50 and p99.
// Run: go test -run '^$' -bench AuditFeedLag -benchtime 3000x ./feed/
func BenchmarkAuditFeedLag(b *testing.B) {
	for _, engine := range benchEngines {
		b.Run(engine.name, func(b *testing.B) {
			s := engine.open(b)
			l := s.NewAuditLog(store.AuditOptions{})
			defer l.Close()
			brokers := kafkaCluster(b)
			k, err := feed.NewKafka(brokers, topic)
			if err != nil {
				b.Fatal(err)
			}
			defer k.Close()
			routes := &feed.Routes{Configs: s, Default: &ward.FeedConfig{Enabled: true, Sinks: []string{"kafka"}, Audit: true}}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go (&feed.AuditFeed{Source: s, Sink: k, Routes: routes}).Run(ctx) // polling every 50 ms, as in ward serve

			projects := make([]string, benchProjects)
			for i := range projects {
				projects[i] = uuid.NewString()
			}
			var mu sync.Mutex
			recorded := map[string]time.Time{}
			received := consumeReceipts(ctx, b, brokers, k.AuditTopic(""), b.N, func(value []byte) (string, bool) {
				var m feed.AuditMessage
				if json.Unmarshal(value, &m) != nil {
					return "", false
				}
				return fmt.Sprint(m.Project, "/", m.Seq), true
			})
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			b.ResetTimer()
			for i := range b.N {
				<-tick.C
				project := projects[i%len(projects)]
				rec := &ward.AuditRecord{Time: time.Now(), ProjectID: project, Kind: "rest", Action: "R", Interaction: "read",
					Outcome: "0", Status: 200, User: "User/u1", Profile: "Practitioner/p1", RequestID: uuid.NewString(),
					ResourceType: "Observation", ResourceID: uuid.NewString(), Results: -1}
				if err := l.Record(context.Background(), rec); err != nil {
					b.Fatal(err)
				}
				mu.Lock()
				recorded[fmt.Sprint(project, "/", i/len(projects)+1)] = time.Now()
				mu.Unlock()
			}
			received.wait(b, 60*time.Second)
			b.StopTimer()
			mu.Lock()
			reportPercentiles(b, received.since(recorded))
			mu.Unlock()
		})
	}
}

// renamed is a sink with its own cursor name, so each benchmark mode
// reads the same outbox from its start.
type renamed struct {
	*feed.Kafka
	name string
}

func (r *renamed) Name() string { return r.name }

// writeSpread writes n Observations over projects, a transaction of up
// to five per project in turn.
func writeSpread(tb testing.TB, s *store.Store, projects []string, n int) {
	tb.Helper()
	body := []byte(`{"resourceType":"Observation","status":"final","code":{"text":"routed"}}`)
	for written, i := 0, 0; written < n; i++ {
		ctx := ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: projects[i%len(projects)], Admin: true})
		k := min(5, n-written)
		err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
			for range k {
				if _, err := tx.Create(ctx, "Observation", body); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
		written += k
	}
}

// warmTopics creates every project's topic before the timer starts.
func warmTopics(tb testing.TB, k *feed.Kafka, projects []string) {
	tb.Helper()
	var warm []feed.Delivery
	for _, p := range projects {
		warm = append(warm, feed.Delivery{Change: store.Change{ProjectID: p, Type: "Basic", ID: "warm"}, Own: true})
	}
	if err := k.Deliver(context.Background(), warm); err != nil {
		tb.Fatal(err)
	}
}

func setFeedTB(tb testing.TB, s *store.Store, project string, c *ward.FeedConfig) {
	tb.Helper()
	if err := s.SetFeedConfig(ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal()), project, c); err != nil {
		tb.Fatal(err)
	}
}

// catchUp runs a routed publisher until its cursor reaches the end of
// the outbox.
func catchUp(tb testing.TB, s *store.Store, sink feed.RoutedSink, routes *feed.Routes) {
	tb.Helper()
	last, err := s.OutboxLast(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- (&feed.Publisher{Source: s, Sink: sink, Routes: routes, Poll: time.Millisecond}).Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		if seq, err := s.OutboxCursor(context.Background(), sink.Name()); err == nil && seq == last {
			return
		}
		time.Sleep(time.Millisecond)
	}
	tb.Fatalf("publisher did not reach seq %d", last)
}
