package chart

import (
	"fmt"
	"math"
	"strconv"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"

	"fleetpulse/shared/telemetry"
)

// Colours of the speed charts.
const (
	colorSlowest   = "#c0504d"
	colorHistogram = "#6f5fb5"
	colorDistance  = "#2a9d8f"
)

// Slowest returns the option of a horizontal bar chart of the n vehicles with
// the lowest avg_speed_kmh in the latest window among rows, slowest on top.
// Ties go to the smaller vehicle id. n must be positive.
func Slowest(rows []telemetry.VehicleRow, n int) ([]byte, error) {
	if n <= 0 {
		return nil, fmt.Errorf("slowest: n must be positive, got %d", n)
	}
	return speedBars(rankByAvgSpeed(rows, n, 1), colorSlowest)
}

// Bin is one bar of a histogram: the count of values in [Lo, Lo+width).
type Bin struct {
	Lo    int
	Count int
}

// SpeedBins counts the avg_speed_kmh of the latest window's rows in bins of
// widthKPH, from 0 up to the bin of the fastest; empty bins in between are
// kept so the x-axis is linear. Speeds below 0, which rows never hold, count
// in the first bin. No rows give no bins. widthKPH must be positive.
func SpeedBins(rows []telemetry.VehicleRow, widthKPH int) ([]Bin, error) {
	if widthKPH <= 0 {
		return nil, fmt.Errorf("speed bins: width must be positive, got %d", widthKPH)
	}
	latest := LatestWindow(rows)
	if len(latest) == 0 {
		return nil, nil
	}
	top := 0
	idx := make([]int, len(latest))
	for i := range latest {
		s := latest[i].AvgSpeedKPH
		if math.IsNaN(s) || s < 0 {
			s = 0
		}
		// Bounded: speeds are at most 400 km/h by the contract; the cap
		// keeps a bad row from allocating a huge axis.
		b := min(int(s)/widthKPH, 1000)
		idx[i] = b
		top = max(top, b)
	}
	bins := make([]Bin, top+1)
	for i := range bins {
		bins[i].Lo = i * widthKPH
	}
	for _, b := range idx {
		bins[b].Count++
	}
	return bins, nil
}

// Histogram returns the option of a bar chart of how many vehicles of the
// latest window drove at each average speed, in bins of widthKPH km/h.
func Histogram(rows []telemetry.VehicleRow, widthKPH int) ([]byte, error) {
	bins, err := SpeedBins(rows, widthKPH)
	if err != nil {
		return nil, err
	}
	labels := make([]string, len(bins))
	counts := make([]opts.BarData, len(bins))
	for i, b := range bins {
		labels[i] = strconv.Itoa(b.Lo) + "–" + strconv.Itoa(b.Lo+widthKPH)
		counts[i] = opts.BarData{Value: b.Count}
	}
	c := charts.NewBar()
	c.SetGlobalOptions(
		transparent,
		charts.WithAnimation(false),
		charts.WithColorsOpts(opts.Colors{colorHistogram}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(false)}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		charts.WithGridOpts(opts.Grid{Left: "8", Right: "16", Top: "28", Bottom: "8", ContainLabel: opts.Bool(true)}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", Name: "km/h", NameLocation: "center", NameGap: 28,
			AxisLabel: &opts.AxisLabel{HideOverlap: opts.Bool(true)}}),
		charts.WithYAxisOpts(opts.YAxis{
			Type:        "value",
			Name:        "vehicles",
			Min:         0,
			MinInterval: 1,
			SplitLine:   &opts.SplitLine{Show: opts.Bool(true), LineStyle: &opts.LineStyle{Opacity: opts.Float(0.35)}},
		}),
	)
	c.SetXAxis(labels).AddSeries("Vehicles", counts, charts.WithBarChartOpts(opts.BarChart{BarCategoryGap: "8%"}))
	c.Validate()
	return encode(c.JSON())
}

// VehicleSpeed returns the option of a line chart of one vehicle's average
// and maximum speed per window, labelled by window_end in UTC. rows are one
// vehicle's rows, oldest first.
func VehicleSpeed(rows []telemetry.VehicleRow) ([]byte, error) {
	fleet := make([]telemetry.FleetRow, len(rows))
	for i, r := range rows {
		fleet[i] = telemetry.FleetRow{WindowStart: r.WindowStart, WindowEnd: r.WindowEnd, AvgSpeedKPH: r.AvgSpeedKPH, MaxSpeedKPH: r.MaxSpeedKPH}
	}
	return FleetSpeed(fleet)
}

// VehicleDistance returns the option of a bar chart of the distance one
// vehicle drove per window (km), labelled by window_end in UTC. rows are one
// vehicle's rows, oldest first.
func VehicleDistance(rows []telemetry.VehicleRow) ([]byte, error) {
	labels := make([]string, len(rows))
	km := make([]opts.BarData, len(rows))
	for i := range rows {
		labels[i] = rows[i].WindowEnd.UTC().Format(TimeLabel)
		km[i] = opts.BarData{Value: round3(rows[i].DistanceKM)}
	}
	c := charts.NewBar()
	c.SetGlobalOptions(
		transparent,
		charts.WithAnimation(false),
		charts.WithColorsOpts(opts.Colors{colorDistance}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(false)}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		charts.WithGridOpts(opts.Grid{Left: "8", Right: "32", Top: "28", Bottom: "8", ContainLabel: opts.Bool(true)}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", AxisLabel: &opts.AxisLabel{HideOverlap: opts.Bool(true)}}),
		charts.WithYAxisOpts(opts.YAxis{
			Type:      "value",
			Name:      "km",
			Min:       0,
			SplitLine: &opts.SplitLine{Show: opts.Bool(true), LineStyle: &opts.LineStyle{Opacity: opts.Float(0.35)}},
		}),
	)
	c.SetXAxis(labels).AddSeries("Distance", km)
	c.Validate()
	return encode(c.JSON())
}

// round3 rounds to 3 decimals (metres for km); NaN and infinities become 0.
func round3(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return math.Round(f*1000) / 1000
}
