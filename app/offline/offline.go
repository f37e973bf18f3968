// Package offline encodes the dashboard's last data for the browser's
// localStorage, so that a page reloaded while the server is down shows the
// last snapshot instead of an empty page.
//
// The encoding is compact JSON, arrays instead of objects (about 120 bytes a
// vehicle), written with strconv rather than reflection: the page saves on
// every window, and encoding/json in wasm is slow. Encode bounds the size,
// since localStorage holds about 5 MB per origin. No I/O: the caller stores
// the string.
package offline

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"fleetpulse/shared/telemetry"
)

// Key is the localStorage key the dashboard saves under.
const Key = "fleetpulse.snapshot.v1"

// DefaultMaxBytes bounds an encoded snapshot: 2 MiB, well within the
// browser's localStorage quota, holds 360 fleet rows and about 15,000
// vehicles.
const DefaultMaxBytes = 2 << 20

// format is the version of the encoding; Decode refuses others.
const format = 1

// Snapshot is what the page saves: the data it shows and when.
type Snapshot struct {
	// SavedAt is when the page saved it (the browser's clock).
	SavedAt time.Time
	// Seq is the seq of the last window in it.
	Seq uint64
	// Fleet holds fleet rows, oldest first.
	Fleet []telemetry.FleetRow
	// Vehicles are the latest window's per-vehicle rows.
	Vehicles []telemetry.VehicleRow
}

// DataTime is the end of the newest window in s: when the data is from.
// It is zero when s holds no rows.
func (s *Snapshot) DataTime() time.Time {
	var t time.Time
	if n := len(s.Fleet); n > 0 {
		t = s.Fleet[n-1].WindowEnd
	}
	for i := range s.Vehicles {
		if s.Vehicles[i].WindowEnd.After(t) {
			t = s.Vehicles[i].WindowEnd
		}
	}
	return t
}

// Encode returns s in the saved format, at most maxBytes long (0 means
// DefaultMaxBytes). When s is bigger it drops the oldest fleet rows first,
// then vehicles from the end, halving each until it fits; the newest fleet
// row is always kept. It fails only when not even that fits.
func Encode(s Snapshot, maxBytes int) ([]byte, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	buf := make([]byte, 0, 256+len(s.Fleet)*100+len(s.Vehicles)*140)
	for {
		buf = appendSnapshot(buf[:0], &s)
		switch {
		case len(buf) <= maxBytes:
			return buf, nil
		case len(s.Fleet) > 1:
			s.Fleet = s.Fleet[len(s.Fleet)/2:]
		case len(s.Vehicles) > 0:
			s.Vehicles = s.Vehicles[:len(s.Vehicles)/2]
		default:
			return nil, fmt.Errorf("offline: snapshot of %d bytes exceeds %d even without vehicles", len(buf), maxBytes)
		}
	}
}

func appendSnapshot(b []byte, s *Snapshot) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, format, 10)
	b = append(b, `,"saved_at":`...)
	b = strconv.AppendInt(b, s.SavedAt.UnixMilli(), 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, s.Seq, 10)
	b = append(b, `,"fleet":[`...)
	for i := range s.Fleet {
		r := &s.Fleet[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = appendInts(b, r.WindowStart.UnixMilli(), r.WindowEnd.UnixMilli(), r.VehiclesActive, r.Events)
		b = append(b, ',')
		b = appendFloats(b, r.AvgSpeedKPH, r.MaxSpeedKPH, r.DistanceKM)
		b = append(b, ',')
		b = appendInts(b, r.LateEvents, r.DuplicateEvents, r.RejectedEvents)
		b = append(b, ']')
	}
	b = append(b, `],"ids":[`...)
	for i := range s.Vehicles {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, s.Vehicles[i].VehicleID)
	}
	b = append(b, `],"rows":[`...)
	for i := range s.Vehicles {
		r := &s.Vehicles[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = appendInts(b, r.WindowStart.UnixMilli(), r.WindowEnd.UnixMilli(), r.Events)
		b = append(b, ',')
		b = appendFloats(b, r.AvgSpeedKPH, r.MinSpeedKPH, r.MaxSpeedKPH, r.DistanceKM, r.LastLat, r.LastLon)
		b = append(b, ',')
		b = strconv.AppendInt(b, r.LastTS.UnixMilli(), 10)
		b = append(b, ']')
	}
	return append(b, "]}"...)
}

func appendInts(b []byte, vs ...int64) []byte {
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, v, 10)
	}
	return b
}

// appendFloats writes each value in the shortest form that reads back
// exactly; NaN and infinities, which JSON cannot hold and no row has, as 0.
func appendFloats(b []byte, vs ...float64) []byte {
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		if v != v || v > 1e308 || v < -1e308 {
			v = 0
		}
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return b
}

// saved is the decoded form of the encoding.
type saved struct {
	V       int         `json:"v"`
	SavedAt int64       `json:"saved_at"`
	Seq     uint64      `json:"seq"`
	Fleet   [][]float64 `json:"fleet"`
	IDs     []string    `json:"ids"`
	Rows    [][]float64 `json:"rows"`
}

// ErrFormat reports saved data in another format or damaged: the caller
// drops it.
var ErrFormat = errors.New("offline: not a saved snapshot of this version")

// Decode reads what Encode wrote.
func Decode(data []byte) (Snapshot, error) {
	var s saved
	if err := json.Unmarshal(data, &s); err != nil {
		return Snapshot{}, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if s.V != format || len(s.IDs) != len(s.Rows) {
		return Snapshot{}, ErrFormat
	}
	out := Snapshot{
		SavedAt:  time.UnixMilli(s.SavedAt).UTC(),
		Seq:      s.Seq,
		Fleet:    make([]telemetry.FleetRow, len(s.Fleet)),
		Vehicles: make([]telemetry.VehicleRow, len(s.Rows)),
	}
	for i, f := range s.Fleet {
		if len(f) != 10 {
			return Snapshot{}, fmt.Errorf("%w: fleet row %d has %d fields", ErrFormat, i, len(f))
		}
		out.Fleet[i] = telemetry.FleetRow{
			WindowStart: ms(f[0]), WindowEnd: ms(f[1]), VehiclesActive: int64(f[2]), Events: int64(f[3]),
			AvgSpeedKPH: f[4], MaxSpeedKPH: f[5], DistanceKM: f[6],
			LateEvents: int64(f[7]), DuplicateEvents: int64(f[8]), RejectedEvents: int64(f[9]),
		}
	}
	for i, r := range s.Rows {
		if len(r) != 10 {
			return Snapshot{}, fmt.Errorf("%w: vehicle row %d has %d fields", ErrFormat, i, len(r))
		}
		out.Vehicles[i] = telemetry.VehicleRow{
			WindowStart: ms(r[0]), WindowEnd: ms(r[1]), VehicleID: s.IDs[i], Events: int64(r[2]),
			AvgSpeedKPH: r[3], MinSpeedKPH: r[4], MaxSpeedKPH: r[5], DistanceKM: r[6],
			LastLat: r[7], LastLon: r[8], LastTS: ms(r[9]),
		}
	}
	return out, nil
}

func ms(v float64) time.Time { return time.UnixMilli(int64(v)).UTC() }
