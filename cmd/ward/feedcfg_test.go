package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wardhealth/ward/feed"
)

// TestServeProjectFeeds runs `ward serve -feed-kafka-brokers` against
// franz-go's in-process Kafka: a super admin turns the server-wide feed
// off over /admin/feed, project A's owner turns A's own feed on for
// Observations and its audit trail; A's topic then carries A's
// Observations only, A's audit topic A's records in chain order, project
// B — whose owner configured nothing — has no topic, and the server-wide
// topic nothing of A or B. On
// SQLite and, with WARD_TEST_POSTGRES_URL set, on PostgreSQL.
func TestServeProjectFeeds(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	for _, eng := range servedEngines() {
		t.Run(eng.name, func(t *testing.T) {
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "ward-e2e"))
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			brokers := cluster.ListenAddrs()
			addr := freeAddr(t)
			base := "http://" + addr
			srv := startChild(t, append([]string{"serve", "-addr", addr, "-definitions=false", "-admin-password", "feed-admin-password",
				"-log-level", "error", "-feed-kafka-brokers", brokers[0], "-feed-kafka-topic", "ward-e2e"}, eng.args(t)...), base)
			defer func() { srv.Process.Kill() }()

			super := &kill9Client{base: base}
			super.token = signIn(t, super, "admin@example.com", "feed-admin-password")
			super.mustJSON(t, "PUT", "/admin/feed", `{"enabled":false}`, "application/json")
			a, b := &kill9Client{base: base}, &kill9Client{base: base}
			a.token, b.token = registerOwner(t, a, "owner-a@example.com", "Project A"), registerOwner(t, b, "owner-b@example.com", "Project B")
			projA, projB := projectOf(t, a), projectOf(t, b)
			if status, _, body := b.send("PUT", "/admin/projects/"+projA+"/feed", `{"enabled":false}`, "application/json"); status != 404 {
				t.Fatalf("B's owner set A's feed: %d %s", status, body)
			}
			a.mustJSON(t, "PUT", "/admin/projects/"+projA+"/feed", `{"enabled":true,"sinks":["kafka"],"types":["Observation"],"audit":true}`, "application/json")

			var observations []string
			for range 3 {
				patient := a.mustCreate(t, "Patient", `{"resourceType":"Patient"}`)
				observations = append(observations, a.mustCreate(t, "Observation",
					`{"resourceType":"Observation","status":"final","code":{"text":"e2e"},"subject":{"reference":"Patient/`+patient+`"}}`))
				b.mustCreate(t, "Observation", `{"resourceType":"Observation","status":"final","code":{"text":"b"}}`)
			}

			got := map[string]bool{}
			for _, r := range readTopic(t, brokers, "ward-e2e."+projA, len(observations)) {
				var m feed.Message
				if err := json.Unmarshal(r.Value, &m); err != nil {
					t.Fatal(err)
				}
				if m.Project != projA || m.Type != "Observation" {
					t.Fatalf("A's topic carried %s/%s of project %s", m.Type, m.ID, m.Project)
				}
				got[m.ID] = true
			}
			for _, id := range observations {
				if !got[id] {
					t.Errorf("Observation/%s of A never reached A's topic", id)
				}
			}
			audit := readTopic(t, brokers, "ward-e2e."+projA+".audit", 6) // at least A's six creates
			for i, r := range audit {
				var m feed.AuditMessage
				if err := json.Unmarshal(r.Value, &m); err != nil {
					t.Fatal(err)
				}
				if m.Project != projA || (i > 0 && m.Seq != audit0(t, audit)+int64(i)) {
					t.Fatalf("A's audit topic record %d: %+v", i, m)
				}
			}
			if len(audit) < 6 {
				t.Errorf("A's audit topic carried %d records, want at least its 6 creates", len(audit))
			}
			for _, topic := range []string{"ward-e2e." + projB, "ward-e2e." + projB + ".audit"} {
				if n := len(readTopicFor(t, brokers, topic, 1, time.Second)); n != 0 {
					t.Errorf("%s carried %d records though B configured no feed", topic, n)
				}
			}
			// The server-wide topic has the seed's changes, from before the
			// super admin turned it off, and nothing of A or B.
			for _, r := range readTopicFor(t, brokers, "ward-e2e", 1<<30, time.Second) {
				var m feed.Message
				if err := json.Unmarshal(r.Value, &m); err != nil {
					t.Fatal(err)
				}
				if m.Project == projA || m.Project == projB {
					t.Errorf("the server-wide topic, turned off, carried %s/%s of a project", m.Type, m.ID)
				}
			}
		})
	}
}

// audit0 is the seq of the first record read.
func audit0(t *testing.T, records []*kgo.Record) int64 {
	var m feed.AuditMessage
	if err := json.Unmarshal(records[0].Value, &m); err != nil {
		t.Fatal(err)
	}
	return m.Seq
}

// signIn signs email in with a password and returns its access token.
func signIn(t *testing.T, c *kill9Client, email, password string) string {
	t.Helper()
	login := c.mustJSON(t, "POST", "/auth/login", fmt.Sprintf(`{"email":%q,"password":%q,"scope":"openid","codeChallenge":"xyz","codeChallengeMethod":"plain"}`, email, password), "application/json")
	return exchange(t, c, login["code"].(string))
}

// registerOwner signs up a new project's owner and returns their token.
func registerOwner(t *testing.T, c *kill9Client, email, project string) string {
	t.Helper()
	nu := c.mustJSON(t, "POST", "/auth/newuser", fmt.Sprintf(`{"firstName":"Owner","lastName":%q,"email":%q,
		"password":"feed-owner-password","codeChallenge":"xyz","codeChallengeMethod":"plain","scope":"openid"}`, project, email), "application/json")
	np := c.mustJSON(t, "POST", "/auth/newproject", fmt.Sprintf(`{"login":%q,"projectName":%q}`, nu["login"], project), "application/json")
	return exchange(t, c, np["code"].(string))
}

func exchange(t *testing.T, c *kill9Client, code string) string {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {"xyz"}}
	return c.mustJSON(t, "POST", "/oauth2/token", form.Encode(), "application/x-www-form-urlencoded")["access_token"].(string)
}

// projectOf is the project of c's token.
func projectOf(t *testing.T, c *kill9Client) string {
	t.Helper()
	return c.mustJSON(t, "GET", "/auth/me", "", "")["project"].(map[string]any)["id"].(string)
}

// readTopic reads topic from its start until it has at least n records
// (or 20 s passed), and a second more for any that follow.
func readTopic(t *testing.T, brokers []string, topic string, n int) []*kgo.Record {
	t.Helper()
	out := readTopicFor(t, brokers, topic, n, 20*time.Second)
	return append(out, readTopicAfter(t, brokers, topic, len(out))...)
}

func readTopicAfter(t *testing.T, brokers []string, topic string, skip int) []*kgo.Record {
	all := readTopicFor(t, brokers, topic, 1<<30, time.Second)
	if len(all) <= skip {
		return nil
	}
	return all[skip:]
}

// readTopicFor reads topic from its start until it has n records or wait
// passed without one.
func readTopicFor(t *testing.T, brokers []string, topic string, n int, wait time.Duration) []*kgo.Record {
	t.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []*kgo.Record
	for len(out) < n {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		fetches := c.PollFetches(ctx)
		cancel()
		before := len(out)
		fetches.EachRecord(func(r *kgo.Record) { out = append(out, r) })
		if len(out) == before {
			break
		}
	}
	return out
}
