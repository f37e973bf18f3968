package stream

import (
	"context"
	"sync/atomic"
	"time"

	"fleetpulse/shared/telemetry"
)

// Stats are the Stage's running totals, safe to read from any goroutine.
type Stats struct {
	Accepted        atomic.Int64
	Late            atomic.Int64
	Duplicate       atomic.Int64
	TooManyVehicles atomic.Int64
	WindowsClosed   atomic.Int64
	Vehicles        atomic.Int64 // tracked now
	// WatermarkMS is the watermark in Unix ms; 0 before it exists.
	WatermarkMS atomic.Int64
}

// Stage runs a Processor between an event channel and a window channel and
// applies the idle rule with an injected clock.
type Stage struct {
	proc     *Processor
	lateness time.Duration
	idle     time.Duration
	now      func() time.Time
	tick     time.Duration
	stats    *Stats

	liveEvery time.Duration
	live      chan<- telemetry.Window
}

// SendLive makes Run send, every interval, a provisional view of the
// newest open window (Processor.Peek) to live, skipping it when live is
// full. Run closes live when it returns. Call it before Run.
func (s *Stage) SendLive(every time.Duration, live chan<- telemetry.Window) {
	s.liveEvery, s.live = every, live
}

// NewStage returns a Stage over p. When no event has been accepted for idle
// (counting from Run's start), the watermark advances to now − lateness, so
// windows close when producers fall silent. The Stage reads now once, here,
// and then keeps time with the monotonic clock (SteadyClock), so a step of
// the wall clock neither fires windows early nor stalls them.
func NewStage(p *Processor, lateness, idle time.Duration, now func() time.Time, stats *Stats) *Stage {
	tick := 250 * time.Millisecond
	if idle > 0 && idle < 4*tick {
		tick = idle / 4
	}
	return &Stage{proc: p, lateness: lateness, idle: idle, now: SteadyClock(now), tick: tick, stats: stats}
}

// Run feeds each batch from in to the processor and sends the windows that
// become final to out. When in is closed it flushes the open windows as they
// stand, closes out and returns nil; when ctx is done it closes out and
// returns ctx.Err(). Run owns out.
func (s *Stage) Run(ctx context.Context, in <-chan telemetry.Batch, out chan<- telemetry.Window) error {
	defer close(out)
	ticker := time.NewTicker(s.tick)
	defer ticker.Stop()
	var liveTick <-chan time.Time
	if s.live != nil {
		defer close(s.live)
		lt := time.NewTicker(s.liveEvery)
		defer lt.Stop()
		liveTick = lt.C
	}
	lastAccepted := s.now()
	send := func(wins []telemetry.Window) error {
		s.publishStats()
		for _, w := range wins {
			select {
			case out <- w:
				s.stats.WindowsClosed.Add(1)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	// Windows made final before Run (by a replay) go out first.
	if err := send(s.proc.Emit()); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case batch, ok := <-in:
			if !ok {
				return send(s.proc.Flush())
			}
			s.proc.CountRejected(batch.Rejected)
			if s.add(batch.Events) > 0 {
				lastAccepted = s.now()
			}
			if batch.Recycle != nil {
				// The processor copies what it keeps of an event.
				batch.Recycle(batch.Events)
			}
			if err := send(s.proc.Emit()); err != nil {
				return err
			}
		case <-liveTick:
			if w, ok := s.proc.Peek(); ok {
				select {
				case s.live <- w:
				default: // best effort: the next one will do
				}
			}
		case <-ticker.C:
			now := s.now()
			if s.idle > 0 && now.Sub(lastAccepted) >= s.idle {
				if err := send(s.proc.AdvanceTo(now.Add(-s.lateness).UnixMilli())); err != nil {
					return err
				}
			}
		}
	}
}

// add offers a batch and counts the outcomes; it returns how many were
// accepted.
func (s *Stage) add(batch []telemetry.Event) int {
	var acc, late, dup, many int64
	for i := range batch {
		switch s.proc.Add(&batch[i]) {
		case Accepted:
			acc++
		case Late:
			late++
		case Duplicate:
			dup++
		case TooManyVehicles:
			many++
		}
	}
	s.stats.Accepted.Add(acc)
	s.stats.Late.Add(late)
	s.stats.Duplicate.Add(dup)
	s.stats.TooManyVehicles.Add(many)
	return int(acc)
}

func (s *Stage) publishStats() {
	s.stats.Vehicles.Store(int64(s.proc.Vehicles()))
	if wm, ok := s.proc.Watermark(); ok {
		s.stats.WatermarkMS.Store(wm)
	}
}
