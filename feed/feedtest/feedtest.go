// Package feedtest gives tests of the change feed a broker of their own: an
// embedded NATS server with JetStream, gone when the test ends, and a
// reader of what a stream holds.
package feedtest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS starts a NATS server with JetStream on a free loopback port and
// returns its client URL.
func NATS(t testing.TB) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

// Message is one message read back from a JetStream stream.
type Message struct {
	Subject string
	Data    []byte
}

// Read returns the messages of stream on subject from its start: at least
// n of them when they come, or (n < 0) all there are. None while the
// stream does not exist yet.
func Read(t testing.TB, url, stream, subject string, n int) []Message {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.Stream(ctx, stream); err != nil {
		return nil
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	var out []Message
	for n < 0 || len(out) < n {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			out = append(out, Message{Subject: msg.Subject(), Data: msg.Data()})
		}
		if got == 0 {
			break
		}
	}
	return out
}
