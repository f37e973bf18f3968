package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"fleetpulse/server/stream"
	"fleetpulse/shared/telemetry"
)

// ProcessorStats are a processor's running totals, safe to read from any
// goroutine.
type ProcessorStats struct {
	Events    atomic.Int64 // records read
	Malformed atomic.Int64 // records that are no event
	Written   atomic.Int64 // records written to the windows topic: partials and marks
	Commits   atomic.Int64 // checkpoints committed
	Resets    atomic.Int64 // times the owned partitions were rebuilt from their checkpoints
	Owned     atomic.Int64 // partitions owned now
}

// Processor is one member of the processors' consumer group: it windows
// the partitions it owns and writes their partials, then commits their
// checkpoints. Create it with NewProcessor and call Run once.
type Processor struct {
	o     Options
	Stats ProcessorStats

	mu    sync.Mutex
	parts map[int32]*owned
	// unloaded are owned partitions whose checkpoints could not be read
	// yet: their records are skipped until step loads them and rewinds.
	unloaded map[int32]bool
}

// owned is a partition this instance owns.
type owned struct {
	part     *Part
	hw       int64     // high watermark of the last fetch; -1 before one
	lastAdd  time.Time // wall clock of the last accepted event or of the assignment
	sentMark int64     // the watermark last written in a mark
	marked   bool
	commit   Checkpoint // last committed
}

// NewProcessor returns a processor for o.
func NewProcessor(o Options) *Processor {
	o.defaults()
	o.Log = o.Log.With("instance", o.InstanceID)
	return &Processor{o: o, parts: map[int32]*owned{}, unloaded: map[int32]bool{}}
}

// Run consumes until ctx is done, then leaves the group (its partitions go
// to the other members at once) and returns nil. Open windows are not
// flushed: their next owner recomputes them.
func (p *Processor) Run(ctx context.Context) error {
	o := &p.o
	opts := o.clientOpts(
		kgo.ConsumerGroup(o.Group),
		kgo.ConsumeTopics(o.EventsTopic()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(o.SessionTimeout),
		kgo.HeartbeatInterval(o.SessionTimeout/6),
		kgo.DefaultProduceTopic(o.WindowsTopic()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.OnPartitionsAssigned(p.assigned),
		kgo.OnPartitionsRevoked(p.dropped),
		kgo.OnPartitionsLost(p.dropped),
	)
	var (
		cl   *kgo.Client
		sess *kgo.GroupTransactSession
		err  error
	)
	if o.ExactlyOnce {
		opts = append(opts,
			kgo.TransactionalID(o.Prefix+"-"+o.InstanceID),
			kgo.TransactionTimeout(o.TransactionTimeout),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		)
		sess, err = kgo.NewGroupTransactSession(opts...)
		if err == nil {
			cl = sess.Client()
		}
	} else {
		cl, err = kgo.NewClient(opts...)
	}
	if err != nil {
		return fmt.Errorf("kafka processor: %w", err)
	}
	defer func() {
		// Leave the group so that the others take over at once, but
		// not for longer than a broker that is gone would hold us.
		cctx, cancel := context.WithTimeout(context.Background(), closeWait)
		defer cancel()
		if sess != nil {
			sess.End(cctx, kgo.TryAbort)
			sess.AllowRebalance()
		} else {
			cl.AllowRebalance()
		}
		cl.LeaveGroupContext(cctx)
		cl.Close()
	}()
	for ctx.Err() == nil {
		pollCtx, cancel := context.WithTimeout(ctx, fetchMaxWait)
		var fs kgo.Fetches
		if sess != nil {
			fs = sess.PollFetches(pollCtx)
		} else {
			fs = cl.PollFetches(pollCtx)
		}
		cancel()
		if fs.IsClientClosed() || ctx.Err() != nil {
			break
		}
		fs.EachError(func(t string, part int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				o.Log.Warn("kafka fetch failed", "topic", t, "partition", part, "err", err)
			}
		})
		if err := p.step(ctx, cl, sess, fs); err != nil && ctx.Err() == nil {
			o.Log.Warn("partials not written; recomputing from the checkpoints", "err", err)
			p.reset(ctx, cl)
		}
		if sess != nil {
			sess.AllowRebalance()
		} else {
			cl.AllowRebalance()
		}
	}
	return nil
}

// closeWait bounds leaving the group and aborting a transaction on
// shutdown, so that SIGTERM ends the process within 10 s.
const closeWait = 3 * time.Second

// loadWait bounds reading the checkpoints of newly owned partitions.
const loadWait = 10 * time.Second

// step adds the fetched events, writes the partials and marks that result
// and commits the checkpoints, in one transaction when exactly-once.
func (p *Processor) step(ctx context.Context, cl *kgo.Client, sess *kgo.GroupTransactSession, fs kgo.Fetches) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := &p.o
	if len(p.unloaded) > 0 {
		p.retryLoad(ctx, cl)
	}
	now := o.Now()
	var e telemetry.Event
	fs.EachPartition(func(ft kgo.FetchTopicPartition) {
		op := p.parts[ft.Partition]
		if op == nil {
			return
		}
		op.hw = ft.HighWatermark
		var acc, late, dup, many int64
		defer func() {
			st := p.o.Stats
			st.Accepted.Add(acc)
			st.Late.Add(late)
			st.Duplicate.Add(dup)
			st.TooManyVehicles.Add(many)
		}()
		for _, r := range ft.Records {
			if r.Offset < op.part.Next() {
				continue // refetched after a reset
			}
			p.Stats.Events.Add(1)
			if err := DecodeEvent(r.Key, r.Value, &e); err != nil {
				p.Stats.Malformed.Add(1)
				op.part.Skip(r.Offset)
				continue
			}
			switch op.part.Add(r.Offset, &e) {
			case stream.Accepted:
				op.lastAdd = now
				acc++
			case stream.Late:
				late++
			case stream.Duplicate:
				dup++
			case stream.TooManyVehicles:
				many++
			}
		}
	})
	var recs []*kgo.Record
	var commits []int32
	for _, id := range slices.Sorted(maps.Keys(p.parts)) {
		op := p.parts[id]
		// The idle rule is for silent partitions, not for one whose
		// backlog is still being read.
		caughtUp := op.hw < 0 || op.part.Next() >= op.hw
		if o.IdleTimeout > 0 && caughtUp && now.Sub(op.lastAdd) >= o.IdleTimeout {
			op.part.AdvanceTo(now.Add(-o.Stream.Lateness).UnixMilli())
		}
		for _, w := range op.part.Take() {
			recs = append(recs, &kgo.Record{Key: PartialKey(id, w.End), Value: AppendPartial(nil, &w)})
		}
		if mk := op.part.Mark(); !op.marked || mk.Watermark != op.sentMark {
			recs = append(recs, &kgo.Record{Key: MarkKey(id), Value: AppendMark(nil, &mk)})
		}
		if op.part.Checkpoint() != op.commit {
			commits = append(commits, id)
		}
	}
	if len(recs) == 0 && len(commits) == 0 {
		return nil
	}
	if sess != nil {
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
	}
	if err := produce(ctx, cl, recs); err != nil {
		if sess != nil {
			sess.End(ctx, kgo.TryAbort)
		}
		return fmt.Errorf("write partials: %w", err)
	}
	p.Stats.Written.Add(int64(len(recs)))
	cps := map[int32]Checkpoint{}
	for _, id := range commits {
		cps[id] = p.parts[id].part.Checkpoint()
	}
	if sess != nil {
		// The session commits the offsets it consumed; the checkpoints
		// replace them, in the same transaction as the partials.
		tctx := kgo.PreTxnCommitFnContext(ctx, func(req *kmsg.TxnOffsetCommitRequest) error {
			for i := range req.Topics {
				t := &req.Topics[i]
				if t.Topic != o.EventsTopic() {
					continue
				}
				for j := range t.Partitions {
					pt := &t.Partitions[j]
					if op := p.parts[pt.Partition]; op != nil {
						cp := op.part.Checkpoint()
						meta := cp.Metadata()
						pt.Offset, pt.Metadata, pt.LeaderEpoch = cp.Offset, &meta, -1
						cps[pt.Partition] = cp
					}
				}
			}
			return nil
		})
		committed, err := sess.End(tctx, kgo.TryCommit)
		if err != nil {
			return fmt.Errorf("end transaction: %w", err)
		}
		if !committed {
			return errors.New("transaction aborted")
		}
	} else if len(cps) > 0 {
		if err := p.commit(ctx, cl, cps); err != nil {
			// The partials are written: a later commit covers them,
			// and a new owner would only write them again.
			o.Log.Warn("checkpoint commit failed", "err", err)
			p.markSent(recs)
			return nil
		}
	}
	p.markSent(recs)
	for id, cp := range cps {
		if op := p.parts[id]; op != nil {
			op.commit = cp
		}
	}
	p.Stats.Commits.Add(int64(len(cps)))
	return nil
}

func (p *Processor) markSent(recs []*kgo.Record) {
	for _, r := range recs {
		if rec, err := DecodeRecord(r.Key, r.Value); err == nil && rec.Mark != nil {
			if op := p.parts[rec.Mark.Partition]; op != nil {
				op.sentMark, op.marked = rec.Mark.Watermark, true
			}
		}
	}
}

// commit commits checkpoints with their metadata as this group member.
func (p *Processor) commit(ctx context.Context, cl *kgo.Client, cps map[int32]Checkpoint) error {
	topic := p.o.EventsTopic()
	offs := map[string]map[int32]kgo.EpochOffset{topic: {}}
	for id, cp := range cps {
		offs[topic][id] = kgo.EpochOffset{Epoch: -1, Offset: cp.Offset}
	}
	cctx := kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			for j := range req.Topics[i].Partitions {
				pt := &req.Topics[i].Partitions[j]
				if cp, ok := cps[pt.Partition]; ok && req.Topics[i].Topic == topic {
					meta := cp.Metadata()
					pt.Metadata = &meta
				}
			}
		}
		return nil
	})
	var cerr error
	cl.CommitOffsetsSync(cctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, pt := range t.Partitions {
				if err := kerr.ErrorForCode(pt.ErrorCode); err != nil && cerr == nil {
					cerr = err
				}
			}
		}
	})
	return cerr
}

// assigned builds the state of newly owned partitions from their
// checkpoints; the client then fetches from the committed offsets.
func (p *Processor) assigned(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := assigned[p.o.EventsTopic()]
	if err := p.load(ctx, cl, ids); err != nil {
		// Not from offset 0 with no checkpoint: that would write
		// partials of windows whose earlier events are gone.
		p.o.Log.Warn("checkpoints not readable yet; retrying", "partitions", ids, "err", err)
		for _, id := range ids {
			p.unloaded[id] = true
		}
	}
	owned := len(p.parts) + len(p.unloaded)
	p.Stats.Owned.Store(int64(owned))
	// Logged once the partitions are counted, so that the line and
	// /metrics agree.
	p.o.Log.Info("partitions assigned", "partitions", ids, "owned", owned)
}

// retryLoad loads the partitions whose checkpoints could not be read, and
// rewinds their fetches to the checkpoints.
func (p *Processor) retryLoad(ctx context.Context, cl *kgo.Client) {
	ids := slices.Collect(maps.Keys(p.unloaded))
	if err := p.load(ctx, cl, ids); err != nil {
		p.o.Log.Warn("checkpoints not readable yet; retrying", "partitions", ids, "err", err)
		return
	}
	p.rewind(cl, ids)
}

func (p *Processor) rewind(cl *kgo.Client, ids []int32) {
	offs := map[string]map[int32]kgo.EpochOffset{p.o.EventsTopic(): {}}
	for _, id := range ids {
		offs[p.o.EventsTopic()][id] = kgo.EpochOffset{Epoch: -1, Offset: p.parts[id].part.Next()}
	}
	cl.SetOffsets(offs)
}

func (p *Processor) dropped(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := lost[p.o.EventsTopic()]
	p.o.Log.Info("partitions released", "partitions", ids)
	for _, id := range ids {
		delete(p.parts, id)
		delete(p.unloaded, id)
	}
	p.Stats.Owned.Store(int64(len(p.parts) + len(p.unloaded)))
}

// load (re)builds the given partitions from their committed checkpoints;
// on an error it changes nothing.
func (p *Processor) load(ctx context.Context, cl *kgo.Client, ids []int32) error {
	if len(ids) == 0 {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, loadWait)
	defer cancel()
	resps, err := kadm.NewClient(cl).FetchOffsets(lctx, p.o.Group)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		return err
	}
	now := p.o.Now()
	for _, id := range ids {
		at, meta := int64(-1), ""
		if r, ok := resps.Lookup(p.o.EventsTopic(), id); ok && r.Err == nil {
			at, meta = r.At, r.Metadata
		}
		from, err := ParseCheckpoint(at, meta)
		p.o.Log.Debug("partition assigned", "partition", id, "offset", from.Offset, "metadata", meta)
		if err != nil {
			p.o.Log.Warn("checkpoint unreadable; recomputing the partition from its committed offset", "partition", id, "err", err)
		}
		part, err := NewPart(id, p.o.Stream, from)
		if err != nil {
			return err
		}
		p.parts[id] = &owned{part: part, hw: -1, lastAdd: now, commit: from}
		delete(p.unloaded, id)
	}
	return nil
}

// reset rebuilds every owned partition from its checkpoint after a failed
// write, and rewinds the fetches to match.
func (p *Processor) reset(ctx context.Context, cl *kgo.Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Stats.Resets.Add(1)
	ids := slices.Collect(maps.Keys(p.parts))
	if err := p.load(ctx, cl, ids); err != nil {
		p.o.Log.Warn("checkpoints not readable yet; retrying", "partitions", ids, "err", err)
		for _, id := range ids {
			delete(p.parts, id)
			p.unloaded[id] = true
		}
		return
	}
	p.rewind(cl, ids)
}

// Next returns, for each owned partition, the offset after the last record
// processed.
func (p *Processor) Next() map[int32]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[int32]int64, len(p.parts))
	for id, op := range p.parts {
		out[id] = op.part.Next()
	}
	return out
}
