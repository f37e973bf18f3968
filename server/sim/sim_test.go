package sim

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"fleetpulse/shared/telemetry"
)

func steps(f *Fleet, n int) [][]telemetry.Event {
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	var out [][]telemetry.Event
	for i := range n {
		out = append(out, f.Step(t0.Add(time.Duration(i)*time.Second), time.Second, nil))
	}
	return out
}

func TestSameSeedSameFleet(t *testing.T) {
	t.Parallel()
	a, b := steps(New(20, 7), 300), steps(New(20, 7), 300)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different events:\n%s", diff)
	}
	c := steps(New(20, 8), 300)
	if cmp.Equal(a, c) {
		t.Fatal("different seeds gave the same events")
	}
}

func TestVehiclesMoveLikeVehicles(t *testing.T) {
	t.Parallel()
	const n, secs = 30, 1800
	run := steps(New(n, 1), secs)
	ids := map[string]bool{}
	stopped, moving := 0, 0
	for s, batch := range run {
		if len(batch) != n {
			t.Fatalf("step %d: %d events, want %d", s, len(batch), n)
		}
		for i, e := range batch {
			ids[e.VehicleID] = true
			if e.SpeedKPH < 0 || e.SpeedKPH > 66 {
				t.Fatalf("%s speed %.1f outside [0, 66]", e.VehicleID, e.SpeedKPH)
			}
			if e.Lat < 52.46 || e.Lat > 52.58 || e.Lon < 13.31 || e.Lon > 13.50 {
				t.Fatalf("%s left the city: %.5f,%.5f", e.VehicleID, e.Lat, e.Lon)
			}
			if e.SpeedKPH == 0 {
				stopped++
			} else {
				moving++
			}
			if s == 0 {
				continue
			}
			prev := run[s-1][i]
			// No teleporting: a second's move is at most its top speed.
			if d := telemetry.HaversineKM(prev.Lat, prev.Lon, e.Lat, e.Lon); d > 0.0184 {
				t.Fatalf("%s jumped %.3f km in 1 s", e.VehicleID, d)
			}
			// Speed changes by at most 4 m/s² × 1 s, or to 0 at a stop.
			if dv := e.SpeedKPH - prev.SpeedKPH; (dv > 14.5 || dv < -14.5) && e.SpeedKPH != 0 {
				t.Fatalf("%s speed jumped %.1f → %.1f km/h", e.VehicleID, prev.SpeedKPH, e.SpeedKPH)
			}
			if e.FuelPct > prev.FuelPct && e.FuelPct != 100 {
				t.Fatalf("%s fuel rose %.1f → %.1f without refuelling", e.VehicleID, prev.FuelPct, e.FuelPct)
			}
		}
	}
	if len(ids) != n {
		t.Fatalf("%d distinct ids, want %d", len(ids), n)
	}
	// Vehicles both stop and drive: neither share is negligible.
	if total := stopped + moving; stopped < total/20 || moving < total/2 {
		t.Fatalf("stopped %d, moving %d of %d: not a plausible city fleet", stopped, moving, total)
	}
}

func TestRunSendsRateBatchesPerSecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := New(5, 1)
		out := make(chan telemetry.Batch, 100)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- f.Run(ctx, 4, time.Now, out) }()
		time.Sleep(10*time.Second + time.Millisecond)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := len(out); got != 40 {
			t.Fatalf("%d batches in 10 s at rate 4, want 40", got)
		}
	})
}
