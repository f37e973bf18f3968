package cluster

import (
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"fleetpulse/shared/telemetry"
)

// ErrTooManyOpen is returned by Merger.Apply when more windows are waiting
// for their partitions than the Merger holds.
var ErrTooManyOpen = errors.New("too many windows waiting for partitions")

// Merger folds the partials of the windows topic into final windows. A
// window is final when every partition of the events topic has a watermark
// at or beyond its end (the fleet watermark: the minimum over partitions).
// A partition without events cannot stall the fleet for long: its
// processor applies the idle rule to it as to any silent partition.
// A redelivered partial replaces the earlier one, so at-least-once delivery
// never counts anything twice. Not safe for concurrent use.
type Merger struct {
	marks   map[int32]Mark
	parts   int
	open    map[int64]map[int32]*Partial // window end -> partition -> partial
	through int64                        // windows ending at or before it are released
	maxOpen int
}

// NewMerger returns a Merger for partitions partitions that has released
// every window ending at or before through (Unix ms; math.MinInt64 for
// none) and holds at most maxOpen windows waiting for partitions.
func NewMerger(partitions int, through int64, maxOpen int) *Merger {
	return &Merger{marks: map[int32]Mark{}, parts: partitions, open: map[int64]map[int32]*Partial{}, through: through, maxOpen: maxOpen}
}

// SetPartitions changes how many partitions the events topic has (it can
// only grow in Kafka).
func (m *Merger) SetPartitions(n int) { m.parts = max(m.parts, n) }

// Apply takes one record of the windows topic.
func (m *Merger) Apply(r Record) error {
	switch {
	case r.Mark != nil:
		mk := *r.Mark
		if old, ok := m.marks[mk.Partition]; ok {
			// A new owner replays from an older watermark: progress
			// never goes back.
			mk.Watermark = max(mk.Watermark, old.Watermark)
		}
		m.marks[mk.Partition] = mk
	case r.Partial != nil:
		p := r.Partial
		if p.End <= m.through {
			return nil // released already; a replay computes the same
		}
		parts, ok := m.open[p.End]
		if !ok {
			if len(m.open) >= m.maxOpen {
				return ErrTooManyOpen
			}
			parts = map[int32]*Partial{}
			m.open[p.End] = parts
		}
		parts[p.Partition] = p
	}
	return nil
}

// Watermark returns the fleet watermark, and false until every partition
// has one.
func (m *Merger) Watermark() (int64, bool) {
	wm, n := int64(math.MaxInt64), 0
	for id, mk := range m.marks {
		if int(id) < m.parts {
			wm, n = min(wm, mk.Watermark), n+1
		}
	}
	return wm, n == m.parts && n > 0 && wm != math.MinInt64
}

// Ready returns the windows made final since the last call, oldest first.
func (m *Merger) Ready() []telemetry.Window {
	wm, ok := m.Watermark()
	if !ok {
		return nil
	}
	var ends []int64
	for end := range m.open {
		if end <= wm {
			ends = append(ends, end)
		}
	}
	slices.Sort(ends)
	out := make([]telemetry.Window, 0, len(ends))
	for _, end := range ends {
		out = append(out, merge(m.open[end]))
		delete(m.open, end)
	}
	m.through = max(m.through, wm)
	return out
}

// merge folds the partials of one window in partition order and the rows in
// vehicle id order, as one processor folds them, so the floats are equal.
func merge(parts map[int32]*Partial) telemetry.Window {
	ids := slices.Sorted(maps.Keys(parts))
	type row struct {
		r   *telemetry.VehicleRow
		sum float64
	}
	var rows []row
	var fleet telemetry.FleetRow
	for _, id := range ids {
		p := parts[id]
		fleet.WindowStart, fleet.WindowEnd = time.UnixMilli(p.Start).UTC(), time.UnixMilli(p.End).UTC()
		fleet.LateEvents += p.Late
		fleet.DuplicateEvents += p.Dup
		fleet.RejectedEvents += p.Rejected
		for i := range p.Rows {
			rows = append(rows, row{&p.Rows[i], p.Sums[i]})
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int { return strings.Compare(a.r.VehicleID, b.r.VehicleID) })
	w := telemetry.Window{Vehicles: make([]telemetry.VehicleRow, len(rows))}
	var sum float64
	for i, r := range rows {
		w.Vehicles[i] = *r.r
		sum += r.sum
		fleet.VehiclesActive++
		fleet.Events += r.r.Events
		fleet.MaxSpeedKPH = max(fleet.MaxSpeedKPH, r.r.MaxSpeedKPH)
		fleet.DistanceKM += r.r.DistanceKM
	}
	fleet.AvgSpeedKPH = sum / float64(fleet.Events)
	w.Fleet = fleet
	return w
}
