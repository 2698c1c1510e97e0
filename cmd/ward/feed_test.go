package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wardhealth/ward/feed"
	"github.com/wardhealth/ward/feed/feedtest"
)

// TestKill9Feed kills `ward serve -feed-nats-url` with SIGKILL under a
// load of creates and starts it again: every create a client saw
// acknowledged (201) reaches the JetStream consumer of its project after
// the restart, and any copy of a change carries the same versionId. On
// SQLite and, with WARD_TEST_POSTGRES_URL set, on PostgreSQL.
func TestKill9Feed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	for _, eng := range servedEngines() {
		t.Run(eng.name, func(t *testing.T) {
			natsURL := feedtest.NATS(t)
			addr := freeAddr(t)
			args := append([]string{"serve", "-addr", addr, "-definitions=false", "-admin-password", "kill9-admin-password",
				"-log-level", "error", "-feed-nats-url", natsURL}, eng.args(t)...)
			base := "http://" + addr
			srv := startChild(t, args, base)
			defer func() { srv.Process.Kill() }()
			c := &kill9Client{base: base}
			c.token = c.register(t)
			patient := c.mustCreate(t, "Patient", `{"resourceType":"Patient"}`)

			_, created := c.mixedLoad(t, patient, srv, 1500*time.Millisecond)
			if len(created) < 5 {
				t.Fatalf("only %d creates acknowledged before the kill", len(created))
			}
			srv = startChild(t, args, base)

			versions := map[string]string{}
			deadline := time.Now().Add(30 * time.Second)
			missing := len(created)
			for missing > 0 && time.Now().Before(deadline) { // the server holds one project: ward.*

				for _, m := range natsChanges(t, natsURL, "ward.*.Observation") {
					if v, ok := versions[m.ID]; ok && v != m.VersionID {
						t.Fatalf("Observation/%s delivered as version %s and %s", m.ID, v, m.VersionID)
					}
					versions[m.ID] = m.VersionID
				}
				missing = 0
				for _, id := range created {
					if _, ok := versions[id]; !ok {
						missing++
					}
				}
				if missing > 0 {
					time.Sleep(200 * time.Millisecond)
				}
			}
			if missing > 0 {
				t.Errorf("%d of %d acknowledged creates never reached the feed after the restart", missing, len(created))
			}
			lagZero := false
			for end := time.Now().Add(10 * time.Second); !lagZero && time.Now().Before(end); {
				_, _, metrics := c.send("GET", "/metrics", "", "")
				lagZero = strings.Contains(string(metrics), `ward_feed_lag{sink="nats"} 0`+"\n")
				time.Sleep(100 * time.Millisecond)
			}
			if !lagZero {
				t.Error(`/metrics never showed ward_feed_lag{sink="nats"} 0 once the feed caught up`)
			}
			t.Logf("%s: %d creates acknowledged before SIGKILL, all on the feed", eng.name, len(created))
		})
	}
}

// natsChanges reads every message of the feed's stream on subject.
func natsChanges(t *testing.T, natsURL, subject string) []feed.Message {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.Stream(ctx, feed.Stream); err != nil {
		return nil // not created yet
	}
	cons, err := js.OrderedConsumer(ctx, feed.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	var out []feed.Message
	for {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			var m feed.Message
			if err := json.Unmarshal(msg.Data(), &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		if n == 0 {
			return out
		}
	}
}
