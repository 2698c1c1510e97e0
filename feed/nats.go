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
// are ward.<project>.<type>, and a project's audit records
// ward.<project>.AuditEvent, so a consumer of one project filters on
// ward.<project>.> and receives nothing of another (and an operator's
// subject permissions give a tenant exactly that).
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

// AuditSubject is the subject of project's audit records: its
// AuditEvents, which are never on the outbox, so no change shares it.
func AuditSubject(project string) string { return "ward." + project + ".AuditEvent" }

// Name implements Sink.
func (n *NATS) Name() string { return "nats" }

// Publish implements Sink: messages go out asynchronously, in order, and
// it returns once the stream acknowledged every one.
func (n *NATS) Publish(ctx context.Context, changes []store.Change) error {
	msgs := make([]*nats.Msg, len(changes))
	for i, c := range changes {
		msgs[i] = changeMsg(c)
	}
	return n.send(ctx, msgs)
}

// Deliver implements RoutedSink. A project's subjects are its own already,
// so its own feed and the server-wide feed share them: a change either
// sends goes out once, and ward.<project>.> carries the union of the two.
func (n *NATS) Deliver(ctx context.Context, deliveries []Delivery) error {
	msgs := make([]*nats.Msg, len(deliveries))
	for i, d := range deliveries {
		msgs[i] = changeMsg(d.Change)
	}
	return n.send(ctx, msgs)
}

// DeliverAudit implements AuditSink: each record once, on its project's
// audit subject.
func (n *NATS) DeliverAudit(ctx context.Context, deliveries []AuditDelivery) error {
	msgs := make([]*nats.Msg, len(deliveries))
	for i, d := range deliveries {
		msg := nats.NewMsg(AuditSubject(d.ProjectID))
		msg.Data = encodeAudit(d.AuditLink)
		msg.Header.Set(jetstream.MsgIDHeader, d.ProjectID+"/AuditEvent/"+d.ID)
		msgs[i] = msg
	}
	return n.send(ctx, msgs)
}

func changeMsg(c store.Change) *nats.Msg {
	msg := nats.NewMsg(Subject(c))
	msg.Data = encode(c)
	msg.Header.Set(jetstream.MsgIDHeader, c.ProjectID+"/"+c.Type+"/"+c.ID+"/"+c.VersionID+"/"+c.Operation)
	return msg
}

// send publishes msgs asynchronously, in order, and returns once the
// stream acknowledged every one.
func (n *NATS) send(ctx context.Context, msgs []*nats.Msg) error {
	acks := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, msg := range msgs {
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
