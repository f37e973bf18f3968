package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"fleetpulse/server/stream"
	"fleetpulse/shared/telemetry"
)

// Options configure every role.
type Options struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// Prefix names the topics <Prefix>.events and <Prefix>.windows.
	Prefix string
	// Group is the processors' consumer group.
	Group string
	// ExactlyOnce makes processors write partials and checkpoints in one
	// Kafka transaction, and serving nodes read committed records only.
	ExactlyOnce bool
	// Stream is the window semantics; every instance must agree on it.
	Stream stream.Config
	// IdleTimeout: a partition with no accepted event for this long has
	// its watermark moved to now − lateness. Zero turns the rule off.
	IdleTimeout time.Duration
	// Partitions of the events topic when this instance creates it.
	// Defaults to 12.
	Partitions int32
	// SessionTimeout of the consumer group: how long a silent processor
	// keeps its partitions. Defaults to 6s.
	SessionTimeout time.Duration
	// TransactionTimeout bounds a transaction of a dead processor, which
	// holds back read-committed readers until it is aborted. Defaults to
	// 10s.
	TransactionTimeout time.Duration
	// InstanceID names this instance in client ids and its transactional
	// id. Defaults to a random id: fencing a dead instance's transactions
	// comes from the group generation (KIP-447), not from reusing its id.
	InstanceID string
	// Stats, when set, get what the window stage would count: events
	// accepted, late and duplicate from processors; windows closed and the
	// fleet watermark from serving nodes.
	Stats *stream.Stats
	// Now is the clock for the idle rule. Defaults to time.Now.
	Now func() time.Time
	// Log gets what each role does about failures.
	Log *slog.Logger
	// ClientOpts are added to every client (tests use them to cut a
	// client off the network).
	ClientOpts []kgo.Opt
}

func (o *Options) defaults() {
	if o.Prefix == "" {
		o.Prefix = "fleetpulse"
	}
	if o.Group == "" {
		o.Group = "fleetpulse"
	}
	if o.Partitions <= 0 {
		o.Partitions = 12
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = 6 * time.Second
	}
	if o.TransactionTimeout <= 0 {
		o.TransactionTimeout = 10 * time.Second
	}
	if o.InstanceID == "" {
		o.InstanceID = instanceID()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Stats == nil {
		o.Stats = new(stream.Stats)
	}
}

// EventsTopic is <prefix>.events.
func (o *Options) EventsTopic() string { return o.Prefix + ".events" }

// WindowsTopic is <prefix>.windows.
func (o *Options) WindowsTopic() string { return o.Prefix + ".windows" }

// fetchMaxWait bounds how long a fetch waits for data: it is how late a
// processor notices the idle rule and how late a serving node sees a mark.
const fetchMaxWait = 500 * time.Millisecond

func (o *Options) clientOpts(extra ...kgo.Opt) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(o.Brokers...),
		kgo.ClientID(o.Prefix + "-" + o.InstanceID),
		kgo.FetchMaxWait(fetchMaxWait),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(recordTimeout),
	}
	return append(append(opts, extra...), o.ClientOpts...)
}

// EnsureTopics creates the topics that do not exist: the events topic with
// o.Partitions partitions, and the windows topic with one partition (its
// order carries each partition's partials before its mark) and compaction
// (a key's latest record is all a reader needs). Replication is the
// broker's default.
func EnsureTopics(ctx context.Context, o Options) error {
	o.defaults()
	cl, err := kgo.NewClient(o.clientOpts()...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	compact := "compact"
	for _, t := range []struct {
		name  string
		parts int32
		cfg   map[string]*string
	}{
		{o.EventsTopic(), o.Partitions, nil},
		{o.WindowsTopic(), 1, map[string]*string{"cleanup.policy": &compact}},
	} {
		resp, err := adm.CreateTopic(ctx, t.parts, -1, t.cfg, t.name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t.name, err)
		}
	}
	return nil
}

// Producer writes ingested events to the events topic: idempotent, acks
// from all in-sync replicas, keyed by vehicle id. Safe for concurrent use.
type Producer struct {
	cl    *kgo.Client
	topic string
}

// NewProducer returns a Producer; Close it.
func NewProducer(o Options) (*Producer, error) {
	o.defaults()
	cl, err := kgo.NewClient(o.clientOpts(
		kgo.DefaultProduceTopic(o.EventsTopic()),
		kgo.ProducerLinger(5*time.Millisecond),
	)...)
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	return &Producer{cl: cl, topic: o.EventsTopic()}, nil
}

// Produce writes the events of b and returns once every one is
// acknowledged, or the first error. After an error some events may be
// written: a retry by the producer then writes them again, and the
// processors count such a copy as a duplicate while its window is open.
func (p *Producer) Produce(ctx context.Context, b telemetry.Batch) error {
	recs := make([]*kgo.Record, len(b.Events))
	for i := range b.Events {
		e := &b.Events[i]
		recs[i] = &kgo.Record{Key: []byte(e.VehicleID), Value: AppendEvent(make([]byte, 0, eventSize), e)}
	}
	return produce(ctx, p.cl, recs)
}

// recordTimeout bounds how long a record may wait for its acknowledgement
// before it fails: a broker that is gone fails the write rather than
// holding it for ever.
const recordTimeout = 30 * time.Second

// produce writes recs and waits until every one is acknowledged, one
// fails, or ctx is done. Unlike kgo's ProduceSync it stops waiting when ctx
// is done, even for records already buffered.
func produce(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	errs := make(chan error, len(recs)) // room for every promise: none blocks
	for _, r := range recs {
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) { errs <- err })
	}
	var first error
	for range recs {
		select {
		case err := <-errs:
			if err != nil && first == nil {
				first = err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return first
}

// Close flushes nothing more and closes the client.
func (p *Producer) Close() { p.cl.Close() }

// instanceID returns a random instance id.
func instanceID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
