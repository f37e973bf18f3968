package ui

import (
	"context"
	"strconv"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"fleetpulse/app/chart"
	"fleetpulse/app/live"
)

// Element ids the browser tests rely on.
const (
	idRoot         = "fleetpulse"
	idConn         = "conn"
	idKPIVehicles  = "kpi-vehicles"
	idKPIEvents    = "kpi-events"
	idKPIAvgSpeed  = "kpi-avg-speed"
	idKPIMaxSpeed  = "kpi-max-speed"
	idKPIDistance  = "kpi-distance"
	idKPILate      = "kpi-late"
	idKPIDuplicate = "kpi-duplicate"
	idKPIRejected  = "kpi-rejected"
	idWindow       = "window"
	idChartFleet   = "chart-fleet-speed"
	idChartFastest = "chart-fastest"
)

// redrawEvery throttles DOM and chart updates: messages arriving closer
// together are applied in one batch, so the page redraws at most 10 times a
// second however fast the feed runs.
const redrawEvery = 100 * time.Millisecond

// overview is the "/" page: connection state, KPI tiles of the latest window,
// the fleet speed line chart and the fastest-vehicles bar chart.
//
// All fields are unexported so that go-app never diffs them, and change only
// on the UI goroutine: in lifecycle hooks and ctx.Dispatch. The feed runs in
// two goroutines started by OnMount and stopped by OnDismount.
type overview struct {
	app.Compo

	dash            dashboard
	updateAvailable bool

	stop            context.CancelFunc
	fleetChart      painter
	fastestChart    painter
	dark            bool
	darkQuery       app.Value
	onSchemeChange  app.Func
	redrawScheduled bool
}

// OnPreRender asks the browser to fetch app.wasm early, alongside the
// deferred scripts; it runs on the server for each page request. The
// preload must be CORS-anonymous to match the fetch in go-app's app.js, or
// the browser downloads the file twice.
func (o *overview) OnPreRender(ctx app.Context) {
	ctx.Page().SetPreloads(app.Preload{
		Type:          "application/wasm",
		As:            "fetch",
		Href:          "/web/app.wasm crossorigin=anonymous",
		FetchPriority: "high",
	})
}

// OnMount starts the feed. It runs in the browser only.
func (o *overview) OnMount(ctx app.Context) {
	o.fleetChart = painter{id: idChartFleet}
	o.fastestChart = painter{id: idChartFastest}
	o.updateAvailable = ctx.AppUpdateAvailable()
	o.watchColorScheme(ctx)

	url, err := live.SocketURL(app.Window().URL(), app.Getenv(WSPathEnv))
	if err != nil {
		o.dash.lastErr = err.Error()
		return
	}
	runCtx, stop := context.WithCancel(context.Background())
	o.stop = stop
	events := make(chan live.Event, 32)
	feed := &live.Feed{URL: url}
	ctx.Async(func() { _ = feed.Run(runCtx, events) })
	ctx.Async(func() { o.pump(ctx, events) })
}

// OnDismount stops the feed and frees the charts.
func (o *overview) OnDismount() {
	if o.stop != nil {
		o.stop()
		o.stop = nil
	}
	if o.onSchemeChange != nil {
		o.darkQuery.Call("removeEventListener", "change", o.onSchemeChange)
		o.onSchemeChange.Release()
		o.onSchemeChange = nil
	}
	o.fleetChart.dispose()
	o.fastestChart.dispose()
}

// OnResize fits the charts to their containers after the window resized.
func (o *overview) OnResize(ctx app.Context) {
	o.fleetChart.resize()
	o.fastestChart.resize()
}

// OnAppUpdate offers a reload when a new version was fetched in the
// background: the service worker serves the old one until then.
func (o *overview) OnAppUpdate(ctx app.Context) {
	o.updateAvailable = ctx.AppUpdateAvailable()
}

// pump forwards the feed's events to the UI goroutine in batches, at most
// one every redrawEvery, and flags the data stale when no window came for a
// while. It returns when the feed closes its channel.
func (o *overview) pump(ctx app.Context, events <-chan live.Event) {
	var (
		fresh     freshness
		pending   []live.Event
		flush     <-chan time.Time
		lastFlush time.Time
		stale     bool
	)
	check := time.NewTicker(time.Second)
	defer check.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			now := time.Now()
			fresh.saw(ev, now)
			if ev.Snapshot != nil {
				pending = pending[:0] // the snapshot replaces what came before
			}
			pending = append(pending, ev)
			if flush == nil {
				flush = time.After(max(0, redrawEvery-now.Sub(lastFlush)))
			}
		case now := <-flush:
			batch := pending
			pending, flush, lastFlush = nil, nil, now
			stale = fresh.stale(now)
			s := stale
			ctx.Dispatch(func(ctx app.Context) { o.apply(ctx, batch, s) })
		case now := <-check.C:
			if s := fresh.stale(now); s != stale {
				stale = s
				ctx.Dispatch(func(ctx app.Context) { o.dash.stale = s })
			}
		}
	}
}

// apply folds a batch of events into the dashboard and redraws what changed.
func (o *overview) apply(ctx app.Context, batch []live.Event, stale bool) {
	seq := o.dash.seq
	for _, ev := range batch {
		o.dash.apply(ev)
	}
	o.dash.stale = stale
	if o.dash.seq != seq {
		// Mirrored on <body> too, for tests that look there.
		app.Window().Get("document").Get("body").Call("setAttribute", "data-seq", strconv.FormatUint(o.dash.seq, 10))
	}
	o.drawCharts(ctx)
}

// drawCharts draws the charts whose data changed. When ECharts is not loaded
// yet it tries again shortly, so the first snapshot shows without waiting for
// the next window.
func (o *overview) drawCharts(ctx app.Context) {
	ready := true
	if o.dash.fleetDirty {
		opt, err := chart.FleetSpeed(o.dash.fleet)
		switch {
		case err != nil:
			o.dash.lastErr = err.Error()
			o.dash.fleetDirty = false
		case o.fleetChart.draw(opt, o.dark):
			o.dash.fleetDirty = false
		default:
			ready = false
		}
	}
	if o.dash.vehiclesDirty {
		opt, err := chart.Fastest(o.dash.vehicles, fastestN)
		switch {
		case err != nil:
			o.dash.lastErr = err.Error()
			o.dash.vehiclesDirty = false
		case o.fastestChart.draw(opt, o.dark):
			o.dash.vehiclesDirty = false
		default:
			ready = false
		}
	}
	if !ready && !o.redrawScheduled && app.IsClient {
		o.redrawScheduled = true
		ctx.After(250*time.Millisecond, func(ctx app.Context) {
			o.redrawScheduled = false
			o.drawCharts(ctx)
		})
	}
}

// watchColorScheme follows the system's light or dark preference: ECharts
// themes are fixed at init, so a change recreates both charts.
func (o *overview) watchColorScheme(ctx app.Context) {
	mq := app.Window().Call("matchMedia", "(prefers-color-scheme: dark)")
	if !mq.Truthy() {
		return
	}
	o.darkQuery = mq
	o.dark = mq.Get("matches").Truthy()
	o.onSchemeChange = app.FuncOf(func(this app.Value, args []app.Value) any {
		ctx.Dispatch(func(ctx app.Context) {
			o.dark = o.darkQuery.Get("matches").Truthy()
			o.fleetChart.dispose()
			o.fastestChart.dispose()
			o.dash.fleetDirty, o.dash.vehiclesDirty = true, true
			o.drawCharts(ctx)
		})
		return nil
	})
	mq.Call("addEventListener", "change", o.onSchemeChange)
}

// Render draws the page from the dashboard.
func (o *overview) Render() app.UI {
	d := &o.dash
	st := d.status()
	last, haveRow := d.latest()

	num := func(v int64) string {
		if !haveRow {
			return "—"
		}
		return formatInt(v)
	}
	dec := func(v float64, places int) string {
		if !haveRow {
			return "—"
		}
		return formatFloat(v, places)
	}

	windowText := "Waiting for the first window…"
	if haveRow {
		windowText = "Latest window " + formatClock(last.WindowStart) + "–" + formatClock(last.WindowEnd) + " UTC"
	}

	return app.Div().ID(idRoot).Class("fp").
		DataSet("seq", d.seq).
		DataSet("status", string(st)).
		Body(
			app.If(o.updateAvailable, func() app.UI {
				return app.Div().Class("fp-update").Role("status").Body(
					app.Span().Text("A new version of FleetPulse is ready."),
					app.Button().Class("fp-update-btn").Type("button").Text("Reload").
						OnClick(func(ctx app.Context, e app.Event) { ctx.Reload() }),
				)
			}),
			app.Header().Class("fp-header").Body(
				app.Div().Class("fp-brand").Body(
					app.Img().Class("fp-logo").Src("/web/icon.svg").Alt("").Aria("hidden", true).Width(40).Height(40),
					app.Div().Body(
						app.H1().Class("fp-title").Text("FleetPulse"),
						app.P().Class("fp-tagline").Text("Live fleet overview"),
					),
				),
				app.Div().ID(idConn).Class("fp-conn", "fp-conn--"+string(st)).
					Role("status").Aria("live", "polite").
					DataSet("state", string(st)).
					Title(d.statusDetail()).
					Body(
						app.Span().Class("fp-conn-dot").Aria("hidden", "true"),
						app.Span().Class("fp-conn-text").Text(d.statusText()),
					),
			),
			app.Main().Class("fp-main").Body(
				app.P().ID(idWindow).Class("fp-window").Body(
					app.Span().Text(windowText),
					app.If(d.seq > 0, func() app.UI {
						return app.Span().Class("fp-seq").Text("seq " + strconv.FormatUint(d.seq, 10))
					}),
				),
				app.Section().Class("fp-kpis").Aria("label", "Latest window").Body(
					kpi(idKPIVehicles, "Vehicles active", num(last.VehiclesActive), ""),
					kpi(idKPIEvents, "Events", num(last.Events), ""),
					kpi(idKPIAvgSpeed, "Fleet avg speed", dec(last.AvgSpeedKPH, 1), "km/h"),
					kpi(idKPIMaxSpeed, "Fleet max speed", dec(last.MaxSpeedKPH, 1), "km/h"),
					kpi(idKPIDistance, "Distance", dec(last.DistanceKM, 2), "km"),
					app.Div().ID("kpi-quality").Class("fp-kpi", "fp-kpi--quality").Body(
						app.Div().Class("fp-kpi-label").Text("Data quality"),
						app.Div().Class("fp-quality").Body(
							quality(idKPILate, "late", num(last.LateEvents), haveRow && last.LateEvents > 0),
							quality(idKPIDuplicate, "duplicate", num(last.DuplicateEvents), haveRow && last.DuplicateEvents > 0),
							quality(idKPIRejected, "rejected", num(last.RejectedEvents), haveRow && last.RejectedEvents > 0),
						),
					),
				),
				app.Div().Class("fp-panels").Body(
					panel("Fleet speed", "Average and maximum per window (km/h, UTC)",
						idChartFleet, "fp-panel--wide", len(d.fleet) == 0),
					panel("Fastest vehicles", "Top "+strconv.Itoa(fastestN)+" by average speed, latest window",
						idChartFastest, "", len(d.vehicles) == 0),
				),
			),
			app.Footer().Class("fp-footer").Body(
				app.Span().Text("Times in UTC. Download: "),
				app.A().Href("/data?format=csv").Attr("download", "latest_metrics.csv").Text("latest vehicles (CSV)"),
				app.Span().Text(" · "),
				app.A().Href("/data/fleet?format=csv").Attr("download", "fleet_metrics.csv").Text("fleet windows (CSV)"),
			),
		)
}

// kpi renders one tile; the element with id holds the number and its unit.
func kpi(id, label, value, unit string) app.UI {
	return app.Div().Class("fp-kpi").Body(
		app.Div().Class("fp-kpi-label").Text(label),
		app.Div().ID(id).Class("fp-kpi-value").Body(
			app.Text(value),
			app.If(unit != "" && value != "—", func() app.UI {
				return app.Span().Class("fp-kpi-unit").Text(" " + unit)
			}),
		),
	)
}

// quality renders one data-quality counter, marked when it is not zero.
func quality(id, label, value string, warn bool) app.UI {
	class := "fp-q"
	if warn {
		class += " fp-q--warn"
	}
	return app.Div().Class(class).Body(
		app.Span().ID(id).Class("fp-q-value").Text(value),
		app.Span().Class("fp-q-label").Text(label),
	)
}

// panel renders a chart card. The chart element itself has no go-app
// children: ECharts owns what is inside it.
func panel(title, subtitle, chartID, extra string, empty bool) app.UI {
	return app.Section().Class("fp-panel", extra).Aria("labelledby", chartID+"-title").Body(
		app.H2().ID(chartID+"-title").Class("fp-panel-title").Text(title),
		app.P().Class("fp-panel-sub").Text(subtitle),
		app.Div().Class("fp-chart-wrap").Body(
			app.Div().ID(chartID).Class("fp-chart").Role("img").Aria("label", title+" chart"),
			app.If(empty, func() app.UI {
				return app.P().Class("fp-chart-empty").Text("Waiting for data…")
			}),
		),
	)
}
