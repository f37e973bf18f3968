// Package chart turns telemetry rows into ECharts option JSON with go-echarts.
//
// It touches no DOM and no clock, so it runs and is tested natively; the
// browser hands the bytes to echarts' setOption. Every function validates its
// chart before encoding: go-echarts only copies the x-axis labels into the
// option in Validate, so skipping it yields a chart with an empty axis.
// Timestamps are labelled in UTC, like every other time in FleetPulse.
package chart

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"

	"fleetpulse/shared/telemetry"
)

// Series colours, chosen to read on both the light and the dark page.
const (
	colorAvg     = "#2f7ed8"
	colorMax     = "#e8743b"
	colorFastest = "#2a9d8f"
)

// transparent lets the page's card show through, in the light theme and in
// ECharts' dark one, whose own background would clash with the page.
var transparent = charts.WithInitializationOpts(opts.Initialization{BackgroundColor: "transparent"})

// TimeLabel is the layout of the window_end labels on the fleet chart's
// x-axis (UTC).
const TimeLabel = "15:04:05"

// FleetSpeed returns the option of a line chart of the fleet's average and
// maximum speed (km/h) per window, labelled by window_end in UTC. rows are
// plotted in the order given, which for fleet rows is oldest first. No rows
// give a valid chart with no points.
func FleetSpeed(rows []telemetry.FleetRow) ([]byte, error) {
	labels := make([]string, len(rows))
	avg := make([]opts.LineData, len(rows))
	peak := make([]opts.LineData, len(rows))
	for i := range rows {
		labels[i] = rows[i].WindowEnd.UTC().Format(TimeLabel)
		avg[i] = opts.LineData{Value: round2(rows[i].AvgSpeedKPH)}
		peak[i] = opts.LineData{Value: round2(rows[i].MaxSpeedKPH)}
	}

	c := charts.NewLine()
	c.SetGlobalOptions(
		transparent,
		charts.WithAnimation(false),
		charts.WithColorsOpts(opts.Colors{colorAvg, colorMax}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Top: "0", Left: "center"}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		// Right leaves room for half of the last time label.
		charts.WithGridOpts(opts.Grid{Left: "8", Right: "32", Top: "36", Bottom: "8", ContainLabel: opts.Bool(true)}),
		charts.WithXAxisOpts(opts.XAxis{
			Type:      "category",
			AxisLabel: &opts.AxisLabel{HideOverlap: opts.Bool(true)},
		}),
		charts.WithYAxisOpts(opts.YAxis{
			Type:      "value",
			Name:      "km/h",
			Min:       0,
			SplitLine: &opts.SplitLine{Show: opts.Bool(true), LineStyle: &opts.LineStyle{Opacity: opts.Float(0.35)}},
		}),
	)
	// Dots help while the series is short; on a long one they are clutter.
	line := charts.WithLineChartOpts(opts.LineChart{ShowSymbol: opts.Bool(len(rows) <= 30), Symbol: "circle"})
	c.Accept(tightXAxis{})
	c.SetXAxis(labels).
		AddSeries("Average", avg, line, charts.WithAreaStyleOpts(opts.AreaStyle{Opacity: opts.Float(0.12)})).
		AddSeries("Max", peak, line, charts.WithLineStyleOpts(opts.LineStyle{Width: 1.5}))
	c.Validate()
	return encode(c.JSON())
}

// Fastest returns the option of a horizontal bar chart of the n vehicles with
// the highest avg_speed_kmh in the latest window among rows (the rows with the
// greatest window_end), fastest on top. Ties go to the smaller vehicle id. n
// must be positive.
func Fastest(rows []telemetry.VehicleRow, n int) ([]byte, error) {
	if n <= 0 {
		return nil, fmt.Errorf("fastest: n must be positive, got %d", n)
	}
	return speedBars(topByAvgSpeed(rows, n), colorFastest)
}

// speedBars is the horizontal bar chart of Fastest and Slowest: rows' average
// speeds, the first row on top.
func speedBars(top []telemetry.VehicleRow, color string) ([]byte, error) {
	ids := make([]string, len(top))
	speeds := make([]opts.BarData, len(top))
	for i := range top {
		ids[i] = top[i].VehicleID
		// One decimal, as the tiles and the table show speeds.
		speeds[i] = opts.BarData{Value: round1(top[i].AvgSpeedKPH)}
	}

	c := charts.NewBar()
	c.SetGlobalOptions(
		transparent,
		charts.WithAnimation(false),
		charts.WithColorsOpts(opts.Colors{color}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(false)}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		charts.WithGridOpts(opts.Grid{Left: "8", Right: "48", Top: "8", Bottom: "8", ContainLabel: opts.Bool(true)}),
		charts.WithXAxisOpts(opts.XAxis{
			Type:      "value",
			Name:      "km/h",
			Min:       0,
			SplitLine: &opts.SplitLine{Show: opts.Bool(true), LineStyle: &opts.LineStyle{Opacity: opts.Float(0.35)}},
		}),
		charts.WithYAxisOpts(opts.YAxis{
			Type:    "category",
			Inverse: opts.Bool(true),
		}),
	)
	c.SetXAxis(ids).
		AddSeries("Average speed", speeds,
			charts.WithBarChartOpts(opts.BarChart{BarCategoryGap: "35%"}),
			charts.WithLabelOpts(opts.Label{Show: opts.Bool(true), Position: "right", Formatter: "{c}"}),
		)
	c.XYReversal()
	c.Validate()
	return encode(c.JSON())
}

// tightXAxis makes the line chart's category axis start and end at the
// first and last point (ECharts' boundaryGap, which go-echarts' XAxis lacks).
type tightXAxis struct {
	charts.BaseConfigurationVisitor
}

func (tightXAxis) VisitXAxis(axes []opts.XAxis) any {
	type tight struct {
		opts.XAxis
		BoundaryGap bool `json:"boundaryGap"`
	}
	out := make([]tight, len(axes))
	for i := range axes {
		out[i] = tight{XAxis: axes[i]}
	}
	return out
}

// topByAvgSpeed returns up to n rows of the latest window in rows, fastest
// first. rows is not modified.
func topByAvgSpeed(rows []telemetry.VehicleRow, n int) []telemetry.VehicleRow {
	return rankByAvgSpeed(rows, n, -1)
}

// LatestWindow returns the rows of rows' latest window (the greatest
// window_end), in their order. rows is not modified.
func LatestWindow(rows []telemetry.VehicleRow) []telemetry.VehicleRow {
	var latest time.Time
	for i := range rows {
		if rows[i].WindowEnd.After(latest) {
			latest = rows[i].WindowEnd
		}
	}
	top := make([]telemetry.VehicleRow, 0, len(rows))
	for i := range rows {
		if rows[i].WindowEnd.Equal(latest) {
			top = append(top, rows[i])
		}
	}
	return top
}

// rankByAvgSpeed returns up to n rows of the latest window in rows ordered by
// avg_speed_kmh, fastest first for dir -1 and slowest first for dir 1; ties
// go to the smaller vehicle id. rows is not modified.
func rankByAvgSpeed(rows []telemetry.VehicleRow, n, dir int) []telemetry.VehicleRow {
	top := LatestWindow(rows)
	slices.SortFunc(top, func(a, b telemetry.VehicleRow) int {
		if c := dir * cmp.Compare(a.AvgSpeedKPH, b.AvgSpeedKPH); c != 0 {
			return c
		}
		return cmp.Compare(a.VehicleID, b.VehicleID)
	})
	return top[:min(n, len(top))]
}

// round1 rounds to 1 decimal: bar labels show the value as it is.
func round1(f float64) float64 {
	return math.Round(f*10) / 10
}

// round2 rounds to 2 decimals, as the CSV files do, to keep the option small
// and the tooltips tidy. NaN and infinities, which JSON cannot hold, become 0.
func round2(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return math.Round(f*100) / 100
}

func encode(option map[string]any) ([]byte, error) {
	b, err := json.Marshal(option)
	if err != nil {
		return nil, fmt.Errorf("encode chart option: %w", err)
	}
	return b, nil
}
