package live

import (
	"math"
	"time"
)

// Backoff spaces reconnect attempts: exponential growth from Min, capped at
// Max, with full jitter (a uniform pick between zero and the capped value), so
// that many browsers dropped at once by a server restart do not come back in
// lock step.
type Backoff struct {
	// Min is the ceiling of the first retry's wait. Defaults to 500ms.
	Min time.Duration
	// Max caps every wait. Defaults to 30s.
	Max time.Duration
}

// Delay returns the wait before retry number failures (0 for the first retry
// after a connection dropped), given r uniform in [0, 1). The result lies in
// [0, min(Max, Min·2^failures)). It uses no clock and no randomness of its own.
func (b Backoff) Delay(failures int, r float64) time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = 500 * time.Millisecond
	}
	if hi <= 0 {
		hi = 30 * time.Second
	}
	if lo > hi {
		lo = hi
	}
	ceiling := hi
	if failures < 0 {
		failures = 0
	}
	// lo·2^failures stays exact in a float64 long before it passes any cap a
	// time.Duration can hold; past 62 doublings it surely exceeds hi.
	if failures < 62 {
		if grown := float64(lo) * math.Exp2(float64(failures)); grown < float64(hi) {
			ceiling = time.Duration(grown)
		}
	}
	if !(r > 0) { // also catches NaN
		return 0
	}
	if r >= 1 {
		r = math.Nextafter(1, 0)
	}
	return time.Duration(r * float64(ceiling))
}
