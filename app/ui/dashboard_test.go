package ui

import (
	"errors"
	"strings"
	"testing"
	"time"

	"fleetpulse/app/live"
	"fleetpulse/app/offline"
	"fleetpulse/shared/telemetry"
	"fleetpulse/shared/wire"
)

var t0 = time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC)

func fleetRows(from, n int) []telemetry.FleetRow {
	rows := make([]telemetry.FleetRow, n)
	for i := range rows {
		k := from + i
		rows[i] = telemetry.FleetRow{
			WindowStart:    t0.Add(time.Duration(k) * 10 * time.Second),
			WindowEnd:      t0.Add(time.Duration(k+1) * 10 * time.Second),
			VehiclesActive: 50,
			Events:         500 + int64(k),
			AvgSpeedKPH:    48.25,
			MaxSpeedKPH:    97.5,
			DistanceKM:     6.125,
			LateEvents:     1,
		}
	}
	return rows
}

func snapshotEvent(seq uint64, fleet []telemetry.FleetRow) live.Event {
	return live.Event{State: live.Connected, Snapshot: &wire.Snapshot{Type: wire.TypeSnapshot, Seq: seq, Fleet: fleet,
		Vehicles: []telemetry.VehicleRow{{VehicleID: "TRUCK-1", AvgSpeedKPH: 50}}}}
}

func windowEvent(seq uint64, k int, final bool) live.Event {
	f := fleetRows(k, 1)[0]
	typ := wire.TypeWindow
	if !final {
		typ = wire.TypeLive
	}
	return live.Event{State: live.Connected, Window: &wire.Window{Type: typ, Seq: seq, Final: final,
		WindowStart: f.WindowStart, WindowEnd: f.WindowEnd, Fleet: f,
		Vehicles: []telemetry.VehicleRow{{VehicleID: "TRUCK-2", AvgSpeedKPH: 60}}}}
}

func TestDashboardApply(t *testing.T) {
	t.Parallel()
	var d dashboard
	if st := d.status(); st != statusConnecting {
		t.Fatalf("zero dashboard status %q, want connecting", st)
	}

	d.apply(live.Event{State: live.Connected})
	d.apply(snapshotEvent(7, fleetRows(0, 3)))
	if d.seq != 7 || len(d.fleet) != 3 || len(d.vehicles) != 1 || !d.fleetDirty || !d.vehiclesDirty {
		t.Fatalf("after snapshot: seq %d, %d fleet rows, %d vehicles, dirty %v %v", d.seq, len(d.fleet), len(d.vehicles), d.fleetDirty, d.vehiclesDirty)
	}
	d.fleetDirty, d.vehiclesDirty = false, false

	tests := []struct {
		name      string
		ev        live.Event
		wantSeq   uint64
		wantRows  int
		wantDirty bool
	}{
		{"next window", windowEvent(8, 3, true), 8, 4, true},
		{"repeated window ignored", windowEvent(8, 3, true), 8, 4, false},
		{"older window ignored", windowEvent(5, 1, true), 8, 4, false},
		{"provisional update ignored", windowEvent(9, 4, false), 8, 4, false},
		{"gap accepted", windowEvent(11, 6, true), 11, 5, true},
	}
	for _, tt := range tests { // in order: each step builds on the last
		d.apply(tt.ev)
		if d.seq != tt.wantSeq || len(d.fleet) != tt.wantRows || d.fleetDirty != tt.wantDirty {
			t.Fatalf("%s: seq %d, %d rows, dirty %v; want %d, %d, %v", tt.name, d.seq, len(d.fleet), d.fleetDirty, tt.wantSeq, tt.wantRows, tt.wantDirty)
		}
		d.fleetDirty, d.vehiclesDirty = false, false
	}
	if last, ok := d.latest(); !ok || !last.WindowEnd.Equal(t0.Add(70*time.Second)) {
		t.Fatalf("latest row %+v, want the one ending at +70s", last)
	}
	if d.vehicles[0].VehicleID != "TRUCK-2" {
		t.Fatalf("vehicles %+v, want the latest window's", d.vehicles)
	}

	d.apply(live.Event{State: live.Reconnecting, Err: errors.New("boom"), RetryIn: 1500 * time.Millisecond})
	if d.status() != statusReconnecting || !strings.Contains(d.statusDetail(), "boom") || !strings.Contains(d.statusDetail(), "1.5 s") {
		t.Fatalf("reconnecting: status %q detail %q", d.status(), d.statusDetail())
	}
	if d.seq != 11 || len(d.fleet) != 5 {
		t.Fatal("a dropped connection must keep the data")
	}
	d.apply(live.Event{State: live.Connected})
	if d.status() != statusConnected || d.lastErr != "" {
		t.Fatalf("reconnected: status %q, lastErr %q", d.status(), d.lastErr)
	}
	d.stale = true
	if d.status() != statusStale {
		t.Fatalf("stale flag gives status %q", d.status())
	}

	// A snapshot after a server restart replaces everything, even with a
	// lower seq.
	d.apply(snapshotEvent(2, fleetRows(100, 2)))
	if d.seq != 2 || len(d.fleet) != 2 || d.fleet[0].Events != 600 {
		t.Fatalf("after second snapshot: seq %d, rows %+v", d.seq, d.fleet)
	}
}

func TestAppendBounded(t *testing.T) {
	t.Parallel()
	t.Run("big snapshot keeps the newest", func(t *testing.T) {
		t.Parallel()
		got := appendBounded(nil, fleetRows(0, maxFleetRows+140)...)
		if len(got) != maxFleetRows || got[0].Events != 500+140 || got[len(got)-1].Events != 500+maxFleetRows+139 {
			t.Fatalf("len %d, first %d, last %d", len(got), got[0].Events, got[len(got)-1].Events)
		}
	})
	t.Run("windows slide without growing", func(t *testing.T) {
		t.Parallel()
		s := appendBounded(nil, fleetRows(0, 10)...)
		c := cap(s)
		for k := 10; k < 3*maxFleetRows; k++ {
			s = appendBounded(s, fleetRows(k, 1)...)
		}
		if len(s) != maxFleetRows || cap(s) != c {
			t.Fatalf("len %d cap %d, want %d and unchanged cap %d", len(s), cap(s), maxFleetRows, c)
		}
		for i := 1; i < len(s); i++ {
			if s[i].Events != s[i-1].Events+1 {
				t.Fatalf("rows out of order at %d: %d after %d", i, s[i].Events, s[i-1].Events)
			}
		}
		if s[len(s)-1].Events != 500+3*maxFleetRows-1 {
			t.Fatalf("last row %d, want the newest", s[len(s)-1].Events)
		}
	})
}

func TestFreshness(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		events []live.Event
		after  time.Duration
		want   bool
	}{
		{"nothing seen is not stale", nil, time.Hour, false},
		{"fresh snapshot", []live.Event{snapshotEvent(1, fleetRows(0, 3))}, 29 * time.Second, false},
		{"three 10s windows missed", []live.Event{snapshotEvent(1, fleetRows(0, 3))}, 31 * time.Second, true},
		{"one-row snapshot uses window length", []live.Event{snapshotEvent(1, fleetRows(0, 1))}, 31 * time.Second, true},
		{"at least 15s", []live.Event{snapshotEvent(1, []telemetry.FleetRow{{WindowStart: t0, WindowEnd: t0.Add(time.Second)}})}, 14 * time.Second, false},
		{"window spacing from windows", []live.Event{windowEvent(1, 0, true), windowEvent(2, 6, true)}, 179 * time.Second, false},
		{"window spacing exceeded", []live.Event{windowEvent(1, 0, true), windowEvent(2, 6, true)}, 181 * time.Second, true},
		{"new connection resets the clock", []live.Event{{State: live.Connected}}, 29 * time.Second, false},
		{"provisional updates do not count", []live.Event{windowEvent(1, 0, false)}, time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var f freshness
			for _, ev := range tt.events {
				f.saw(ev, now)
			}
			if got := f.stale(now.Add(tt.after)); got != tt.want {
				t.Fatalf("stale after %v = %v, want %v (limit %v)", tt.after, got, tt.want, f.limit())
			}
		})
	}
}

func TestStatusText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d         dashboard
		want      status
		connected bool
	}{
		{dashboard{state: live.Connecting}, statusConnecting, false},
		{dashboard{state: live.Connected}, statusConnected, true},
		{dashboard{state: live.Connected, stale: true}, statusStale, false},
		{dashboard{state: live.Reconnecting, retryIn: time.Second}, statusReconnecting, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.want), func(t *testing.T) {
			t.Parallel()
			if got := tt.d.status(); got != tt.want {
				t.Fatalf("status %q, want %q", got, tt.want)
			}
			// Browser tests look for the word "connected": only the live
			// state may contain it.
			text := strings.ToLower(tt.d.statusText())
			if has := strings.Contains(text, "connected"); has != tt.connected {
				t.Fatalf("text %q contains connected = %v, want %v", text, has, tt.connected)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	ints := map[int64]string{0: "0", 12: "12", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4500: "-4,500"}
	for in, want := range ints {
		if got := formatInt(in); got != want {
			t.Errorf("formatInt(%d) = %q, want %q", in, got, want)
		}
	}
	waits := map[time.Duration]string{
		250 * time.Millisecond: "0.3 s", 1500 * time.Millisecond: "1.5 s", 9 * time.Second: "9.0 s", 12300 * time.Millisecond: "13 s",
	}
	for in, want := range waits {
		if got := formatWait(in); got != want {
			t.Errorf("formatWait(%v) = %q, want %q", in, got, want)
		}
	}
	if got := formatFloat(48.25, 1); got != "48.2" && got != "48.3" {
		t.Errorf("formatFloat(48.25, 1) = %q", got)
	}
	if got := formatClock(t0.In(time.FixedZone("X", 7200))); got != "04:40:00" {
		t.Errorf("formatClock = %q, want UTC 04:40:00", got)
	}
}

// TestOfflineBanner: a restored snapshot shows its numbers with a banner
// until live data replaces it; a lost connection shows the banner again.
func TestOfflineBanner(t *testing.T) {
	t.Parallel()
	now := t0.Add(time.Hour)
	var saved dashboard
	saved.apply(live.Event{State: live.Connected})
	saved.apply(snapshotEvent(7, fleetRows(0, 3)))
	b, err := offline.Encode(saved.saved(now), 0)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := offline.Decode(b)
	if err != nil {
		t.Fatal(err)
	}

	var d dashboard
	d.restore(snap)
	if last, _ := d.latest(); d.seq != 7 || last.Events != 502 || len(d.vehicles) != 1 || !d.fleetDirty {
		t.Fatalf("restored seq %d, last row %+v, %d vehicles", d.seq, last, len(d.vehicles))
	}
	if got, want := d.banner(now), "Showing saved data from 04:40:30 UTC · connecting…"; got != want {
		t.Errorf("banner while connecting %q, want %q", got, want)
	}
	d.apply(live.Event{State: live.Reconnecting, Err: errors.New("refused")})
	if got, want := d.banner(now), "Offline · showing data from 04:40:30 UTC"; got != want {
		t.Errorf("banner while offline %q, want %q", got, want)
	}
	if got, want := d.banner(t0.Add(48*time.Hour)), "Offline · showing data from Nov 27, 04:40:30 UTC"; got != want {
		t.Errorf("banner two days later %q, want %q", got, want)
	}
	d.apply(live.Event{State: live.Connected})
	if got := d.banner(now); got != "" {
		t.Errorf("banner while connected %q", got)
	}
	d.apply(snapshotEvent(9, fleetRows(0, 5)))
	if d.restored {
		t.Error("still marked restored after a live snapshot")
	}
	d.apply(live.Event{State: live.Reconnecting})
	if got := d.banner(now); !strings.HasPrefix(got, "Offline · showing data from 04:40:50") {
		t.Errorf("banner after the live feed dropped %q", got)
	}
	// The REST fallback answering keeps the data fresh: no banner.
	d.applyPoll(fleetRows(5, 1), nil, now)
	d.polling = true
	if got := d.banner(now); got != "" {
		t.Errorf("banner while polling works %q", got)
	}
	var empty dashboard
	empty.apply(live.Event{State: live.Reconnecting})
	if got := empty.banner(now); got != "" {
		t.Errorf("banner without data %q", got)
	}
}

func TestSplitStopped(t *testing.T) {
	t.Parallel()
	rows := []telemetry.VehicleRow{{VehicleID: "A", AvgSpeedKPH: 0}, {VehicleID: "B", AvgSpeedKPH: 12}, {VehicleID: "C"}}
	moving, stopped := splitStopped(rows)
	if len(moving) != 1 || moving[0].VehicleID != "B" || stopped != 2 {
		t.Errorf("moving %v, stopped %d", moving, stopped)
	}
	if got, want := slowestSubtitle(rows), "Bottom 10 by average speed, latest window · 2 vehicles stopped"; got != want {
		t.Errorf("subtitle %q, want %q", got, want)
	}
	if got := slowestSubtitle(rows[1:2]); strings.Contains(got, "stopped") {
		t.Errorf("subtitle %q with none stopped", got)
	}
}
