package feed

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wardhealth/ward/store"
)

// Kafka publishes to one topic shared by every project. A record's key is
// "<project>/<type>/<id>", so every version of a resource goes to one
// partition and stays in order there; its header "ward-project" names the
// project, so a consumer can route or drop a project's records without
// parsing the value. One shared topic rather than one per project: topics
// are a cluster-wide resource (partitions, ACLs) an operator provisions,
// and a server with thousands of projects would need thousands of them;
// per-project topics can come with per-project feed configuration.
type Kafka struct {
	client *kgo.Client
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
	return &Kafka{client: client}, nil
}

// Name implements Sink.
func (k *Kafka) Name() string { return "kafka" }

// Publish implements Sink: it returns once the brokers acknowledged every
// record.
func (k *Kafka) Publish(ctx context.Context, changes []store.Change) error {
	records := make([]*kgo.Record, len(changes))
	for i, c := range changes {
		records[i] = &kgo.Record{
			Key:     []byte(c.ProjectID + "/" + c.Type + "/" + c.ID),
			Value:   encode(c),
			Headers: []kgo.RecordHeader{{Key: "ward-project", Value: []byte(c.ProjectID)}},
		}
	}
	return k.client.ProduceSync(ctx, records...).FirstErr()
}

// Close implements Sink.
func (k *Kafka) Close() { k.client.Close() }
