package telemetry_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"fleetpulse/shared/telemetry"
)

// BenchmarkAppendTime formats one timestamp as rows and messages do (three
// per vehicle row).
func BenchmarkAppendTime(b *testing.B) {
	ts := time.Date(2026, 11, 27, 4, 40, 0, 250e6, time.UTC)
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf = telemetry.AppendTime(buf[:0], ts)
	}
}

// TestAppendTimeMatchesLayout compares AppendTime with time's own
// formatting of TimeLayout over random instants, in zones and out of the
// four-digit years.
func TestAppendTimeMatchesLayout(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(8, 8))
	zones := []*time.Location{time.UTC, time.FixedZone("east", 5*3600+1800), time.FixedZone("west", -11*3600)}
	check := func(ts time.Time) {
		t.Helper()
		want := ts.UTC().Format(telemetry.TimeLayout)
		if got := string(telemetry.AppendTime([]byte("x"), ts)); got != "x"+want {
			t.Fatalf("AppendTime(%v) = %q, want %q", ts, got, "x"+want)
		}
	}
	for range 20000 {
		// Years 1 to 9999, any nanosecond.
		sec := r.Int64N(253402300800+62135596800) - 62135596800
		check(time.Unix(sec, r.Int64N(1e9)).In(zones[r.IntN(len(zones))]))
	}
	for _, ts := range []time.Time{
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 2, 28, 23, 59, 59, 999e6, time.UTC).Add(time.Millisecond),
		{},
	} {
		check(ts)
	}
}
