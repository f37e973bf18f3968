// Package cluster runs FleetPulse on several machines over a Kafka-protocol
// broker: ingest nodes produce events to <prefix>.events keyed by vehicle
// id; processors, one consumer group, each window the partitions they own
// and write per-partition partial windows to <prefix>.windows; serving
// nodes read that topic whole and merge the partials into the rows one
// process would give.
//
// The pure core is Part (one partition's windows, with the checkpoint that
// lets any instance recompute them from an offset) and Merger (partials
// in, final windows out); neither does I/O, so the same core runs behind an
// in-memory log in tests. Processor and Server wrap them in franz-go
// clients; each Run owns its client and its goroutines and returns only
// after the client is closed.
package cluster

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"fleetpulse/server/stream"
	"fleetpulse/shared/telemetry"
)

// Checkpoint is where a new owner of a partition resumes: the offset of
// the oldest event any open window (or the distance into one) still needs,
// the watermark just before that event, and how far windows are already
// written. It travels as the committed offset and its metadata.
type Checkpoint struct {
	Offset int64
	// Watermark before the event at Offset, when HasWM.
	Watermark int64
	HasWM     bool
	// Closed: windows ending at or before it were written, when HasClosed.
	Closed    int64
	HasClosed bool
}

// Metadata encodes c's watermark and closed mark as commit metadata.
func (c Checkpoint) Metadata() string {
	return fmt.Sprintf("fleetpulse/1 %s %s", optInt(c.Watermark, c.HasWM), optInt(c.Closed, c.HasClosed))
}

func optInt(v int64, ok bool) string {
	if !ok {
		return "-"
	}
	return strconv.FormatInt(v, 10)
}

// ParseCheckpoint reads a committed offset and its metadata. An offset
// below 0 means nothing was committed: start from the beginning. On an
// error it returns the bare offset, with no watermarks.
func ParseCheckpoint(offset int64, meta string) (Checkpoint, error) {
	c := Checkpoint{Offset: max(offset, 0)}
	if offset < 0 || meta == "" {
		return c, nil
	}
	f := strings.Fields(meta)
	if len(f) != 3 || f[0] != "fleetpulse/1" {
		return c, fmt.Errorf("commit metadata %q: not a fleetpulse checkpoint", meta)
	}
	wm, hasWM, err1 := parseOpt(f[1])
	closed, hasClosed, err2 := parseOpt(f[2])
	if err := errors.Join(err1, err2); err != nil {
		return c, err
	}
	c.Watermark, c.HasWM, c.Closed, c.HasClosed = wm, hasWM, closed, hasClosed
	return c, nil
}

func parseOpt(s string) (int64, bool, error) {
	if s == "-" {
		return 0, false, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, errors.New("commit metadata: bad number")
	}
	return v, true, nil
}

// paneMark is the first event (in offset order) accepted into a pane: its
// offset and the watermark before it.
type paneMark struct {
	offset int64
	wm     int64
	hasWM  bool
}

// Part windows the events of one partition, fed in offset order. Not safe
// for concurrent use.
type Part struct {
	ID int32

	proc                   *stream.Processor
	slide, window, tripGap int64
	marks                  map[int64]paneMark // pane idx -> its first event
	next                   int64              // offset after the last one added
	from                   Checkpoint
	closed                 []telemetry.Window // by AdvanceTo, not yet taken
}

// NewPart returns the processor of partition id resuming at from. Windows
// ending at or before from.Closed are recomputed but not returned again.
func NewPart(id int32, c stream.Config, from Checkpoint) (*Part, error) {
	proc, err := stream.New(c)
	if err != nil {
		return nil, err
	}
	proc.KeepSums()
	if from.HasWM {
		// An empty processor closes nothing: this only restores the
		// watermark the events from the checkpoint on were judged by.
		proc.AdvanceTo(from.Watermark)
	}
	slide := c.Slide
	if slide == 0 {
		slide = c.Window
	}
	gap := c.TripGap
	if gap == 0 {
		gap = 5 * 60e9
	}
	return &Part{
		ID: id, proc: proc, slide: slide.Milliseconds(), window: c.Window.Milliseconds(), tripGap: gap.Milliseconds(),
		marks: make(map[int64]paneMark), next: from.Offset, from: from,
	}, nil
}

// Next returns the offset after the last event added.
func (p *Part) Next() int64 { return p.next }

// Add offers the event at offset; offsets must rise.
func (p *Part) Add(offset int64, e *telemetry.Event) stream.Outcome {
	wm, hasWM := p.proc.Watermark()
	out := p.proc.Add(e)
	p.next = offset + 1
	if out == stream.Accepted {
		idx := floorDiv(e.TS, p.slide)
		if _, ok := p.marks[idx]; !ok {
			p.marks[idx] = paneMark{offset: offset, wm: wm, hasWM: hasWM}
		}
	}
	return out
}

// Skip moves past an offset that holds no event (a malformed record, a
// transaction marker).
func (p *Part) Skip(offset int64) { p.next = max(p.next, offset+1) }

// AdvanceTo applies the idle rule: the watermark moves to wm.
func (p *Part) AdvanceTo(wm int64) {
	p.closed = append(p.closed, p.proc.AdvanceTo(wm)...)
}

// Take returns the partials of the windows that became final since the
// last call, oldest first, leaving out those a previous owner wrote.
func (p *Part) Take() []Partial {
	wins := append(p.closed, p.proc.Emit()...)
	p.closed = nil
	sums := p.proc.TakeSums()
	var out []Partial
	for i := range wins {
		w := &wins[i]
		end := w.End().UnixMilli()
		if p.from.HasClosed && end <= p.from.Closed {
			continue
		}
		out = append(out, Partial{
			Partition: p.ID, Start: w.Start().UnixMilli(), End: end,
			Late: w.Fleet.LateEvents, Dup: w.Fleet.DuplicateEvents, Rejected: w.Fleet.RejectedEvents,
			Rows: w.Vehicles, Sums: sums[i],
		})
	}
	return out
}

// Mark returns the partition's progress for the windows topic.
func (p *Part) Mark() Mark {
	wm, ok := p.proc.Watermark()
	if !ok {
		wm = math.MinInt64
	}
	return Mark{Partition: p.ID, Watermark: wm}
}

// Checkpoint returns where a new owner would resume once every partial
// taken so far is written: the first event of the oldest pane that an open
// window holds or that may still lend an open window its distance link.
func (p *Part) Checkpoint() Checkpoint {
	wm, hasWM := p.proc.Watermark()
	c := Checkpoint{Offset: p.next, Watermark: wm, HasWM: hasWM, Closed: wm, HasClosed: hasWM}
	if !hasWM {
		return c
	}
	if p.from.HasClosed && p.from.Closed > wm {
		// Still replaying what a previous owner wrote.
		c.Closed = p.from.Closed
	}
	// A pane ending at or before horizon holds no event an open window
	// can reach: its windows are final, and its events lie more than the
	// trip gap before any event that is not late.
	horizon := wm - p.window - p.tripGap
	for idx, m := range p.marks {
		if (idx+1)*p.slide <= horizon {
			delete(p.marks, idx)
			continue
		}
		if m.offset < c.Offset {
			c.Offset, c.Watermark, c.HasWM = m.offset, m.wm, m.hasWM
		}
	}
	if c.Offset < p.from.Offset {
		// Never resume before where this owner started.
		c.Offset, c.Watermark, c.HasWM = p.from.Offset, p.from.Watermark, p.from.HasWM
	}
	return c
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
