package stream

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"fleetpulse/shared/telemetry"
)

func TestStageIdleRuleClosesWindows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := mustNew(t, Config{Window: 10 * time.Second, Lateness: 5 * time.Second})
		var stats Stats
		st := NewStage(p, 5*time.Second, 20*time.Second, time.Now, &stats)
		in := make(chan telemetry.Batch)
		out := make(chan telemetry.Window, 8)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- st.Run(ctx, in, out) }()

		start := time.Now()
		in <- telemetry.Batch{Events: []telemetry.Event{{VehicleID: "A", TS: start.UnixMilli(), SpeedKPH: 42}}, Rejected: 2}
		// The producer falls silent. Before idle-timeout nothing closes.
		time.Sleep(19 * time.Second)
		synctest.Wait()
		if len(out) != 0 {
			t.Fatalf("window closed before the idle timeout")
		}
		// After it, the watermark follows the clock: now − lateness passes
		// the window's end within one more window.
		time.Sleep(20 * time.Second)
		synctest.Wait()
		if len(out) != 1 {
			t.Fatalf("got %d windows after idling, want 1", len(out))
		}
		w := <-out
		if w.Fleet.Events != 1 || w.Vehicles[0].AvgSpeedKPH != 42 || w.Fleet.RejectedEvents != 2 {
			t.Fatalf("window = %+v", w.Fleet)
		}
		close(in)
		if err := <-done; err != nil {
			t.Fatalf("Run = %v, want nil after in closed", err)
		}
		if _, ok := <-out; ok {
			t.Fatal("out not closed")
		}
		if stats.Accepted.Load() != 1 || stats.WindowsClosed.Load() != 1 {
			t.Fatalf("stats accepted %d windows %d, want 1 1", stats.Accepted.Load(), stats.WindowsClosed.Load())
		}
	})
}

func TestStageFlushesOnClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := mustNew(t, Config{Window: 10 * time.Second, Lateness: 5 * time.Second})
		st := NewStage(p, 5*time.Second, 0, time.Now, new(Stats))
		in := make(chan telemetry.Batch, 1)
		out := make(chan telemetry.Window, 8)
		in <- telemetry.Batch{Events: []telemetry.Event{{VehicleID: "A", TS: time.Now().UnixMilli(), SpeedKPH: 1}}}
		close(in)
		if err := st.Run(t.Context(), in, out); err != nil {
			t.Fatal(err)
		}
		if n := len(out); n != 1 {
			t.Fatalf("flushed %d windows, want the open one", n)
		}
	})
}

func TestStageSendsLiveUpdates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := mustNew(t, Config{Window: 10 * time.Second, Lateness: 5 * time.Second})
		st := NewStage(p, 5*time.Second, time.Hour, time.Now, new(Stats))
		live := make(chan telemetry.Window, 1)
		st.SendLive(time.Second, live)
		in := make(chan telemetry.Batch)
		out := make(chan telemetry.Window, 8)
		done := make(chan error, 1)
		go func() { done <- st.Run(t.Context(), in, out) }()
		in <- telemetry.Batch{Events: []telemetry.Event{{VehicleID: "A", TS: time.Now().UnixMilli(), SpeedKPH: 42}}}
		time.Sleep(time.Second)
		synctest.Wait()
		w := <-live
		if w.Fleet.Events != 1 || len(out) != 0 {
			t.Fatalf("live %+v, %d final windows: want a provisional window and no final one", w.Fleet, len(out))
		}
		// A full live channel never blocks the stage.
		time.Sleep(3 * time.Second)
		synctest.Wait()
		close(in)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, ok := <-live; !ok {
			t.Fatal("live closed with the last update still in it")
		}
		if _, ok := <-live; ok {
			t.Fatal("live not closed by Run")
		}
	})
}

// TestStageRecyclesBatches hands a batch's events back through Recycle
// once they are folded in, and what the windows say does not change when
// the producer then overwrites the recycled memory.
func TestStageRecyclesBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := mustNew(t, Config{Window: 10 * time.Second, Lateness: 5 * time.Second})
		st := NewStage(p, 5*time.Second, 0, time.Now, new(Stats))
		in := make(chan telemetry.Batch)
		out := make(chan telemetry.Window, 8)
		done := make(chan error, 1)
		go func() { done <- st.Run(t.Context(), in, out) }()

		recycled := make(chan []telemetry.Event, 1)
		start := time.Now().UnixMilli()
		events := []telemetry.Event{{VehicleID: "A", TS: start, SpeedKPH: 40}, {VehicleID: "A", TS: start + 1000, SpeedKPH: 60}}
		in <- telemetry.Batch{Events: events, Recycle: func(e []telemetry.Event) { recycled <- e }}
		got := <-recycled
		if &got[0] != &events[0] || len(got) != 2 {
			t.Fatalf("recycled %d events at %p, want the batch's 2 at %p", len(got), &got[0], &events[0])
		}
		// The producer reuses the memory at once.
		for i := range got {
			got[i] = telemetry.Event{VehicleID: "B", TS: start, SpeedKPH: 100}
		}
		close(in)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		w := <-out
		if len(w.Vehicles) != 1 || w.Vehicles[0].VehicleID != "A" || w.Vehicles[0].AvgSpeedKPH != 50 || w.Fleet.Events != 2 {
			t.Fatalf("window %+v %+v: want vehicle A, 2 events averaging 50 km/h", w.Fleet, w.Vehicles)
		}
	})
}
