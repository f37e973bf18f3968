package telemetry_test

import (
	"math"
	"testing"
	"time"

	"fleetpulse/shared/telemetry"
)

func TestHaversineKM(t *testing.T) {
	t.Parallel()
	const r = telemetry.EarthRadiusKM
	if r != 6371.0088 {
		t.Fatalf("EarthRadiusKM = %v, want 6371.0088 (the contract's R)", r)
	}
	oneDegree := r * math.Pi / 180 // 111.195 km
	tests := []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		want, tol              float64
	}{
		{name: "same point", lat1: 52.52, lon1: 13.405, lat2: 52.52, lon2: 13.405, want: 0, tol: 0},
		{name: "same pole, other longitude", lat1: 90, lon1: 0, lat2: 90, lon2: 123, want: 0, tol: 1e-9},
		{name: "one degree of latitude", lat1: 0, lon1: 0, lat2: 1, lon2: 0, want: oneDegree, tol: 1e-9},
		{name: "one degree of latitude far north", lat1: 60, lon1: 10, lat2: 61, lon2: 10, want: oneDegree, tol: 1e-9},
		{name: "one degree of latitude southward", lat1: -1, lon1: 0, lat2: -2, lon2: 0, want: oneDegree, tol: 1e-9},
		{name: "one degree of longitude on the equator", lat1: 0, lon1: 0, lat2: 0, lon2: 1, want: oneDegree, tol: 1e-9},
		{name: "across the antimeridian", lat1: 0, lon1: 179.5, lat2: 0, lon2: -179.5, want: oneDegree, tol: 1e-9},
		// A great circle is a little shorter than the parallel at 60°,
		// whose length per degree is half that on the equator.
		{name: "one degree of longitude at 60 degrees", lat1: 60, lon1: 0, lat2: 60, lon2: 1, want: 55.597, tol: 1e-3},
		{name: "berlin to paris", lat1: 52.52, lon1: 13.405, lat2: 48.8566, lon2: 2.3522, want: 877.46, tol: 0.01},
		{name: "antipodes on the equator", lat1: 0, lon1: 0, lat2: 0, lon2: 180, want: math.Pi * r, tol: 1e-6},
		{name: "pole to pole", lat1: 90, lon1: 0, lat2: -90, lon2: 0, want: math.Pi * r, tol: 1e-6},
		{name: "antipode of berlin", lat1: 52.52, lon1: 13.405, lat2: -52.52, lon2: -166.595, want: math.Pi * r, tol: 1e-6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := telemetry.HaversineKM(tc.lat1, tc.lon1, tc.lat2, tc.lon2)
			if math.IsNaN(got) || math.Abs(got-tc.want) > tc.tol {
				t.Errorf("HaversineKM(%v, %v, %v, %v) = %.9f, want %.9f ± %g", tc.lat1, tc.lon1, tc.lat2, tc.lon2, got, tc.want, tc.tol)
			}
			back := telemetry.HaversineKM(tc.lat2, tc.lon2, tc.lat1, tc.lon1)
			if math.Abs(back-got) > 1e-9 {
				t.Errorf("not symmetric: %.12f one way, %.12f back", got, back)
			}
		})
	}
}

func TestEventTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ts   int64
		want time.Time
	}{
		{"epoch", 0, time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"milliseconds", t0.UnixMilli() + 250, t0.Add(250 * time.Millisecond)},
		{"before the epoch", -1, time.Date(1969, 12, 31, 23, 59, 59, 999e6, time.UTC)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := telemetry.Event{VehicleID: "A", TS: tc.ts}
			got := e.Time()
			if !got.Equal(tc.want) {
				t.Errorf("Time() = %v, want %v", got, tc.want)
			}
			if got.Location() != time.UTC {
				t.Errorf("Time() is in %v, want UTC", got.Location())
			}
		})
	}
}

func TestWindowBounds(t *testing.T) {
	t.Parallel()
	w := telemetry.Window{Fleet: fleetRow()}
	if got, want := w.Start(), t0.Add(-10*time.Second); !got.Equal(want) {
		t.Errorf("Start() = %v, want %v", got, want)
	}
	if got := w.End(); !got.Equal(t0) {
		t.Errorf("End() = %v, want %v", got, t0)
	}
}
