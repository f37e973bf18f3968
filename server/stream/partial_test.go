package stream

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestPartialMergeEqualsWhole: the partials of consecutive spans, merged in
// time order, equal the partial of all their events (what instances of a
// scaled-out deployment rely on).
func TestPartialMergeEqualsWhole(t *testing.T) {
	t.Parallel()
	const gap = 5_000
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 3))
		var pts []point
		ts := int64(0)
		for range 50 {
			ts += 1 + r.Int64N(8_000) // some steps exceed the trip gap
			pts = append(pts, point{ts: ts, lat: 52 + r.Float64()/10, lon: 13 + r.Float64()/10, speed: r.Float64() * 100})
		}
		var whole Partial
		for i := range pts {
			whole.add(&pts[i], gap)
		}
		cut1, cut2 := 1+r.IntN(20), 25+r.IntN(20)
		var a, b, c Partial
		for i := range pts {
			switch {
			case i < cut1:
				a.add(&pts[i], gap)
			case i < cut2:
				b.add(&pts[i], gap)
			default:
				c.add(&pts[i], gap)
			}
		}
		var merged Partial
		merged.Merge(&a, gap)
		merged.Merge(&b, gap)
		merged.Merge(&c, gap)
		if diff := cmp.Diff(whole, merged, cmp.AllowUnexported(Partial{}), cmpopts.EquateApprox(0, 1e-12)); diff != "" {
			t.Fatalf("seed %d: merged partial differs from the whole (-whole +merged):\n%s", seed, diff)
		}
		var empty Partial
		merged.Merge(&empty, gap)
		if merged.Events != whole.Events {
			t.Fatalf("merging an empty partial changed the count")
		}
	}
}
