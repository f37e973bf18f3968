package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"fleetpulse/server/cluster"
	"fleetpulse/server/stream"
	"fleetpulse/shared/telemetry"
)

// clusterNode wires the roles of one scaled-out instance (-kafka); run uses
// it in place of the window stage. A nil *clusterNode is the single-process
// default, and its methods do nothing.
type clusterNode struct {
	cfg  config
	opts cluster.Options
	prod *cluster.Producer
	proc *cluster.Processor
	srv  *cluster.Server
	log  *slog.Logger
}

// newClusterNode creates the topics that are missing and the parts of this
// instance's roles; it returns nil without -kafka. Its roles add to stats
// what the window stage would; a serving node delivers the windows ending
// after through.
func newClusterNode(ctx context.Context, cfg config, log *slog.Logger, stats *stream.Stats, through time.Time) (*clusterNode, error) {
	if len(cfg.kafka) == 0 {
		return nil, nil
	}
	n := &clusterNode{cfg: cfg, log: log, opts: cluster.Options{
		Brokers: cfg.kafka, Prefix: cfg.kafkaPrefix, Group: cfg.group, ExactlyOnce: cfg.exactlyOnce,
		Stream: cfg.streamConfig(), IdleTimeout: cfg.idleTimeout, Stats: stats, Log: log,
	}}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := cluster.EnsureTopics(tctx, n.opts); err != nil {
		return nil, fmt.Errorf("kafka %v: %w", cfg.kafka, err)
	}
	if cfg.roles.ingest {
		p, err := cluster.NewProducer(n.opts)
		if err != nil {
			return nil, err
		}
		n.prod = p
	}
	if cfg.roles.process {
		n.proc = cluster.NewProcessor(n.opts)
	}
	if cfg.roles.serve {
		from := int64(math.MinInt64)
		if !through.IsZero() {
			from = through.UnixMilli()
		}
		n.srv = cluster.NewServer(n.opts, from)
	}
	log.Info("kafka", "brokers", cfg.kafka, "roles", cfg.roles.String(), "exactly_once", cfg.exactlyOnce,
		"events", n.opts.EventsTopic(), "windows", n.opts.WindowsTopic(), "group", cfg.group)
	return n, nil
}

// Sink returns what ingest hands its batches to: the Kafka producer of an
// ingest node, so /ingest answers 2xx once the broker has acknowledged.
func (n *clusterNode) Sink() func(context.Context, telemetry.Batch) error {
	if n == nil || n.prod == nil {
		return nil
	}
	return n.prod.Produce
}

// Register adds the Kafka roles' metrics to reg.
func (n *clusterNode) Register(reg *prometheus.Registry) {
	if n == nil {
		return
	}
	counter := func(name, help string, v *atomic.Int64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v.Load()) }))
	}
	if p := n.proc; p != nil {
		counter("fleetpulse_kafka_events_read_total", "Records of the events topic a processor read, replays included.", &p.Stats.Events)
		counter("fleetpulse_kafka_events_malformed_total", "Records of the events topic that hold no valid event, skipped.", &p.Stats.Malformed)
		counter("fleetpulse_kafka_windows_written_total", "Records (partial windows and watermark marks) written to the windows topic.", &p.Stats.Written)
		counter("fleetpulse_kafka_checkpoints_total", "Partition checkpoints committed.", &p.Stats.Commits)
		counter("fleetpulse_kafka_resets_total", "Times a failed write made the processor recompute its partitions from their checkpoints.", &p.Stats.Resets)
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fleetpulse_kafka_partitions_owned", Help: "Partitions of the events topic this processor owns."},
			func() float64 { return float64(p.Stats.Owned.Load()) }))
	}
	if s := n.srv; s != nil {
		counter("fleetpulse_kafka_windows_read_total", "Records of the windows topic a serving node read.", &s.Stats.Records)
		counter("fleetpulse_kafka_windows_malformed_total", "Records of the windows topic that are no partial or mark, skipped.", &s.Stats.Malformed)
	}
}

// Close closes the producer.
func (n *clusterNode) Close() {
	if n != nil && n.prod != nil {
		n.prod.Close()
	}
}

// Run takes the window stage's place until events is closed: the
// simulator's batches go to Kafka, the processor role windows its
// partitions, and the serve role sends the merged final windows ending
// after through to windows, which Run closes. Open windows are not
// flushed on shutdown: the processors that remain, or the next to start,
// own them.
func (n *clusterNode) Run(ctx context.Context, events <-chan telemetry.Batch, windows chan<- telemetry.Window) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// events is closed on shutdown: everything else stops then.
		defer cancel()
		for {
			var b telemetry.Batch
			select {
			case <-gctx.Done():
				return nil
			case batch, ok := <-events:
				if !ok {
					return nil
				}
				b = batch
			}
			if n.prod == nil || len(b.Events) == 0 {
				continue
			}
			if err := n.prod.Produce(gctx, b); err != nil {
				n.log.Warn("simulated events not written to kafka", "events", len(b.Events), "err", err)
			}
		}
	})
	if n.proc != nil {
		g.Go(func() error { return n.proc.Run(gctx) })
	}
	if n.srv != nil {
		g.Go(func() error { return n.srv.Run(gctx, windows) })
	} else {
		close(windows)
	}
	return g.Wait()
}
