package wire_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"fleetpulse/shared/telemetry"
	"fleetpulse/shared/wire"
)

var t0 = time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC)

// fleetRow returns the fleet row of the i-th 10 s window after t0.
func fleetRow(i int) telemetry.FleetRow {
	start := t0.Add(time.Duration(i) * 10 * time.Second)
	return telemetry.FleetRow{
		WindowStart: start, WindowEnd: start.Add(10 * time.Second),
		VehiclesActive: 2, Events: int64(20 + i), AvgSpeedKPH: 48.333333 + float64(i),
		MaxSpeedKPH: 61.005, DistanceKM: 0.1337, LateEvents: int64(i), DuplicateEvents: 1, RejectedEvents: 2,
	}
}

// vehicleRows returns the per-vehicle rows of window i, one per id.
func vehicleRows(i int, ids ...string) []telemetry.VehicleRow {
	f := fleetRow(i)
	rows := make([]telemetry.VehicleRow, len(ids))
	for j, id := range ids {
		rows[j] = telemetry.VehicleRow{
			WindowStart: f.WindowStart, WindowEnd: f.WindowEnd, VehicleID: id,
			Events: int64(j + 1), AvgSpeedKPH: 0.1 + 0.2, MinSpeedKPH: 12.5, MaxSpeedKPH: 99.999,
			DistanceKM: 1.0 / 3, LastLat: -33.8688197, LastLon: 151.2092957,
			LastTS: f.WindowEnd.Add(-time.Duration(j+1) * time.Millisecond),
		}
	}
	return rows
}

// decode checks that b is valid JSON and decodes it into a T and into an
// Envelope.
func decode[T any](t *testing.T, b []byte) (T, wire.Envelope) {
	t.Helper()
	var v T
	var env wire.Envelope
	if !json.Valid(b) {
		t.Fatalf("not valid JSON: %s", b)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("decode envelope of %s: %v", b, err)
	}
	return v, env
}

func TestAppendSnapshot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		seq      uint64
		fleet    []telemetry.FleetRow
		vehicles []telemetry.VehicleRow
	}{
		{name: "empty", seq: 0},
		{name: "one window", seq: 1, fleet: []telemetry.FleetRow{fleetRow(0)}, vehicles: vehicleRows(0, "TRUCK-0042")},
		{
			name:     "several windows",
			seq:      42,
			fleet:    []telemetry.FleetRow{fleetRow(0), fleetRow(1), fleetRow(2)},
			vehicles: vehicleRows(2, "BUS-1", "TRUCK-0042", "VAN.7:a_b"),
		},
		{name: "fleet rows without vehicles", seq: 7, fleet: []telemetry.FleetRow{fleetRow(3)}},
		{name: "largest seq", seq: math.MaxUint64, fleet: []telemetry.FleetRow{fleetRow(0)}, vehicles: vehicleRows(0, "A")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := wire.AppendSnapshot(nil, tc.seq, tc.fleet, tc.vehicles)
			got, env := decode[wire.Snapshot](t, b)
			want := wire.Snapshot{Type: wire.TypeSnapshot, Seq: tc.seq, Fleet: tc.fleet, Vehicles: tc.vehicles}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("decoded snapshot (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wire.Envelope{Type: "snapshot", Seq: tc.seq}, env); diff != "" {
				t.Errorf("envelope (-want +got):\n%s", diff)
			}
			// Empty lists are arrays, not null, so that clients can range
			// over them without a check.
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(b, &raw); err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			for _, k := range []string{"fleet", "vehicles"} {
				if s := string(raw[k]); len(s) == 0 || s[0] != '[' {
					t.Errorf("%q is %s, want an array", k, s)
				}
			}
		})
	}
}

func TestAppendWindow(t *testing.T) {
	t.Parallel()
	cet := time.FixedZone("CET", 3600)
	tests := []struct {
		name     string
		seq      uint64
		fleet    telemetry.FleetRow
		vehicles []telemetry.VehicleRow
	}{
		{name: "first window", seq: 1, fleet: fleetRow(0), vehicles: vehicleRows(0, "TRUCK-0042")},
		{name: "several vehicles", seq: 9, fleet: fleetRow(5), vehicles: vehicleRows(5, "A", "B", "C", "D")},
		{name: "no vehicles", seq: 3, fleet: fleetRow(1)},
		{
			name: "window bounds in another zone",
			seq:  4,
			fleet: func() telemetry.FleetRow {
				f := fleetRow(2)
				f.WindowStart, f.WindowEnd = f.WindowStart.In(cet), f.WindowEnd.In(cet)
				return f
			}(),
			vehicles: vehicleRows(2, "A"),
		},
		{name: "largest seq", seq: math.MaxUint64, fleet: fleetRow(0), vehicles: vehicleRows(0, "A")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fleet := tc.fleet
			b := wire.AppendWindow(nil, tc.seq, &fleet, tc.vehicles)
			got, env := decode[wire.Window](t, b)
			want := wire.Window{
				Type: wire.TypeWindow, Seq: tc.seq, Final: true,
				WindowStart: tc.fleet.WindowStart, WindowEnd: tc.fleet.WindowEnd,
				Fleet: tc.fleet, Vehicles: tc.vehicles,
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("decoded window (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wire.Envelope{Type: "window", Seq: tc.seq}, env); diff != "" {
				t.Errorf("envelope (-want +got):\n%s", diff)
			}
			if fleet != tc.fleet {
				t.Errorf("AppendWindow changed its fleet row: %+v, want %+v", fleet, tc.fleet)
			}
		})
	}
}

func TestAppendKeepsPrefix(t *testing.T) {
	t.Parallel()
	f := fleetRow(0)
	tests := []struct {
		name   string
		append func(b []byte) []byte
	}{
		{"snapshot", func(b []byte) []byte { return wire.AppendSnapshot(b, 1, []telemetry.FleetRow{f}, vehicleRows(0, "A")) }},
		{"window", func(b []byte) []byte { return wire.AppendWindow(b, 1, &f, vehicleRows(0, "A")) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const prefix = `[{"type":"x"},`
			alone := tc.append(nil)
			got := tc.append([]byte(prefix))
			if want := prefix + string(alone); string(got) != want {
				t.Errorf("after a prefix:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestTypes(t *testing.T) {
	t.Parallel()
	tests := []struct{ got, want string }{
		{wire.TypeSnapshot, "snapshot"},
		{wire.TypeWindow, "window"},
		{wire.TypeLive, "live"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			if tc.got != tc.want {
				t.Errorf("type constant = %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestAppendLive(t *testing.T) {
	t.Parallel()
	f := telemetry.FleetRow{WindowStart: time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC), WindowEnd: time.Date(2026, 11, 27, 4, 40, 10, 0, time.UTC), Events: 3}
	rows := []telemetry.VehicleRow{{VehicleID: "A", Events: 3}}
	b := wire.AppendLive([]byte("prefix"), 7, &f, rows)
	var w wire.Window
	if err := json.Unmarshal(b[len("prefix"):], &w); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if w.Type != wire.TypeLive || w.Final || w.Seq != 7 || w.Fleet.Events != 3 || len(w.Vehicles) != 1 || !w.WindowEnd.Equal(f.WindowEnd) {
		t.Fatalf("live message decodes to %+v", w)
	}
}

// The Encoded variants, given the rows as AppendVehiclesJSON encodes them,
// make the same bytes as the plain ones.
func TestAppendEncoded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fleet    []telemetry.FleetRow
		vehicles []telemetry.VehicleRow
	}{
		{name: "no rows"},
		{name: "one vehicle", fleet: []telemetry.FleetRow{fleetRow(1)}, vehicles: vehicleRows(1, "TRUCK-0042")},
		{name: "several", fleet: []telemetry.FleetRow{fleetRow(1), fleetRow(2)}, vehicles: vehicleRows(2, "A", "B.1", "C:2")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			enc := telemetry.AppendVehiclesJSON(nil, tc.vehicles)
			if got, want := string(wire.AppendSnapshotEncoded([]byte("x"), 7, tc.fleet, enc)), string(wire.AppendSnapshot([]byte("x"), 7, tc.fleet, tc.vehicles)); got != want {
				t.Errorf("AppendSnapshotEncoded = %s, want %s", got, want)
			}
			f := fleetRow(3)
			if got, want := string(wire.AppendWindowEncoded([]byte("x"), 9, &f, enc)), string(wire.AppendWindow([]byte("x"), 9, &f, tc.vehicles)); got != want {
				t.Errorf("AppendWindowEncoded = %s, want %s", got, want)
			}
		})
	}
}
