package ui

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"fleetpulse/app/chart"
	"fleetpulse/shared/telemetry"
)

// Element ids of the vehicle view.
const (
	idVehicleSpeed    = "vehicle-speed"
	idVehicleDistance = "vehicle-distance"
	idVehicleTrack    = "vehicle-track"
	idVehicleRows     = "vehicle-rows"
	idVehicleLast     = "vehicle-last"
)

// vehicleSpan is how far back the vehicle view looks.
const vehicleSpan = 60 * time.Minute

// vehicleRefresh is how often the vehicle view fetches its history again.
const vehicleRefresh = 10 * time.Second

// vehicleRoute matches the vehicle view's path, /vehicle/{id}.
const vehicleRoute = `^/vehicle/[^/]+$`

// vehicleIDFromPath returns the id in a /vehicle/{id} path, unescaped.
func vehicleIDFromPath(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, "/vehicle/")
	if !ok || rest == "" || strings.Contains(rest, "/") {
		return "", false
	}
	id, err := url.PathUnescape(rest)
	if err != nil || id == "" {
		return "", false
	}
	return id, true
}

// vehicle is the /vehicle/{id} page: one vehicle's speed and distance per
// window over the last hour, its track and its window rows. It fetches
// GET /data/history on navigation and every vehicleRefresh while mounted.
type vehicle struct {
	app.Compo

	id      string
	rows    []telemetry.VehicleRow
	loaded  bool
	lastErr string

	stop                              context.CancelFunc
	speedChart, distChart, trackChart painter
	dark                              bool
	drawScheduled                     bool
}

// OnNav reads the id from the address and starts fetching; it runs on the
// server too, where it only reads the id.
func (v *vehicle) OnNav(ctx app.Context) {
	id, _ := vehicleIDFromPath(ctx.Page().URL().Path)
	if id == v.id && v.stop != nil {
		return
	}
	v.id, v.rows, v.loaded, v.lastErr = id, nil, false, ""
	ctx.Page().SetTitle("FleetPulse · " + id)
	if !app.IsClient || id == "" {
		return
	}
	v.speedChart = painter{id: idVehicleSpeed}
	v.distChart = painter{id: idVehicleDistance}
	v.trackChart = painter{id: idVehicleTrack}
	if mq := app.Window().Call("matchMedia", "(prefers-color-scheme: dark)"); mq.Truthy() {
		v.dark = mq.Get("matches").Truthy()
	}
	if v.stop != nil {
		v.stop()
	}
	runCtx, stop := context.WithCancel(context.Background())
	v.stop = stop
	page := app.Window().URL()
	ctx.Async(func() { v.fetchLoop(runCtx, ctx, page, id) })
}

// fetchLoop fetches the history now and every vehicleRefresh until runCtx
// ends.
func (v *vehicle) fetchLoop(runCtx context.Context, ctx app.Context, page *url.URL, id string) {
	t := time.NewTicker(vehicleRefresh)
	defer t.Stop()
	for {
		rows, err := vehicleHistory(runCtx, page, id, time.Now().Add(-vehicleSpan))
		if runCtx.Err() != nil {
			return
		}
		ctx.Dispatch(func(ctx app.Context) {
			if v.id != id {
				return
			}
			if err != nil {
				v.lastErr = err.Error()
				return
			}
			v.rows, v.loaded, v.lastErr = rows, true, ""
			v.draw(ctx)
		})
		select {
		case <-runCtx.Done():
			return
		case <-t.C:
		}
	}
}

// OnDismount stops fetching and frees the charts.
func (v *vehicle) OnDismount() {
	if v.stop != nil {
		v.stop()
		v.stop = nil
	}
	v.speedChart.dispose()
	v.distChart.dispose()
	v.trackChart.dispose()
}

// OnResize fits the charts to their containers.
func (v *vehicle) OnResize(ctx app.Context) {
	v.speedChart.resize()
	v.distChart.resize()
	v.draw(ctx) // the track keeps an equal scale for its shape
}

// draw draws the three charts, retrying shortly while ECharts loads.
func (v *vehicle) draw(ctx app.Context) {
	if !v.loaded {
		return
	}
	ok := true
	if opt, err := chart.VehicleSpeed(v.rows); err == nil {
		ok = v.speedChart.draw(opt, v.dark) && ok
	}
	if opt, err := chart.VehicleDistance(v.rows); err == nil {
		ok = v.distChart.draw(opt, v.dark) && ok
	}
	if opt, err := chart.Track(trackOf(v.rows), v.trackChart.aspect()); err == nil {
		ok = v.trackChart.draw(opt, v.dark) && ok
	}
	if !ok && !v.drawScheduled && app.IsClient {
		v.drawScheduled = true
		ctx.After(250*time.Millisecond, func(ctx app.Context) {
			v.drawScheduled = false
			v.draw(ctx)
		})
	}
}

// trackOf returns the rows' last positions, oldest first, skipping rows
// without one.
func trackOf(rows []telemetry.VehicleRow) []chart.Point {
	pts := make([]chart.Point, 0, len(rows))
	for _, r := range rows {
		if r.LastTS.IsZero() && r.LastLat == 0 && r.LastLon == 0 {
			continue
		}
		pts = append(pts, chart.Point{Lat: r.LastLat, Lon: r.LastLon})
	}
	return pts
}

// Render draws the vehicle view.
func (v *vehicle) Render() app.UI {
	empty := len(v.rows) == 0
	status := "Loading the last hour…"
	switch {
	case v.lastErr != "":
		status = "Could not load the history: " + v.lastErr
	case v.loaded && empty:
		status = "No windows of this vehicle in the last hour."
	case v.loaded:
		status = strconv.Itoa(len(v.rows)) + " windows in the last hour"
	}
	var lastText string
	if !empty {
		r := v.rows[len(v.rows)-1]
		lastText = "Last position " + formatFloat(r.LastLat, 5) + ", " + formatFloat(r.LastLon, 5) +
			" at " + formatClock(r.LastTS) + " UTC · avg " + formatFloat(r.AvgSpeedKPH, 1) + " km/h in the window ending " + formatClock(r.WindowEnd)
	}
	return app.Div().ID(idRoot).Class("fp", "fp-vehicle").DataSet("vehicle", v.id).DataSet("rows", len(v.rows)).Body(
		app.Header().Class("fp-header").Body(
			app.Div().Class("fp-brand").Body(
				app.Img().Class("fp-logo").Src("/web/icon.svg").Alt("").Aria("hidden", true).Width(40).Height(40),
				app.Div().Body(
					app.H1().Class("fp-title").Text(v.id),
					app.P().Class("fp-tagline").Body(
						app.A().Href("/").Text("← Fleet overview"),
					),
				),
			),
		),
		app.Main().Class("fp-main").Body(
			app.P().Class("fp-window").Role("status").Text(status),
			// Always present: a node appearing before the charts would make
			// go-app replace the chart elements ECharts drew into.
			app.P().ID(idVehicleLast).Class("fp-last").Text(lastText),
			app.Div().Class("fp-panels").Body(
				panel("Speed", "Average and maximum per window (km/h, UTC)", idVehicleSpeed, "fp-panel--wide", empty),
				panel("Track", "Last position per window, oldest to newest (lon/lat)", idVehicleTrack, "fp-panel--track", empty),
				panel("Distance", "Per window (km, UTC)", idVehicleDistance, "fp-panel--full", empty),
			),
			app.Section().ID(idVehicleRows).Class("fp-panel", "fp-table-panel").Aria("labelledby", idVehicleRows+"-title").Body(
				app.H2().ID(idVehicleRows+"-title").Class("fp-panel-title").Text("Windows"),
				app.P().Class("fp-panel-sub").Text("Newest first"),
				app.Div().Class("fp-table-wrap").Body(
					app.Table().Class("fp-table").Body(
						app.THead().Body(app.Tr().Body(
							app.Th().Scope("col").Text("Window end (UTC)"),
							app.Th().Scope("col").Class("fp-num").Text("Events"),
							app.Th().Scope("col").Class("fp-num").Text("Avg km/h"),
							app.Th().Scope("col").Class("fp-num").Text("Min km/h"),
							app.Th().Scope("col").Class("fp-num").Text("Max km/h"),
							app.Th().Scope("col").Class("fp-num").Text("Distance km"),
							app.Th().Scope("col").Class("fp-num").Text("Lat, lon"),
						)),
						app.TBody().Body(
							app.Range(v.rows).Slice(func(i int) app.UI {
								r := v.rows[len(v.rows)-1-i]
								return app.Tr().Body(
									app.Td().Text(formatClock(r.WindowEnd)),
									app.Td().Class("fp-num").Text(formatInt(r.Events)),
									app.Td().Class("fp-num").Text(formatFloat(r.AvgSpeedKPH, 1)),
									app.Td().Class("fp-num").Text(formatFloat(r.MinSpeedKPH, 1)),
									app.Td().Class("fp-num").Text(formatFloat(r.MaxSpeedKPH, 1)),
									app.Td().Class("fp-num").Text(formatFloat(r.DistanceKM, 3)),
									app.Td().Class("fp-num").Text(formatFloat(r.LastLat, 5)+", "+formatFloat(r.LastLon, 5)),
								)
							}),
						),
					),
				),
			),
		),
	)
}
