package wal

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"fleetpulse/shared/telemetry"
)

// FuzzDecodeRecord feeds arbitrary bytes to the record decoder: it must
// never panic or allocate beyond the input's size, and whatever it accepts
// must be valid events that encode back to the same record.
func FuzzDecodeRecord(f *testing.F) {
	good, _ := appendRecord(nil, batch("TRUCK-0042", 1_764_218_400_250, 3))
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(good[:headerLen])
	f.Add([]byte{})
	// A header claiming the largest payload, with none.
	f.Add(binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(nil, MaxRecordBytes), 0))
	// A valid checksum over a payload claiming a huge event count.
	f.Add(withSum([]byte{version, 0xff, 0xff, 0xff, 0xff, 0x0f}))
	// NaN speed, invalid id, out-of-range latitude, each with a valid checksum.
	nan := batch("A", 0, 1)
	nan[0].SpeedKPH = math.NaN()
	bad, _ := appendRecord(nil, nan)
	f.Add(bad)
	badID := batch("A", 0, 1)
	badID[0].VehicleID = "-bad\nid"
	bad, _ = appendRecord(nil, badID)
	f.Add(bad)
	far := batch("A", 0, 1)
	far[0].Lat = 1e308
	bad, _ = appendRecord(nil, far)
	f.Add(bad)
	f.Fuzz(func(t *testing.T, rec []byte) {
		events, err := DecodeRecord(nil, rec)
		if err != nil {
			if len(events) != 0 {
				t.Fatalf("error %v with %d events", err, len(events))
			}
			return
		}
		if len(events) > len(rec)/minEventLen {
			t.Fatalf("%d events from %d bytes", len(events), len(rec))
		}
		for i := range events {
			if !telemetry.ValidVehicleID(events[i].VehicleID) {
				t.Fatalf("invalid id %q accepted", events[i].VehicleID)
			}
		}
		again, _ := appendRecord(nil, events)
		if !bytes.Equal(again, rec) {
			// Varints have one shortest form; a longer one decodes too.
			back, err := DecodeRecord(nil, again)
			if err != nil || !cmp.Equal(back, events, equateNaN) {
				t.Fatalf("re-encoded record decodes to %v, %v", back, err)
			}
		}
	})
}

// withSum puts a header with a valid checksum before payload.
func withSum(payload []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(payload, castagnoli))
	return append(b, payload...)
}
