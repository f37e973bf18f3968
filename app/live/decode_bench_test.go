package live

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"fleetpulse/shared/telemetry"
	"fleetpulse/shared/wire"
)

// BenchmarkDecodeSnapshot decodes a snapshot of 10,000 vehicles and 360
// fleet rows, the size a big fleet's page gets on connect. Run it under
// js/wasm too, where the page runs it:
//
//	GOOS=js GOARCH=wasm go test -exec="$(go env GOROOT)/lib/wasm/go_js_wasm_exec" -run '^$' -bench DecodeSnapshot ./app/live
func BenchmarkDecodeSnapshot(b *testing.B) {
	t0 := time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC)
	s := wire.Snapshot{Type: wire.TypeSnapshot, Seq: 360}
	for i := range 360 {
		st := t0.Add(time.Duration(i) * 10 * time.Second)
		s.Fleet = append(s.Fleet, telemetry.FleetRow{WindowStart: st, WindowEnd: st.Add(10 * time.Second), VehiclesActive: 10000, Events: 100000, AvgSpeedKPH: 48.123456789, MaxSpeedKPH: 131.987654321, DistanceKM: 1234.56789})
	}
	end := t0.Add(3600 * time.Second)
	for i := range 10000 {
		s.Vehicles = append(s.Vehicles, telemetry.VehicleRow{WindowStart: end.Add(-10 * time.Second), WindowEnd: end,
			VehicleID: fmt.Sprintf("TRUCK-%05d", i), Events: 10, AvgSpeedKPH: 51.123456789, MinSpeedKPH: 12.5, MaxSpeedKPH: 88.123456789,
			DistanceKM: 0.141421356, LastLat: 52.520008123, LastLon: 13.404954456, LastTS: end.Add(-123 * time.Millisecond)})
	}
	data, err := json.Marshal(s)
	if err != nil {
		b.Fatal(err)
	}
	// "message" is what the feed uses: the browser's JSON.parse under
	// js/wasm, Decode elsewhere.
	for _, d := range []struct {
		name   string
		decode func([]byte) (Event, error)
	}{{"encoding-json", Decode}, {"message", decodeMessage}} {
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				ev, err := d.decode(data)
				if err != nil || len(ev.Snapshot.Vehicles) != 10000 {
					b.Fatalf("decode: %v", err)
				}
			}
		})
	}
}
