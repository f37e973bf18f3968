package hub

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"fleetpulse/shared/telemetry"
)

// BenchmarkFilteredMessages builds the window messages of 1,000 subscribers
// that each follow one vehicle of a 10,000-vehicle window: what Publish
// costs the subscribers' writers for one window (one op), without the
// network.
func BenchmarkFilteredMessages(b *testing.B) {
	const vehicles, subs = 10_000, 1000
	end := time.Date(2026, 11, 27, 4, 40, 10, 0, time.UTC)
	w := &telemetry.Window{Fleet: telemetry.FleetRow{WindowStart: end.Add(-10 * time.Second), WindowEnd: end, VehiclesActive: vehicles}}
	for i := range vehicles {
		w.Vehicles = append(w.Vehicles, telemetry.VehicleRow{
			WindowStart: w.Fleet.WindowStart, WindowEnd: end, VehicleID: fmt.Sprintf("LOAD-%06d", i+1),
			Events: 10, AvgSpeedKPH: 48.3, MinSpeedKPH: 40, MaxSpeedKPH: 55, DistanceKM: 0.13,
			LastLat: 53.55, LastLon: 9.99, LastTS: end.Add(-time.Second),
		})
	}
	ss := make([]*subscriber, subs)
	for i := range ss {
		f, err := newFilter([]string{fmt.Sprintf("LOAD-%06d", i*7%vehicles+1)})
		if err != nil {
			b.Fatal(err)
		}
		ss[i] = &subscriber{}
		ss[i].filter.Store(&f)
	}
	var n int
	for b.Loop() {
		it := item{seq: 1, w: w, idx: newRowIndex(w)}
		for _, s := range ss {
			n += len(s.message(&it))
		}
	}
	if n == 0 {
		b.Fatal("no message built")
	}
}

// TestFilteredMessageByIndex covers the lookup path of filtered messages
// (few ids among many rows): the rows are those of the filter, in the
// window's order, for live and final messages, with and without an index.
func TestFilteredMessageByIndex(t *testing.T) {
	t.Parallel()
	end := time.Date(2026, 11, 27, 4, 40, 10, 0, time.UTC)
	w := &telemetry.Window{Fleet: telemetry.FleetRow{WindowStart: end.Add(-10 * time.Second), WindowEnd: end, VehiclesActive: 100}}
	for i := range 100 {
		w.Vehicles = append(w.Vehicles, telemetry.VehicleRow{WindowStart: w.Fleet.WindowStart, WindowEnd: end, VehicleID: fmt.Sprintf("V-%03d", i)})
	}
	f, err := newFilter([]string{"V-077", "V-003", "NOT-THERE", "V-042"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"V-003", "V-042", "V-077"}
	for _, tc := range []struct {
		name string
		it   item
	}{
		{"final, indexed", item{seq: 7, w: w, idx: newRowIndex(w)}},
		{"live, indexed", item{seq: 7, w: w, idx: newRowIndex(w), live: true}},
		{"final, from the resume ring (no index)", item{seq: 7, w: w}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &subscriber{}
			s.filter.Store(&f)
			for range 2 { // the second time with the buffers reused
				var got struct {
					Type     string `json:"type"`
					Seq      uint64 `json:"seq"`
					Vehicles []struct {
						ID string `json:"vehicle_id"`
					} `json:"vehicles"`
				}
				if err := json.Unmarshal(s.message(&tc.it), &got); err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, v := range got.Vehicles {
					ids = append(ids, v.ID)
				}
				if !slices.Equal(ids, want) || got.Seq != 7 || (got.Type == "live") != tc.it.live {
					t.Fatalf("message %+v: want type live=%v, seq 7, rows %v", got, tc.it.live, want)
				}
			}
		})
	}
}
