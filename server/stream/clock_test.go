package stream

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"fleetpulse/shared/telemetry"
)

// steppingClock is a wall clock that an operator (or NTP) can step.
type steppingClock struct{ offset atomic.Int64 }

func (c *steppingClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *steppingClock) step(d time.Duration) { c.offset.Add(int64(d)) }

func TestSteadyClockIgnoresSteps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wall steppingClock
		steady := SteadyClock(wall.now)
		t0 := steady()
		time.Sleep(time.Second)
		wall.step(time.Hour)
		if got := steady().Sub(t0); got != time.Second {
			t.Fatalf("after 1 s and a step of +1h the clock moved %v", got)
		}
		wall.step(-3 * time.Hour)
		time.Sleep(time.Second)
		if got := steady().Sub(t0); got != 2*time.Second {
			t.Fatalf("after 2 s and a step of -2h the clock moved %v", got)
		}
	})
}

// TestStageClockSteps steps the wall clock under the window stage: a step
// forward must not fire the idle rule (closing the window early and
// pushing the watermark an hour ahead, so that every later event is late),
// and a step back must not stall it.
func TestStageClockSteps(t *testing.T) {
	for _, step := range []time.Duration{time.Hour, -time.Hour} {
		t.Run(step.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var wall steppingClock
				p := mustNew(t, Config{Window: 10 * time.Second, Lateness: 5 * time.Second})
				var stats Stats
				st := NewStage(p, 5*time.Second, 20*time.Second, wall.now, &stats)
				in := make(chan telemetry.Batch)
				out := make(chan telemetry.Window, 8)
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				done := make(chan error, 1)
				go func() { done <- st.Run(ctx, in, out) }()

				// Event times come from the producers' (correct) clocks.
				in <- telemetry.Batch{Events: []telemetry.Event{{VehicleID: "A", TS: time.Now().UnixMilli(), SpeedKPH: 42}}}
				time.Sleep(5 * time.Second)
				wall.step(step)
				time.Sleep(5 * time.Second)
				synctest.Wait()
				if len(out) != 0 {
					t.Fatalf("a window closed 10 s after its event, before the 20 s idle timeout")
				}
				in <- telemetry.Batch{Events: []telemetry.Event{{VehicleID: "A", TS: time.Now().UnixMilli(), SpeedKPH: 50}}}
				if stats.Late.Load() != 0 {
					t.Fatalf("an event stamped now is late after the wall clock stepped %v", step)
				}
				// Silent for the idle timeout and a window: the windows
				// close, as they would without a step.
				time.Sleep(20*time.Second + 15*time.Second)
				synctest.Wait()
				if len(out) == 0 {
					t.Fatalf("no window closed 35 s after the last event: stalled by a step of %v", step)
				}
				var events int64
				for len(out) > 0 {
					events += (<-out).Fleet.Events
				}
				if events != 2 {
					t.Fatalf("the closed windows hold %d events, want 2", events)
				}
				close(in)
				<-done
			})
		})
	}
}

// TestStageEmitsReplayedWindowsFirst: windows made final before Run (by a
// write-ahead log replay at start) go out at once, not with the next
// event or idle tick.
func TestStageEmitsReplayedWindowsFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := mustNew(t, Config{Window: 10 * time.Second, Lateness: 0})
		now := time.Now().UnixMilli()
		for _, ts := range []int64{now - 30_000, now - 15_000} { // the second closes the first's window
			p.Add(&telemetry.Event{VehicleID: "A", TS: ts, SpeedKPH: 10})
		}
		st := NewStage(p, 0, time.Hour, time.Now, new(Stats))
		in := make(chan telemetry.Batch)
		out := make(chan telemetry.Window, 8)
		done := make(chan error, 1)
		go func() { done <- st.Run(t.Context(), in, out) }()
		synctest.Wait()
		if len(out) != 1 {
			t.Fatalf("%d windows out before any input, want the 1 replayed", len(out))
		}
		close(in)
		<-done
	})
}
