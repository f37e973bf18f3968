package stream

import "time"

// SteadyClock returns a clock that reads wall once, when called, and from
// then on adds the time elapsed on the monotonic clock. Steps of the wall
// clock (an operator setting the date, an NTP step, a VM resumed from a
// snapshot) move none of its readings: the idle rule neither fires early
// nor stalls, and the -max-future and -max-age bounds stay put. The price
// is that a correction of the wall clock after start-up is not followed
// either; a restart picks it up. Readings carry no monotonic part of their
// own, so that they compare and subtract by their wall value.
func SteadyClock(wall func() time.Time) func() time.Time {
	anchor := wall().Round(0)
	start := time.Now()
	return func() time.Time { return anchor.Add(time.Since(start)) }
}
