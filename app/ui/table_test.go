package ui

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"fleetpulse/shared/telemetry"
)

func tableRows(n int) []telemetry.VehicleRow {
	rows := make([]telemetry.VehicleRow, n)
	for i := range rows {
		rows[i] = telemetry.VehicleRow{
			VehicleID:   fmt.Sprintf("TRUCK-%04d", n-1-i),
			Events:      int64(i % 7),
			AvgSpeedKPH: float64(i % 13),
			MaxSpeedKPH: float64(i),
			DistanceKM:  float64(i) / 10,
			LastTS:      t0.Add(time.Duration(i) * time.Second),
		}
	}
	return rows
}

func ids(rows []telemetry.VehicleRow) []string {
	out := make([]string, len(rows))
	for i := range rows {
		out[i] = rows[i].VehicleID
	}
	return out
}

func TestQuery(t *testing.T) {
	t.Parallel()
	rows := tableRows(120)
	for _, tc := range []struct {
		name                 string
		q                    tableQuery
		first                []string
		matched, page, pages int
		shown                int
	}{
		{"default by id", tableQuery{}, []string{"TRUCK-0000", "TRUCK-0001"}, 120, 0, 3, 50},
		{"last page", tableQuery{page: 2}, []string{"TRUCK-0100"}, 120, 2, 3, 20},
		{"page past the end", tableQuery{page: 9}, []string{"TRUCK-0100"}, 120, 2, 3, 20},
		{"negative page", tableQuery{page: -1}, []string{"TRUCK-0000"}, 120, 0, 3, 50},
		{"max speed desc", tableQuery{sortBy: colMaxSpeed, desc: true}, []string{"TRUCK-0000", "TRUCK-0001"}, 120, 0, 3, 50},
		{"max speed asc", tableQuery{sortBy: colMaxSpeed}, []string{"TRUCK-0119"}, 120, 0, 3, 50},
		{"filter ignores case", tableQuery{filter: " truck-001 "}, []string{"TRUCK-0010", "TRUCK-0011"}, 10, 0, 1, 10},
		{"filter matches none", tableQuery{filter: "bus"}, nil, 0, 0, 1, 0},
		// Ties on avg speed fall back to the id.
		{"ties by id", tableQuery{sortBy: colAvgSpeed}, []string{"TRUCK-0002", "TRUCK-0015"}, 120, 0, 3, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := query(rows, tc.q)
			if p.matched != tc.matched || p.page != tc.page || p.pages != tc.pages || len(p.rows) != tc.shown {
				t.Errorf("matched %d page %d/%d shown %d, want %d %d/%d %d", p.matched, p.page, p.pages, len(p.rows), tc.matched, tc.page, tc.pages, tc.shown)
			}
			if len(tc.first) == 0 {
				return
			}
			got := ids(p.rows)[:min(len(tc.first), len(p.rows))]
			if diff := cmp.Diff(tc.first, got); diff != "" {
				t.Errorf("first rows (-want +got):\n%s", diff)
			}
		})
	}
	if rows[0].VehicleID != "TRUCK-0119" {
		t.Error("query reordered its input")
	}
}

func TestQueryToggle(t *testing.T) {
	t.Parallel()
	q := tableQuery{page: 3}
	steps := []struct {
		click column
		by    column
		desc  bool
	}{
		{colVehicle, colVehicle, true},
		{colVehicle, colVehicle, false},
		{colAvgSpeed, colAvgSpeed, true},
		{colAvgSpeed, colAvgSpeed, false},
		{colVehicle, colVehicle, false},
	}
	for i, s := range steps {
		q = q.toggle(s.click)
		if q.sortBy != s.by || q.desc != s.desc || q.page != 0 {
			t.Fatalf("step %d: click %s gave %+v, want by %s desc %v page 0", i, s.click, q, s.by, s.desc)
		}
	}
}

func BenchmarkQuery10k(b *testing.B) {
	rows := tableRows(10000)
	q := tableQuery{sortBy: colAvgSpeed, desc: true, filter: "1"}
	for b.Loop() {
		query(rows, q)
	}
}

func TestOverviewTableCache(t *testing.T) {
	t.Parallel()
	o := &overview{}
	rows := tableRows(60)
	p1 := o.tablePage(rows)
	if p2 := o.tablePage(rows); &p2.rows[0] != &p1.rows[0] {
		t.Error("same rows and query were sorted again")
	}
	o.table = o.table.toggle(colMaxSpeed)
	if p3 := o.tablePage(rows); p3.rows[0].VehicleID != "TRUCK-0000" {
		t.Errorf("after sorting by max speed the first row is %s, want TRUCK-0000", p3.rows[0].VehicleID)
	}
	newer := tableRows(60)
	newer[0].MaxSpeedKPH = 1000
	if p4 := o.tablePage(newer); p4.rows[0].VehicleID != newer[0].VehicleID {
		t.Errorf("a new window did not refresh the page: first %s", p4.rows[0].VehicleID)
	}
}
