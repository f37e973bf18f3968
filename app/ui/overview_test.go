package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"fleetpulse/app/chart"
	"fleetpulse/app/live"
	"fleetpulse/shared/telemetry"
	"fleetpulse/shared/wire"
)

func positionWindow(seq uint64, k int, pos map[string]chart.Point) live.Event {
	ev := windowEvent(seq, k, true)
	ev.Window.Vehicles = nil
	for id, p := range pos {
		ev.Window.Vehicles = append(ev.Window.Vehicles, telemetry.VehicleRow{
			WindowEnd: ev.Window.WindowEnd, VehicleID: id, LastLat: p.Lat, LastLon: p.Lon, LastTS: ev.Window.WindowEnd,
		})
	}
	return ev
}

func TestDashboardTrails(t *testing.T) {
	t.Parallel()
	var d dashboard
	for k := range trailLen + 5 {
		d.apply(positionWindow(uint64(k+1), k, map[string]chart.Point{"A": {Lat: float64(k), Lon: 1}, "B": {Lat: 5, Lon: 5}}))
	}
	if n := len(d.trails["A"]); n != trailLen {
		t.Errorf("trail of A has %d points, want it bounded to %d", n, trailLen)
	}
	if got := d.trails["A"][trailLen-1].Lat; got != trailLen+4 {
		t.Errorf("trail of A ends at lat %v, want the newest %d", got, trailLen+4)
	}
	if n := len(d.trails["B"]); n != 1 {
		t.Errorf("B never moved but has %d trail points, want 1", n)
	}
	kept := d.trails["A"]
	d.apply(positionWindow(100, 100, map[string]chart.Point{"A": {Lat: 99, Lon: 1}}))
	if _, ok := d.trails["B"]; ok {
		t.Error("B left the window but kept its trail")
	}
	if kept[trailLen-1].Lat != trailLen+4 {
		t.Error("an old trail slice changed after an update")
	}
	if n := len(d.mapTrails()); n != 1 {
		t.Errorf("mapTrails has %d trails, want 1", n)
	}
}

func TestDashboardEventsPerSecond(t *testing.T) {
	t.Parallel()
	var d dashboard
	if _, ok := d.eventsPerSecond(); ok {
		t.Error("events/s without a window")
	}
	d.apply(snapshotEvent(1, fleetRows(0, 1))) // 500 events in 10 s
	if v, ok := d.eventsPerSecond(); !ok || v != 50 {
		t.Errorf("events/s %v %v, want 50", v, ok)
	}
}

func TestDashboardFleetSince(t *testing.T) {
	t.Parallel()
	var d dashboard
	d.apply(snapshotEvent(1, fleetRows(0, 100))) // 10 s windows
	for _, tc := range []struct {
		span time.Duration
		want int
	}{{time.Minute, 6}, {5 * time.Minute, 30}, {time.Hour, 100}, {0, 100}} {
		if got := len(d.fleetSince(tc.span)); got != tc.want {
			t.Errorf("fleetSince(%v) has %d rows, want %d", tc.span, got, tc.want)
		}
	}
}

func TestDashboardApplyPoll(t *testing.T) {
	t.Parallel()
	var d dashboard
	d.apply(snapshotEvent(5, fleetRows(0, 3)))
	d.fleetDirty = false
	polled := fleetRows(1, 4) // windows 1..4: 1 and 2 are known
	vehicles := []telemetry.VehicleRow{{VehicleID: "P", WindowEnd: polled[3].WindowEnd}}
	d.applyPoll(polled, vehicles, t0)
	if len(d.fleet) != 5 || !d.fleetDirty || d.seq != 5 || len(d.vehicles) != 1 || d.vehicles[0].VehicleID != "P" {
		t.Fatalf("after poll: %d fleet rows, dirty %v, seq %d, vehicles %+v; want 5, true, 5, P", len(d.fleet), d.fleetDirty, d.seq, d.vehicles)
	}
	// The feed comes back and resends window 4, which the poll already had.
	d.apply(windowEvent(6, 4, true))
	if len(d.fleet) != 5 || d.seq != 6 {
		t.Errorf("after the resumed window: %d fleet rows, seq %d; want 5, 6", len(d.fleet), d.seq)
	}
}

func TestStaleSinceText(t *testing.T) {
	t.Parallel()
	d := dashboard{state: live.Connected, stale: true, staleSince: t0}
	if got, want := d.statusText(), "Stale since 04:40:00 UTC"; got != want {
		t.Errorf("status %q, want %q", got, want)
	}
	d = dashboard{state: live.Reconnecting, polling: true, polledAt: t0}
	if got := d.statusText(); !strings.HasPrefix(got, "Reconnecting") || strings.Contains(got, "connected") {
		t.Errorf("status %q, want Reconnecting… without the word connected", got)
	}
}

func TestVehicleIDFromPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path, id string
		ok       bool
	}{
		{"/vehicle/TRUCK-0001", "TRUCK-0001", true},
		{"/vehicle/a%3Ab", "a:b", true},
		{"/vehicle/", "", false},
		{"/vehicle/a/b", "", false},
		{"/", "", false},
	} {
		id, ok := vehicleIDFromPath(tc.path)
		if id != tc.id || ok != tc.ok {
			t.Errorf("vehicleIDFromPath(%q) = %q, %v; want %q, %v", tc.path, id, ok, tc.id, tc.ok)
		}
	}
}

func TestOverviewTableLinks(t *testing.T) {
	t.Parallel()
	o := &overview{}
	rows := tableRows(120)
	o.dash.apply(live.Event{State: live.Connected, Snapshot: &wire.Snapshot{Seq: 1, Fleet: fleetRows(0, 1), Vehicles: rows}})
	html := app.HTMLString(o.Render())
	if n := strings.Count(html, `href="/vehicle/`); n != pageSize {
		t.Errorf("%d vehicle links, want one page of %d", n, pageSize)
	}
	if !strings.Contains(html, `href="/vehicle/TRUCK-0000"`) {
		t.Error("first page lacks TRUCK-0000")
	}
	if !strings.Contains(textOf(t, html, idFleetTable), "120 of 120 vehicles · page 1 of 3") {
		t.Errorf("table summary: %s", textOf(t, html, idFleetTable))
	}
}

func TestOverviewPause(t *testing.T) {
	t.Parallel()
	o := &overview{}
	o.dash.apply(snapshotEvent(1, fleetRows(0, 1)))
	var ctx app.Context
	o.togglePause(ctx)
	o.dash.apply(windowEvent(2, 1, true))
	o.dash.apply(windowEvent(3, 2, true))
	html := app.HTMLString(o.Render())
	if !strings.Contains(html, `data-seq="1"`) || !strings.Contains(textOf(t, html, idPause), "Resume (2 new)") {
		t.Errorf("paused page does not show the frozen seq 1 and 2 new windows: %s", textOf(t, html, idPause))
	}
	o.togglePause(ctx)
	html = app.HTMLString(o.Render())
	if !strings.Contains(html, `data-seq="3"`) || textOf(t, html, idPause) != "Pause" {
		t.Error("resumed page does not show seq 3")
	}
}

func TestVehicleRender(t *testing.T) {
	t.Parallel()
	v := &vehicle{id: "V1", loaded: true}
	for k := range 3 {
		v.rows = append(v.rows, telemetry.VehicleRow{WindowEnd: t0.Add(time.Duration(k) * 10 * time.Second), VehicleID: "V1",
			AvgSpeedKPH: 40, LastLat: 52.5, LastLon: 13.4, LastTS: t0})
	}
	html := app.HTMLString(v.Render())
	for _, id := range []string{idVehicleSpeed, idVehicleTrack, idVehicleRows, idVehicleDistance, idVehicleLast} {
		if !strings.Contains(html, `id="`+id+`"`) {
			t.Errorf("no element with id %q", id)
		}
	}
	if n := strings.Count(html, "<tr>"); n != 4 {
		t.Errorf("%d table rows, want a header and 3", n)
	}
	if n := len(trackOf(v.rows)); n != 3 {
		t.Errorf("track of %d points, want 3", n)
	}
}
