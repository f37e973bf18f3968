package chart

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// mapOption is the part of a position chart's option the tests look at.
type mapOption struct {
	XAxis []struct {
		Type string  `json:"type"`
		Min  float64 `json:"min"`
		Max  float64 `json:"max"`
	} `json:"xAxis"`
	YAxis []struct {
		Type string  `json:"type"`
		Min  float64 `json:"min"`
		Max  float64 `json:"max"`
	} `json:"yAxis"`
	Series []struct {
		Name string            `json:"name"`
		Type string            `json:"type"`
		Data []json.RawMessage `json:"data"`
	} `json:"series"`
}

func decodeMap(t *testing.T, b []byte) mapOption {
	t.Helper()
	var o mapOption
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatalf("option is not JSON: %v\n%s", err, b)
	}
	return o
}

func TestMap(t *testing.T) {
	t.Parallel()
	trails := []Trail{
		{VehicleID: "B", Points: []Point{{52.50, 13.40}, {52.51, 13.41}, {52.52, 13.42}}},
		{VehicleID: "A", Points: []Point{{52.53, 13.38}}},
		{VehicleID: "C"},
	}
	b := must(Map(trails, 2))
	golden(t, "map_three.json", b)
	o := decodeMap(t, b)
	if len(o.Series) != 2 {
		t.Fatalf("series %d, want position and trail", len(o.Series))
	}
	if s := o.Series[0]; s.Type != "scatter" || len(s.Data) != 2 {
		t.Errorf("positions: type %q with %d points, want scatter with 2 (C has none)", s.Type, len(s.Data))
	}
	// A has one point, so no trail; B has three.
	if s := o.Series[1]; s.Type != "line" || len(s.Data) != 3 {
		t.Errorf("trail: type %q with %d points, want line with 3", s.Type, len(s.Data))
	}
	if o.XAxis[0].Type != "value" || o.YAxis[0].Type != "value" {
		t.Errorf("axes %q/%q, want value/value", o.XAxis[0].Type, o.YAxis[0].Type)
	}
	for _, tr := range trails {
		for _, p := range tr.Points {
			if p.Lon < o.XAxis[0].Min || p.Lon > o.XAxis[0].Max || p.Lat < o.YAxis[0].Min || p.Lat > o.YAxis[0].Max {
				t.Errorf("point %v outside the axes %+v %+v", p, o.XAxis[0], o.YAxis[0])
			}
		}
	}
}

func TestMapBreaksTrailsBetweenVehicles(t *testing.T) {
	t.Parallel()
	trails := []Trail{
		{VehicleID: "A", Points: []Point{{1, 1}, {1.1, 1.1}}},
		{VehicleID: "B", Points: []Point{{2, 2}, {2.1, 2.1}}},
	}
	o := decodeMap(t, must(Map(trails, 1)))
	var got []string
	for _, d := range o.Series[1].Data {
		got = append(got, string(d))
	}
	want := []string{`{"value":[1,1]}`, `{"value":[1.1,1.1]}`, `{"value":["-","-"]}`, `{"value":[2,2]}`, `{"value":[2.1,2.1]}`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("trail data (-want +got):\n%s", diff)
	}
}

func TestMapBoundsTrails(t *testing.T) {
	t.Parallel()
	trails := make([]Trail, MaxTrails+50)
	for i := range trails {
		trails[i] = Trail{VehicleID: fmt.Sprintf("V%05d", i), Points: []Point{{0, float64(i) / 1000}, {0.001, float64(i) / 1000}}}
	}
	o := decodeMap(t, must(Map(trails, 1)))
	if n := len(o.Series[0].Data); n != len(trails) {
		t.Errorf("positions %d, want every vehicle (%d)", n, len(trails))
	}
	if n, want := len(o.Series[1].Data), MaxTrails*3-1; n != want {
		t.Errorf("trail points %d, want %d (MaxTrails trails of 2 with breaks)", n, want)
	}
}

func TestMapEmpty(t *testing.T) {
	t.Parallel()
	b := must(Map(nil, 2))
	golden(t, "map_empty.json", b)
}

func TestBoundsEqualScale(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		points []Point
		aspect float64
	}{
		{"wide fleet", []Point{{52.4, 13.0}, {52.6, 13.8}}, 2},
		{"tall fleet", []Point{{48, 11}, {54, 11.2}}, 2},
		{"one vehicle", []Point{{0, 0}}, 1.5},
		{"bad aspect", []Point{{10, 10}, {11, 11}}, math.NaN()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := boundsOf(tc.points, tc.aspect)
			aspect := tc.aspect
			if math.IsNaN(aspect) {
				aspect = 1
			}
			mid := (b.minLat + b.maxLat) / 2
			east := (b.maxLon - b.minLon) * math.Cos(mid*math.Pi/180)
			north := b.maxLat - b.minLat
			if got := east / north; math.Abs(got-aspect) > 0.01*aspect {
				t.Errorf("east/north span %.4f, want the plot aspect %.2f", got, aspect)
			}
			for _, p := range tc.points {
				if p.Lat <= b.minLat || p.Lat >= b.maxLat || p.Lon <= b.minLon || p.Lon >= b.maxLon {
					t.Errorf("point %v not inside %+v", p, b)
				}
			}
		})
	}
}

func TestTrack(t *testing.T) {
	t.Parallel()
	b := must(Track([]Point{{52.5, 13.4}, {52.51, 13.41}}, 2))
	golden(t, "track_two.json", b)
	o := decodeMap(t, b)
	if len(o.Series) != 2 || len(o.Series[0].Data) != 1 || len(o.Series[1].Data) != 2 {
		t.Errorf("series %+v, want the latest point and a track of 2", o.Series)
	}
	if _, err := Track(nil, 2); err != nil {
		t.Errorf("empty track: %v", err)
	}
}
