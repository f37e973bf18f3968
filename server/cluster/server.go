package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"fleetpulse/shared/telemetry"
)

// maxOpenWindows bounds the windows a serving node holds while partitions
// lag: at one window a second, more than a day.
const maxOpenWindows = 100_000

// ServerStats are a serving node's running totals beyond Options.Stats,
// safe to read from any goroutine.
type ServerStats struct {
	Records   atomic.Int64 // records of the windows topic read
	Malformed atomic.Int64 // records that are neither partial nor mark
}

// Server is a serving node's reader of the windows topic. Create it with
// NewServer and call Run once.
type Server struct {
	o       Options
	through int64
	Stats   ServerStats
}

// NewServer returns a Server that sends on the windows ending after
// through (Unix ms; the end of the last window this node delivered before a
// restart, or math.MinInt64).
func NewServer(o Options, through int64) *Server {
	o.defaults()
	return &Server{o: o, through: through}
}

// Run reads the windows topic from its start and sends each window that
// becomes final to out, oldest first, until ctx is done; then it closes
// out and returns nil.
func (s *Server) Run(ctx context.Context, out chan<- telemetry.Window) error {
	defer close(out)
	o := &s.o
	opts := []kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		o.WindowsTopic(): {0: kgo.NewOffset().AtStart()},
	})}
	if o.ExactlyOnce {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := kgo.NewClient(o.clientOpts(opts...)...)
	if err != nil {
		return fmt.Errorf("kafka server: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	m := NewMerger(0, s.through, maxOpenWindows)
	var nextLookup time.Time
	warned := false
	for ctx.Err() == nil {
		if now := time.Now(); now.After(nextLookup) {
			// The events topic may gain partitions: look now and then.
			nextLookup = now.Add(10 * time.Second)
			if n, err := partitions(ctx, adm, o.EventsTopic()); err != nil {
				o.Log.Warn("kafka: events topic not readable", "err", err)
				nextLookup = now.Add(time.Second)
			} else {
				m.SetPartitions(n)
			}
		}
		pollCtx, cancel := context.WithTimeout(ctx, fetchMaxWait)
		fs := cl.PollFetches(pollCtx)
		cancel()
		if fs.IsClientClosed() || ctx.Err() != nil {
			break
		}
		fs.EachError(func(t string, part int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				o.Log.Warn("kafka fetch failed", "topic", t, "partition", part, "err", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			s.Stats.Records.Add(1)
			rec, err := DecodeRecord(r.Key, r.Value)
			if err == nil {
				err = m.Apply(rec)
			}
			if err != nil {
				s.Stats.Malformed.Add(1)
				if !warned {
					o.Log.Warn("windows record skipped", "offset", r.Offset, "err", err)
					warned = true
				}
			}
		})
		if wm, ok := m.Watermark(); ok {
			o.Stats.WatermarkMS.Store(wm)
		}
		for _, w := range m.Ready() {
			select {
			case out <- w:
				o.Stats.WindowsClosed.Add(1)
			case <-ctx.Done():
				return nil
			}
		}
	}
	return nil
}

func partitions(ctx context.Context, adm *kadm.Client, topic string) (int, error) {
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, err
	}
	d, ok := td[topic]
	if !ok {
		return 0, fmt.Errorf("topic %s does not exist", topic)
	}
	if d.Err != nil {
		return 0, d.Err
	}
	return len(d.Partitions), nil
}
