package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"

	"fleetpulse/server/stream"
	"fleetpulse/shared/telemetry"
)

// BenchmarkKafkaProcess measures processors reading the events topic of an
// in-process kfake broker (12 partitions, 100 k events of 200 vehicles)
// from the start to its end, windowing, writing partials and committing:
// events/s for 1 and 2 processors. kfake is no real broker: the numbers
// compare the two, they do not predict a Kafka cluster's speed.
func BenchmarkKafkaProcess(b *testing.B) {
	c := kfake.MustCluster(kfake.NumBrokers(1))
	defer c.Close()
	cfg := stream.Config{Window: 10 * time.Second, Lateness: 5 * time.Second}
	o := Options{Brokers: c.ListenAddrs(), Prefix: "bench", Stream: cfg, Partitions: 12}
	ctx := context.Background()
	if err := EnsureTopics(ctx, o); err != nil {
		b.Fatal(err)
	}
	events := genEvents(5, 200, 100_000, 2*time.Second)
	prod, err := NewProducer(o)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < len(events); i += 1000 {
		if err := prod.Produce(ctx, telemetry.Batch{Events: events[i:min(i+1000, len(events))]}); err != nil {
			b.Fatal(err)
		}
	}
	prod.Close()
	adm := kadm.NewClient(newClient(b, o))
	ends, err := adm.ListEndOffsets(ctx, o.EventsTopic())
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("processors=%d", n), func(b *testing.B) {
			round := 0
			var total time.Duration
			for b.Loop() {
				round++
				og := o
				og.Group = fmt.Sprintf("bench-%d-%d", n, round)
				rctx, cancel := context.WithCancel(ctx)
				var wg sync.WaitGroup
				procs := make([]*Processor, n)
				start := time.Now()
				for i := range procs {
					procs[i] = NewProcessor(og)
					wg.Go(func() { procs[i].Run(rctx) })
				}
				for !caughtUp(procs, ends, o.EventsTopic()) {
					time.Sleep(5 * time.Millisecond)
				}
				total += time.Since(start)
				cancel()
				wg.Wait()
			}
			b.ReportMetric(float64(len(events))*float64(round)/total.Seconds(), "events/s")
		})
	}
}

func caughtUp(procs []*Processor, ends kadm.ListedOffsets, topic string) bool {
	next := map[int32]int64{}
	for _, p := range procs {
		for id, n := range p.Next() {
			next[id] = max(next[id], n)
		}
	}
	done := true
	ends.Each(func(lo kadm.ListedOffset) {
		if lo.Topic == topic && next[lo.Partition] < lo.Offset {
			done = false
		}
	})
	return done
}
