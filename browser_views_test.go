package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// seriesLen is a JS expression: the data length of series i of the ECharts
// chart in the element with id, or 0.
func seriesLen(id string, i int) string {
	return `(() => { const e = document.getElementById('` + id + `'); const c = e && window.echarts && echarts.getInstanceByDom(e); if (!c) return 0; const s = c.getOption().series; return s && s[` + strconv.Itoa(i) + `] && s[` + strconv.Itoa(i) + `].data ? s[` + strconv.Itoa(i) + `].data.length : 0; })()`
}

func TestViewsInBrowser(t *testing.T) {
	ctx := newBrowser(t, 1280, 1600)
	s := startServer(t, "-vehicles", "12", "-rate", "5")
	if err := chromedp.Do(ctx, chromedp.Navigate(s.url)); err != nil {
		t.Fatalf("open %s: %v", s.url, err)
	}

	// The map shows every vehicle's position.
	if n := poll[int](t, ctx, "points on the map", seriesLen("chart-map", 0)+` >= 12 ? `+seriesLen("chart-map", 0)+` : 0`); n != 12 {
		t.Errorf("map shows %d positions, want 12", n)
	}
	poll[bool](t, ctx, "the slowest and histogram charts", seriesLen("chart-slowest", 0)+` > 0 && `+seriesLen("chart-histogram", 0)+` > 0`)
	eps := poll[string](t, ctx, "events per second", `(() => { const e = document.getElementById('kpi-events-per-sec'); return e && /\d/.test(e.textContent) ? e.textContent : ''; })()`)
	if !strings.Contains(eps, "/s") {
		t.Errorf("events/s tile %q has no unit", eps)
	}

	// The fleet table lists the vehicles; a header button sorts it and the
	// filter narrows it.
	if n := poll[int](t, ctx, "vehicles in the fleet table", `document.querySelectorAll('#fleet-table tbody a[href^="/vehicle/"]').length`); n != 12 {
		t.Errorf("fleet table lists %d vehicles, want 12", n)
	}
	poll[bool](t, ctx, "sorting by max speed", `(() => { document.querySelector('#fleet-table button[data-col="max_speed_kmh"]').click(); return true; })()`)
	poll[bool](t, ctx, "the table sorted descending", `document.querySelector('#fleet-table th[aria-sort="descending"] button[data-col="max_speed_kmh"]') !== null`)
	first := poll[string](t, ctx, "the first vehicle's id", `(() => { const a = document.querySelector('#fleet-table tbody a'); return a ? a.textContent : ''; })()`)
	if err := chromedp.Do(ctx, chromedp.SendKeys("#fleet-filter", first)); err != nil {
		t.Fatalf("type into the filter: %v", err)
	}
	poll[bool](t, ctx, "the filter to narrow the table", `document.querySelectorAll('#fleet-table tbody tr').length >= 1 && [...document.querySelectorAll('#fleet-table tbody a')].every(a => a.textContent.includes('`+first+`'))`)
	screenshot(t, ctx, "overview.png")

	// Pause freezes the page while windows keep coming; resume shows them.
	seq := poll[string](t, ctx, "pausing", `(() => { document.getElementById('pause').click(); return document.querySelector('#fleetpulse').getAttribute('data-seq'); })()`)
	poll[bool](t, ctx, "windows buffered while paused", `/new\)/.test(document.getElementById('pause').textContent) && document.querySelector('#fleetpulse').getAttribute('data-seq') === '`+seq+`'`)
	poll[bool](t, ctx, "resuming", `(() => { document.getElementById('pause').click(); return true; })()`)
	poll[bool](t, ctx, "the newer seq after resuming", `Number(document.querySelector('#fleetpulse').getAttribute('data-seq')) > `+seq)
	poll[bool](t, ctx, "the 5 minute range", `(() => { document.querySelector('#range button[data-minutes="5"]').click(); return document.querySelector('#range button[data-minutes="5"]').getAttribute('aria-pressed') === 'true'; })()`)

	// Clicking a row's link opens the vehicle view, whose charts have data.
	if err := chromedp.Do(ctx, chromedp.Click(`#fleet-table tbody a`)); err != nil {
		t.Fatalf("click the vehicle link: %v", err)
	}
	poll[bool](t, ctx, "the vehicle view", `location.pathname === '/vehicle/`+first+`' && !!document.getElementById('vehicle-speed')`)
	if n := poll[int](t, ctx, "points in the vehicle speed chart", seriesLen("vehicle-speed", 0)); n < 1 {
		t.Errorf("vehicle speed chart has %d points", n)
	}
	poll[bool](t, ctx, "the track and the rows", seriesLen("vehicle-track", 1)+` > 0 && document.querySelectorAll('#vehicle-rows tbody tr').length > 0`)
	screenshot(t, ctx, "vehicle.png")

	// The route works on reload too: the server knows it.
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	poll[int](t, ctx, "the vehicle speed chart after a reload", seriesLen("vehicle-speed", 0))
}
