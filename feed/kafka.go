package feed

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wardhealth/ward/store"
)

// Kafka publishes the server-wide feed to one topic shared by every
// project, and each project's own feed to a topic of its own.
//
// The shared topic (ward serve's -feed-kafka-topic, "<topic>"): a
// record's key is "<project>/<type>/<id>", so every version of a resource
// goes to one partition and stays in order there; its header
// "ward-project" names the project, so a consumer can route or drop a
// project's records without parsing the value. It is the operator's feed
// (a warehouse of every tenant): one topic rather than thousands, as
// topics are a cluster-wide resource (partitions, ACLs) an operator
// provisions.
//
// A project's own feed (configured by its admin) goes to
// "<topic>.<project id>", with the same keys and header: a topic per
// project, so the cluster's ACLs can give a tenant's consumer its topic
// and nothing else — a shared topic would hand every consumer every
// tenant's records to filter. The topic is created on first use with the
// cluster's default partitions and replication. The audit trail goes to
// "<topic>.audit" (server-wide, keyed by project) and
// "<topic>.<project id>.audit" (a project's own), keyed by project so a
// project's records stay in chain order.
type Kafka struct {
	client *kgo.Client
	topic  string

	mu      sync.Mutex
	created map[string]bool // topics known to exist
}

// NewKafka connects to brokers with an idempotent producer that waits for
// every in-sync replica (acks=all) and retries with backoff.
func NewKafka(brokers []string, topic string, opts ...kgo.Opt) (*Kafka, error) {
	base := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence stays on (franz-go's default)
		kgo.RecordDeliveryTimeout(30 * time.Second),
		kgo.RetryBackoffFn(func(tries int) time.Duration {
			return min(time.Duration(tries)*100*time.Millisecond, 2*time.Second)
		}),
		kgo.ProducerLinger(0),
	}
	client, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, err
	}
	return &Kafka{client: client, topic: topic, created: map[string]bool{topic: true}}, nil
}

// ProjectTopic is the topic of project's own feed.
func (k *Kafka) ProjectTopic(project string) string { return k.topic + "." + project }

// AuditTopic is the topic of the audit feed: the server-wide one when
// project is "", else project's own.
func (k *Kafka) AuditTopic(project string) string {
	if project == "" {
		return k.topic + ".audit"
	}
	return k.ProjectTopic(project) + ".audit"
}

// Name implements Sink.
func (k *Kafka) Name() string { return "kafka" }

// Publish implements Sink: it sends changes to the shared topic and
// returns once the brokers acknowledged every record.
func (k *Kafka) Publish(ctx context.Context, changes []store.Change) error {
	deliveries := make([]Delivery, len(changes))
	for i, c := range changes {
		deliveries[i] = Delivery{Change: c, Shared: true}
	}
	return k.Deliver(ctx, deliveries)
}

// Deliver implements RoutedSink: it returns once the brokers acknowledged
// every record.
func (k *Kafka) Deliver(ctx context.Context, deliveries []Delivery) error {
	records := make([]*kgo.Record, 0, len(deliveries))
	for _, d := range deliveries {
		c := d.Change
		key, value := []byte(c.ProjectID+"/"+c.Type+"/"+c.ID), encode(c)
		if d.Shared {
			records = append(records, k.record(k.topic, c.ProjectID, key, value))
		}
		if d.Own {
			records = append(records, k.record(k.ProjectTopic(c.ProjectID), c.ProjectID, key, value))
		}
	}
	return k.produce(ctx, records)
}

// DeliverAudit implements AuditSink.
func (k *Kafka) DeliverAudit(ctx context.Context, deliveries []AuditDelivery) error {
	records := make([]*kgo.Record, 0, len(deliveries))
	for _, d := range deliveries {
		key, value := []byte(d.ProjectID), encodeAudit(d.AuditLink)
		if d.Shared {
			records = append(records, k.record(k.AuditTopic(""), d.ProjectID, key, value))
		}
		if d.Own {
			records = append(records, k.record(k.AuditTopic(d.ProjectID), d.ProjectID, key, value))
		}
	}
	return k.produce(ctx, records)
}

func (k *Kafka) record(topic, project string, key, value []byte) *kgo.Record {
	return &kgo.Record{Topic: topic, Key: key, Value: value,
		Headers: []kgo.RecordHeader{{Key: "ward-project", Value: []byte(project)}}}
}

// produce creates the topics not known yet, then sends records and waits
// for every acknowledgement.
func (k *Kafka) produce(ctx context.Context, records []*kgo.Record) error {
	if len(records) == 0 {
		return nil
	}
	if err := k.ensureTopics(ctx, records); err != nil {
		return err
	}
	return k.client.ProduceSync(ctx, records...).FirstErr()
}

// ensureTopics creates the topics of records this sink has not seen yet,
// with the cluster's default partitions and replication; a topic that
// exists already is fine.
func (k *Kafka) ensureTopics(ctx context.Context, records []*kgo.Record) error {
	k.mu.Lock()
	var missing []string
	for _, r := range records {
		if !k.created[r.Topic] {
			k.created[r.Topic] = true // claimed; unclaimed below when creation fails
			missing = append(missing, r.Topic)
		}
	}
	k.mu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	err := k.createTopics(ctx, missing)
	if err != nil {
		k.mu.Lock()
		for _, t := range missing {
			delete(k.created, t)
		}
		k.mu.Unlock()
	}
	return err
}

func (k *Kafka) createTopics(ctx context.Context, topics []string) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30_000
	for _, t := range topics {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = t, -1, -1
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, k.client)
	if err != nil {
		return err
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return err
		}
	}
	return nil
}

// Close implements Sink.
func (k *Kafka) Close() { k.client.Close() }
