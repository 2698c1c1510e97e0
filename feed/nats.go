package feed

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wardhealth/ward/store"
)

// Stream is the JetStream stream the NATS sink publishes to; its subjects
// are ward.<project>.<type>, so a consumer of one project filters on
// ward.<project>.> and receives nothing of another.
const Stream = "WARD"

// NATS publishes to a JetStream stream. Each message carries the header
// Nats-Msg-Id <project>/<type>/<id>/<versionId>/<operation>, so within the
// stream's duplicate window JetStream drops the copy a restart sends again.
type NATS struct {
	conn *nats.Conn
	js   jetstream.JetStream
}

// NewNATS connects to url and creates (or keeps) the stream.
func NewNATS(ctx context.Context, url string) (*NATS, error) {
	conn, err := nats.Connect(url, nats.MaxReconnects(-1), nats.Name("ward feed"))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(conn)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: Stream, Subjects: []string{"ward.>"}, Storage: jetstream.FileStorage,
		Duplicates: 2 * time.Minute,
	}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("feed: stream %s: %w", Stream, err)
	}
	return &NATS{conn: conn, js: js}, nil
}

// Subject is the subject of a change.
func Subject(c store.Change) string { return "ward." + c.ProjectID + "." + c.Type }

// Name implements Sink.
func (n *NATS) Name() string { return "nats" }

// Publish implements Sink: messages go out asynchronously, in order, and
// it returns once the stream acknowledged every one.
func (n *NATS) Publish(ctx context.Context, changes []store.Change) error {
	acks := make([]jetstream.PubAckFuture, 0, len(changes))
	for _, c := range changes {
		msg := nats.NewMsg(Subject(c))
		msg.Data = encode(c)
		msg.Header.Set(jetstream.MsgIDHeader, c.ProjectID+"/"+c.Type+"/"+c.ID+"/"+c.VersionID+"/"+c.Operation)
		ack, err := n.js.PublishMsgAsync(msg)
		if err != nil {
			return err
		}
		acks = append(acks, ack)
	}
	for _, ack := range acks {
		select {
		case <-ack.Ok():
		case err := <-ack.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close implements Sink.
func (n *NATS) Close() { n.conn.Close() }
