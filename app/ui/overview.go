package ui

import (
	"context"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"

	"fleetpulse/app/chart"
	"fleetpulse/app/live"
	"fleetpulse/app/offline"
	"fleetpulse/shared/telemetry"
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

	idKPIEventsPerSec = "kpi-events-per-sec"
	idChartMap        = "chart-map"
	idChartSlowest    = "chart-slowest"
	idChartHistogram  = "chart-histogram"
	idFleetTable      = "fleet-table"
	idFleetFilter     = "fleet-filter"
	idPause           = "pause"
	idRange           = "range"
	idOffline         = "offline-banner"
)

// ranges are the fleet chart's time ranges, in minutes.
var ranges = []int{5, 15, 60}

// redrawEvery throttles DOM and chart updates: messages arriving closer
// together are applied in one batch, so the page redraws at most 10 times a
// second however fast the feed runs.
const redrawEvery = 100 * time.Millisecond

// overview is the "/" page: connection state, KPI tiles of the latest window,
// the fleet speed line chart, the position map, the fastest and slowest
// vehicles, the speed histogram and the fleet table.
//
// All fields are unexported so that go-app never diffs them, and change only
// on the UI goroutine: in lifecycle hooks and ctx.Dispatch. The feed runs in
// two goroutines started by OnMount and stopped by OnDismount.
type overview struct {
	app.Compo

	dash            dashboard
	updateAvailable bool
	// paused freezes what the page shows: frozen is a copy of dash taken at
	// the pause, while dash keeps taking the feed, and is shown on resume.
	paused bool
	frozen dashboard
	// rangeMin is the fleet chart's time range in minutes.
	rangeMin int
	table    tableQuery
	// tableCache keeps the last page, so that renders that change neither
	// the rows nor the query (most of them) skip sorting a big fleet.
	tableCache struct {
		rows []telemetry.VehicleRow
		q    tableQuery
		page tablePage
		ok   bool
	}

	stop            context.CancelFunc
	fleetChart      painter
	fastestChart    painter
	slowestChart    painter
	histogramChart  painter
	mapChart        painter
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
	o.slowestChart = painter{id: idChartSlowest}
	o.histogramChart = painter{id: idChartHistogram}
	o.mapChart = painter{id: idChartMap}
	o.updateAvailable = ctx.AppUpdateAvailable()
	o.watchColorScheme(ctx)
	if snap, ok := loadSaved(); ok {
		o.dash.restore(snap)
		// Drawn once this update is in the page.
		ctx.Defer(func(ctx app.Context) { o.drawCharts(ctx) })
	}

	url, err := live.SocketURL(app.Window().URL(), app.Getenv(WSPathEnv))
	if err != nil {
		o.dash.lastErr = err.Error()
		return
	}
	runCtx, stop := context.WithCancel(context.Background())
	o.stop = stop
	events := make(chan live.Event, 32)
	feed := &live.Feed{URL: url}
	down := new(atomic.Bool)
	page := app.Window().URL()
	ctx.Async(func() { _ = feed.Run(runCtx, events) })
	ctx.Async(func() { o.pump(ctx, events, down) })
	ctx.Async(func() { o.poll(runCtx, ctx, page, down) })
}

// poll is the REST fallback: while the feed is down it fetches GET
// /data/fleet and GET /data every pollEvery. It returns when runCtx ends.
func (o *overview) poll(runCtx context.Context, ctx app.Context, page *url.URL, down *atomic.Bool) {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		select {
		case <-runCtx.Done():
			return
		case now := <-t.C:
			if !down.Load() {
				continue
			}
			fleet, vehicles, err := pollLatest(runCtx, page, now.Add(-time.Duration(maxFleetRows)*10*time.Second))
			if runCtx.Err() != nil {
				return
			}
			ctx.Dispatch(func(ctx app.Context) {
				if !down.Load() {
					return // the feed came back meanwhile; it is newer
				}
				o.dash.polling = true
				if err != nil {
					o.dash.lastErr = err.Error()
					return
				}
				o.dash.applyPoll(fleet, vehicles, time.Now())
				save(o.dash.saved(time.Now()))
				o.drawCharts(ctx)
			})
		}
	}
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
	for _, p := range o.painters() {
		p.dispose()
	}
}

// painters returns every chart of the page.
func (o *overview) painters() []*painter {
	return []*painter{&o.fleetChart, &o.fastestChart, &o.slowestChart, &o.histogramChart, &o.mapChart}
}

// OnResize fits the charts to their containers after the window resized;
// the map is redrawn, since its axes keep an equal scale for its shape.
func (o *overview) OnResize(ctx app.Context) {
	for _, p := range o.painters() {
		p.resize()
	}
	o.dash.vehiclesDirty = true
	o.drawCharts(ctx)
}

// OnAppUpdate offers a reload when a new version was fetched in the
// background: the service worker serves the old one until then.
func (o *overview) OnAppUpdate(ctx app.Context) {
	o.updateAvailable = ctx.AppUpdateAvailable()
}

// pump forwards the feed's events to the UI goroutine in batches, at most
// one every redrawEvery, and flags the data stale when no window came for a
// while. It returns when the feed closes its channel.
func (o *overview) pump(ctx app.Context, events <-chan live.Event, down *atomic.Bool) {
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
			switch ev.State {
			case live.Reconnecting:
				down.Store(true)
			case live.Connected:
				down.Store(false)
			}
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
			s, since := stale, fresh.last
			ctx.Dispatch(func(ctx app.Context) { o.apply(ctx, batch, s, since) })
		case now := <-check.C:
			if s := fresh.stale(now); s != stale {
				stale = s
				since := fresh.last
				ctx.Dispatch(func(ctx app.Context) { o.dash.stale, o.dash.staleSince = s, since })
			}
		}
	}
}

// apply folds a batch of events into the dashboard and redraws what changed.
func (o *overview) apply(ctx app.Context, batch []live.Event, stale bool, since time.Time) {
	seq, wasDown := o.dash.seq, o.dash.state == live.Reconnecting
	for _, ev := range batch {
		o.dash.apply(ev)
	}
	if wasDown && o.dash.state == live.Connected {
		// The server is back, perhaps a new deployment: ask the service
		// worker to look for a new version now rather than on the next
		// navigation, so that the reload prompt comes soon.
		if f := app.Window().Get("goappTryUpdate"); f.Truthy() {
			app.Window().Call("goappTryUpdate")
		}
	}
	if o.dash.state == live.Connected {
		o.dash.polling = false
	}
	o.dash.stale, o.dash.staleSince = stale, since
	if o.dash.seq != seq {
		// Mirrored on <body> too, for tests that look there.
		app.Window().Get("document").Get("body").Call("setAttribute", "data-seq", strconv.FormatUint(o.dash.seq, 10))
	}
	o.drawCharts(ctx)
	// Saved for an offline reload after drawing: encoding the snapshot
	// takes tens of milliseconds in wasm, which the first chart need not
	// wait for.
	if o.dash.seq != seq && !o.dash.restored {
		save(o.dash.saved(time.Now()))
	}
}

// drawCharts draws the charts whose data changed. When ECharts is not loaded
// yet it tries again shortly, so the first snapshot shows without waiting for
// the next window. While paused it draws nothing: the dirty flags stay set
// and resume draws.
func (o *overview) drawCharts(ctx app.Context) {
	if o.paused {
		return
	}
	ready := true
	draw := func(p *painter, build func() ([]byte, error)) bool {
		opt, err := build()
		switch {
		case err != nil:
			o.dash.lastErr = err.Error()
			return true
		case p.draw(opt, o.dark):
			return true
		default:
			ready = false
			return false
		}
	}
	if o.dash.fleetDirty {
		rows := o.dash.fleetSince(time.Duration(o.rangeOrDefault()) * time.Minute)
		if draw(&o.fleetChart, func() ([]byte, error) { return chart.FleetSpeed(rows) }) {
			o.dash.fleetDirty = false
		}
	}
	if o.dash.vehiclesDirty {
		v := o.dash.vehicles
		done := draw(&o.fastestChart, func() ([]byte, error) { return chart.Fastest(v, fastestN) })
		moving, _ := splitStopped(v)
		done = draw(&o.slowestChart, func() ([]byte, error) { return chart.Slowest(moving, fastestN) }) && done
		done = draw(&o.histogramChart, func() ([]byte, error) { return chart.Histogram(v, histogramBinKPH) }) && done
		aspect := o.mapChart.aspect()
		done = draw(&o.mapChart, func() ([]byte, error) { return chart.Map(o.dash.mapTrails(), aspect) }) && done
		if done {
			o.dash.vehiclesDirty = false
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

// rangeOrDefault is the fleet chart's range in minutes: 60 until chosen.
func (o *overview) rangeOrDefault() int {
	if o.rangeMin <= 0 {
		return ranges[len(ranges)-1]
	}
	return o.rangeMin
}

// togglePause freezes or unfreezes the page; resuming draws what came
// meanwhile.
func (o *overview) togglePause(ctx app.Context) {
	o.paused = !o.paused
	if o.paused {
		o.frozen = o.dash
		o.frozen.fleet = append([]telemetry.FleetRow(nil), o.dash.fleet...)
		return
	}
	o.frozen = dashboard{}
	o.dash.fleetDirty, o.dash.vehiclesDirty = true, true
	o.drawCharts(ctx)
}

// view is the data the page shows: the live dashboard, or the frozen copy
// while paused.
func (o *overview) view() *dashboard {
	if o.paused {
		return &o.frozen
	}
	return &o.dash
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
			for _, p := range o.painters() {
				p.dispose()
			}
			o.dash.fleetDirty, o.dash.vehiclesDirty = true, true
			o.drawCharts(ctx)
		})
		return nil
	})
	mq.Call("addEventListener", "change", o.onSchemeChange)
}

// Render draws the page from the dashboard (the frozen copy while paused;
// the connection indicator always shows the live state).
func (o *overview) Render() app.UI {
	now := &o.dash
	d := o.view()
	st := now.status()
	banner := now.banner(time.Now())
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
	eps := "—"
	if v, ok := d.eventsPerSecond(); ok {
		eps = formatFloat(v, 1)
	}

	windowText := "Waiting for the first window…"
	if haveRow {
		windowText = "Latest window " + formatClock(last.WindowStart) + "–" + formatClock(last.WindowEnd) + " UTC"
	}
	pauseText := "Pause"
	if o.paused {
		pauseText = "Resume"
		if n := now.seq - d.seq; now.seq > d.seq {
			pauseText += " (" + strconv.FormatUint(n, 10) + " new)"
		}
	}

	return app.Div().ID(idRoot).Class("fp").
		DataSet("seq", d.seq).
		DataSet("status", string(st)).
		DataSet("paused", o.paused).
		Body(
			// Both banners are always in the tree, hidden when empty: an
			// element appearing before the others would make go-app
			// replace every sibling after it, charts included.
			app.Div().Class("fp-update").Role("status").Hidden(!o.updateAvailable).Body(
				app.Span().Text("A new version of FleetPulse is ready."),
				app.Button().Class("fp-update-btn").Type("button").Text("Reload").
					OnClick(func(ctx app.Context, e app.Event) { ctx.Reload() }),
			),
			app.Div().ID(idOffline).Class("fp-offline").Role("status").Hidden(banner == "").Body(
				app.Span().Class("fp-offline-icon").Aria("hidden", "true").Text("⚠"),
				app.Span().Class("fp-offline-text").Text(banner),
			),
			app.Header().Class("fp-header").Body(
				app.Div().Class("fp-brand").Body(
					app.Img().Class("fp-logo").Src("/web/icon.svg").Alt("").Aria("hidden", true).Width(40).Height(40),
					app.Div().Body(
						app.H1().Class("fp-title").Text("FleetPulse"),
						app.P().Class("fp-tagline").Text("Live fleet overview"),
					),
				),
				app.Div().Class("fp-controls").Body(
					app.Button().ID(idPause).Class("fp-btn").Type("button").
						Aria("pressed", o.paused).
						Text(pauseText).
						OnClick(func(ctx app.Context, e app.Event) { o.togglePause(ctx) }),
					app.Div().ID(idConn).Class("fp-conn", "fp-conn--"+string(st)).
						Role("status").Aria("live", "polite").
						DataSet("state", string(st)).
						Title(now.statusDetail()).
						Body(
							app.Span().Class("fp-conn-dot").Aria("hidden", "true"),
							app.Span().Class("fp-conn-text").Text(now.statusText()),
						),
				),
			),
			app.Main().Class("fp-main").Body(
				app.P().ID(idWindow).Class("fp-window").Body(
					app.Span().Text(windowText),
					app.If(d.seq > 0, func() app.UI {
						return app.Span().Class("fp-seq").Text("seq " + strconv.FormatUint(d.seq, 10))
					}),
					app.If(o.paused, func() app.UI {
						return app.Span().Class("fp-paused").Text("Paused")
					}),
				),
				app.Section().Class("fp-kpis").Aria("label", "Latest window").Body(
					kpi(idKPIVehicles, "Vehicles active", num(last.VehiclesActive), ""),
					kpi(idKPIEvents, "Events", num(last.Events), ""),
					kpi(idKPIEventsPerSec, "Events/s", eps, "/s"),
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
					app.Section().Class("fp-panel", "fp-panel--wide").Aria("labelledby", idChartFleet+"-title").Body(
						app.Div().Class("fp-panel-head").Body(
							app.Div().Body(
								app.H2().ID(idChartFleet+"-title").Class("fp-panel-title").Text("Fleet speed"),
								app.P().Class("fp-panel-sub").Text("Average and maximum per window (km/h, UTC)"),
							),
							o.rangeSelector(),
						),
						chartBox(idChartFleet, "Fleet speed", "", len(d.fleet) == 0),
					),
					panel("Speed distribution", "Vehicles by average speed, latest window ("+strconv.Itoa(histogramBinKPH)+" km/h bins)",
						idChartHistogram, "", len(d.vehicles) == 0),
					panel("Live map", "Latest positions with a trail of the last "+strconv.Itoa(trailLen)+" windows (lon/lat, no base map)",
						idChartMap, "fp-panel--wide fp-panel--map", len(d.vehicles) == 0),
					app.Div().Class("fp-stack").Body(
						panel("Fastest vehicles", "Top "+strconv.Itoa(fastestN)+" by average speed, latest window",
							idChartFastest, "", len(d.vehicles) == 0),
						panel("Slowest moving vehicles", slowestSubtitle(d.vehicles),
							idChartSlowest, "", len(d.vehicles) == 0),
					),
				),
				o.fleetTable(d.vehicles),
			),
			app.Footer().Class("fp-footer").Body(
				app.Span().Text("Times in UTC. Download: "),
				app.A().Href("/data?format=csv").Attr("download", "latest_metrics.csv").Text("latest vehicles (CSV)"),
				app.Span().Text(" · "),
				app.A().Href("/data/fleet?format=csv").Attr("download", "fleet_metrics.csv").Text("fleet windows (CSV)"),
			),
		)
}

// loadSaved reads the snapshot an earlier visit saved in localStorage; a
// damaged or outdated one is removed.
func loadSaved() (snap offline.Snapshot, ok bool) {
	defer func() {
		if recover() != nil { // storage disabled: the page starts empty
			ok = false
		}
	}()
	ls := app.Window().Get("localStorage")
	if !ls.Truthy() {
		return offline.Snapshot{}, false
	}
	v := ls.Call("getItem", offline.Key)
	if !v.Truthy() {
		return offline.Snapshot{}, false
	}
	snap, err := offline.Decode([]byte(v.String()))
	if err != nil {
		ls.Call("removeItem", offline.Key)
		return offline.Snapshot{}, false
	}
	return snap, true
}

// save keeps s in localStorage for an offline reload. A full quota or
// disabled storage only loses that: localStorage throws, which syscall/js
// turns into a panic, recovered here.
func save(s offline.Snapshot) {
	if !app.IsClient {
		return
	}
	defer func() { _ = recover() }()
	b, err := offline.Encode(s, offline.DefaultMaxBytes)
	if err != nil {
		return
	}
	if ls := app.Window().Get("localStorage"); ls.Truthy() {
		ls.Call("setItem", offline.Key, string(b))
	}
}

// rangeSelector is the fleet chart's 5/15/60 minute choice, a group of
// toggle buttons.
func (o *overview) rangeSelector() app.UI {
	cur := o.rangeOrDefault()
	return app.Div().ID(idRange).Class("fp-range").Role("group").Aria("label", "Time range").Body(
		app.Range(ranges).Slice(func(i int) app.UI {
			m := ranges[i]
			return app.Button().Type("button").Class("fp-range-btn").
				DataSet("minutes", m).
				Aria("pressed", m == cur).
				Text(strconv.Itoa(m) + " min").
				OnClick(func(ctx app.Context, e app.Event) {
					o.rangeMin = m
					o.dash.fleetDirty = true
					o.drawCharts(ctx)
				})
		}),
	)
}

// tableColumns are the fleet table's columns, in order.
var tableColumns = []struct {
	col     column
	label   string
	numeric bool
}{
	{colVehicle, "Vehicle", false},
	{colEvents, "Events", true},
	{colAvgSpeed, "Avg km/h", true},
	{colMaxSpeed, "Max km/h", true},
	{colDistance, "Distance km", true},
	{colLastTS, "Last seen (UTC)", false},
}

// fleetTable renders one page of the latest window's vehicles, with a
// filter box, sortable headers (buttons, so they are keyboard reachable) and
// a pager.
func (o *overview) fleetTable(rows []telemetry.VehicleRow) app.UI {
	p := o.tablePage(rows)
	by := o.table.sortBy
	if by == "" {
		by = colVehicle
	}
	summary := formatInt(int64(p.matched)) + " of " + formatInt(int64(len(rows))) + " vehicles"
	if p.pages > 1 {
		summary += " · page " + strconv.Itoa(p.page+1) + " of " + strconv.Itoa(p.pages)
	}
	return app.Section().ID(idFleetTable).Class("fp-panel", "fp-table-panel").Aria("labelledby", idFleetTable+"-title").
		DataSet("rows", len(p.rows)).DataSet("matched", p.matched).
		Body(
			app.Div().Class("fp-panel-head").Body(
				app.Div().Body(
					app.H2().ID(idFleetTable+"-title").Class("fp-panel-title").Text("Fleet"),
					app.P().Class("fp-panel-sub").Text("Vehicles of the latest window. "+summary),
				),
				app.Input().ID(idFleetFilter).Class("fp-filter").Type("search").
					Placeholder("Filter by vehicle id").Aria("label", "Filter by vehicle id").
					Value(o.table.filter).
					OnInput(func(ctx app.Context, e app.Event) {
						o.table.filter = ctx.JSSrc().Get("value").String()
						o.table.page = 0
					}),
			),
			app.Div().Class("fp-table-wrap").Body(
				app.Table().Class("fp-table").Body(
					app.THead().Body(app.Tr().Body(
						app.Range(tableColumns).Slice(func(i int) app.UI {
							c := tableColumns[i]
							sort := "none"
							arrow := ""
							if c.col == by {
								sort, arrow = "ascending", " ▲"
								if o.table.desc {
									sort, arrow = "descending", " ▼"
								}
							}
							th := app.Th().Scope("col").Aria("sort", sort)
							if c.numeric {
								th = th.Class("fp-num")
							}
							return th.Body(app.Button().Type("button").Class("fp-sort").
								DataSet("col", string(c.col)).
								Text(c.label + arrow).
								OnClick(func(ctx app.Context, e app.Event) { o.table = o.table.toggle(c.col) }))
						}),
					)),
					app.TBody().Body(
						app.Range(p.rows).Slice(func(i int) app.UI {
							r := p.rows[i]
							return app.Tr().Body(
								app.Td().Body(app.A().Class("fp-vlink").Href(vehiclePath(r.VehicleID)).Text(r.VehicleID)),
								app.Td().Class("fp-num").Text(formatInt(r.Events)),
								app.Td().Class("fp-num").Text(formatFloat(r.AvgSpeedKPH, 1)),
								app.Td().Class("fp-num").Text(formatFloat(r.MaxSpeedKPH, 1)),
								app.Td().Class("fp-num").Text(formatFloat(r.DistanceKM, 3)),
								app.Td().Text(formatClock(r.LastTS)),
							)
						}),
					),
				),
			),
			app.If(p.pages > 1, func() app.UI {
				return app.Nav().Class("fp-pager").Aria("label", "Fleet table pages").Body(
					app.Button().Type("button").Class("fp-btn").Text("‹ Previous").Disabled(p.page == 0).
						OnClick(func(ctx app.Context, e app.Event) { o.table.page = p.page - 1 }),
					app.Span().Text("Page "+strconv.Itoa(p.page+1)+" of "+strconv.Itoa(p.pages)),
					app.Button().Type("button").Class("fp-btn").Text("Next ›").Disabled(p.page >= p.pages-1).
						OnClick(func(ctx app.Context, e app.Event) { o.table.page = p.page + 1 }),
				)
			}),
			app.If(len(rows) == 0, func() app.UI {
				return app.P().Class("fp-table-empty").Text("Waiting for data…")
			}),
		)
}

// tablePage returns query(rows, o.table), from the cache when neither the
// rows (a new window replaces the slice) nor the query changed.
func (o *overview) tablePage(rows []telemetry.VehicleRow) tablePage {
	c := &o.tableCache
	same := c.ok && c.q == o.table && len(c.rows) == len(rows) && (len(rows) == 0 || &c.rows[0] == &rows[0])
	if !same {
		c.rows, c.q, c.page, c.ok = rows, o.table, query(rows, o.table), true
	}
	return c.page
}

// vehiclePath is the vehicle view's address.
func vehiclePath(id string) string {
	return "/vehicle/" + url.PathEscape(id)
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
		chartBox(chartID, title, "", empty),
	)
}

// chartBox is the element ECharts draws into, with a placeholder while
// there is no data.
func chartBox(chartID, title, extra string, empty bool) app.UI {
	return app.Div().Class("fp-chart-wrap").Body(
		app.Div().ID(chartID).Class("fp-chart", extra).Role("img").Aria("label", title+" chart"),
		app.If(empty, func() app.UI {
			return app.P().Class("fp-chart-empty").Text("Waiting for data…")
		}),
	)
}
