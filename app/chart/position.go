package chart

import (
	"cmp"
	"math"
	"slices"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
	"github.com/go-echarts/go-echarts/v2/types"
)

// Colours of the position charts.
const (
	colorPosition = "#2f7ed8"
	colorTrail    = "#7f9cc0"
)

// MaxTrails bounds how many vehicles' trails Map draws: beyond it only the
// positions are drawn, so a 10,000-vehicle fleet stays one cheap scatter
// instead of 100,000 line points redrawn per window.
const MaxTrails = 1000

// Point is a position in degrees.
type Point struct {
	Lat, Lon float64
}

// Trail is one vehicle's recent positions, oldest first; the last one is
// where it is now.
type Trail struct {
	VehicleID string
	Points    []Point
}

// Map returns the option of a position map without a base map (no tiles, it
// works offline): the current position of every vehicle as a scatter on a
// longitude/latitude value grid, and the trails of up to MaxTrails vehicles
// (those with the smallest ids) as one line series broken between vehicles.
// aspect is the plot's width over its height; the axis ranges are widened so
// that a kilometre east spans as many pixels as a kilometre north at the
// fleet's mean latitude. Trails without points are skipped.
func Map(trails []Trail, aspect float64) ([]byte, error) {
	now := make([]opts.ScatterData, 0, len(trails))
	var all []Point
	for _, t := range trails {
		if len(t.Points) == 0 {
			continue
		}
		p := t.Points[len(t.Points)-1]
		now = append(now, opts.ScatterData{Name: t.VehicleID, Value: []float64{round5(p.Lon), round5(p.Lat)}})
		all = append(all, t.Points...)
	}
	drawn := slices.Clone(trails)
	slices.SortFunc(drawn, func(a, b Trail) int { return cmp.Compare(a.VehicleID, b.VehicleID) })
	drawn = drawn[:min(len(drawn), MaxTrails)]
	var line []opts.LineData
	for _, t := range drawn {
		if len(t.Points) < 2 {
			continue
		}
		if len(line) > 0 {
			// "-" is ECharts' empty value: the line breaks between vehicles.
			line = append(line, opts.LineData{Value: []any{"-", "-"}})
		}
		for _, p := range t.Points {
			line = append(line, opts.LineData{Value: []float64{round5(p.Lon), round5(p.Lat)}})
		}
	}

	c := positionChart(all, aspect, "Vehicle {b}<br/>lon, lat: {c}")
	c.AddSeries("Position", now, charts.WithItemStyleOpts(opts.ItemStyle{Color: colorPosition, Opacity: opts.Float(0.85)}),
		charts.WithScatterChartOpts(opts.ScatterChart{SymbolSize: symbolSize(len(now))}))
	trailLine := charts.NewLine()
	trailLine.AddSeries("Trail", line,
		charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(false), ConnectNulls: opts.Bool(false)}),
		charts.WithLineStyleOpts(opts.LineStyle{Color: colorTrail, Width: 2, Opacity: opts.Float(0.8)}),
		charts.WithItemStyleOpts(opts.ItemStyle{Color: colorTrail}),
	)
	c.Overlap(trailLine)
	c.Validate()
	return encode(c.JSON())
}

// symbolSize is the size in pixels of a position dot: smaller for bigger
// fleets, so that thousands of vehicles do not cover the plot.
func symbolSize(n int) int {
	switch {
	case n <= 200:
		return 10
	case n <= 2000:
		return 6
	default:
		return 3
	}
}

// Track returns the option of one vehicle's track: its positions as a line,
// oldest first, with the latest position marked. aspect is as for Map.
func Track(points []Point, aspect float64) ([]byte, error) {
	line := make([]opts.LineData, len(points))
	for i, p := range points {
		line[i] = opts.LineData{Value: []float64{round5(p.Lon), round5(p.Lat)}}
	}
	var last []opts.ScatterData
	if n := len(points); n > 0 {
		last = []opts.ScatterData{{Name: "latest", Value: []float64{round5(points[n-1].Lon), round5(points[n-1].Lat)}}}
	}
	c := positionChart(points, aspect, "{b}<br/>lon, lat: {c}")
	c.AddSeries("Latest position", last, charts.WithItemStyleOpts(opts.ItemStyle{Color: colorMax}))
	track := charts.NewLine()
	track.AddSeries("Track", line,
		charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(len(points) <= 60), Symbol: "circle"}),
		charts.WithLineStyleOpts(opts.LineStyle{Color: colorPosition, Width: 2}),
		charts.WithItemStyleOpts(opts.ItemStyle{Color: colorPosition}),
	)
	c.Overlap(track)
	c.Validate()
	return encode(c.JSON())
}

// positionChart is a scatter chart whose value axes are longitude (x) and
// latitude (y), ranged to hold points at an equal scale.
func positionChart(points []Point, aspect float64, tooltip string) *charts.Scatter {
	b := boundsOf(points, aspect)
	split := &opts.SplitLine{Show: opts.Bool(true), LineStyle: &opts.LineStyle{Opacity: opts.Float(0.25)}}
	c := charts.NewScatter()
	c.SetGlobalOptions(
		transparent,
		charts.WithAnimation(false),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(false)}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "item", Formatter: types.FuncStr(tooltip)}),
		// Right leaves room for the x-axis name after the axis' end.
		charts.WithGridOpts(opts.Grid{Left: "8", Right: "44", Top: "28", Bottom: "8", ContainLabel: opts.Bool(true)}),
		// The ranges end at odd values (they keep the scale equal): label
		// only the round ticks between them.
		charts.WithXAxisOpts(opts.XAxis{Type: "value", Name: "lon", Min: b.minLon, Max: b.maxLon, SplitLine: split,
			AxisLabel: &opts.AxisLabel{HideOverlap: opts.Bool(true), ShowMinLabel: opts.Bool(false), ShowMaxLabel: opts.Bool(false)}}),
		charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: "lat", Min: b.minLat, Max: b.maxLat, SplitLine: split,
			AxisLabel: &opts.AxisLabel{ShowMinLabel: opts.Bool(false), ShowMaxLabel: opts.Bool(false)}}),
	)
	return c
}

type bounds struct {
	minLat, maxLat, minLon, maxLon float64
}

// boundsOf returns axis ranges that hold points with a margin and give a
// plot of width/height aspect an equal east-west and north-south scale at
// the points' mid latitude. No points give a small box around 0, 0.
func boundsOf(points []Point, aspect float64) bounds {
	if aspect <= 0 || math.IsNaN(aspect) || math.IsInf(aspect, 0) {
		aspect = 1
	}
	if len(points) == 0 {
		return bounds{-1, 1, -aspect, aspect}
	}
	b := bounds{math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)}
	for _, p := range points {
		b.minLat, b.maxLat = min(b.minLat, p.Lat), max(b.maxLat, p.Lat)
		b.minLon, b.maxLon = min(b.minLon, p.Lon), max(b.maxLon, p.Lon)
	}
	midLat, midLon := (b.minLat+b.maxLat)/2, (b.minLon+b.maxLon)/2
	// Degrees of longitude shrink with the cosine of the latitude.
	k := max(math.Cos(midLat*math.Pi/180), 0.05)
	// Half spans in north-south degrees, with a 10% margin and at least
	// about 100 m so that one vehicle still gets a box.
	halfLat := max((b.maxLat-b.minLat)/2, (b.maxLon-b.minLon)/2*k/aspect, 0.001) * 1.1
	halfLon := halfLat * aspect / k
	return bounds{
		minLat: round5(midLat - halfLat), maxLat: round5(midLat + halfLat),
		minLon: round5(midLon - halfLon), maxLon: round5(midLon + halfLon),
	}
}

// round5 rounds degrees to 5 decimals, about a metre.
func round5(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return math.Round(f*1e5) / 1e5
}
