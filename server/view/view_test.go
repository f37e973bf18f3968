package view_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"fleetpulse/server/view"
	"fleetpulse/shared/telemetry"
	"fleetpulse/shared/wire"
)

// t0 is the start of window 0; window i is [t0+10s·i, t0+10s·(i+1)).
var t0 = time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC)

const windowLen = 10 * time.Second

func start(i int) time.Time { return t0.Add(time.Duration(i) * windowLen) }

func fleetRow(i int) telemetry.FleetRow {
	return telemetry.FleetRow{
		WindowStart: start(i), WindowEnd: start(i + 1),
		VehiclesActive: 2, Events: int64(10 + i), AvgSpeedKPH: 48.333333 + float64(i)/7,
		MaxSpeedKPH: 61.005, DistanceKM: 0.1337 * float64(i+1), LateEvents: int64(i % 3), DuplicateEvents: 1, RejectedEvents: 2,
	}
}

func fleetRows(from, to int) []telemetry.FleetRow {
	var rows []telemetry.FleetRow
	for i := from; i < to; i++ {
		rows = append(rows, fleetRow(i))
	}
	return rows
}

func vehicleRows(i int, ids ...string) []telemetry.VehicleRow {
	rows := make([]telemetry.VehicleRow, len(ids))
	for j, id := range ids {
		rows[j] = telemetry.VehicleRow{
			WindowStart: start(i), WindowEnd: start(i + 1), VehicleID: id,
			Events: int64(i + j + 1), AvgSpeedKPH: 40 + 1.0/3, MinSpeedKPH: 12.5 + float64(j), MaxSpeedKPH: 99.995,
			DistanceKM: 0.30049 * float64(j+1), LastLat: -33.8688197 + float64(i), LastLon: 151.2092957 - float64(j),
			LastTS: start(i + 1).Add(-time.Duration(j+1) * 250 * time.Millisecond),
		}
	}
	return rows
}

func window(i int, ids ...string) telemetry.Window {
	return telemetry.Window{Fleet: fleetRow(i), Vehicles: vehicleRows(i, ids...)}
}

// clock is a settable clock for one test.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// equateRows treats nil and empty row slices alike; cmp compares times with
// their Equal method and floats exactly.
var equateRows = cmpopts.EquateEmpty()

// readCSV parses b, checks its header against cols and returns the records.
func readCSV(t *testing.T, b []byte, cols []string) [][]string {
	t.Helper()
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("CSV does not end in a newline: %q", b)
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("parse CSV %q: %v", b, err)
	}
	if len(recs) == 0 {
		t.Fatalf("CSV has no header: %q", b)
	}
	if diff := cmp.Diff(cols, recs[0]); diff != "" {
		t.Fatalf("CSV header (-want +got):\n%s", diff)
	}
	return recs[1:]
}

// fields parses the fields of one CSV record; a bad field ends the test.
type fields struct {
	t   *testing.T
	rec []string
}

func (f fields) time(i int) time.Time {
	f.t.Helper()
	v, err := time.Parse(telemetry.TimeLayout, f.rec[i])
	if err != nil {
		f.t.Fatalf("field %d: %v", i, err)
	}
	return v
}

func (f fields) int(i int) int64 {
	f.t.Helper()
	v, err := strconv.ParseInt(f.rec[i], 10, 64)
	if err != nil {
		f.t.Fatalf("field %d: %v", i, err)
	}
	return v
}

// float parses field i, which must have exactly places decimals.
func (f fields) float(i, places int) float64 {
	f.t.Helper()
	s := f.rec[i]
	if dot := len(s) - places - 1; dot < 0 || s[dot] != '.' {
		f.t.Fatalf("field %d is %q, want %d decimals", i, s, places)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		f.t.Fatalf("field %d: %v", i, err)
	}
	return v
}

func round(f float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(f*p) / p
}

// roundedVehicles returns rows as they read back from CSV.
func roundedVehicles(rows []telemetry.VehicleRow) []telemetry.VehicleRow {
	out := slices.Clone(rows)
	for i := range out {
		r := &out[i]
		r.AvgSpeedKPH, r.MinSpeedKPH, r.MaxSpeedKPH = round(r.AvgSpeedKPH, 2), round(r.MinSpeedKPH, 2), round(r.MaxSpeedKPH, 2)
		r.DistanceKM = round(r.DistanceKM, 3)
		r.LastLat, r.LastLon = round(r.LastLat, 6), round(r.LastLon, 6)
	}
	return out
}

func roundedFleet(rows []telemetry.FleetRow) []telemetry.FleetRow {
	out := slices.Clone(rows)
	for i := range out {
		r := &out[i]
		r.AvgSpeedKPH, r.MaxSpeedKPH = round(r.AvgSpeedKPH, 2), round(r.MaxSpeedKPH, 2)
		r.DistanceKM = round(r.DistanceKM, 3)
	}
	return out
}

// decodeLatestCSV decodes latest_metrics.csv rows and their last_updated.
func decodeLatestCSV(t *testing.T, b []byte) ([]telemetry.VehicleRow, []time.Time) {
	t.Helper()
	var rows []telemetry.VehicleRow
	var updated []time.Time
	for _, rec := range readCSV(t, b, telemetry.LatestColumns) {
		f := fields{t, rec}
		rows = append(rows, telemetry.VehicleRow{
			WindowStart: f.time(0), WindowEnd: f.time(1), VehicleID: rec[2], Events: f.int(3),
			AvgSpeedKPH: f.float(4, 2), MinSpeedKPH: f.float(5, 2), MaxSpeedKPH: f.float(6, 2),
			DistanceKM: f.float(7, 3), LastLat: f.float(8, 6), LastLon: f.float(9, 6), LastTS: f.time(10),
		})
		updated = append(updated, f.time(11))
	}
	return rows, updated
}

func decodeFleetCSV(t *testing.T, b []byte) []telemetry.FleetRow {
	t.Helper()
	var rows []telemetry.FleetRow
	for _, rec := range readCSV(t, b, telemetry.FleetColumns) {
		f := fields{t, rec}
		rows = append(rows, telemetry.FleetRow{
			WindowStart: f.time(0), WindowEnd: f.time(1), VehiclesActive: f.int(2), Events: f.int(3),
			AvgSpeedKPH: f.float(4, 2), MaxSpeedKPH: f.float(5, 2), DistanceKM: f.float(6, 3),
			LateEvents: f.int(7), DuplicateEvents: f.int(8), RejectedEvents: f.int(9),
		})
	}
	return rows
}

func decodeJSON[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// checkCurrent checks c's rows and that every encoding of c decodes back to
// them.
func checkCurrent(t *testing.T, c *view.Current, seq uint64, fleet []telemetry.FleetRow, latest []telemetry.VehicleRow, updated time.Time) {
	t.Helper()
	if c.Seq != seq {
		t.Errorf("Seq = %d, want %d", c.Seq, seq)
	}
	if diff := cmp.Diff(fleet, c.Fleet, equateRows); diff != "" {
		t.Errorf("Fleet (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(latest, c.Latest, equateRows); diff != "" {
		t.Errorf("Latest (-want +got):\n%s", diff)
	}
	if !c.Updated.Equal(updated) {
		t.Errorf("Updated = %v, want %v", c.Updated, updated)
	}

	// JSON bodies are arrays ending in a newline, with unrounded numbers.
	for name, b := range map[string][]byte{"LatestJSON": c.LatestJSON, "FleetJSON": c.FleetJSON} {
		if !json.Valid(b) || !bytes.HasPrefix(b, []byte("[")) || !bytes.HasSuffix(b, []byte("]\n")) {
			t.Errorf("%s is not a JSON array ending in a newline: %q", name, b)
		}
	}
	if diff := cmp.Diff(latest, decodeJSON[[]telemetry.VehicleRow](t, c.LatestJSON), equateRows); diff != "" {
		t.Errorf("LatestJSON (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(fleet, decodeJSON[[]telemetry.FleetRow](t, c.FleetJSON), equateRows); diff != "" {
		t.Errorf("FleetJSON (-want +got):\n%s", diff)
	}

	// CSV bodies are rounded as the files are.
	rows, stamps := decodeLatestCSV(t, c.LatestCSV)
	if diff := cmp.Diff(roundedVehicles(latest), rows, equateRows); diff != "" {
		t.Errorf("LatestCSV rows (-want +got):\n%s", diff)
	}
	for i, s := range stamps {
		if !s.Equal(updated.Truncate(time.Millisecond)) {
			t.Errorf("LatestCSV row %d: last_updated = %v, want %v", i, s, updated)
		}
	}
	if diff := cmp.Diff(roundedFleet(fleet), decodeFleetCSV(t, c.FleetCSV), equateRows); diff != "" {
		t.Errorf("FleetCSV (-want +got):\n%s", diff)
	}

	// The snapshot carries the latest SnapshotFleetRows fleet rows.
	snapFleet := fleet[max(0, len(fleet)-view.SnapshotFleetRows):]
	want := wire.Snapshot{Type: wire.TypeSnapshot, Seq: seq, Fleet: snapFleet, Vehicles: latest}
	if diff := cmp.Diff(want, decodeJSON[wire.Snapshot](t, c.Snapshot), equateRows); diff != "" {
		t.Errorf("Snapshot (-want +got):\n%s", diff)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		seq           uint64
		fleet         []telemetry.FleetRow
		latest        []telemetry.VehicleRow
		wantWatermark time.Time
	}{
		{name: "empty", seq: 0},
		{name: "fleet rows only", seq: 2, fleet: fleetRows(0, 2)},
		{
			name: "rows loaded from files", seq: 17,
			fleet: fleetRows(0, 3), latest: vehicleRows(2, "BUS-1", "TRUCK-0042"),
			wantWatermark: start(3),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{now: t0.Add(time.Hour + 123*time.Millisecond)}
			v := view.New(tc.seq, tc.fleet, tc.latest, time.Hour, clk.Now)
			c := v.Current()
			checkCurrent(t, c, tc.seq, tc.fleet, tc.latest, clk.now)
			if !c.Watermark.Equal(tc.wantWatermark) {
				t.Errorf("Watermark = %v, want %v", c.Watermark, tc.wantWatermark)
			}
			if len(tc.latest) == 0 && string(c.LatestJSON) != "[]\n" {
				t.Errorf("LatestJSON = %q, want %q", c.LatestJSON, "[]\n")
			}
		})
	}
}

func TestApplySeqAndMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		startSeq uint64
		windows  int
	}{
		{name: "from zero", startSeq: 0, windows: 3},
		{name: "continues the loaded seq", startSeq: 41, windows: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{now: t0}
			v := view.New(tc.startSeq, nil, nil, time.Hour, clk.Now)
			for i := range tc.windows {
				w := window(i, "A", "B")
				clk.now = start(i + 1).Add(5 * time.Second)
				c, msg := v.Apply(w)
				wantSeq := tc.startSeq + uint64(i) + 1
				if c.Seq != wantSeq {
					t.Errorf("window %d: Seq = %d, want %d", i, c.Seq, wantSeq)
				}
				if v.Current() != c {
					t.Errorf("window %d: Current() is not the state Apply returned", i)
				}
				if !c.Watermark.Equal(w.End()) {
					t.Errorf("window %d: Watermark = %v, want %v", i, c.Watermark, w.End())
				}
				want := wire.Window{
					Type: wire.TypeWindow, Seq: wantSeq, Final: true,
					WindowStart: w.Start(), WindowEnd: w.End(), Fleet: w.Fleet, Vehicles: w.Vehicles,
				}
				if diff := cmp.Diff(want, decodeJSON[wire.Window](t, msg), equateRows); diff != "" {
					t.Errorf("window %d: message (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

func TestApplyRetention(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		retention time.Duration
		loaded    []telemetry.FleetRow // given to New
		apply     []telemetry.Window
		want      []telemetry.FleetRow
	}{
		{
			name:      "everything within retention is kept, oldest first",
			retention: 168 * time.Hour,
			apply:     []telemetry.Window{window(0, "A"), window(1, "A"), window(2, "B")},
			want:      fleetRows(0, 3),
		},
		{
			// Window 2 ends 30 s before window 5 does: exactly the
			// retention, not older, so it stays (as storage keeps it).
			name:      "rows older than retention are dropped, the boundary is kept",
			retention: 30 * time.Second,
			apply:     []telemetry.Window{window(0, "A"), window(1, "A"), window(2, "A"), window(3, "A"), window(4, "A"), window(5, "A")},
			want:      fleetRows(2, 6),
		},
		{
			name:      "just under the boundary is dropped",
			retention: 30*time.Second - time.Millisecond,
			apply:     []telemetry.Window{window(0, "A"), window(1, "A"), window(2, "A"), window(3, "A"), window(4, "A"), window(5, "A")},
			want:      fleetRows(3, 6),
		},
		{
			name:      "loaded rows are kept and cut like applied ones",
			retention: 40 * time.Second,
			loaded:    fleetRows(0, 10),
			apply:     []telemetry.Window{window(10, "A")},
			want:      fleetRows(6, 11),
		},
		{
			name:      "a gap older than retention leaves only the new row",
			retention: time.Minute,
			loaded:    fleetRows(0, 3),
			apply:     []telemetry.Window{window(100, "A")},
			want:      fleetRows(100, 101),
		},
		{
			name:      "a window applied again replaces its row",
			retention: time.Hour,
			loaded:    fleetRows(0, 4),
			apply: func() []telemetry.Window {
				w := window(3, "A")
				w.Fleet.Events = 999
				return []telemetry.Window{w}
			}(),
			want: func() []telemetry.FleetRow {
				rows := fleetRows(0, 4)
				rows[3].Events = 999
				return rows
			}(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{now: t0}
			v := view.New(uint64(len(tc.loaded)), tc.loaded, nil, tc.retention, clk.Now)
			var c *view.Current
			for _, w := range tc.apply {
				clk.now = w.End().Add(5 * time.Second)
				c, _ = v.Apply(w)
			}
			last := tc.apply[len(tc.apply)-1]
			checkCurrent(t, c, uint64(len(tc.loaded)+len(tc.apply)), tc.want, last.Vehicles, clk.now)
		})
	}
}

func TestApplyLatestAndLastUpdated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		windows []telemetry.Window
	}{
		{name: "one vehicle", windows: []telemetry.Window{window(0, "TRUCK-0042")}},
		{name: "latest replaces the previous window", windows: []telemetry.Window{window(0, "A", "B", "C"), window(1, "B"), window(2, "C", "D")}},
		{name: "a window without vehicles", windows: []telemetry.Window{window(0, "A"), window(1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{}
			v := view.New(0, nil, nil, time.Hour, clk.Now)
			var c *view.Current
			for i, w := range tc.windows {
				// A clock in another zone and between milliseconds:
				// last_updated is still UTC with milliseconds.
				clk.now = w.End().Add(time.Duration(i)*time.Second + 1500*time.Microsecond).In(time.FixedZone("X", -7200))
				c, _ = v.Apply(w)
			}
			last := tc.windows[len(tc.windows)-1]
			var fleet []telemetry.FleetRow
			for _, w := range tc.windows {
				fleet = append(fleet, w.Fleet)
			}
			checkCurrent(t, c, uint64(len(tc.windows)), fleet, last.Vehicles, clk.now)
			wantStamp := telemetry.AppendTime(nil, clk.now)
			for i, rec := range readCSV(t, c.LatestCSV, telemetry.LatestColumns) {
				if got := rec[len(rec)-1]; got != string(wantStamp) {
					t.Errorf("row %d: last_updated = %q, want %q", i, got, wantStamp)
				}
			}
		})
	}
}

func TestLatestCSVLayout(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2026, 11, 27, 4, 40, 15, 250e6, time.UTC)}
	v := view.New(0, nil, nil, time.Hour, clk.Now)
	w := telemetry.Window{
		Fleet: telemetry.FleetRow{
			WindowStart: t0.Add(-windowLen), WindowEnd: t0, VehiclesActive: 1, Events: 10,
			AvgSpeedKPH: 48.333333, MaxSpeedKPH: 61.005, DistanceKM: 0.1337, LateEvents: 2, DuplicateEvents: 1, RejectedEvents: 3,
		},
		Vehicles: []telemetry.VehicleRow{{
			WindowStart: t0.Add(-windowLen), WindowEnd: t0, VehicleID: "TRUCK-0042", Events: 10,
			AvgSpeedKPH: 48.333333, MinSpeedKPH: 30, MaxSpeedKPH: 61.005, DistanceKM: 0.1337,
			LastLat: 52.52, LastLon: 13.405, LastTS: t0.Add(-250 * time.Millisecond),
		}},
	}
	c, _ := v.Apply(w)
	tests := []struct {
		name      string
		got, want string
	}{
		{
			name: "latest",
			got:  string(c.LatestCSV),
			want: "window_start,window_end,vehicle_id,events,avg_speed_kmh,min_speed_kmh,max_speed_kmh,distance_km,last_lat,last_lon,last_ts,last_updated\n" +
				"2026-11-27T04:39:50.000Z,2026-11-27T04:40:00.000Z,TRUCK-0042,10,48.33,30.00,61.01,0.134,52.520000,13.405000,2026-11-27T04:39:59.750Z,2026-11-27T04:40:15.250Z\n",
		},
		{
			name: "fleet",
			got:  string(c.FleetCSV),
			want: "window_start,window_end,vehicles_active,events,avg_speed_kmh,max_speed_kmh,distance_km,late_events,duplicate_events,rejected_events\n" +
				"2026-11-27T04:39:50.000Z,2026-11-27T04:40:00.000Z,1,10,48.33,61.01,0.134,2,1,3\n",
		},
		{
			name: "history layout",
			got:  string(view.AppendVehiclesCSV(nil, w.Vehicles)),
			want: "window_start,window_end,vehicle_id,events,avg_speed_kmh,min_speed_kmh,max_speed_kmh,distance_km,last_lat,last_lon,last_ts\n" +
				"2026-11-27T04:39:50.000Z,2026-11-27T04:40:00.000Z,TRUCK-0042,10,48.33,30.00,61.01,0.134,52.520000,13.405000,2026-11-27T04:39:59.750Z\n",
		},
		{
			name: "latest without rows is the header",
			got:  string(view.AppendLatestCSV(nil, nil, clk.now)),
			want: "window_start,window_end,vehicle_id,events,avg_speed_kmh,min_speed_kmh,max_speed_kmh,distance_km,last_lat,last_lon,last_ts,last_updated\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", tc.got, tc.want)
			}
		})
	}
}

func TestSnapshotFleetRows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		retained int // fleet rows after the Apply
		want     int // fleet rows in the snapshot
	}{
		{"one", 1, 1},
		{"below the cap", view.SnapshotFleetRows - 1, view.SnapshotFleetRows - 1},
		{"at the cap", view.SnapshotFleetRows, view.SnapshotFleetRows},
		{"one over the cap", view.SnapshotFleetRows + 1, view.SnapshotFleetRows},
		{"well over the cap", 1000, view.SnapshotFleetRows},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			loaded := fleetRows(0, tc.retained-1)
			v := view.New(0, loaded, nil, 168*time.Hour, time.Now)
			c, _ := v.Apply(window(tc.retained-1, "A"))
			if len(c.Fleet) != tc.retained {
				t.Fatalf("Fleet has %d rows, want %d", len(c.Fleet), tc.retained)
			}
			snap := decodeJSON[wire.Snapshot](t, c.Snapshot)
			if diff := cmp.Diff(fleetRows(tc.retained-tc.want, tc.retained), snap.Fleet, equateRows); diff != "" {
				t.Errorf("snapshot fleet (-want +got):\n%s", diff)
			}
			if n := len(decodeJSON[[]telemetry.FleetRow](t, c.FleetJSON)); n != tc.retained {
				t.Errorf("FleetJSON has %d rows, want all %d", n, tc.retained)
			}
		})
	}
}

// cloneCurrent copies every slice of c.
func cloneCurrent(c *view.Current) view.Current {
	d := *c
	d.Fleet, d.Latest = slices.Clone(c.Fleet), slices.Clone(c.Latest)
	d.LatestJSON, d.LatestCSV = bytes.Clone(c.LatestJSON), bytes.Clone(c.LatestCSV)
	d.FleetJSON, d.FleetCSV = bytes.Clone(c.FleetJSON), bytes.Clone(c.FleetCSV)
	d.Snapshot = bytes.Clone(c.Snapshot)
	return d
}

func TestCurrentNotMutatedByApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		retention time.Duration
		loaded    []telemetry.FleetRow
		later     []telemetry.Window
	}{
		{name: "appends", retention: time.Hour, later: []telemetry.Window{window(3, "B"), window(4, "A", "C")}},
		{name: "retention cuts", retention: 20 * time.Second, loaded: fleetRows(0, 2), later: []telemetry.Window{window(3, "B"), window(4, "C"), window(9, "D")}},
		{name: "same window again", retention: time.Hour, later: []telemetry.Window{window(2, "Z")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{now: t0}
			v := view.New(uint64(len(tc.loaded)), tc.loaded, vehicleRows(1, "Q"), tc.retention, clk.Now)
			initial := v.Current()
			initialCopy := cloneCurrent(initial)
			clk.now = t0.Add(time.Minute)
			first, _ := v.Apply(window(2, "A", "B"))
			firstCopy := cloneCurrent(first)
			for i, w := range tc.later {
				clk.now = t0.Add(time.Duration(i+2) * time.Minute)
				v.Apply(w)
			}
			if diff := cmp.Diff(initialCopy, *initial); diff != "" {
				t.Errorf("state from New changed (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(firstCopy, *first); diff != "" {
				t.Errorf("state from the first Apply changed (-before +after):\n%s", diff)
			}
			if got, want := v.Current().Seq, first.Seq+uint64(len(tc.later)); got != want {
				t.Errorf("Current().Seq = %d, want %d", got, want)
			}
		})
	}
}

// TestConcurrentReaders runs readers against the writer; with -race it
// checks that Current values are safely published.
func TestConcurrentReaders(t *testing.T) {
	t.Parallel()
	const windows, readers = 50, 4
	v := view.New(0, nil, nil, time.Minute, time.Now)
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for range readers {
		wg.Go(func() {
			var last uint64
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				c := v.Current()
				var snap wire.Snapshot
				if err := json.Unmarshal(c.Snapshot, &snap); err != nil {
					errs <- err
					return
				}
				switch {
				case c.Seq < last:
					errs <- fmt.Errorf("seq went back from %d to %d", last, c.Seq)
					return
				case snap.Seq != c.Seq || len(snap.Fleet) != len(c.Fleet):
					errs <- fmt.Errorf("snapshot seq %d with %d fleet rows, state seq %d with %d", snap.Seq, len(snap.Fleet), c.Seq, len(c.Fleet))
					return
				}
				last = c.Seq
			}
		})
	}
	for i := range windows {
		v.Apply(window(i, "A", "B"))
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := v.Current().Seq; got != windows {
		t.Errorf("Seq = %d after %d windows", got, windows)
	}
}

// TestPrepareThenCommit checks the split that lets delivery publish a
// window before the view's other encodings: Prepare's message and snapshot
// carry the window's seq and rows and equal what Apply makes, the view does
// not change until Commit, and Commit makes the state Apply would.
func TestPrepareThenCommit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		loaded uint64
		ids    [][]string // the vehicles of each window
	}{
		{name: "from zero", ids: [][]string{{"A", "B"}, {"B"}, {"A", "C", "D"}}},
		{name: "continues the loaded seq", loaded: 41, ids: [][]string{{"TRUCK-0042"}, {}, {"X", "Y"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{now: t0}
			split := view.New(tc.loaded, nil, vehicleRows(0, "Q"), time.Hour, clk.Now)
			whole := view.New(tc.loaded, nil, vehicleRows(0, "Q"), time.Hour, clk.Now)
			for i, ids := range tc.ids {
				w := window(i+1, ids...)
				clk.now = start(i + 2).Add(time.Second)
				before := split.Current()
				next := split.Prepare(w)
				if split.Current() != before {
					t.Fatalf("window %d: Prepare changed Current", i)
				}
				wantSeq := tc.loaded + uint64(i) + 1
				if next.Seq != wantSeq {
					t.Errorf("window %d: Next.Seq = %d, want %d", i, next.Seq, wantSeq)
				}
				msg := decodeJSON[wire.Window](t, next.Message)
				snap := decodeJSON[wire.Snapshot](t, next.Snapshot)
				if msg.Seq != wantSeq || snap.Seq != wantSeq {
					t.Errorf("window %d: message seq %d, snapshot seq %d, want both %d", i, msg.Seq, snap.Seq, wantSeq)
				}
				if diff := cmp.Diff(w.Vehicles, snap.Vehicles, equateRows); diff != "" {
					t.Errorf("window %d: snapshot rows are not the window's (-want +got):\n%s", i, diff)
				}
				cur := split.Commit(next)
				if split.Current() != cur || cur.Seq != wantSeq {
					t.Errorf("window %d: after Commit, Current seq %d (the returned state: %v), want %d", i, split.Current().Seq, split.Current() == cur, wantSeq)
				}
				wantCur, wantMsg := whole.Apply(w)
				if !bytes.Equal(next.Message, wantMsg) {
					t.Errorf("window %d: Prepare's message differs from Apply's", i)
				}
				if diff := cmp.Diff(cloneCurrent(wantCur), cloneCurrent(cur)); diff != "" {
					t.Errorf("window %d: state after Commit differs from Apply's (-Apply +Commit):\n%s", i, diff)
				}
			}
		})
	}
}
