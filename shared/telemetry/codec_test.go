package telemetry_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"fleetpulse/shared/telemetry"
)

// t0 is the end of the window most rows below belong to.
var t0 = time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC)

// cet is a zone east of UTC, and nyc one west of it. Fixed zones need no
// time zone database, so the tests also run under js/wasm.
var (
	cet = time.FixedZone("CET", 3600)
	nyc = time.FixedZone("EST", -5*3600)
)

func vehicleRow() telemetry.VehicleRow {
	return telemetry.VehicleRow{
		WindowStart: t0.Add(-10 * time.Second), WindowEnd: t0,
		VehicleID: "TRUCK-0042", Events: 10,
		AvgSpeedKPH: 48.333333, MinSpeedKPH: 30, MaxSpeedKPH: 61.005,
		DistanceKM: 0.1337, LastLat: 52.52, LastLon: 13.405,
		LastTS: t0.Add(-250 * time.Millisecond),
	}
}

func fleetRow() telemetry.FleetRow {
	return telemetry.FleetRow{
		WindowStart: t0.Add(-10 * time.Second), WindowEnd: t0,
		VehiclesActive: 3, Events: 27, AvgSpeedKPH: 48.333333, MaxSpeedKPH: 61.005,
		DistanceKM: 0.1337, LateEvents: 2, DuplicateEvents: 1, RejectedEvents: 4,
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cols []string
		want string
	}{
		{
			name: "vehicle",
			cols: telemetry.VehicleColumns,
			want: "window_start,window_end,vehicle_id,events,avg_speed_kmh,min_speed_kmh,max_speed_kmh,distance_km,last_lat,last_lon,last_ts\n",
		},
		{
			name: "latest",
			cols: telemetry.LatestColumns,
			want: "window_start,window_end,vehicle_id,events,avg_speed_kmh,min_speed_kmh,max_speed_kmh,distance_km,last_lat,last_lon,last_ts,last_updated\n",
		},
		{
			name: "fleet",
			cols: telemetry.FleetColumns,
			want: "window_start,window_end,vehicles_active,events,avg_speed_kmh,max_speed_kmh,distance_km,late_events,duplicate_events,rejected_events\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := string(telemetry.AppendHeader(nil, tc.cols)); got != tc.want {
				t.Errorf("AppendHeader:\n got %q\nwant %q", got, tc.want)
			}
			if got := string(telemetry.AppendHeader([]byte("x\n"), tc.cols)); got != "x\n"+tc.want {
				t.Errorf("AppendHeader after a prefix:\n got %q\nwant %q", got, "x\n"+tc.want)
			}
		})
	}
}

func TestAppendTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"utc", t0, "2026-11-27T04:40:00.000Z"},
		{"milliseconds", t0.Add(250 * time.Millisecond), "2026-11-27T04:40:00.250Z"},
		{"zone east of utc", time.Date(2026, 11, 27, 5, 40, 0, 0, cet), "2026-11-27T04:40:00.000Z"},
		{"zone west of utc across midnight", time.Date(2026, 11, 26, 23, 40, 0, 7e6, nyc), "2026-11-27T04:40:00.007Z"},
		{"local wall clock", t0.Add(time.Second).Local(), "2026-11-27T04:40:01.000Z"},
		{"unix epoch", time.UnixMilli(0), "1970-01-01T00:00:00.000Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := string(telemetry.AppendTime(nil, tc.in)); got != tc.want {
				t.Errorf("AppendTime(%v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestVehicleRowAppendCSV(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(r *telemetry.VehicleRow)
		want string
	}{
		{
			name: "rounding of every column",
			edit: func(*telemetry.VehicleRow) {},
			want: "2026-11-27T04:39:50.000Z,2026-11-27T04:40:00.000Z,TRUCK-0042,10,48.33,30.00,61.01,0.134,52.520000,13.405000,2026-11-27T04:39:59.750Z",
		},
		{
			name: "negative coordinates",
			edit: func(r *telemetry.VehicleRow) { r.LastLat, r.LastLon = -33.8688197, -151.2092957 },
			want: "2026-11-27T04:39:50.000Z,2026-11-27T04:40:00.000Z,TRUCK-0042,10,48.33,30.00,61.01,0.134,-33.868820,-151.209296,2026-11-27T04:39:59.750Z",
		},
		{
			name: "tiny negatives round to zero without a sign",
			edit: func(r *telemetry.VehicleRow) { r.LastLat, r.LastLon = -0.0000001, -0.0000004 },
			want: "2026-11-27T04:39:50.000Z,2026-11-27T04:40:00.000Z,TRUCK-0042,10,48.33,30.00,61.01,0.134,0.000000,0.000000,2026-11-27T04:39:59.750Z",
		},
		{
			name: "coordinate limits",
			edit: func(r *telemetry.VehicleRow) { r.LastLat, r.LastLon = -90, 180 },
			want: "2026-11-27T04:39:50.000Z,2026-11-27T04:40:00.000Z,TRUCK-0042,10,48.33,30.00,61.01,0.134,-90.000000,180.000000,2026-11-27T04:39:59.750Z",
		},
		{
			name: "zeros keep their decimals",
			edit: func(r *telemetry.VehicleRow) {
				r.Events, r.AvgSpeedKPH, r.MinSpeedKPH, r.MaxSpeedKPH, r.DistanceKM, r.LastLat, r.LastLon = 1, 0, 0, 0, 0, 0, 0
			},
			want: "2026-11-27T04:39:50.000Z,2026-11-27T04:40:00.000Z,TRUCK-0042,1,0.00,0.00,0.00,0.000,0.000000,0.000000,2026-11-27T04:39:59.750Z",
		},
		{
			name: "rounds up into the next integer",
			edit: func(r *telemetry.VehicleRow) { r.AvgSpeedKPH, r.MaxSpeedKPH, r.DistanceKM = 99.996, 399.999, 12.9996 },
			want: "2026-11-27T04:39:50.000Z,2026-11-27T04:40:00.000Z,TRUCK-0042,10,100.00,30.00,400.00,13.000,52.520000,13.405000,2026-11-27T04:39:59.750Z",
		},
		{
			name: "times in other zones are written in utc",
			edit: func(r *telemetry.VehicleRow) {
				r.WindowStart = r.WindowStart.In(cet)
				r.WindowEnd = r.WindowEnd.In(nyc)
				r.LastTS = r.LastTS.In(cet)
			},
			want: "2026-11-27T04:39:50.000Z,2026-11-27T04:40:00.000Z,TRUCK-0042,10,48.33,30.00,61.01,0.134,52.520000,13.405000,2026-11-27T04:39:59.750Z",
		},
		{
			name: "large counts",
			edit: func(r *telemetry.VehicleRow) { r.Events = math.MaxInt64 },
			want: "2026-11-27T04:39:50.000Z,2026-11-27T04:40:00.000Z,TRUCK-0042,9223372036854775807,48.33,30.00,61.01,0.134,52.520000,13.405000,2026-11-27T04:39:59.750Z",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := vehicleRow()
			tc.edit(&r)
			got := string(r.AppendCSV(nil))
			if got != tc.want {
				t.Errorf("AppendCSV:\n got %q\nwant %q", got, tc.want)
			}
			if n, want := strings.Count(got, ",")+1, len(telemetry.VehicleColumns); n != want {
				t.Errorf("AppendCSV has %d fields, want %d (one per column)", n, want)
			}
			if got := string(r.AppendCSV([]byte("prefix,"))); got != "prefix,"+tc.want {
				t.Errorf("AppendCSV after a prefix = %q, want %q", got, "prefix,"+tc.want)
			}
		})
	}
}

func TestFleetRowAppendCSV(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(r *telemetry.FleetRow)
		want string
	}{
		{
			name: "rounding of every column",
			edit: func(*telemetry.FleetRow) {},
			want: "2026-11-27T04:39:50.000Z,2026-11-27T04:40:00.000Z,3,27,48.33,61.01,0.134,2,1,4",
		},
		{
			name: "zeros keep their decimals",
			edit: func(r *telemetry.FleetRow) {
				*r = telemetry.FleetRow{WindowStart: r.WindowStart, WindowEnd: r.WindowEnd}
			},
			want: "2026-11-27T04:39:50.000Z,2026-11-27T04:40:00.000Z,0,0,0.00,0.00,0.000,0,0,0",
		},
		{
			name: "distance keeps three decimals",
			edit: func(r *telemetry.FleetRow) { r.DistanceKM = 1234.5675001 },
			want: "2026-11-27T04:39:50.000Z,2026-11-27T04:40:00.000Z,3,27,48.33,61.01,1234.568,2,1,4",
		},
		{
			name: "times in other zones are written in utc",
			edit: func(r *telemetry.FleetRow) {
				r.WindowStart = r.WindowStart.In(nyc)
				r.WindowEnd = r.WindowEnd.In(cet)
			},
			want: "2026-11-27T04:39:50.000Z,2026-11-27T04:40:00.000Z,3,27,48.33,61.01,0.134,2,1,4",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := fleetRow()
			tc.edit(&r)
			got := string(r.AppendCSV(nil))
			if got != tc.want {
				t.Errorf("AppendCSV:\n got %q\nwant %q", got, tc.want)
			}
			if n, want := strings.Count(got, ",")+1, len(telemetry.FleetColumns); n != want {
				t.Errorf("AppendCSV has %d fields, want %d (one per column)", n, want)
			}
		})
	}
}

func TestVehicleRowJSONRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(r *telemetry.VehicleRow)
	}{
		{"typical", func(*telemetry.VehicleRow) {}},
		{"unrounded floats", func(r *telemetry.VehicleRow) {
			r.AvgSpeedKPH, r.DistanceKM, r.LastLat, r.LastLon = 0.1+0.2, 1.0/3, 52.520000000000003, -13.405000000000001
		}},
		{"extreme floats", func(r *telemetry.VehicleRow) {
			r.AvgSpeedKPH, r.MinSpeedKPH, r.MaxSpeedKPH, r.DistanceKM = math.SmallestNonzeroFloat64, 1e-7, 1e21, math.MaxFloat64
		}},
		{"negative coordinates", func(r *telemetry.VehicleRow) { r.LastLat, r.LastLon = -90, -180 }},
		{"times in other zones", func(r *telemetry.VehicleRow) {
			r.WindowStart, r.WindowEnd, r.LastTS = r.WindowStart.In(cet), r.WindowEnd.In(nyc), r.LastTS.Local()
		}},
		{"zero value", func(r *telemetry.VehicleRow) { *r = telemetry.VehicleRow{} }},
		{"largest count", func(r *telemetry.VehicleRow) { r.Events = math.MaxInt64 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := vehicleRow()
			tc.edit(&want)
			b := want.AppendJSON(nil)
			if !json.Valid(b) {
				t.Fatalf("AppendJSON is not valid JSON: %s", b)
			}
			var got telemetry.VehicleRow
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round trip through %s (-want +got):\n%s", b, diff)
			}
		})
	}
}

func TestFleetRowJSONRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(r *telemetry.FleetRow)
	}{
		{"typical", func(*telemetry.FleetRow) {}},
		{"unrounded floats", func(r *telemetry.FleetRow) { r.AvgSpeedKPH, r.DistanceKM = 0.1+0.2, 2.0/3 }},
		{"extreme floats", func(r *telemetry.FleetRow) { r.MaxSpeedKPH, r.DistanceKM = 5e-324, 1.7976931348623157e308 }},
		{"times in other zones", func(r *telemetry.FleetRow) { r.WindowStart, r.WindowEnd = r.WindowStart.In(nyc), r.WindowEnd.In(cet) }},
		{"zero value", func(r *telemetry.FleetRow) { *r = telemetry.FleetRow{} }},
		{"large counters", func(r *telemetry.FleetRow) {
			r.VehiclesActive, r.Events, r.LateEvents, r.DuplicateEvents, r.RejectedEvents = 1<<40, math.MaxInt64, 1<<53+1, 7, math.MaxInt64-1
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := fleetRow()
			tc.edit(&want)
			b := want.AppendJSON(nil)
			if !json.Valid(b) {
				t.Fatalf("AppendJSON is not valid JSON: %s", b)
			}
			var got telemetry.FleetRow
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round trip through %s (-want +got):\n%s", b, diff)
			}
		})
	}
}

func TestJSONLayout(t *testing.T) {
	t.Parallel()
	v, f := vehicleRow(), fleetRow()
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{
			name: "vehicle row",
			got:  v.AppendJSON(nil),
			want: `{"window_start":"2026-11-27T04:39:50.000Z","window_end":"2026-11-27T04:40:00.000Z","vehicle_id":"TRUCK-0042","events":10,"avg_speed_kmh":48.333333,"min_speed_kmh":30,"max_speed_kmh":61.005,"distance_km":0.1337,"last_lat":52.52,"last_lon":13.405,"last_ts":"2026-11-27T04:39:59.750Z"}`,
		},
		{
			name: "fleet row",
			got:  f.AppendJSON(nil),
			want: `{"window_start":"2026-11-27T04:39:50.000Z","window_end":"2026-11-27T04:40:00.000Z","vehicles_active":3,"events":27,"avg_speed_kmh":48.333333,"max_speed_kmh":61.005,"distance_km":0.1337,"late_events":2,"duplicate_events":1,"rejected_events":4}`,
		},
		{name: "nil vehicle rows", got: telemetry.AppendVehiclesJSON(nil, nil), want: `[]`},
		{name: "nil fleet rows", got: telemetry.AppendFleetJSON(nil, nil), want: `[]`},
		{
			name: "two fleet rows after a prefix",
			got:  telemetry.AppendFleetJSON([]byte(`{"fleet":`), []telemetry.FleetRow{{}, {Events: 1}}),
			want: `{"fleet":[{"window_start":"0001-01-01T00:00:00.000Z","window_end":"0001-01-01T00:00:00.000Z","vehicles_active":0,"events":0,"avg_speed_kmh":0,"max_speed_kmh":0,"distance_km":0,"late_events":0,"duplicate_events":0,"rejected_events":0},` +
				`{"window_start":"0001-01-01T00:00:00.000Z","window_end":"0001-01-01T00:00:00.000Z","vehicles_active":0,"events":1,"avg_speed_kmh":0,"max_speed_kmh":0,"distance_km":0,"late_events":0,"duplicate_events":0,"rejected_events":0}]`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if string(tc.got) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", tc.got, tc.want)
			}
		})
	}
}

func TestMarshalJSONMatchesAppendJSON(t *testing.T) {
	t.Parallel()
	v := vehicleRow()
	v2 := vehicleRow()
	v2.VehicleID, v2.LastLat = "VAN-7", -1.5
	f := fleetRow()
	f2 := telemetry.FleetRow{WindowStart: t0, WindowEnd: t0.Add(10 * time.Second), Events: 5}
	tests := []struct {
		name    string
		marshal func() ([]byte, error)
		want    []byte
	}{
		{"vehicle row method", v.MarshalJSON, v.AppendJSON(nil)},
		{"fleet row method", f.MarshalJSON, f.AppendJSON(nil)},
		{"vehicle row via encoding/json", func() ([]byte, error) { return json.Marshal(v) }, v.AppendJSON(nil)},
		{"vehicle row pointer via encoding/json", func() ([]byte, error) { return json.Marshal(&v) }, v.AppendJSON(nil)},
		{"fleet row via encoding/json", func() ([]byte, error) { return json.Marshal(f) }, f.AppendJSON(nil)},
		{
			name:    "vehicle rows via encoding/json",
			marshal: func() ([]byte, error) { return json.Marshal([]telemetry.VehicleRow{v, v2}) },
			want:    telemetry.AppendVehiclesJSON(nil, []telemetry.VehicleRow{v, v2}),
		},
		{
			name:    "fleet rows via encoding/json",
			marshal: func() ([]byte, error) { return json.Marshal([]telemetry.FleetRow{f, f2}) },
			want:    telemetry.AppendFleetJSON(nil, []telemetry.FleetRow{f, f2}),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.marshal()
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if string(got) != string(tc.want) {
				t.Errorf("marshal:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestVehicleIDEscaping checks ids that the ingest pattern would reject but
// that may still reach the encoder, for example from a hand-edited CSV file:
// the output must stay valid JSON and decode to the same id.
func TestVehicleIDEscaping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		id   string
		want string // the decoded id
	}{
		{name: "quote", id: `TRUCK"42`, want: `TRUCK"42`},
		{name: "backslash", id: `TRUCK\42`, want: `TRUCK\42`},
		{name: "newline and tab", id: "TRUCK\n\t42", want: "TRUCK\n\t42"},
		{name: "nul", id: "TRUCK\x0042", want: "TRUCK\x0042"},
		{name: "bell and vertical tab", id: "TRUCK\a\v42", want: "TRUCK\a\v42"},
		{name: "other control characters", id: "\x01\x1b\x1f", want: "\x01\x1b\x1f"},
		{name: "delete", id: "TRUCK\x7f42", want: "TRUCK\x7f42"},
		{name: "html characters", id: "<b>&amp;</b>", want: "<b>&amp;</b>"},
		{name: "non-ascii letters", id: "LKW-Größe-東京", want: "LKW-Größe-東京"},
		{name: "line and paragraph separators", id: "A\u2028B\u2029C", want: "A\u2028B\u2029C"},
		{name: "unprintable outside the bmp", id: "TAG\U000E0001", want: "TAG\U000E0001"},
		{name: "emoji", id: "🚚-1", want: "🚚-1"},
		{name: "invalid utf-8 becomes the replacement character", id: "TRUCK\xff42", want: "TRUCK\uFFFD42"},
		{name: "empty", id: "", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := vehicleRow()
			r.VehicleID = tc.id
			b := r.AppendJSON(nil)
			if !json.Valid(b) {
				t.Fatalf("AppendJSON is not valid JSON: %q", b)
			}
			var got telemetry.VehicleRow
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("decode %q: %v", b, err)
			}
			if got.VehicleID != tc.want {
				t.Errorf("vehicle_id decoded to %q, want %q", got.VehicleID, tc.want)
			}
			want := vehicleRow()
			want.VehicleID = got.VehicleID
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("other fields changed (-want +got):\n%s", diff)
			}
			if _, err := json.Marshal(r); err != nil {
				t.Errorf("encoding/json rejects MarshalJSON's output: %v", err)
			}
		})
	}
}

// FuzzVehicleRowJSON checks that any vehicle id gives valid JSON, and that a
// valid UTF-8 id decodes to itself.
func FuzzVehicleRowJSON(f *testing.F) {
	for _, id := range []string{"TRUCK-0042", `a"b\c`, "\x00\x1f\x7f", "\xff\xfe", "\u2028🚚", "TAG\U000E0001"} {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		r := vehicleRow()
		r.VehicleID = id
		b := r.AppendJSON(nil)
		var got telemetry.VehicleRow
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("decode %q: %v", b, err)
		}
		if utf8.ValidString(id) && got.VehicleID != id {
			t.Errorf("vehicle_id decoded to %q, want %q", got.VehicleID, id)
		}
	})
}
