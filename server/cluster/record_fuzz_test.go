package cluster

import (
	"bytes"
	"math"
	"testing"
	"time"

	"fleetpulse/shared/telemetry"
)

// FuzzDecodeEvent: any bytes from the events topic decode to a valid event
// or an error, and a decoded event encodes back to the same bytes.
func FuzzDecodeEvent(f *testing.F) {
	e := telemetry.Event{VehicleID: "TRUCK-0042", TS: 1795754400250, Lat: 52.52, Lon: 13.405, SpeedKPH: 48.3, HeadingDeg: 90, FuelPct: math.NaN()}
	f.Add([]byte(e.VehicleID), AppendEvent(nil, &e))
	f.Add([]byte("bad id"), AppendEvent(nil, &e))
	f.Add([]byte("T"), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		var e telemetry.Event
		if err := DecodeEvent(key, value, &e); err != nil {
			return
		}
		if !telemetry.ValidVehicleID(e.VehicleID) || e.SpeedKPH < 0 || e.SpeedKPH > 400 || math.Abs(e.Lat) > 90 || math.Abs(e.Lon) > 180 {
			t.Fatalf("accepted an invalid event %+v", e)
		}
		if got := AppendEvent(nil, &e); !bytes.Equal(got, value) {
			t.Fatalf("round trip: %x != %x", got, value)
		}
	})
}

// FuzzDecodeRecord: any record of the windows topic decodes or fails
// cleanly, never claims more rows than its bytes hold, and a decoded
// partial encodes back to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	start := time.UnixMilli(1795754400000).UTC()
	p := Partial{Partition: 3, Start: start.UnixMilli(), End: start.Add(10 * time.Second).UnixMilli(), Late: 1, Dup: 2,
		Rows: []telemetry.VehicleRow{{WindowStart: start, WindowEnd: start.Add(10 * time.Second), VehicleID: "TRUCK-0001", Events: 2,
			AvgSpeedKPH: 45, MinSpeedKPH: 40, MaxSpeedKPH: 50, DistanceKM: 0.25, LastLat: 52.5, LastLon: 13.4, LastTS: start.Add(9 * time.Second)}},
		Sums: []float64{90}}
	m := Mark{Partition: 3, Watermark: 1795754405000}
	f.Add(PartialKey(3, p.End), AppendPartial(nil, &p))
	f.Add(MarkKey(3), AppendMark(nil, &m))
	f.Add([]byte("w/1/5"), []byte("W\x01\x00\x02\x00\x00\x00\xff\xff\xff\xff\x0f"))
	f.Add([]byte("m/-1"), []byte("M\x01\x00"))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		rec, err := DecodeRecord(key, value)
		if err != nil {
			return
		}
		switch {
		case rec.Partial != nil:
			got := AppendPartial(nil, rec.Partial)
			if !bytes.Equal(got, value) {
				t.Fatalf("partial round trip: %x != %x", got, value)
			}
		case rec.Mark != nil:
			if got := AppendMark(nil, rec.Mark); !bytes.Equal(got, value) {
				t.Fatalf("mark round trip: %x != %x", got, value)
			}
		default:
			t.Fatal("decoded to nothing without an error")
		}
	})
}

// FuzzParseCheckpoint: commit metadata read back from the broker parses or
// fails cleanly, and a parsed checkpoint writes the same metadata back.
func FuzzParseCheckpoint(f *testing.F) {
	f.Add(int64(42), Checkpoint{Offset: 42, Watermark: 1795754400000, HasWM: true, Closed: 1795754405000, HasClosed: true}.Metadata())
	f.Add(int64(0), Checkpoint{}.Metadata())
	f.Add(int64(-1), "")
	f.Add(int64(7), "fleetpulse/1 x -")
	f.Fuzz(func(t *testing.T, offset int64, meta string) {
		c, err := ParseCheckpoint(offset, meta)
		if c.Offset < 0 {
			t.Fatalf("negative offset %d", c.Offset)
		}
		if err != nil || offset < 0 || meta == "" {
			return
		}
		again, err := ParseCheckpoint(offset, c.Metadata())
		if err != nil || again != c {
			t.Fatalf("round trip: %+v -> %q -> %+v, %v", c, c.Metadata(), again, err)
		}
	})
}

func TestParseCheckpointRejectsForeignMetadata(t *testing.T) {
	t.Parallel()
	for _, meta := range []string{"written by another tool", "fleetpulse/1 12", "fleetpulse/1 12 x", "fleetpulse/2 1 2"} {
		c, err := ParseCheckpoint(9, meta)
		if err == nil {
			t.Errorf("%q: parsed as %+v", meta, c)
		}
		if c != (Checkpoint{Offset: 9}) {
			t.Errorf("%q: got %+v, want the bare offset", meta, c)
		}
	}
}
