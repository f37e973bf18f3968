package chart

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"fleetpulse/shared/telemetry"
)

func TestSlowest(t *testing.T) {
	t.Parallel()
	end := t0.Add(time.Minute)
	rows := vehicleRows(end, map[string]float64{"V1": 50, "V2": 10, "V3": 30, "V4": 10})
	rows = append(rows, vehicleRows(end.Add(-10*time.Second), map[string]float64{"OLD": 1})...)
	b := must(Slowest(rows, 3))
	o := decode(t, b)
	if diff := cmp.Diff([]string{"V2", "V4", "V3"}, o.YAxis[0].Data); diff != "" {
		t.Errorf("slowest ids (-want +got):\n%s", diff)
	}
	if _, err := Slowest(rows, 0); err == nil {
		t.Error("Slowest(rows, 0) gave no error")
	}
}

func TestSpeedBins(t *testing.T) {
	t.Parallel()
	end := t0.Add(time.Minute)
	for _, tc := range []struct {
		name   string
		rows   []telemetry.VehicleRow
		width  int
		want   []Bin
		hasErr bool
	}{
		{"none", nil, 10, nil, false},
		{"gaps kept", vehicleRows(end, map[string]float64{"A": 5, "B": 9.99, "C": 31, "D": 10}), 10,
			[]Bin{{0, 2}, {10, 1}, {20, 0}, {30, 1}}, false},
		{"latest window only", append(vehicleRows(end, map[string]float64{"A": 5}), vehicleRows(end.Add(-time.Minute), map[string]float64{"X": 95})...), 10,
			[]Bin{{0, 1}}, false},
		{"bad width", nil, 0, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := SpeedBins(tc.rows, tc.width)
			if (err != nil) != tc.hasErr {
				t.Fatalf("err %v, want error %v", err, tc.hasErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("bins (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHistogram(t *testing.T) {
	t.Parallel()
	end := t0.Add(time.Minute)
	b := must(Histogram(vehicleRows(end, map[string]float64{"A": 5, "B": 25, "C": 27}), 10))
	golden(t, "histogram_three.json", b)
	o := decode(t, b)
	if diff := cmp.Diff([]string{"0–10", "10–20", "20–30"}, o.XAxis[0].Data); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	var counts []float64
	for _, d := range o.Series[0].Data {
		counts = append(counts, d.Value)
	}
	if diff := cmp.Diff([]float64{1, 0, 2}, counts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

func TestVehicleCharts(t *testing.T) {
	t.Parallel()
	var rows []telemetry.VehicleRow
	for i := range 3 {
		rows = append(rows, telemetry.VehicleRow{
			WindowStart: t0.Add(time.Duration(i) * 10 * time.Second), WindowEnd: t0.Add(time.Duration(i+1) * 10 * time.Second),
			VehicleID: "V1", AvgSpeedKPH: 40 + float64(i), MaxSpeedKPH: 60, DistanceKM: 0.1234 * float64(i+1),
		})
	}
	speed := decode(t, must(VehicleSpeed(rows)))
	if len(speed.Series) != 2 || len(speed.Series[0].Data) != 3 || speed.Series[0].Data[2].Value != 42 {
		t.Errorf("speed option %+v, want avg and max of 3 windows", speed)
	}
	dist := must(VehicleDistance(rows))
	golden(t, "vehicle_distance.json", dist)
	if !strings.Contains(string(dist), `"04:40:30"`) {
		t.Errorf("distance chart lacks the UTC label of the last window:\n%s", dist)
	}
}
