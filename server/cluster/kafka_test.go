package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"fleetpulse/server/stream"
	"fleetpulse/shared/telemetry"
)

// cutter is a dialer whose connections can all be cut at once, and which
// then dials no more: a process killed, as far as the broker can tell.
type cutter struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (c *cutter) dial(ctx context.Context, network, host string) (net.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return nil, errors.New("cut off")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, host)
	if err == nil {
		c.conns = append(c.conns, conn)
	}
	return conn, err
}

func (c *cutter) Cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = true
	for _, conn := range c.conns {
		conn.Close()
	}
}

// fakeClock is the idle rule's clock: frozen until the test moves it.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// waitFor polls cond until it holds or the deadline passes: for readiness
// only (a group formed, a consumer caught up), never for timing.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// TestKafkaFailover runs two processors and a serving node against kfake.
// One processor is cut off the network as it commits a checkpoint after
// writing partials; the other takes its partitions over after the session
// timeout and recomputes from the checkpoints. Every window must equal one
// process's, none may be missing, a partial written twice must carry the
// same bytes, and with exactly-once no partial may be visible twice.
func TestKafkaFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a consumer group session timeout")
	}
	t.Parallel()
	for _, eos := range []bool{false, true} {
		for _, moves := range []bool{false, true} {
			t.Run(fmt.Sprintf("exactly_once=%v/moving_leaders=%v", eos, moves), func(t *testing.T) {
				t.Parallel()
				testFailover(t, eos, moves)
			})
		}
	}
}

func testFailover(t *testing.T, eos, moves bool) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c := kfake.MustCluster(kfake.NumBrokers(3))
	defer c.Close()

	cfg := stream.Config{Window: 10 * time.Second, Slide: 5 * time.Second, Lateness: 3 * time.Second, TripGap: 20 * time.Second}
	events := genEvents(11, 12, 6000, cfg.Lateness/2)
	clock := &fakeClock{}
	clock.ns.Store(time.UnixMilli(events[0].TS).UnixNano())
	o := Options{
		Brokers: c.ListenAddrs(), Prefix: "t", Group: "g", ExactlyOnce: eos,
		Stream: cfg, IdleTimeout: time.Minute, Partitions: 6, Now: clock.Now, Log: testLog(t),
	}
	if err := EnsureTopics(ctx, o); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	out := make(chan telemetry.Window, 1024)
	srv := NewServer(o, math.MinInt64)
	wg.Go(func() { srv.Run(runCtx, out) })

	cutA := &cutter{}
	oa, ob := o, o
	oa.InstanceID, oa.ClientOpts = "proc-a", []kgo.Opt{kgo.Dialer(cutA.dial)}
	ob.InstanceID = "proc-b"
	a, b := NewProcessor(oa), NewProcessor(ob)
	aCtx, stopA := context.WithCancel(runCtx)
	defer stopA()
	wg.Go(func() { a.Run(aCtx) })
	wg.Go(func() { b.Run(runCtx) })
	waitFor(t, "both processors to own partitions", time.Minute, func() bool {
		return a.Stats.Owned.Load() > 0 && b.Stats.Owned.Load() > 0 && a.Stats.Owned.Load()+b.Stats.Owned.Load() == 6
	})

	// Kill A at a checkpoint commit that follows partials it wrote.
	killed := make(chan struct{})
	key, isA := int16(kmsg.OffsetCommit), func(r kmsg.Request) bool {
		return strings.HasPrefix(r.(*kmsg.OffsetCommitRequest).MemberID, "t-proc-a")
	}
	if eos {
		key, isA = int16(kmsg.EndTxn), func(r kmsg.Request) bool {
			return r.(*kmsg.EndTxnRequest).TransactionalID == "t-proc-a" && r.(*kmsg.EndTxnRequest).Commit
		}
	}
	var commitsA int
	c.ControlKey(key, func(r kmsg.Request) (kmsg.Response, error, bool) {
		if !isA(r) || a.Stats.Written.Load() == 0 {
			c.KeepControl()
			return nil, nil, false
		}
		if commitsA++; commitsA < 3 {
			c.KeepControl()
			return nil, nil, false
		}
		cutA.Cut()
		close(killed)
		return nil, errors.New("killed"), true
	})

	var moving sync.WaitGroup
	stopMoving := make(chan struct{})
	if moves {
		moving.Go(func() {
			tick := time.NewTicker(500 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stopMoving:
					return
				case <-tick.C:
					c.ShufflePartitionLeaders()
				}
			}
		})
	}

	prod, err := NewProducer(o)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := 0; i < len(events); i += 200 {
		if err := prod.Produce(ctx, telemetry.Batch{Events: events[i:min(i+200, len(events))]}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-killed:
	case <-ctx.Done():
		t.Fatal("processor A was never killed")
	}
	stopA()

	// B owns everything once A's session has expired; once it has read
	// every partition to its end, the clock jumps and the idle rule
	// closes the last windows.
	adm := kadm.NewClient(newClient(t, o))
	ends, err := adm.ListEndOffsets(ctx, o.EventsTopic())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B to take over and catch up", time.Minute, func() bool {
		next := b.Next()
		if len(next) != 6 {
			return false
		}
		for p, n := range next {
			if e, ok := ends.Lookup(o.EventsTopic(), p); !ok || n < e.Offset {
				return false
			}
		}
		return true
	})
	last := events[len(events)-1].TS
	clock.ns.Store(time.UnixMilli(last).Add(time.Hour).UnixNano())
	end := time.UnixMilli(last).Add(time.Hour).Add(-cfg.Lateness).UnixMilli()
	want := singleProcess(t, cfg, events, end)

	var got []telemetry.Window
	for len(got) < len(want) {
		select {
		case w := <-out:
			got = append(got, w)
		case <-ctx.Done():
			t.Fatalf("got %d of %d windows", len(got), len(want))
		}
	}
	close(stopMoving)
	moving.Wait()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("windows differ from one process (-want +got):\n%s", diff)
	}

	// Read the windows topic whole as a serving node does.
	rd := newClient(t, o, readOpts(o)...)
	seen, dups, conflicts := map[string][]byte{}, 0, 0
	hw, err := adm.ListEndOffsets(ctx, o.WindowsTopic())
	if err != nil {
		t.Fatal(err)
	}
	hwm, _ := hw.Lookup(o.WindowsTopic(), 0)
	for read := int64(0); ; {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := rd.PollFetches(pctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			read = r.Offset + 1
			if r.Key[0] != 'w' {
				return
			}
			if prev, ok := seen[string(r.Key)]; ok {
				dups++
				if string(prev) != string(r.Value) {
					conflicts++
				}
			}
			seen[string(r.Key)] = r.Value
		})
		// With exactly-once the end is a transaction marker, which no
		// record reaches.
		if len(fs.Records()) == 0 && (read >= hwm.Offset || eos) {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("reading the windows topic timed out")
		}
	}
	if conflicts > 0 {
		t.Errorf("%d partials were written again with different values", conflicts)
	}
	switch {
	case eos && dups > 0:
		t.Errorf("exactly-once: %d partials visible twice", dups)
	case !eos && dups == 0:
		t.Errorf("at-least-once: no partial was written twice: the kill did not land between write and commit")
	}
	t.Logf("windows %d, partials %d, written twice %d, B resets %d", len(got), len(seen), dups, b.Stats.Resets.Load())
	stop()
}

func readOpts(o Options) []kgo.Opt {
	opts := []kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.WindowsTopic(): {0: kgo.NewOffset().AtStart()}})}
	if o.ExactlyOnce {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	return opts
}

func newClient(t testing.TB, o Options, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(o.Brokers...), kgo.FetchMaxWait(fetchMaxWait)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
