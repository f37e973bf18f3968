//go:build js && wasm

package live

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"fleetpulse/shared/telemetry"
	"fleetpulse/shared/wire"
)

// TestJSDecodeMatches: the browser's decoding gives the same events as
// Decode, for every message type the server sends. It runs under js/wasm
// (make test-wasm), with Node's JSON.parse.
func TestJSDecodeMatches(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC)
	fleet := []telemetry.FleetRow{
		{WindowStart: t0, WindowEnd: t0.Add(10 * time.Second), VehiclesActive: 2, Events: 20, AvgSpeedKPH: 48.123456789, MaxSpeedKPH: 97.5, DistanceKM: 1.25, LateEvents: 1, DuplicateEvents: 2, RejectedEvents: 3},
		{WindowStart: t0.Add(10 * time.Second), WindowEnd: t0.Add(20 * time.Second), VehiclesActive: 1, Events: 9},
	}
	vehicles := []telemetry.VehicleRow{
		{WindowStart: t0.Add(10 * time.Second), WindowEnd: t0.Add(20 * time.Second), VehicleID: "TRUCK-0042", Events: 9, AvgSpeedKPH: 51.5, MinSpeedKPH: 0.5, MaxSpeedKPH: 88.125, DistanceKM: 0.141421356, LastLat: -52.520008, LastLon: 13.404954, LastTS: t0.Add(19*time.Second + 250*time.Millisecond)},
		{WindowStart: t0.Add(10 * time.Second), WindowEnd: t0.Add(20 * time.Second), VehicleID: "van.7:x-1", Events: 1},
	}
	for name, msg := range map[string]string{
		"snapshot":       string(wire.AppendSnapshot(nil, 42, fleet, vehicles)),
		"empty snapshot": string(wire.AppendSnapshot(nil, 0, nil, nil)),
		"window":         string(wire.AppendWindow(nil, 43, &fleet[1], vehicles)),
		"live":           `{"type":"live","seq":43,"final":false,"window_start":"2026-11-27T04:40:20.000Z","window_end":"2026-11-27T04:40:30.000Z","fleet":{"vehicles_active":1},"vehicles":[]}`,
		"unknown type":   `{"type":"hello","seq":1}`,
		"extra fields":   `{"type":"snapshot","seq":1,"server":"x","fleet":[],"vehicles":[{"vehicle_id":"A","new_field":[1,2]}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			want, err := Decode([]byte(msg))
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeMessage([]byte(msg))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("browser decoding differs:\n got %#v\nwant %#v", got, want)
				if got.Snapshot != nil && want.Snapshot != nil {
					t.Errorf("snapshot\n got %+v\nwant %+v", *got.Snapshot, *want.Snapshot)
				}
				if got.Window != nil && want.Window != nil {
					t.Errorf("window\n got %+v\nwant %+v", *got.Window, *want.Window)
				}
			}
		})
	}
	for _, bad := range []string{`{"type":`, `[1]`, `null`, `{"type":"snapshot","fleet":{}}`, `{"type":"snapshot","vehicles":[{"vehicle_id":7}]}`} {
		if _, err := decodeMessage([]byte(bad)); err == nil {
			t.Errorf("decodeMessage(%q) gave no error", bad)
		} else if !strings.HasPrefix(err.Error(), "decode") {
			t.Errorf("error %q does not say it is decoding", err)
		}
	}
}
