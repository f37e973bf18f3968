package telemetry_test

import (
	"encoding/json"
	"testing"

	"fleetpulse/shared/telemetry"
)

// benchLines are the contract's example event, with a string and an integer
// ts.
var benchLines = []struct {
	name string
	line string
}{
	{"string ts", `{"vehicle_id":"TRUCK-0042","ts":"2026-11-27T04:40:00.250Z","lat":52.52,"lon":13.405,"speed_kmh":48.3,"heading_deg":90,"fuel_pct":71.5}`},
	{"integer ts", `{"vehicle_id":"TRUCK-0042","ts":1795754400250,"lat":52.52,"lon":13.405,"speed_kmh":48.3,"heading_deg":90,"fuel_pct":71.5}`},
}

// BenchmarkDecode decodes the example event, whose vehicle id the Decoder
// has seen before, as the ingest path does for a known fleet.
func BenchmarkDecode(b *testing.B) {
	for _, bm := range benchLines {
		b.Run(bm.name, func(b *testing.B) {
			line := []byte(bm.line)
			d := telemetry.NewDecoder(1024)
			var e telemetry.Event
			if r := d.Decode(line, &e); r != "" {
				b.Fatalf("Decode(%s) = %q, want a valid event", line, r)
			}
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				d.Decode(line, &e)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkDecodeEncodingJSON is the baseline: encoding/json into a struct,
// without validation or ts parsing, on the same machine.
func BenchmarkDecodeEncodingJSON(b *testing.B) {
	for _, bm := range benchLines {
		b.Run(bm.name, func(b *testing.B) {
			line := []byte(bm.line)
			var v struct {
				VehicleID  string          `json:"vehicle_id"`
				TS         json.RawMessage `json:"ts"`
				Lat        float64         `json:"lat"`
				Lon        float64         `json:"lon"`
				SpeedKPH   float64         `json:"speed_kmh"`
				HeadingDeg *float64        `json:"heading_deg"`
				FuelPct    *float64        `json:"fuel_pct"`
			}
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				if err := json.Unmarshal(line, &v); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
