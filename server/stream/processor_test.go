package stream

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"fleetpulse/shared/telemetry"
)

// base is an epoch-aligned instant to build test timestamps from.
var base = time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC).UnixMilli()

func ev(id string, sec float64, lat, lon, speed float64) telemetry.Event {
	return telemetry.Event{VehicleID: id, TS: base + int64(math.Round(sec*1000)),
		Lat: lat, Lon: lon, SpeedKPH: speed, HeadingDeg: math.NaN(), FuelPct: math.NaN()}
}

func at(sec float64) time.Time { return time.UnixMilli(base + int64(math.Round(sec*1000))).UTC() }

func mustNew(t testing.TB, c Config) *Processor {
	t.Helper()
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// run feeds events one by one and returns the outcomes and all windows,
// flushed at the end when flush is set.
func run(p *Processor, events []telemetry.Event, flush bool) ([]Outcome, []telemetry.Window) {
	var outs []Outcome
	var wins []telemetry.Window
	for i := range events {
		outs = append(outs, p.Add(&events[i]))
		wins = append(wins, p.Emit()...)
	}
	if flush {
		wins = append(wins, p.Flush()...)
	}
	return outs, wins
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		c    Config
		ok   bool
	}{
		{"tumbling", Config{Window: 10 * time.Second}, true},
		{"sliding", Config{Window: 60 * time.Second, Slide: 5 * time.Second}, true},
		{"zero window", Config{}, false},
		{"fractional window", Config{Window: 1500 * time.Millisecond}, false},
		{"slide not dividing", Config{Window: 10 * time.Second, Slide: 3 * time.Second}, false},
		{"slide longer", Config{Window: 10 * time.Second, Slide: 20 * time.Second}, false},
		{"negative lateness", Config{Window: 10 * time.Second, Lateness: -time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := tc.c.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestWindows(t *testing.T) {
	t.Parallel()
	tumbling := Config{Window: 10 * time.Second, Lateness: 5 * time.Second, TripGap: 5 * time.Minute}
	// Two points 0.01 degrees of latitude apart: 1.111951 km.
	d := telemetry.HaversineKM(52.50, 13.40, 52.51, 13.40)
	for _, tc := range []struct {
		name     string
		c        Config
		events   []telemetry.Event
		outcomes []Outcome
		want     []telemetry.Window
	}{
		{
			name: "in order, closed by the watermark",
			c:    tumbling,
			events: []telemetry.Event{
				ev("A", 1, 52.50, 13.40, 10), ev("A", 2, 52.51, 13.40, 30), ev("B", 3, 1, 1, 50),
				ev("B", 15, 1, 1, 0), // watermark 10: closes [0,10)
			},
			outcomes: []Outcome{Accepted, Accepted, Accepted, Accepted},
			want: []telemetry.Window{{
				Fleet: telemetry.FleetRow{WindowStart: at(0), WindowEnd: at(10), VehiclesActive: 2, Events: 3,
					AvgSpeedKPH: 30, MaxSpeedKPH: 50, DistanceKM: d},
				Vehicles: []telemetry.VehicleRow{
					{WindowStart: at(0), WindowEnd: at(10), VehicleID: "A", Events: 2, AvgSpeedKPH: 20,
						MinSpeedKPH: 10, MaxSpeedKPH: 30, DistanceKM: d, LastLat: 52.51, LastLon: 13.40, LastTS: at(2)},
					{WindowStart: at(0), WindowEnd: at(10), VehicleID: "B", Events: 1, AvgSpeedKPH: 50,
						MinSpeedKPH: 50, MaxSpeedKPH: 50, LastLat: 1, LastLon: 1, LastTS: at(3)},
				},
			}},
		},
		{
			name: "out of order within lateness, last position by ts",
			c:    tumbling,
			events: []telemetry.Event{
				ev("A", 8, 52.51, 13.40, 30), ev("A", 12, 52.52, 13.40, 0),
				ev("A", 1, 52.50, 13.40, 10), // wm 7: still open
				ev("A", 15, 52.52, 13.40, 0),
			},
			outcomes: []Outcome{Accepted, Accepted, Accepted, Accepted},
			want: []telemetry.Window{{
				Fleet: telemetry.FleetRow{WindowStart: at(0), WindowEnd: at(10), VehiclesActive: 1, Events: 2,
					AvgSpeedKPH: 20, MaxSpeedKPH: 30, DistanceKM: d},
				Vehicles: []telemetry.VehicleRow{{WindowStart: at(0), WindowEnd: at(10), VehicleID: "A", Events: 2,
					AvgSpeedKPH: 20, MinSpeedKPH: 10, MaxSpeedKPH: 30, DistanceKM: d,
					LastLat: 52.51, LastLon: 13.40, LastTS: at(8)}},
			}},
		},
		{
			name: "exactly at the boundary belongs to the next window",
			c:    tumbling,
			events: []telemetry.Event{
				ev("A", 0, 1, 1, 10), ev("A", 10, 1, 1, 20), ev("A", 25, 1, 1, 0),
			},
			outcomes: []Outcome{Accepted, Accepted, Accepted},
			want: []telemetry.Window{
				{Fleet: telemetry.FleetRow{WindowStart: at(0), WindowEnd: at(10), VehiclesActive: 1, Events: 1, AvgSpeedKPH: 10, MaxSpeedKPH: 10},
					Vehicles: []telemetry.VehicleRow{{WindowStart: at(0), WindowEnd: at(10), VehicleID: "A", Events: 1,
						AvgSpeedKPH: 10, MinSpeedKPH: 10, MaxSpeedKPH: 10, LastLat: 1, LastLon: 1, LastTS: at(0)}}},
				{Fleet: telemetry.FleetRow{WindowStart: at(10), WindowEnd: at(20), VehiclesActive: 1, Events: 1, AvgSpeedKPH: 20, MaxSpeedKPH: 20},
					Vehicles: []telemetry.VehicleRow{{WindowStart: at(10), WindowEnd: at(20), VehicleID: "A", Events: 1,
						AvgSpeedKPH: 20, MinSpeedKPH: 20, MaxSpeedKPH: 20, LastLat: 1, LastLon: 1, LastTS: at(10)}}},
			},
		},
		{
			name: "late by 1 ms is dropped and counted in the next fleet row",
			c:    tumbling,
			events: []telemetry.Event{
				ev("A", 1, 1, 1, 10), ev("A", 15, 1, 1, 20), // wm 10: [0,10) final
				ev("A", 9.999, 1, 1, 99), // late
				ev("A", 10, 1, 1, 30),    // on time
				ev("A", 30, 1, 1, 0),     // wm 25: [10,20) final
			},
			outcomes: []Outcome{Accepted, Accepted, Late, Accepted, Accepted},
			want: []telemetry.Window{
				{Fleet: telemetry.FleetRow{WindowStart: at(0), WindowEnd: at(10), VehiclesActive: 1, Events: 1, AvgSpeedKPH: 10, MaxSpeedKPH: 10},
					Vehicles: []telemetry.VehicleRow{{WindowStart: at(0), WindowEnd: at(10), VehicleID: "A", Events: 1,
						AvgSpeedKPH: 10, MinSpeedKPH: 10, MaxSpeedKPH: 10, LastLat: 1, LastLon: 1, LastTS: at(1)}}},
				{Fleet: telemetry.FleetRow{WindowStart: at(10), WindowEnd: at(20), VehiclesActive: 1, Events: 2, AvgSpeedKPH: 25, MaxSpeedKPH: 30, LateEvents: 1},
					Vehicles: []telemetry.VehicleRow{{WindowStart: at(10), WindowEnd: at(20), VehicleID: "A", Events: 2,
						AvgSpeedKPH: 25, MinSpeedKPH: 20, MaxSpeedKPH: 30, LastLat: 1, LastLon: 1, LastTS: at(15)}}},
			},
		},
		{
			name: "duplicates count once, the first wins",
			c:    tumbling,
			events: []telemetry.Event{
				ev("A", 1, 1, 1, 10), ev("A", 2, 1, 1, 20), ev("A", 1, 1, 1, 99), ev("A", 2, 1, 1, 99), ev("B", 1, 1, 1, 30),
				ev("A", 20, 1, 1, 0),
			},
			outcomes: []Outcome{Accepted, Accepted, Duplicate, Duplicate, Accepted, Accepted},
			want: []telemetry.Window{
				{Fleet: telemetry.FleetRow{WindowStart: at(0), WindowEnd: at(10), VehiclesActive: 2, Events: 3, AvgSpeedKPH: 20, MaxSpeedKPH: 30, DuplicateEvents: 2},
					Vehicles: []telemetry.VehicleRow{
						{WindowStart: at(0), WindowEnd: at(10), VehicleID: "A", Events: 2, AvgSpeedKPH: 15, MinSpeedKPH: 10, MaxSpeedKPH: 20, LastLat: 1, LastLon: 1, LastTS: at(2)},
						{WindowStart: at(0), WindowEnd: at(10), VehicleID: "B", Events: 1, AvgSpeedKPH: 30, MinSpeedKPH: 30, MaxSpeedKPH: 30, LastLat: 1, LastLon: 1, LastTS: at(1)},
					}},
			},
		},
		{
			name: "distance from the previous window, and none across a trip gap",
			c:    Config{Window: 10 * time.Second, Lateness: 0, TripGap: 15 * time.Second},
			events: []telemetry.Event{
				ev("A", 9, 52.50, 13.40, 10),
				ev("A", 11, 52.51, 13.40, 10), // 2 s after: adds d in [10,20)
				ev("A", 29, 52.52, 13.40, 10), // 18 s after: a new trip
				ev("A", 40, 0, 0, 0),
			},
			outcomes: []Outcome{Accepted, Accepted, Accepted, Accepted},
			want: []telemetry.Window{
				{Fleet: telemetry.FleetRow{WindowStart: at(0), WindowEnd: at(10), VehiclesActive: 1, Events: 1, AvgSpeedKPH: 10, MaxSpeedKPH: 10},
					Vehicles: []telemetry.VehicleRow{{WindowStart: at(0), WindowEnd: at(10), VehicleID: "A", Events: 1, AvgSpeedKPH: 10, MinSpeedKPH: 10, MaxSpeedKPH: 10, LastLat: 52.50, LastLon: 13.40, LastTS: at(9)}}},
				{Fleet: telemetry.FleetRow{WindowStart: at(10), WindowEnd: at(20), VehiclesActive: 1, Events: 1, AvgSpeedKPH: 10, MaxSpeedKPH: 10, DistanceKM: d},
					Vehicles: []telemetry.VehicleRow{{WindowStart: at(10), WindowEnd: at(20), VehicleID: "A", Events: 1, AvgSpeedKPH: 10, MinSpeedKPH: 10, MaxSpeedKPH: 10, DistanceKM: d, LastLat: 52.51, LastLon: 13.40, LastTS: at(11)}}},
				{Fleet: telemetry.FleetRow{WindowStart: at(20), WindowEnd: at(30), VehiclesActive: 1, Events: 1, AvgSpeedKPH: 10, MaxSpeedKPH: 10},
					Vehicles: []telemetry.VehicleRow{{WindowStart: at(20), WindowEnd: at(30), VehicleID: "A", Events: 1, AvgSpeedKPH: 10, MinSpeedKPH: 10, MaxSpeedKPH: 10, LastLat: 52.52, LastLon: 13.40, LastTS: at(29)}}},
			},
		},
		{
			name: "late under sliding windows counts in the open ones only",
			c:    Config{Window: 20 * time.Second, Slide: 10 * time.Second, Lateness: 0},
			events: []telemetry.Event{
				ev("A", 5, 1, 1, 10),
				ev("A", 10, 1, 1, 20), // wm 10: [-10,10) final
				ev("A", 6, 1, 1, 30),  // [-10,10) final, [0,20) open: accepted
				ev("A", 20, 1, 1, 0),  // wm 20: [0,20) final
				ev("A", 7, 1, 1, 99),  // every window holding it is final: late
			},
			outcomes: []Outcome{Accepted, Accepted, Accepted, Accepted, Late},
			want: []telemetry.Window{
				{Fleet: telemetry.FleetRow{WindowStart: at(-10), WindowEnd: at(10), VehiclesActive: 1, Events: 1, AvgSpeedKPH: 10, MaxSpeedKPH: 10},
					Vehicles: []telemetry.VehicleRow{{WindowStart: at(-10), WindowEnd: at(10), VehicleID: "A", Events: 1, AvgSpeedKPH: 10, MinSpeedKPH: 10, MaxSpeedKPH: 10, LastLat: 1, LastLon: 1, LastTS: at(5)}}},
				{Fleet: telemetry.FleetRow{WindowStart: at(0), WindowEnd: at(20), VehiclesActive: 1, Events: 3, AvgSpeedKPH: 20, MaxSpeedKPH: 30},
					Vehicles: []telemetry.VehicleRow{{WindowStart: at(0), WindowEnd: at(20), VehicleID: "A", Events: 3, AvgSpeedKPH: 20, MinSpeedKPH: 10, MaxSpeedKPH: 30, LastLat: 1, LastLon: 1, LastTS: at(10)}}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := mustNew(t, tc.c)
			outs, got := run(p, tc.events, false)
			if diff := cmp.Diff(tc.outcomes, outs); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateApprox(0, 1e-9), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("windows (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIdleAdvanceClosesWindows(t *testing.T) {
	t.Parallel()
	p := mustNew(t, Config{Window: 10 * time.Second, Lateness: 5 * time.Second})
	e := ev("A", 3, 1, 1, 10)
	p.Add(&e)
	if w := p.Emit(); len(w) != 0 {
		t.Fatalf("window closed before the watermark reached it: %v", w)
	}
	if w := p.AdvanceTo(base + 9_999); len(w) != 0 {
		t.Fatalf("window closed 1 ms early: %v", w)
	}
	w := p.AdvanceTo(base + 10_000)
	if len(w) != 1 || w[0].Fleet.Events != 1 || !w[0].End().Equal(at(10)) {
		t.Fatalf("AdvanceTo(end) = %v, want the window [0,10) with 1 event", w)
	}
	// The watermark never goes back, and the window is emitted once.
	if w := p.AdvanceTo(base); len(w) != 0 {
		t.Fatalf("window emitted twice: %v", w)
	}
	late := ev("A", 4, 1, 1, 10)
	if got := p.Add(&late); got != Late {
		t.Fatalf("Add after close = %v, want late", got)
	}
}

func TestCountersCarryToNextRow(t *testing.T) {
	t.Parallel()
	p := mustNew(t, Config{Window: 10 * time.Second})
	p.CountRejected(3)
	events := []telemetry.Event{ev("A", 1, 1, 1, 1), ev("A", 1, 1, 1, 1), ev("A", 25, 1, 1, 1), ev("A", 2, 1, 1, 1), ev("A", 35, 1, 1, 1)}
	_, wins := run(p, events, false)
	if len(wins) != 2 {
		t.Fatalf("got %d windows, want 2", len(wins))
	}
	if f := wins[0].Fleet; f.RejectedEvents != 3 || f.DuplicateEvents != 1 || f.LateEvents != 0 {
		t.Errorf("first row counters = %d rejected %d dup %d late, want 3 1 0", f.RejectedEvents, f.DuplicateEvents, f.LateEvents)
	}
	// The late event came after [0,10) closed while [10,20) was empty: it
	// lands in the next row, that of [20,30).
	if f := wins[1].Fleet; f.LateEvents != 1 || f.RejectedEvents != 0 || f.DuplicateEvents != 0 {
		t.Errorf("second row counters = %+v, want 1 late only", f)
	}
}

func TestVehicleCapAndForgetting(t *testing.T) {
	t.Parallel()
	p := mustNew(t, Config{Window: 10 * time.Second, TripGap: 30 * time.Second, MaxVehicles: 2})
	a, b, c := ev("A", 1, 1, 1, 1), ev("B", 1, 1, 1, 1), ev("C", 1, 1, 1, 1)
	if p.Add(&a) != Accepted || p.Add(&b) != Accepted {
		t.Fatal("first two vehicles not accepted")
	}
	if got := p.Add(&c); got != TooManyVehicles {
		t.Fatalf("third vehicle: %v, want too_many_vehicles", got)
	}
	// A keeps reporting; B falls silent for longer than window + trip gap.
	for s := 10.0; s <= 60; s += 10 {
		e := ev("A", s, 1, 1, 1)
		p.Add(&e)
	}
	p.Emit()
	if got := p.Vehicles(); got != 1 {
		t.Fatalf("tracked vehicles = %d, want 1 after B went idle", got)
	}
	c2 := ev("C", 61, 1, 1, 1)
	if got := p.Add(&c2); got != Accepted {
		t.Fatalf("C after B was forgotten: %v, want accepted", got)
	}
}

func TestFlushEmitsOpenWindows(t *testing.T) {
	t.Parallel()
	p := mustNew(t, Config{Window: 20 * time.Second, Slide: 10 * time.Second, Lateness: 5 * time.Second})
	events := []telemetry.Event{ev("A", 1, 1, 1, 10), ev("A", 12, 1, 1, 20)}
	_, wins := run(p, events, true)
	var ends []time.Time
	for _, w := range wins {
		ends = append(ends, w.End())
	}
	if diff := cmp.Diff([]time.Time{at(10), at(20), at(30)}, ends); diff != "" {
		t.Fatalf("flushed window ends (-want +got):\n%s", diff)
	}
	if p.Vehicles() != 0 && len(p.live) != 0 {
		t.Fatal("state left after Flush")
	}
}

// genEvents makes n events of nv vehicles over span seconds with ms
// timestamps, shuffled within maxShift of sorted order.
func genEvents(r *rand.Rand, n, nv int, span float64) []telemetry.Event {
	seen := map[string]bool{}
	var out []telemetry.Event
	for len(out) < n {
		id := fmt.Sprintf("V%d", r.IntN(nv))
		ms := r.Int64N(int64(span * 1000))
		key := fmt.Sprint(id, ms)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, telemetry.Event{VehicleID: id, TS: base + ms,
			Lat: 52 + r.Float64()*0.1, Lon: 13 + r.Float64()*0.1, SpeedKPH: r.Float64() * 120})
	}
	slices.SortFunc(out, func(a, b telemetry.Event) int { return cmpInt(a.TS, b.TS) })
	return out
}

// permuteWithin shuffles events so that none arrives after the watermark
// (greatest ts so far − lateness) passed the end of its earliest window: each
// event moves at most `lateness` behind events with greater ts.
func permuteWithin(r *rand.Rand, events []telemetry.Event, lateness int64) []telemetry.Event {
	type keyed struct {
		key int64
		e   telemetry.Event
	}
	ks := make([]keyed, len(events))
	for i, e := range events {
		// Sorting by ts + a delay in [0, lateness] delays each event by at
		// most lateness behind any later-stamped one.
		ks[i] = keyed{e.TS + r.Int64N(lateness+1), e}
	}
	sort.SliceStable(ks, func(i, j int) bool { return ks[i].key < ks[j].key })
	out := make([]telemetry.Event, len(ks))
	for i := range ks {
		out[i] = ks[i].e
	}
	return out
}

func TestPropertyArrivalOrderDoesNotMatter(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{
		{Window: 10 * time.Second, Lateness: 5 * time.Second, TripGap: 3 * time.Second},
		{Window: 30 * time.Second, Slide: 10 * time.Second, Lateness: 4 * time.Second, TripGap: 20 * time.Second},
	} {
		t.Run(fmt.Sprintf("window=%v/slide=%v", c.Window, c.Slide), func(t *testing.T) {
			t.Parallel()
			for seed := range uint64(50) {
				r := rand.New(rand.NewPCG(seed, 7))
				events := genEvents(r, 300, 5, 120)
				_, want := run(mustNew(t, c), events, true)
				perm := permuteWithin(r, events, c.Lateness.Milliseconds())
				outs, got := run(mustNew(t, c), perm, true)
				for i, o := range outs {
					if o != Accepted {
						t.Fatalf("seed %d: event %d of the permutation was %v", seed, i, o)
					}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("seed %d: permuted rows differ from sorted (-sorted +permuted):\n%s", seed, diff)
				}
			}
		})
	}
}

// reference computes the rows of every window from scratch, straight from
// the contract, for events that are all on time.
func reference(c Config, events []telemetry.Event) []telemetry.Window {
	win, slide, gap := c.Window.Milliseconds(), c.Slide.Milliseconds(), c.TripGap.Milliseconds()
	byVehicle := map[string][]telemetry.Event{}
	minTS, maxTS := int64(math.MaxInt64), int64(math.MinInt64)
	for _, e := range events {
		byVehicle[e.VehicleID] = append(byVehicle[e.VehicleID], e)
		minTS, maxTS = min(minTS, e.TS), max(maxTS, e.TS)
	}
	var ids []string
	for id, es := range byVehicle {
		ids = append(ids, id)
		slices.SortFunc(es, func(a, b telemetry.Event) int { return cmpInt(a.TS, b.TS) })
	}
	slices.Sort(ids)
	var out []telemetry.Window
	for start := floorDiv(minTS, slide)*slide - win + slide; start <= maxTS; start += slide {
		end := start + win
		w := telemetry.Window{Fleet: telemetry.FleetRow{WindowStart: time.UnixMilli(start).UTC(), WindowEnd: time.UnixMilli(end).UTC()}}
		var sum float64
		for _, id := range ids {
			es := byVehicle[id]
			row := telemetry.VehicleRow{WindowStart: w.Fleet.WindowStart, WindowEnd: w.Fleet.WindowEnd, VehicleID: id, MinSpeedKPH: math.Inf(1)}
			var vsum float64
			for i, e := range es {
				if e.TS < start || e.TS >= end {
					continue
				}
				row.Events++
				vsum += e.SpeedKPH
				row.MinSpeedKPH = min(row.MinSpeedKPH, e.SpeedKPH)
				row.MaxSpeedKPH = max(row.MaxSpeedKPH, e.SpeedKPH)
				if i > 0 && e.TS-es[i-1].TS <= gap {
					row.DistanceKM += telemetry.HaversineKM(es[i-1].Lat, es[i-1].Lon, e.Lat, e.Lon)
				}
				row.LastLat, row.LastLon, row.LastTS = e.Lat, e.Lon, e.Time()
			}
			if row.Events == 0 {
				continue
			}
			row.AvgSpeedKPH = vsum / float64(row.Events)
			sum += vsum
			w.Vehicles = append(w.Vehicles, row)
			w.Fleet.VehiclesActive++
			w.Fleet.Events += row.Events
			w.Fleet.MaxSpeedKPH = max(w.Fleet.MaxSpeedKPH, row.MaxSpeedKPH)
			w.Fleet.DistanceKM += row.DistanceKM
		}
		if w.Fleet.Events > 0 {
			w.Fleet.AvgSpeedKPH = sum / float64(w.Fleet.Events)
			out = append(out, w)
		}
	}
	return out
}

func TestPropertySlidingEqualsReference(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{
		{Window: 10 * time.Second, Slide: 10 * time.Second, Lateness: 2 * time.Second, TripGap: 4 * time.Second},
		{Window: 30 * time.Second, Slide: 5 * time.Second, Lateness: 3 * time.Second, TripGap: 10 * time.Second},
		{Window: 60 * time.Second, Slide: 20 * time.Second, Lateness: 0, TripGap: time.Minute},
	} {
		t.Run(fmt.Sprintf("window=%v/slide=%v", c.Window, c.Slide), func(t *testing.T) {
			t.Parallel()
			for seed := range uint64(30) {
				r := rand.New(rand.NewPCG(seed, 11))
				events := permuteWithin(r, genEvents(r, 400, 6, 200), c.Lateness.Milliseconds())
				_, got := run(mustNew(t, c), events, true)
				want := reference(c, events)
				if diff := cmp.Diff(want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
					t.Fatalf("seed %d: rows differ from the reference (-reference +processor):\n%s", seed, diff)
				}
			}
		})
	}
}

// TestReadmeExample checks the worked example of README.md, row by row.
func TestReadmeExample(t *testing.T) {
	t.Parallel()
	p := mustNew(t, Config{Window: 10 * time.Second, Lateness: 5 * time.Second})
	pos := func(s float64) (float64, float64) { return 52.5 + s/1000, 13.4 }
	steps := []struct {
		sec, speed float64
		want       Outcome
		wm         float64
	}{
		{2, 20, Accepted, -3}, {8, 40, Accepted, 3}, {6, 30, Accepted, 3}, {8, 99, Duplicate, 3},
		{16, 50, Accepted, 11}, {9, 10, Late, 11}, {26, 50, Accepted, 21},
	}
	var wins []telemetry.Window
	for i, s := range steps {
		lat, lon := pos(s.sec)
		e := ev("A", s.sec, lat, lon, s.speed)
		if got := p.Add(&e); got != s.want {
			t.Fatalf("row %d: %v, want %v", i+1, got, s.want)
		}
		if wm, _ := p.Watermark(); wm != base+int64(s.wm*1000) {
			t.Fatalf("row %d: watermark %d ms after base, want %v s", i+1, wm-base, s.wm)
		}
		wins = append(wins, p.Emit()...)
	}
	if len(wins) != 2 {
		t.Fatalf("%d windows, want [0,10) and [10,20)", len(wins))
	}
	lat2, lon2 := pos(2)
	lat6, lon6 := pos(6)
	lat8, lon8 := pos(8)
	lat16, lon16 := pos(16)
	a := wins[0].Vehicles[0]
	wantDist := telemetry.HaversineKM(lat2, lon2, lat6, lon6) + telemetry.HaversineKM(lat6, lon6, lat8, lon8)
	if a.Events != 3 || a.AvgSpeedKPH != 30 || a.MinSpeedKPH != 20 || a.MaxSpeedKPH != 40 ||
		math.Abs(a.DistanceKM-wantDist) > 1e-12 || !a.LastTS.Equal(at(8)) || a.LastLat != lat8 {
		t.Errorf("row of A for [0,10) = %+v", a)
	}
	if f := wins[0].Fleet; f.DuplicateEvents != 1 || f.LateEvents != 0 {
		t.Errorf("fleet [0,10) counters = %+v", f)
	}
	b := wins[1]
	if b.Fleet.LateEvents != 1 || math.Abs(b.Vehicles[0].DistanceKM-telemetry.HaversineKM(lat8, lon8, lat16, lon16)) > 1e-12 {
		t.Errorf("window [10,20) = %+v, %+v", b.Fleet, b.Vehicles[0])
	}
}

// TestPeekIsProvisional: Peek shows the newest open window as it stands and
// changes nothing: the final window is the same with or without peeking.
func TestPeekIsProvisional(t *testing.T) {
	t.Parallel()
	c := Config{Window: 20 * time.Second, Slide: 10 * time.Second, Lateness: 5 * time.Second}
	events := []telemetry.Event{ev("A", 1, 52.5, 13.4, 10), ev("A", 12, 52.51, 13.4, 20), ev("B", 13, 1, 1, 30), ev("A", 2, 52.5, 13.41, 40)}
	quiet, peeked := mustNew(t, c), mustNew(t, c)
	if _, ok := peeked.Peek(); ok {
		t.Fatal("Peek before any event returned a window")
	}
	var first telemetry.Window
	for i := range events {
		quiet.Add(&events[i])
		peeked.Add(&events[i])
		w, ok := peeked.Peek()
		if !ok {
			t.Fatalf("no provisional window after event %d", i)
		}
		if i == 2 {
			first = w
		}
	}
	if !first.End().Equal(at(20)) || first.Fleet.Events != 3 || first.Fleet.DuplicateEvents != 0 {
		t.Fatalf("provisional window %v–%v with %d events", first.Start(), first.End(), first.Fleet.Events)
	}
	want, got := quiet.Flush(), peeked.Flush()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("peeking changed the final windows (-quiet +peeked):\n%s", diff)
	}
}
