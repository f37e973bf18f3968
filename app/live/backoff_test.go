package live

import (
	"math"
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	t.Parallel()
	custom := Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}
	tests := []struct {
		name     string
		b        Backoff
		failures int
		r        float64
		want     time.Duration
	}{
		{"zero jitter is immediate", custom, 3, 0, 0},
		{"first retry half way", custom, 0, 0.5, 50 * time.Millisecond},
		{"doubles per failure", custom, 1, 0.5, 100 * time.Millisecond},
		{"doubles again", custom, 2, 0.5, 200 * time.Millisecond},
		{"just below the cap", custom, 4, 0.5, 800 * time.Millisecond},
		{"capped", custom, 5, 0.5, time.Second},
		{"capped far out", custom, 40, 0.5, time.Second},
		{"no overflow past 62 doublings", custom, 1000, 0.5, time.Second},
		{"negative failures count as zero", custom, -3, 0.5, 50 * time.Millisecond},
		{"defaults", Backoff{}, 0, 0.5, 250 * time.Millisecond},
		{"default cap", Backoff{}, 30, 0.5, 15 * time.Second},
		{"min above max is clamped", Backoff{Min: time.Minute, Max: time.Second}, 0, 0.5, 500 * time.Millisecond},
		{"NaN jitter is immediate", custom, 2, math.NaN(), 0},
		{"negative jitter is immediate", custom, 2, -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.b.Delay(tt.failures, tt.r); got != tt.want {
				t.Errorf("Delay(%d, %v) = %v, want %v", tt.failures, tt.r, got, tt.want)
			}
		})
	}
}

// TestBackoffDelayBounds checks the full-jitter range for many attempts: the
// wait is never negative and always below the capped ceiling, even for r
// at or past 1.
func TestBackoffDelayBounds(t *testing.T) {
	t.Parallel()
	b := Backoff{Min: 250 * time.Millisecond, Max: 10 * time.Second}
	for failures := range 80 {
		ceiling := b.Min
		for range failures {
			if ceiling >= b.Max {
				break
			}
			ceiling *= 2
		}
		ceiling = min(ceiling, b.Max)
		for _, r := range []float64{0, 0.001, 0.5, 0.999999, 1, 2} {
			got := b.Delay(failures, r)
			if got < 0 || got >= ceiling {
				t.Fatalf("Delay(%d, %v) = %v, want in [0, %v)", failures, r, got, ceiling)
			}
		}
	}
}
