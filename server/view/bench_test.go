package view

import (
	"fmt"
	"testing"
	"time"

	"fleetpulse/shared/telemetry"
)

// window10k is a final window of 10,000 vehicles.
func window10k() telemetry.Window {
	end := time.Date(2026, 11, 27, 4, 40, 10, 0, time.UTC)
	w := telemetry.Window{Fleet: telemetry.FleetRow{WindowStart: end.Add(-10 * time.Second), WindowEnd: end, VehiclesActive: 10_000}}
	for i := range 10_000 {
		w.Vehicles = append(w.Vehicles, telemetry.VehicleRow{
			WindowStart: w.Fleet.WindowStart, WindowEnd: end, VehicleID: fmt.Sprintf("LOAD-%06d", i+1),
			Events: 10, AvgSpeedKPH: 48.3 + float64(i%50)/7, MinSpeedKPH: 40.1, MaxSpeedKPH: 55.7, DistanceKM: 0.1337,
			LastLat: 53.551234 + float64(i)/1e5, LastLon: 9.993712, LastTS: end.Add(-time.Duration(i%1000) * time.Millisecond),
		})
	}
	return w
}

// BenchmarkApply applies one final window of 10,000 vehicles: everything
// the view encodes per window.
func BenchmarkApply(b *testing.B) {
	w := window10k()
	v := New(0, nil, nil, 24*time.Hour, func() time.Time { return w.Fleet.WindowEnd })
	b.ReportAllocs()
	for b.Loop() {
		w.Fleet.WindowStart, w.Fleet.WindowEnd = w.Fleet.WindowStart.Add(10*time.Second), w.Fleet.WindowEnd.Add(10*time.Second)
		v.Apply(w)
	}
}

// BenchmarkUntilPublish times what the server does per 10,000-vehicle
// window before it can publish it to /ws subscribers: Prepare (the window
// message and the snapshot). Commit runs untimed.
func BenchmarkUntilPublish(b *testing.B) {
	w := window10k()
	v := New(0, nil, nil, 24*time.Hour, func() time.Time { return w.Fleet.WindowEnd })
	b.ReportAllocs()
	for b.Loop() {
		w.Fleet.WindowStart, w.Fleet.WindowEnd = w.Fleet.WindowStart.Add(10*time.Second), w.Fleet.WindowEnd.Add(10*time.Second)
		n := v.Prepare(w)
		b.StopTimer()
		v.Commit(n)
		b.StartTimer()
	}
}
