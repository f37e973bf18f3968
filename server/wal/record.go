package wal

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"

	"fleetpulse/shared/telemetry"
)

// A record is one accepted batch:
//
//	uint32 LE  payload length
//	uint32 LE  CRC-32C (Castagnoli) of the payload
//	payload:
//	  byte     format version (1)
//	  uvarint  number of events
//	  per event:
//	    byte     flags: 1 heading present, 2 fuel present
//	    uvarint  length of the vehicle id, then its bytes
//	    varint   ts in Unix ms, minus the previous event's ts (0 before the first)
//	    float64  lat, lon, speed_kmh as IEEE 754 bits, little endian
//	    float64  heading_deg, fuel_pct, each only when its flag is set
//
// An event of a 12-byte id with both optional fields takes about 60 bytes,
// against about 140 as NDJSON.
const (
	headerLen = 8
	version   = 1

	flagHeading = 1
	flagFuel    = 2

	// minEventLen is the fewest bytes an event takes: flags, a 1-byte id
	// length, a 1-byte id, a 1-byte ts delta and three floats.
	minEventLen = 1 + 1 + 1 + 1 + 3*8
)

// MaxRecordBytes is the largest payload a record may have; longer ones are
// refused by Append and read as corrupt.
const MaxRecordBytes = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt means bytes that are not a valid record.
var errCorrupt = errors.New("corrupt record")

// appendRecord appends the record of events to b and returns it with the
// greatest ts of the events.
func appendRecord(b []byte, events []telemetry.Event) ([]byte, int64) {
	start := len(b)
	b = append(b, make([]byte, headerLen)...)
	b = append(b, version)
	b = binary.AppendUvarint(b, uint64(len(events)))
	var prev int64
	maxTS := int64(math.MinInt64)
	for i := range events {
		e := &events[i]
		var flags byte
		if !math.IsNaN(e.HeadingDeg) {
			flags |= flagHeading
		}
		if !math.IsNaN(e.FuelPct) {
			flags |= flagFuel
		}
		b = append(b, flags)
		b = binary.AppendUvarint(b, uint64(len(e.VehicleID)))
		b = append(b, e.VehicleID...)
		b = binary.AppendVarint(b, e.TS-prev)
		prev = e.TS
		maxTS = max(maxTS, e.TS)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.Lat))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.Lon))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.SpeedKPH))
		if flags&flagHeading != 0 {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.HeadingDeg))
		}
		if flags&flagFuel != 0 {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.FuelPct))
		}
	}
	payload := b[start+headerLen:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(payload))) // #nosec G115 -- Append refuses batches over maxRecord, far below 4 GiB
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(payload, castagnoli))
	return b, maxTS
}

// parseHeader returns the payload length and checksum of a record header.
func parseHeader(h []byte) (n int, sum uint32, err error) {
	n = int(binary.LittleEndian.Uint32(h))
	if n == 0 || n > MaxRecordBytes {
		return 0, 0, errCorrupt
	}
	return n, binary.LittleEndian.Uint32(h[4:]), nil
}

// DecodeRecord decodes one whole record (header and payload) and appends
// its events to dst. It checks the length and the checksum, and that every
// event is one the ingest validation would have let through (a valid id,
// finite coordinates and speed in range), so that no bytes from disk reach
// the window stage unchecked. Vehicle ids are new strings, not views of
// rec.
func DecodeRecord(dst []telemetry.Event, rec []byte) ([]telemetry.Event, error) {
	if len(rec) < headerLen {
		return dst, errCorrupt
	}
	n, sum, err := parseHeader(rec)
	if err != nil || n != len(rec)-headerLen {
		return dst, errCorrupt
	}
	payload := rec[headerLen:]
	if crc32.Checksum(payload, castagnoli) != sum {
		return dst, errCorrupt
	}
	return decodePayload(dst, payload)
}

func decodePayload(dst []telemetry.Event, p []byte) ([]telemetry.Event, error) {
	if len(p) < 1 || p[0] != version {
		return dst, errCorrupt
	}
	p = p[1:]
	count, k := binary.Uvarint(p)
	if k <= 0 || count == 0 || count > uint64(len(p)/minEventLen) {
		return dst, errCorrupt
	}
	p = p[k:]
	keep := len(dst)
	dst = append(dst, make([]telemetry.Event, count)...)
	var prev int64
	float := func() (float64, bool) {
		if len(p) < 8 {
			return 0, false
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(p))
		p = p[8:]
		return f, true
	}
	for i := range int(count) { // #nosec G115 -- count is at most len(p)/minEventLen, checked above
		e := &dst[keep+i]
		if len(p) < 1 {
			return dst[:keep], errCorrupt
		}
		flags := p[0]
		p = p[1:]
		if flags&^(flagHeading|flagFuel) != 0 {
			return dst[:keep], errCorrupt
		}
		idLen, k := binary.Uvarint(p)
		if k <= 0 || idLen > uint64(len(p)-k) { // #nosec G115 -- len(p)-k >= 0: Uvarint read k bytes of p
			return dst[:keep], errCorrupt
		}
		n := int(idLen) // #nosec G115 -- idLen is at most len(p)-k, checked above
		id := p[k : k+n]
		p = p[k+n:]
		if !telemetry.ValidVehicleID(string(id)) {
			return dst[:keep], errCorrupt
		}
		e.VehicleID = string(id)
		d, k := binary.Varint(p)
		if k <= 0 {
			return dst[:keep], errCorrupt
		}
		p = p[k:]
		e.TS = prev + d
		prev = e.TS
		var ok1, ok2, ok3 bool
		e.Lat, ok1 = float()
		e.Lon, ok2 = float()
		e.SpeedKPH, ok3 = float()
		if !ok1 || !ok2 || !ok3 || !(e.Lat >= -90 && e.Lat <= 90) || !(e.Lon >= -180 && e.Lon <= 180) || !(e.SpeedKPH >= 0 && e.SpeedKPH <= 400) {
			return dst[:keep], errCorrupt
		}
		e.HeadingDeg, e.FuelPct = math.NaN(), math.NaN()
		if flags&flagHeading != 0 {
			h, ok := float()
			if !ok || !(h >= 0 && h < 360) {
				return dst[:keep], errCorrupt
			}
			e.HeadingDeg = h
		}
		if flags&flagFuel != 0 {
			f, ok := float()
			if !ok || !(f >= 0 && f <= 100) {
				return dst[:keep], errCorrupt
			}
			e.FuelPct = f
		}
	}
	if len(p) != 0 {
		return dst[:keep], errCorrupt
	}
	return dst, nil
}
