// Package stream computes event-time windowed aggregates per vehicle and for
// the fleet.
//
// Processor is the pure core: events in, final windows out, no clock and no
// goroutines; it is not safe for concurrent use. Stage wraps it in a Run loop
// with an injected clock for the idle rule. Windows are built from panes one
// slide long: each event is stored once, in its pane, and a window folds the
// Partial aggregates of its panes, so sliding windows cost no copying.
// Everything that depends on ts order (distance, last position, sums) is
// folded in ts order when a window becomes final, so the rows do not depend on
// arrival order.
package stream

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"fleetpulse/shared/telemetry"
)

// Outcome says what Add did with an event.
type Outcome uint8

const (
	// Accepted: the event counts in its open windows.
	Accepted Outcome = iota
	// Late: every window that would hold the event is final; dropped.
	Late
	// Duplicate: an event of the same vehicle with the same ts is already
	// in an open window; dropped, the first one wins.
	Duplicate
	// TooManyVehicles: the event's vehicle is new and the cap on tracked
	// vehicles is reached; dropped.
	TooManyVehicles
)

func (o Outcome) String() string {
	switch o {
	case Accepted:
		return "accepted"
	case Late:
		return "late"
	case Duplicate:
		return "duplicate"
	case TooManyVehicles:
		return "too_many_vehicles"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Config sets the window semantics.
type Config struct {
	// Window is the window length, a whole number of seconds.
	Window time.Duration
	// Slide is the distance between window starts, a whole number of
	// seconds that divides Window. Zero means Window (tumbling).
	Slide time.Duration
	// Lateness is how far the watermark trails the greatest accepted ts.
	Lateness time.Duration
	// TripGap: two events of one vehicle further apart than this add no
	// distance. Defaults to 5m.
	TripGap time.Duration
	// MaxVehicles caps the vehicles tracked at once. Defaults to 100000.
	MaxVehicles int
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	slide := c.Slide
	if slide == 0 {
		slide = c.Window
	}
	switch {
	case c.Window <= 0 || c.Window%time.Second != 0:
		return errors.New("window must be a positive whole number of seconds")
	case slide <= 0 || slide%time.Second != 0:
		return errors.New("slide must be a positive whole number of seconds")
	case c.Window%slide != 0:
		return fmt.Errorf("window %v is not a whole multiple of slide %v", c.Window, slide)
	case c.Lateness < 0:
		return errors.New("lateness must not be negative")
	case c.TripGap < 0:
		return errors.New("trip gap must not be negative")
	case c.MaxVehicles < 0 || c.MaxVehicles > MaxVehiclesLimit:
		return fmt.Errorf("max vehicles must be between 0 and %d", MaxVehiclesLimit)
	}
	return nil
}

// MaxVehiclesLimit bounds Config.MaxVehicles: vehicles are indexed by int32.
const MaxVehiclesLimit = math.MaxInt32

// point is one accepted event as a pane stores it.
type point struct {
	ts       int64
	lat, lon float64
	speed    float64
}

// pane holds one vehicle's events of one slide-long span, sorted by ts, and
// their Partial, kept current on in-order appends and refolded when an
// event lands between others.
type pane struct {
	idx    int64 // start / slide
	points []point
	agg    Partial
	dirty  bool
	// link caches the distance from the event before the pane to its
	// first event, keyed by both ts: a (vehicle, ts) names one event, as
	// duplicates are dropped, so a matching key is an exact hit. Sliding
	// windows fold each pane many times; this saves a haversine each.
	linkFrom, linkTo int64
	linkKM           float64
}

type vehicle struct {
	id    string
	panes []pane // sorted by idx; only panes some open window holds
	// anchor is the latest event before panes[0] that may still precede a
	// future event within the trip gap.
	anchor    point
	hasAnchor bool
	lastTS    int64
}

// Processor turns events into final windows. Create it with New.
type Processor struct {
	window, slide, lateness, tripGap int64 // ms
	maxVehicles                      int

	ids      map[string]int32
	vehicles []vehicle
	free     []int32
	live     map[int64]int // pane idx -> vehicles holding a pane there

	maxTS   int64
	hasTS   bool
	wm      int64
	hasWM   bool
	nextEnd int64 // windows ending before this are closed
	// due is the end of the earliest window that holds data and is not
	// closed yet; noDue when nothing is held.
	due     int64
	pending []telemetry.Window // closed, not yet returned by Emit

	// spare holds the emptied point slices of freed panes for reuse, so
	// that a steady stream allocates nothing per event.
	spare [][]point

	late, dup, rejected int64 // since the previous fleet row
	rows                []telemetry.VehicleRow
	sums                []float64 // SumSpeed of rows, parallel to it

	// keepSums makes final windows record their rows' speed sums in
	// takenSums (KeepSums); a scaled-out deployment merges them.
	keepSums  bool
	takenSums [][]float64
}

// KeepSums makes the processor keep, for each final window, the exact sum
// of speeds of each of its rows, in row order, for TakeSums: what merging
// rows of several processors into one fleet row needs to give the very
// floats one processor would. Call it before the first Add.
func (p *Processor) KeepSums() { p.keepSums = true }

// TakeSums returns the speed sums of the final windows returned (by Emit,
// AdvanceTo or Flush) since the last call, one slice per window in the same
// order, each parallel to its window's Vehicles. Nil unless KeepSums.
func (p *Processor) TakeSums() [][]float64 {
	out := p.takenSums
	p.takenSums = nil
	return out
}

// New returns a Processor for c.
func New(c Config) (*Processor, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Slide == 0 {
		c.Slide = c.Window
	}
	if c.TripGap == 0 {
		c.TripGap = 5 * time.Minute
	}
	if c.MaxVehicles == 0 {
		c.MaxVehicles = 100_000
	}
	return &Processor{
		window:      c.Window.Milliseconds(),
		slide:       c.Slide.Milliseconds(),
		lateness:    c.Lateness.Milliseconds(),
		tripGap:     c.TripGap.Milliseconds(),
		maxVehicles: c.MaxVehicles,
		ids:         make(map[string]int32),
		live:        make(map[int64]int),
		due:         noDue,
	}, nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Watermark returns the watermark in Unix ms, and false before it exists.
func (p *Processor) Watermark() (int64, bool) { return p.wm, p.hasWM }

// Vehicles returns how many vehicles are tracked.
func (p *Processor) Vehicles() int { return len(p.ids) }

// CountRejected adds n events rejected before they reached the processor
// (by validation) to the next fleet row.
func (p *Processor) CountRejected(n int64) { p.rejected += n }

const noDue = 1<<63 - 1

// maxSpareCap bounds the point slices kept for reuse, so that one burst
// does not pin its memory for ever; at most one is kept per tracked vehicle.
const maxSpareCap = 1024

// Add offers one validated event. The watermark moves with every accepted
// event, and windows it makes final are closed at once, so the result does
// not depend on how events are batched; Emit returns them.
func (p *Processor) Add(e *telemetry.Event) Outcome {
	idx := floorDiv(e.TS, p.slide)
	if p.hasWM && p.wm >= idx*p.slide+p.window {
		p.late++
		return Late
	}
	vi, ok := p.ids[e.VehicleID]
	if !ok {
		if len(p.ids) >= p.maxVehicles {
			p.rejected++
			return TooManyVehicles
		}
		vi = p.intern(e.VehicleID)
	}
	v := &p.vehicles[vi]
	pt := point{ts: e.TS, lat: e.Lat, lon: e.Lon, speed: e.SpeedKPH}

	// Find or create the pane; events mostly land in the last one.
	i := len(v.panes)
	for i > 0 && v.panes[i-1].idx > idx {
		i--
	}
	if i == 0 || v.panes[i-1].idx != idx {
		pn := pane{idx: idx}
		if n := len(p.spare); n > 0 {
			pn.points, p.spare = p.spare[n-1], p.spare[:n-1]
		}
		v.panes = slices.Insert(v.panes, i, pn)
		p.live[idx]++
		p.due = min(p.due, max(p.nextEnd, (idx+1)*p.slide))
		i++
	}
	pn := &v.panes[i-1]

	n := len(pn.points)
	switch {
	case n == 0 || pn.points[n-1].ts < pt.ts:
		pn.points = append(pn.points, pt)
		if !pn.dirty {
			pn.agg.add(&pt, p.tripGap)
		}
	default:
		j, found := slices.BinarySearchFunc(pn.points, pt.ts, func(q point, ts int64) int {
			return cmpInt(q.ts, ts)
		})
		if found {
			p.dup++
			return Duplicate
		}
		pn.points = slices.Insert(pn.points, j, pt)
		pn.dirty = true
	}
	if e.TS > v.lastTS {
		v.lastTS = e.TS
	}
	if !p.hasTS || e.TS > p.maxTS {
		p.maxTS, p.hasTS = e.TS, true
		if wm := e.TS - p.lateness; !p.hasWM || wm > p.wm {
			p.wm, p.hasWM = wm, true
			if wm >= p.due {
				p.closeThrough(wm)
			}
		}
	}
	return Accepted
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (p *Processor) intern(id string) int32 {
	// Clone so that a decoder's buffer is never retained.
	id = strings.Clone(id)
	var vi int32
	if n := len(p.free); n > 0 {
		vi = p.free[n-1]
		p.free = p.free[:n-1]
		p.vehicles[vi] = vehicle{id: id}
	} else {
		vi = int32(len(p.vehicles)) // #nosec G115 -- below MaxVehicles, which Validate bounds by MaxInt32
		p.vehicles = append(p.vehicles, vehicle{id: id})
	}
	p.ids[id] = vi
	return vi
}

// Emit returns the windows that became final since the last call, oldest
// first. The slice is the caller's.
func (p *Processor) Emit() []telemetry.Window {
	out := p.pending
	p.pending = nil
	return out
}

// AdvanceTo moves the watermark to wm (Unix ms) unless it is already there
// or beyond, and returns the windows that became final, oldest first. The
// server calls it for the idle rule.
func (p *Processor) AdvanceTo(wm int64) []telemetry.Window {
	if !p.hasWM || wm > p.wm {
		p.wm, p.hasWM = wm, true
		p.closeThrough(wm)
	}
	return p.Emit()
}

// Peek returns the newest open window, the one ending first after the
// greatest accepted ts, as it stands: a provisional view that changes
// nothing. Its counters are those accrued so far for the next fleet row.
func (p *Processor) Peek() (telemetry.Window, bool) {
	if !p.hasTS || len(p.live) == 0 {
		return telemetry.Window{}, false
	}
	return p.closeWindow(floorDiv(p.maxTS, p.slide)*p.slide+p.slide, false)
}

// Flush returns every window that holds data, final or not, as it stands,
// and leaves the processor empty. The server calls it on shutdown.
func (p *Processor) Flush() []telemetry.Window {
	if len(p.live) > 0 {
		maxIdx := int64(-1 << 62)
		for idx := range p.live {
			maxIdx = max(maxIdx, idx)
		}
		// The last window holding the latest pane ends at its start + window.
		p.closeThrough(maxIdx*p.slide + p.window)
	}
	return p.Emit()
}

// closeThrough closes every window ending at or before end, appending those
// with rows to pending, and skips runs of empty windows without visiting
// them.
func (p *Processor) closeThrough(end int64) {
	for p.due <= end {
		if w, ok := p.closeWindow(p.due, true); ok {
			p.pending = append(p.pending, w)
		}
		p.nextEnd = p.due + p.slide
		p.due = noDue
		for idx := range p.live {
			p.due = min(p.due, max(p.nextEnd, (idx+1)*p.slide))
		}
	}
	// Every window ending at or before end is now final.
	p.nextEnd = max(p.nextEnd, floorDiv(end, p.slide)*p.slide+p.slide)
	if p.due != noDue {
		p.due = max(p.due, p.nextEnd)
	}
	p.forgetIdle(end)
}

// closeWindow builds the rows of window [e-window, e). When final, it also
// frees the pane that no later window holds and starts the counters of the
// next fleet row; otherwise (Peek) it changes nothing.
func (p *Processor) closeWindow(e int64, final bool) (telemetry.Window, bool) {
	s := e - p.window
	first, last := floorDiv(s, p.slide), floorDiv(e, p.slide)-1
	p.rows, p.sums = p.rows[:0], p.sums[:0]
	fleet := telemetry.FleetRow{
		WindowStart: time.UnixMilli(s).UTC(),
		WindowEnd:   time.UnixMilli(e).UTC(),
	}
	for vi := range p.vehicles {
		v := &p.vehicles[vi]
		if v.id == "" {
			continue
		}
		if agg, ok := p.fold(v, first, last); ok {
			p.rows = append(p.rows, telemetry.VehicleRow{
				WindowStart: fleet.WindowStart,
				WindowEnd:   fleet.WindowEnd,
				VehicleID:   v.id,
				Events:      agg.Events,
				AvgSpeedKPH: agg.SumSpeed / float64(agg.Events),
				MinSpeedKPH: agg.MinSpeed,
				MaxSpeedKPH: agg.MaxSpeed,
				DistanceKM:  agg.DistKM,
				LastLat:     agg.LastLat,
				LastLon:     agg.LastLon,
				LastTS:      time.UnixMilli(agg.LastTS).UTC(),
			})
			p.sums = append(p.sums, agg.SumSpeed)
		}
		// Pane `first` is in no later window.
		for final && len(v.panes) > 0 && v.panes[0].idx <= first {
			pn := &v.panes[0]
			if n := len(pn.points); n > 0 {
				v.anchor, v.hasAnchor = pn.points[n-1], true
			}
			if p.live[pn.idx]--; p.live[pn.idx] == 0 {
				delete(p.live, pn.idx)
			}
			if cap(pn.points) > 0 && cap(pn.points) <= maxSpareCap && len(p.spare) < len(p.ids) {
				p.spare = append(p.spare, pn.points[:0])
			}
			// Shift down rather than reslice, so the slice keeps its
			// capacity and appends do not reallocate.
			n := copy(v.panes, v.panes[1:])
			v.panes[n] = pane{}
			v.panes = v.panes[:n]
		}
	}
	if len(p.rows) == 0 {
		return telemetry.Window{}, false
	}
	// Sort rows (and their sums) by id so that the fleet sums are folded in
	// an order that does not depend on arrival.
	order := make([]int, len(p.rows))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return strings.Compare(p.rows[a].VehicleID, p.rows[b].VehicleID)
	})
	rows := make([]telemetry.VehicleRow, len(p.rows))
	var sorted []float64
	if final && p.keepSums {
		sorted = make([]float64, len(rows))
		p.takenSums = append(p.takenSums, sorted)
	}
	var sum float64
	for i, j := range order {
		rows[i] = p.rows[j]
		r := &rows[i]
		sum += p.sums[j]
		if sorted != nil {
			sorted[i] = p.sums[j]
		}
		fleet.VehiclesActive++
		fleet.Events += r.Events
		fleet.MaxSpeedKPH = max(fleet.MaxSpeedKPH, r.MaxSpeedKPH)
		fleet.DistanceKM += r.DistanceKM
	}
	fleet.AvgSpeedKPH = sum / float64(fleet.Events)
	fleet.LateEvents, fleet.DuplicateEvents, fleet.RejectedEvents = p.late, p.dup, p.rejected
	if final {
		p.late, p.dup, p.rejected = 0, 0, 0
	}
	return telemetry.Window{Fleet: fleet, Vehicles: rows}, true
}

// fold merges v's panes first..last in order, with the link from the event
// before them.
func (p *Processor) fold(v *vehicle, first, last int64) (Partial, bool) {
	i := 0
	for i < len(v.panes) && v.panes[i].idx < first {
		i++
	}
	if i == len(v.panes) || v.panes[i].idx > last {
		return Partial{}, false
	}
	var prev *point
	if i > 0 {
		pts := v.panes[i-1].points
		prev = &pts[len(pts)-1]
	} else if v.hasAnchor {
		prev = &v.anchor
	}
	var agg Partial
	for ; i < len(v.panes) && v.panes[i].idx <= last; i++ {
		pn := &v.panes[i]
		if pn.dirty {
			pn.agg = Partial{}
			for j := range pn.points {
				pn.agg.add(&pn.points[j], p.tripGap)
			}
			pn.dirty = false
		}
		if agg.Events > 0 {
			agg.mergeLinked(&pn.agg, p.link(pn, agg.LastTS, agg.LastLat, agg.LastLon))
			continue
		}
		agg = pn.agg
		if prev != nil {
			agg.DistKM += p.link(pn, prev.ts, prev.lat, prev.lon)
		}
	}
	return agg, true
}

// link returns the distance from the event (ts, lat, lon) to pn's first
// event, or 0 when they lie more than the trip gap apart.
func (p *Processor) link(pn *pane, ts int64, lat, lon float64) float64 {
	first := &pn.agg
	if first.FirstTS-ts > p.tripGap {
		return 0
	}
	if pn.linkFrom != ts || pn.linkTo != first.FirstTS {
		pn.linkFrom, pn.linkTo = ts, first.FirstTS
		pn.linkKM = telemetry.HaversineKM(lat, lon, first.FirstLat, first.FirstLon)
	}
	return pn.linkKM
}

// forgetIdle drops vehicles with no held panes whose last event is too old
// to precede any event that is not late.
func (p *Processor) forgetIdle(wm int64) {
	horizon := wm - p.window - p.tripGap
	for vi := range p.vehicles {
		v := &p.vehicles[vi]
		if v.id == "" || len(v.panes) > 0 || v.lastTS >= horizon {
			continue
		}
		delete(p.ids, v.id)
		*v = vehicle{}
		p.free = append(p.free, int32(vi))
	}
}
