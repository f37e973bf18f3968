package ui

import "github.com/maxence-charriere/go-app/v10/pkg/app"

// painter draws one ECharts chart into the element with its id. It holds the
// ECharts instance, a JS handle, so it lives in an unexported field and is
// used on the UI goroutine only. Natively every call is a no-op.
type painter struct {
	id   string
	inst app.Value
}

// draw sets option, an ECharts option as JSON, on the chart, creating the
// chart on first use with the light or dark theme. It returns false when it
// could not draw yet: ECharts loads deferred and may not be defined when the
// first data arrives, so the caller retries later.
func (p *painter) draw(option []byte, dark bool) bool {
	ec := app.Window().Get("echarts")
	if !ec.Truthy() {
		return false
	}
	if p.inst != nil && !p.inst.Call("getDom").Get("isConnected").Truthy() {
		// go-app replaced the element (a sibling appeared before it): the
		// chart must be created again in the new one.
		p.dispose()
	}
	if p.inst == nil {
		elem := app.Window().GetElementByID(p.id)
		if !elem.Truthy() {
			return false
		}
		var theme any // null: ECharts' light default
		if dark {
			theme = "dark"
		}
		if old := ec.Call("getInstanceByDom", elem); old.Truthy() {
			jsFunc(&disposeFunc, disposeJS).Invoke(old)
		}
		p.inst = ec.Call("init", elem, theme)
		// The window's resize event misses a container that changes
		// size on its own (a scrollbar appearing, a card reflowing on a
		// phone): follow the element itself.
		jsFunc(&observeFunc, observeJS).Invoke(p.inst)
	}
	// A JSON string crosses into JS cheaply; JSON.parse beats decoding in Go,
	// and typed Go slices cannot be passed to Call at all.
	mode := jsFunc(&setOptionFunc, setOptionJS, "text").Invoke(p.inst, string(option)).String()
	p.inst.Call("getDom").Call("setAttribute", "data-merge", mode)
	if !firstChartMarked {
		// For measuring: the time from navigation to the first chart
		// drawn, read with performance.getEntriesByName(FirstChartMark).
		firstChartMarked = true
		if perf := app.Window().Get("performance"); perf.Truthy() && perf.Get("mark").Truthy() {
			perf.Call("mark", FirstChartMark)
		}
	}
	return true
}

// setOptionJS sets an option on a chart: the full option the first time
// (and whenever the number of series changes), then only what changes from
// draw to draw: the series' data and symbol size and the axes' data and
// range. ECharts then updates the data instead of rebuilding every
// component. It returns "full" or "data".
const setOptionJS = `
const o = JSON.parse(text);
const series = o.series || [];
if (chart.__fpFull && chart.__fpSeries === series.length) {
  const pick = (a, keys) => { const r = {}; for (const k of keys) if (a && a[k] !== undefined) r[k] = a[k]; return r; };
  const axes = (v) => (v === undefined ? undefined : (Array.isArray(v) ? v : [v]).map((a) => pick(a, ["data", "min", "max"])));
  const m = { series: series.map((s) => pick(s, ["data", "symbolSize"])) };
  const x = axes(o.xAxis), y = axes(o.yAxis);
  if (x) m.xAxis = x;
  if (y) m.yAxis = y;
  chart.setOption(m);
  return "data";
}
chart.setOption(o, { notMerge: true });
chart.__fpFull = true;
chart.__fpSeries = series.length;
return "full";
`

// observeJS resizes a chart whenever its element changes size; dispose
// stops it.
const observeJS = `
if (typeof ResizeObserver === "undefined") return;
chart.__fpRO = new ResizeObserver(() => chart.resize());
chart.__fpRO.observe(chart.getDom());
`

// disposeJS stops observing a chart's element and frees the chart.
const disposeJS = `
if (chart.__fpRO) chart.__fpRO.disconnect();
chart.dispose();
`

// The JS functions above, made on first use; UI goroutine only.
var setOptionFunc, observeFunc, disposeFunc app.Value

// jsFunc returns *fn, first making it from body: a JS function of chart
// and params.
func jsFunc(fn *app.Value, body string, params ...string) app.Value {
	if *fn == nil {
		args := append([]any{"chart"}, anys(params)...)
		*fn = app.Window().Get("Function").New(append(args, body)...)
	}
	return *fn
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// FirstChartMark names the performance mark set when the page draws its
// first chart.
const FirstChartMark = "fleetpulse:first-chart"

// firstChartMarked is set once the mark is made; UI goroutine only.
var firstChartMarked bool

// resize fits the chart to its container.
func (p *painter) resize() {
	if p.inst != nil {
		p.inst.Call("resize")
	}
}

// dispose frees the chart; the next draw creates it again.
func (p *painter) dispose() {
	if p.inst != nil {
		jsFunc(&disposeFunc, disposeJS).Invoke(p.inst)
		p.inst = nil
	}
}

// aspect returns the chart element's width over its height, or 1.6 when it
// has no size yet (natively, or before layout).
func (p *painter) aspect() float64 {
	elem := app.Window().GetElementByID(p.id)
	if !elem.Truthy() {
		return 1.6
	}
	w, h := elem.Get("clientWidth").Float(), elem.Get("clientHeight").Float()
	if w <= 0 || h <= 0 {
		return 1.6
	}
	return w / h
}
