package sim

import (
	"context"
	"flag"
	"io"
	"math"
	"slices"
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
	if !equalSteps(a, b) {
		t.Fatalf("same seed, different events:\n%s", cmp.Diff(a, b))
	}
	c := steps(New(20, 8), 300)
	if equalSteps(a, c) {
		t.Fatal("different seeds gave the same events")
	}
}

// TestStepsInOneMillisecondAreNotDuplicates: a ticker that stalls and
// catches up can make two steps read the clock within one millisecond;
// their events must still be told apart by time, as the contract's
// duplicate rule (same vehicle, same ms) would drop the second.
func TestStepsInOneMillisecondAreNotDuplicates(t *testing.T) {
	t.Parallel()
	f := New(3, 1)
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 400_000, time.UTC)
	a := f.Step(t0, time.Second, nil)
	b := f.Step(t0.Add(300*time.Microsecond), time.Second, nil)
	c := f.Step(t0.Add(5*time.Millisecond), time.Second, nil)
	if a[0].TS != t0.UnixMilli() || b[0].TS != a[0].TS+1 || c[0].TS != t0.UnixMilli()+5 {
		t.Fatalf("stamps %d, %d, %d; want %d, +1, +5", a[0].TS, b[0].TS, c[0].TS, t0.UnixMilli())
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

func TestParseFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     Faults
		wantErr  string
	}{
		{name: "empty", in: ""},
		{name: "none", in: "none"},
		{
			name: "all",
			in:   "late=0.01,duplicate=0.02,out_of_order=0.05,malformed=0.01,offline=0.02",
			want: Faults{LateShare: 0.01, DuplicateShare: 0.02, OutOfOrderShare: 0.05, MalformedShare: 0.01, OfflineShare: 0.02},
		},
		{
			name: "spaces and durations",
			in:   " late = 0.5 , late_by=2m,out_of_order_by=1500ms, ",
			want: Faults{LateShare: 0.5, LateBy: 2 * time.Minute, OutOfOrderBy: 1500 * time.Millisecond},
		},
		{name: "whole share", in: "offline=1", want: Faults{OfflineShare: 1}},
		{name: "unknown", in: "laet=0.1", wantErr: `faults: unknown fault "laet" (want one of late, duplicate, out_of_order, malformed, offline, late_by, out_of_order_by)`},
		{name: "no value", in: "late", wantErr: `faults: "late": want name=value, such as late=0.01`},
		{name: "empty value", in: "late=", wantErr: `faults: "late=": want name=value, such as late=0.01`},
		{name: "not a number", in: "late=lots", wantErr: "faults: late=lots: want a share between 0 and 1, such as 0.01"},
		{name: "over one", in: "duplicate=1.5", wantErr: "faults: duplicate=1.5: want a share between 0 and 1, such as 0.01"},
		{name: "negative", in: "malformed=-0.1", wantErr: "faults: malformed=-0.1: want a share between 0 and 1, such as 0.01"},
		{name: "NaN", in: "offline=NaN", wantErr: "faults: offline=NaN: want a share between 0 and 1, such as 0.01"},
		{name: "twice", in: "late=0.1,late=0.2", wantErr: "faults: late given twice"},
		{name: "sum over one", in: "late=0.6,offline=0.5", wantErr: "faults: the shares add up to 1.1, more than 1"},
		{name: "bad duration", in: "late_by=soon", wantErr: "faults: late_by=soon: want a positive duration, such as 2m"},
		{name: "zero duration", in: "out_of_order_by=0s", wantErr: "faults: out_of_order_by=0s: want a positive duration, such as 2m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseFaults(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseFaults(%q) error %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFaults(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("ParseFaults(%q) (-want +got):\n%s", tt.in, diff)
			}
			// String writes what ParseFaults reads.
			again, err := ParseFaults(got.String())
			if err != nil || again != got {
				t.Fatalf("ParseFaults(%q) = %+v, %v; want %+v", got.String(), again, err, got)
			}
		})
	}
}

func TestFaultsAsFlag(t *testing.T) {
	t.Parallel()
	var f Faults
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&f, "faults", "faults")
	if err := fs.Parse([]string{"-faults", "late=0.25"}); err != nil {
		t.Fatal(err)
	}
	if f != (Faults{LateShare: 0.25}) {
		t.Fatalf("got %+v", f)
	}
	if err := fs.Parse([]string{"-faults", "late=2"}); err == nil {
		t.Fatal("-faults late=2 accepted")
	}
}

func TestSetFaultsRejectsBadShares(t *testing.T) {
	t.Parallel()
	for _, f := range []Faults{{LateShare: -0.1}, {OfflineShare: 0.7, DuplicateShare: 0.7}, {LateBy: -time.Second}} {
		if err := New(1, 1).SetFaults(f); err == nil {
			t.Errorf("SetFaults(%+v) accepted", f)
		}
	}
}

// faultRun steps a faulty fleet and a fault-free one with the same seed and
// classifies what the faulty one delivers.
type faultRun struct {
	readings                                       int // of the fault-free fleet, with ts before the cut
	onTime, duplicate, late, outOfOrder, malformed int
}

func runFaults(t *testing.T, n, stepsN int, fl Faults) faultRun {
	t.Helper()
	const dt = time.Second
	f, ref := New(n, 3), New(n, 3)
	if err := f.SetFaults(fl); err != nil {
		t.Fatal(err)
	}
	lateBy, oooBy := DefaultLateBy, DefaultOutOfOrderBy
	if fl.LateBy != 0 {
		lateBy = fl.LateBy
	}
	if fl.OutOfOrderBy != 0 {
		oooBy = fl.OutOfOrderBy
	}
	// Readings stamped before cut have all been delivered by the end.
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	cut := t0.Add(time.Duration(stepsN)*dt - lateBy - 2*dt).UnixMilli()
	// want[step][vehicle] is what the fault-free fleet read; slices, not
	// maps, keep this fast under the race detector.
	index := map[string]int{}
	for i, v := range f.vehicles {
		index[v.id] = i
	}
	want := make([][]telemetry.Event, stepsN)
	seen := make([][]bool, stepsN)
	var r faultRun
	for s := range stepsN {
		now := t0.Add(time.Duration(s) * dt)
		ts := now.UnixMilli()
		want[s] = ref.Step(now, dt, nil)
		seen[s] = make([]bool, n)
		got := f.Step(now, dt, nil)
		if ts < cut {
			r.readings += n
			r.malformed += int(f.TakeMalformed())
		}
		for _, e := range got {
			// Faults never change what a vehicle reports, only when.
			at, i := int((e.TS-t0.UnixMilli())/dt.Milliseconds()), index[e.VehicleID]
			if at < 0 || at > s || want[at][i] != e {
				t.Fatalf("step %d: delivered %+v, which the fleet never read", s, e)
			}
			if e.TS >= cut {
				continue
			}
			switch age := ts - e.TS; {
			case seen[at][i]:
				r.duplicate++
				if age != 0 {
					t.Fatalf("duplicate of %s at step %d delivered %d ms later, want in the same step", e.VehicleID, at, age)
				}
			case age == 0:
				r.onTime++
			case age >= lateBy.Milliseconds() && age < (lateBy+dt).Milliseconds():
				r.late++
			case age > 0 && age <= (oooBy+dt).Milliseconds() && age < 5000:
				r.outOfOrder++
			default:
				t.Fatalf("step %d: %s of step %d delivered %d ms after its time", s, e.VehicleID, at, age)
			}
			seen[at][i] = true
		}
	}
	return r
}

func TestFaultSharesAsConfigured(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		f    Faults
	}{
		{"none", Faults{}},
		{"late", Faults{LateShare: 0.05}},
		{"duplicate", Faults{DuplicateShare: 0.1}},
		{"out of order", Faults{OutOfOrderShare: 0.1}},
		{"malformed", Faults{MalformedShare: 0.02}},
		{"offline", Faults{OfflineShare: 0.1}},
		{"all at once", Faults{LateShare: 0.01, DuplicateShare: 0.02, OutOfOrderShare: 0.05, MalformedShare: 0.01, OfflineShare: 0.05}},
		{"custom durations", Faults{LateShare: 0.03, OutOfOrderShare: 0.03, LateBy: 20 * time.Second, OutOfOrderBy: 2 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runFaults(t, 200, 1500, tt.f)
			offline := r.readings - r.onTime - r.late - r.outOfOrder - r.malformed
			n := float64(r.readings)
			check := func(what string, got int, want, tol float64) {
				t.Helper()
				share := float64(got) / n
				if math.Abs(share-want) > tol*want+0.001 {
					t.Errorf("%s share %.4f, want %.4f ± %.0f%%", what, share, want, tol*100)
				}
			}
			t.Logf("late %.4f duplicate %.4f out-of-order %.4f malformed %.4f offline %.4f",
				float64(r.late)/n, float64(r.duplicate)/n, float64(r.outOfOrder)/n, float64(r.malformed)/n, float64(offline)/n)
			check("late", r.late, tt.f.LateShare, 0.1)
			check("duplicate", r.duplicate, tt.f.DuplicateShare, 0.1)
			check("out-of-order", r.outOfOrder, tt.f.OutOfOrderShare, 0.1)
			check("malformed", r.malformed, tt.f.MalformedShare, 0.1)
			check("offline", offline, tt.f.OfflineShare, 0.25)
		})
	}
}

func equalSteps(a, b [][]telemetry.Event) bool {
	return slices.EqualFunc(a, b, func(x, y []telemetry.Event) bool { return slices.Equal(x, y) })
}

func TestFaultsSameSeedSameOutput(t *testing.T) {
	t.Parallel()
	fl := Faults{LateShare: 0.02, DuplicateShare: 0.02, OutOfOrderShare: 0.05, MalformedShare: 0.02, OfflineShare: 0.1, LateBy: 20 * time.Second}
	run := func(seed uint64) ([][]telemetry.Event, []int64) {
		f := New(50, seed)
		if err := f.SetFaults(fl); err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
		var out [][]telemetry.Event
		var bad []int64
		for i := range 300 {
			out = append(out, f.Step(t0.Add(time.Duration(i)*time.Second), time.Second, nil))
			bad = append(bad, f.TakeMalformed())
		}
		return out, bad
	}
	a, am := run(7)
	b, bm := run(7)
	// The fleet sends no NaN, so == compares events; cmp is slow here.
	if !equalSteps(a, b) {
		t.Fatalf("same seed, different events:\n%s", cmp.Diff(a, b))
	}
	if diff := cmp.Diff(am, bm); diff != "" {
		t.Fatalf("same seed, different malformed counts:\n%s", diff)
	}
	if c, _ := run(8); equalSteps(a, c) {
		t.Fatal("different seeds gave the same events")
	}
}

func TestNoFaultsIsTheFleetAsBefore(t *testing.T) {
	t.Parallel()
	f := New(20, 7)
	if err := f.SetFaults(Faults{LateBy: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if a, b := steps(New(20, 7), 300), steps(f, 300); !equalSteps(a, b) {
		t.Fatalf("a fleet without faults changed:\n%s", cmp.Diff(a, b))
	}
	if n := f.TakeMalformed(); n != 0 {
		t.Fatalf("%d malformed without faults", n)
	}
}

func TestRunReportsMalformedAsRejected(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := New(100, 1)
		if err := f.SetFaults(Faults{MalformedShare: 0.1}); err != nil {
			t.Fatal(err)
		}
		out := make(chan telemetry.Batch, 100)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- f.Run(ctx, 1, time.Now, out) }()
		time.Sleep(50*time.Second + time.Millisecond)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		close(out)
		var events, rejected int64
		for b := range out {
			events += int64(len(b.Events))
			rejected += b.Rejected
		}
		if events+rejected != 5000 {
			t.Fatalf("%d events + %d rejected in 50 steps of 100 vehicles, want 5000", events, rejected)
		}
		if rejected < 400 || rejected > 600 {
			t.Fatalf("%d of 5000 rejected at a malformed share of 0.1", rejected)
		}
	})
}
