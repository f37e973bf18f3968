package chart

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"fleetpulse/shared/telemetry"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var t0 = time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC)

func fleetRows(n int) []telemetry.FleetRow {
	rows := make([]telemetry.FleetRow, n)
	for i := range rows {
		rows[i] = telemetry.FleetRow{
			WindowStart:    t0.Add(time.Duration(i) * 10 * time.Second),
			WindowEnd:      t0.Add(time.Duration(i+1) * 10 * time.Second),
			VehiclesActive: 50,
			Events:         500,
			AvgSpeedKPH:    40 + float64(i%7)*1.234567,
			MaxSpeedKPH:    95 + float64(i%3),
			DistanceKM:     5.5,
		}
	}
	return rows
}

func vehicleRows(end time.Time, speeds map[string]float64) []telemetry.VehicleRow {
	var rows []telemetry.VehicleRow
	for id, s := range speeds {
		rows = append(rows, telemetry.VehicleRow{
			WindowStart: end.Add(-10 * time.Second),
			WindowEnd:   end,
			VehicleID:   id,
			Events:      10,
			AvgSpeedKPH: s,
			MaxSpeedKPH: s + 10,
		})
	}
	return rows
}

// option is the part of an ECharts option the tests look at.
type option struct {
	XAxis []struct {
		Type string   `json:"type"`
		Data []string `json:"data"`
	} `json:"xAxis"`
	YAxis []struct {
		Type string   `json:"type"`
		Data []string `json:"data"`
	} `json:"yAxis"`
	Series []struct {
		Name string `json:"name"`
		Type string `json:"type"`
		Data []struct {
			Value float64 `json:"value"`
		} `json:"data"`
	} `json:"series"`
}

func decode(t *testing.T, b []byte) option {
	t.Helper()
	var o option
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatalf("option is not JSON: %v\n%s", err, b)
	}
	return o
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("indent option: %v", err)
	}
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("option differs from %s (run go test -update and review the diff):\n%s", path, pretty.Bytes())
	}
}

func TestFleetSpeed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		rows   []telemetry.FleetRow
		golden string
	}{
		{"empty", nil, "fleet_speed_empty.json"},
		{"one window", fleetRows(1), "fleet_speed_one.json"},
		{"six windows", fleetRows(6), "fleet_speed_six.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := FleetSpeed(tt.rows)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, b)

			o := decode(t, b)
			if len(o.XAxis) != 1 || o.XAxis[0].Type != "category" {
				t.Fatalf("x-axis %+v, want one category axis", o.XAxis)
			}
			if got := len(o.XAxis[0].Data); got != len(tt.rows) {
				t.Fatalf("x-axis has %d labels, want %d", got, len(tt.rows))
			}
			if len(o.Series) != 2 {
				t.Fatalf("%d series, want 2 (average, max)", len(o.Series))
			}
			for _, s := range o.Series {
				if s.Type != "line" || len(s.Data) != len(tt.rows) {
					t.Errorf("series %q: type %q with %d points, want line with %d", s.Name, s.Type, len(s.Data), len(tt.rows))
				}
			}
			for i, r := range tt.rows {
				if want := r.WindowEnd.Format(TimeLabel); o.XAxis[0].Data[i] != want {
					t.Errorf("label %d = %q, want %q", i, o.XAxis[0].Data[i], want)
				}
				if got, want := o.Series[0].Data[i].Value, round2(r.AvgSpeedKPH); got != want {
					t.Errorf("average %d = %v, want %v", i, got, want)
				}
				if got, want := o.Series[1].Data[i].Value, round2(r.MaxSpeedKPH); got != want {
					t.Errorf("max %d = %v, want %v", i, got, want)
				}
			}
		})
	}
}

// TestFleetSpeedLabelsUTC checks that rows in another zone are labelled in UTC.
func TestFleetSpeedLabelsUTC(t *testing.T) {
	t.Parallel()
	rows := fleetRows(1)
	rows[0].WindowEnd = rows[0].WindowEnd.In(time.FixedZone("CET", 3600))
	o := decode(t, must(FleetSpeed(rows)))
	if got := o.XAxis[0].Data[0]; got != "04:40:10" {
		t.Fatalf("label %q, want 04:40:10", got)
	}
}

func TestFastest(t *testing.T) {
	t.Parallel()
	end := t0.Add(time.Minute)
	latest := vehicleRows(end, map[string]float64{
		"TRUCK-01": 30.5, "TRUCK-02": 88.123, "TRUCK-03": 61, "VAN-7": 61, "BUS-9": 12,
	})
	older := vehicleRows(end.Add(-10*time.Second), map[string]float64{"OLD-1": 150})
	tests := []struct {
		name    string
		rows    []telemetry.VehicleRow
		n       int
		wantIDs []string
		golden  string
	}{
		{"empty", nil, 10, nil, "fastest_empty.json"},
		{"top three, ties by id", latest, 3, []string{"TRUCK-02", "TRUCK-03", "VAN-7"}, "fastest_three.json"},
		{"n above the count", latest, 10, []string{"TRUCK-02", "TRUCK-03", "VAN-7", "TRUCK-01", "BUS-9"}, ""},
		{"older windows ignored", append(append([]telemetry.VehicleRow(nil), older...), latest...), 2, []string{"TRUCK-02", "TRUCK-03"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := Fastest(tt.rows, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if tt.golden != "" {
				golden(t, tt.golden, b)
			}
			o := decode(t, b)
			if len(o.YAxis) != 1 || o.YAxis[0].Type != "category" {
				t.Fatalf("y-axis %+v, want one category axis (horizontal bars)", o.YAxis)
			}
			if got := fmt.Sprint(o.YAxis[0].Data); got != fmt.Sprint(tt.wantIDs) {
				t.Fatalf("vehicles %v, want %v", got, tt.wantIDs)
			}
			if len(o.Series) != 1 || o.Series[0].Type != "bar" || len(o.Series[0].Data) != len(tt.wantIDs) {
				t.Fatalf("series %+v, want one bar series of %d", o.Series, len(tt.wantIDs))
			}
			for i := 1; i < len(o.Series[0].Data); i++ {
				if o.Series[0].Data[i].Value > o.Series[0].Data[i-1].Value {
					t.Fatalf("bars not fastest first: %+v", o.Series[0].Data)
				}
			}
		})
	}
}

func TestFastestDoesNotReorderInput(t *testing.T) {
	t.Parallel()
	rows := vehicleRows(t0, map[string]float64{"A": 1, "B": 2, "C": 3})
	before := fmt.Sprint(rows)
	must(Fastest(rows, 2))
	if after := fmt.Sprint(rows); after != before {
		t.Fatalf("Fastest reordered its input:\n%s\n%s", before, after)
	}
}

func TestFastestRejectsNonPositiveN(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, -1} {
		if _, err := Fastest(nil, n); err == nil {
			t.Errorf("Fastest(nil, %d) returned no error", n)
		}
	}
}

func TestRound2(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want float64 }{
		{1.234567, 1.23}, {1.235001, 1.24}, {0, 0}, {399.999, 400},
	}
	for _, tt := range tests {
		if got := round2(tt.in); got != tt.want {
			t.Errorf("round2(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
