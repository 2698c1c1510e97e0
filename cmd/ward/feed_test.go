package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wardhealth/ward/feed"
	"github.com/wardhealth/ward/feed/feedtest"
)

// TestKill9Feed kills `ward serve -feed-nats-url` with SIGKILL under a
// load of creates and updates and starts it again (kill9FeedTest).
func TestKill9Feed(t *testing.T) {
	kill9FeedTest(t, func(t *testing.T) killedFeed {
		url := feedtest.NATS(t)
		return killedFeed{sink: "nats", args: []string{"-feed-nats-url", url},
			read: func(t *testing.T) []feed.Message { return natsChanges(t, url, "ward.>") }}
	})
}

// TestKill9FeedKafka kills `ward serve -feed-kafka-brokers` with SIGKILL
// under a load of creates and updates and starts it again
// (kill9FeedTest); the brokers are franz-go's in-process cluster (kfake).
func TestKill9FeedKafka(t *testing.T) {
	kill9FeedTest(t, func(t *testing.T) killedFeed {
		const topic = "ward.changes"
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		brokers := c.ListenAddrs()
		return killedFeed{sink: "kafka", args: []string{"-feed-kafka-brokers", strings.Join(brokers, ","), "-feed-kafka-topic", topic},
			read: func(t *testing.T) []feed.Message { return kafkaChanges(t, brokers, topic) }}
	})
}

// killedFeed is a broker the kill -9 test reads the change feed from.
type killedFeed struct {
	sink string   // the sink's name on /metrics
	args []string // the serve flags that publish to it
	// read returns every change on the feed so far, each resource's in
	// the broker's order.
	read func(t *testing.T) []feed.Message
}

// kill9FeedTest kills `ward serve` publishing to a broker with SIGKILL
// under a load of Observation creates and If-Match chained Patient
// updates, and starts it again: every write a client saw acknowledged
// reaches the broker's consumer after the restart, a copy of a change
// carries the same versionId, each Patient's versions arrive in the order
// they were written, and /metrics shows the sink's lag at 0. On SQLite
// and, with WARD_TEST_POSTGRES_URL set, on PostgreSQL.
func kill9FeedTest(t *testing.T, broker func(t *testing.T) killedFeed) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	for _, eng := range servedEngines() {
		t.Run(eng.name, func(t *testing.T) {
			f := broker(t)
			addr := freeAddr(t)
			args := append([]string{"serve", "-addr", addr, "-definitions=false", "-admin-password", "kill9-admin-password",
				"-log-level", "error"}, f.args...)
			args = append(args, eng.args(t)...)
			base := "http://" + addr
			srv := startChild(t, args, base)
			defer func() { srv.Process.Kill() }()
			c := &kill9Client{base: base}
			c.token = c.register(t)
			patient := c.mustCreate(t, "Patient", `{"resourceType":"Patient"}`)
			chained := []string{c.mustCreate(t, "Patient", `{"resourceType":"Patient"}`), c.mustCreate(t, "Patient", `{"resourceType":"Patient"}`)}

			stop := make(chan struct{})
			updates := make(chan map[string]int, 1)
			go func() { updates <- c.chainUpdates(chained, stop) }()
			_, created := c.mixedLoad(t, patient, srv, 1500*time.Millisecond)
			close(stop)
			updated := <-updates
			if len(created) < 5 || len(updated) < 5 {
				t.Fatalf("only %d creates and %d updates acknowledged before the kill", len(created), len(updated))
			}
			srv = startChild(t, args, base)

			want := map[string]bool{} // Type/id/versionId of every acknowledged write
			for _, id := range created {
				want["Observation/"+id] = true
			}
			for v := range updated {
				want["Patient/"+v] = true
			}
			var got []feed.Message
			deadline := time.Now().Add(30 * time.Second)
			missing := len(want)
			for missing > 0 && time.Now().Before(deadline) {
				got = f.read(t)
				present := map[string]bool{}
				for _, m := range got {
					present[m.Type+"/"+m.ID], present[m.Type+"/"+m.ID+"/"+m.VersionID] = true, true
				}
				missing = 0
				for key := range want {
					if !present[key] {
						missing++
					}
				}
				if missing > 0 {
					time.Sleep(200 * time.Millisecond)
				}
			}
			if missing > 0 {
				t.Errorf("%d of %d acknowledged writes never reached the feed after the restart", missing, len(want))
			}
			created1 := map[string]string{}
			for _, m := range got {
				if v, ok := created1[m.ID]; ok && m.Type == "Observation" && v != m.VersionID {
					t.Fatalf("Observation/%s delivered as version %s and %s", m.ID, v, m.VersionID)
				}
				created1[m.ID] = m.VersionID
			}
			c.assertFeedOrder(t, got, chained)
			lagZero := false
			for end := time.Now().Add(10 * time.Second); !lagZero && time.Now().Before(end); {
				_, _, metrics := c.send("GET", "/metrics", "", "")
				lagZero = strings.Contains(string(metrics), `ward_feed_lag{sink="`+f.sink+`"} 0`+"\n")
				time.Sleep(100 * time.Millisecond)
			}
			if !lagZero {
				t.Errorf(`/metrics never showed ward_feed_lag{sink=%q} 0 once the feed caught up`, f.sink)
			}
			t.Logf("%s: %d creates and %d updates acknowledged before SIGKILL, all on the %s feed", eng.name, len(created), len(updated), f.sink)
		})
	}
}

// chainUpdates updates patients from 4 clients until stop: each PUT is
// If-Match the version it read and names its place in the Patient's
// chain of versions in its family name ("n<place>"). It returns the
// place of every version whose update was acknowledged, by
// "<id>/<versionId>".
func (c *kill9Client) chainUpdates(patients []string, stop <-chan struct{}) map[string]int {
	var mu sync.Mutex
	acked := map[string]int{}
	var wg sync.WaitGroup
	untilStopped(&wg, 4, stop, func(w, i int) {
		id := patients[(w+i)%len(patients)]
		status, _, body := c.send("GET", "/fhir/R4/Patient/"+id, "", "")
		if status != 200 {
			return
		}
		next := chainPlace(body) + 1
		status, version := c.putIfMatch("/fhir/R4/Patient/"+id, fmt.Sprintf(`{"resourceType":"Patient","id":%q,"name":[{"family":"n%d"}]}`, id, next), versionOf(body))
		if status == 200 {
			mu.Lock()
			acked[id+"/"+version] = next
			mu.Unlock()
		}
	})
	wg.Wait()
	return acked
}

// putIfMatch PUTs body to path If-Match version; it returns the status
// and the new version (status 0: no complete answer).
func (c *kill9Client) putIfMatch(path, body, version string) (int, string) {
	req, err := http.NewRequest("PUT", c.base+path, strings.NewReader(body))
	if err != nil {
		return 0, ""
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("If-Match", `W/"`+version+`"`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	var res struct {
		Meta struct{ VersionID string } `json:"meta"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return 0, ""
	}
	return resp.StatusCode, res.Meta.VersionID
}

// assertFeedOrder checks that each Patient of chained arrives version
// after version in chain order (a copy of a version already received may
// come again), reading each version's place in the chain from the server.
func (c *kill9Client) assertFeedOrder(t *testing.T, got []feed.Message, chained []string) {
	t.Helper()
	place := map[string]int{} // versionId → place
	last := map[string]int{}
	for _, m := range got {
		if m.Type != "Patient" || (m.ID != chained[0] && m.ID != chained[1]) {
			continue
		}
		if _, seen := place[m.VersionID]; seen {
			continue // a copy
		}
		status, _, body := c.send("GET", "/fhir/R4/Patient/"+m.ID+"/_history/"+m.VersionID, "", "")
		if status != 200 {
			t.Fatalf("vread Patient/%s/_history/%s: %d", m.ID, m.VersionID, status)
		}
		place[m.VersionID] = chainPlace(body)
		if p, ok := last[m.ID]; ok && place[m.VersionID] <= p {
			t.Errorf("Patient/%s: version %d arrived after version %d", m.ID, place[m.VersionID], p)
		}
		last[m.ID] = place[m.VersionID]
	}
	if len(place) < 5 {
		t.Errorf("only %d Patient versions on the feed", len(place))
	}
}

// chainPlace is a Patient's place in its chain: n of family "n<n>" (0
// without one).
func chainPlace(body []byte) int {
	var p struct {
		Name []struct{ Family string } `json:"name"`
	}
	n := 0
	if json.Unmarshal(body, &p) == nil && len(p.Name) > 0 {
		fmt.Sscanf(p.Name[0].Family, "n%d", &n)
	}
	return n
}

func versionOf(body []byte) string {
	var res struct {
		Meta struct{ VersionID string } `json:"meta"`
	}
	_ = json.Unmarshal(body, &res)
	return res.Meta.VersionID
}

// kafkaChanges reads every record of topic from its start, each
// partition's in order.
func kafkaChanges(t *testing.T, brokers []string, topic string) []feed.Message {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []feed.Message
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fetches := cl.PollFetches(ctx)
		cancel()
		n := 0
		fetches.EachRecord(func(r *kgo.Record) {
			n++
			var m feed.Message
			if err := json.Unmarshal(r.Value, &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		})
		if n == 0 {
			return out
		}
	}
}

// natsChanges reads every message of the feed's stream on subject.
func natsChanges(t *testing.T, natsURL, subject string) []feed.Message {
	t.Helper()
	var out []feed.Message
	for _, msg := range feedtest.Read(t, natsURL, feed.Stream, subject, -1) {
		var m feed.Message
		if err := json.Unmarshal(msg.Data, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}
