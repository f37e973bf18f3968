package stream

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"fleetpulse/shared/telemetry"
)

// fleetEvents makes secs seconds of events of n vehicles reporting once a
// second, in ts order, with positions that move.
func fleetEvents(n, secs int) []telemetry.Event {
	r := rand.New(rand.NewPCG(1, 2))
	ids := make([]string, n)
	lat := make([]float64, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("V-%05d", i)
		lat[i] = 52 + r.Float64()/10
	}
	out := make([]telemetry.Event, 0, n*secs)
	for s := range secs {
		for i := range n {
			lat[i] += 0.0001
			out = append(out, telemetry.Event{VehicleID: ids[i], TS: base + int64(s)*1000 + int64(i%1000),
				Lat: lat[i], Lon: 13.4, SpeedKPH: float64(i % 90)})
		}
	}
	return out
}

func benchProcessor(b *testing.B, c Config) {
	const vehicles, secs = 10_000, 120
	events := fleetEvents(vehicles, secs)
	p, err := New(c)
	if err != nil {
		b.Fatal(err)
	}
	// Warm up, so that the loop measures the steady state: windows closing
	// as fast as they open, pane memory reused.
	feed := func() (windows int) {
		for i := range events {
			p.Add(&events[i])
			windows += len(p.Emit())
		}
		for i := range events {
			events[i].TS += secs * 1000
		}
		return windows
	}
	feed()
	b.ReportAllocs()
	windows := 0
	for b.Loop() {
		windows += feed()
	}
	if windows == 0 {
		b.Fatal("no window closed")
	}
	b.ReportMetric(float64(b.N*len(events))/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkProcessor measures events/s through the windows, including the
// rows of every window that closes, for 10k vehicles at 1 event/s each.
func BenchmarkProcessor(b *testing.B) {
	b.Run("tumbling-10s", func(b *testing.B) {
		benchProcessor(b, Config{Window: 10 * time.Second, Lateness: 5 * time.Second})
	})
	b.Run("sliding-60s-5s", func(b *testing.B) {
		benchProcessor(b, Config{Window: 60 * time.Second, Slide: 5 * time.Second, Lateness: 5 * time.Second})
	})
}

// BenchmarkStatePerVehicle reports the heap the processor holds per
// tracked vehicle in steady state (1 event/s, 10 s windows, 5 s lateness).
func BenchmarkStatePerVehicle(b *testing.B) {
	const vehicles = 100_000
	events := fleetEvents(vehicles, 30)
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		p, _ := New(Config{Window: 10 * time.Second, Lateness: 5 * time.Second})
		for i := range events {
			p.Add(&events[i])
		}
		p.Emit()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(p.Vehicles()), "bytes/vehicle")
		runtime.KeepAlive(p)
	}
	b.ReportMetric(0, "ns/op")
}
