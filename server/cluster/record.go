package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"fleetpulse/shared/telemetry"
)

// Records of <prefix>.events: the key is the vehicle id (so that one
// partition holds all of a vehicle's events, in order), the value the
// event in a fixed binary layout, little-endian:
//
//	byte 0       version (1)
//	bytes 1..8   ts, Unix ms (int64)
//	then         lat, lon, speed_kmh, heading_deg, fuel_pct (float64 bits;
//	             heading and fuel NaN when absent)
const (
	eventVersion = 1
	eventSize    = 1 + 8 + 5*8
)

// AppendEvent appends the value of e's record to b.
func AppendEvent(b []byte, e *telemetry.Event) []byte {
	b = append(b, eventVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(e.TS)) // #nosec G115 -- a bit-for-bit copy, read back by DecodeEvent
	for _, f := range [...]float64{e.Lat, e.Lon, e.SpeedKPH, e.HeadingDeg, e.FuelPct} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	return b
}

// DecodeEvent decodes an events record. It checks everything ingest
// checks but the clock bounds, as a record may come from any producer with
// access to the topic; the id is not copied when intern returns it.
func DecodeEvent(key, value []byte, e *telemetry.Event) error {
	if len(value) != eventSize || value[0] != eventVersion {
		return errors.New("event record: unknown layout")
	}
	id := string(key)
	if !telemetry.ValidVehicleID(id) {
		return errors.New("event record: invalid vehicle id")
	}
	var f [5]float64
	for i := range f {
		f[i] = math.Float64frombits(binary.LittleEndian.Uint64(value[9+8*i:]))
	}
	*e = telemetry.Event{
		VehicleID: id, TS: int64(binary.LittleEndian.Uint64(value[1:])), // #nosec G115 -- the bits AppendEvent wrote
		Lat: f[0], Lon: f[1], SpeedKPH: f[2], HeadingDeg: f[3], FuelPct: f[4],
	}
	switch {
	case !(e.Lat >= -90 && e.Lat <= 90), !(e.Lon >= -180 && e.Lon <= 180):
		return errors.New("event record: position out of range")
	case !(e.SpeedKPH >= 0 && e.SpeedKPH <= 400):
		return errors.New("event record: speed out of range")
	case !math.IsNaN(e.HeadingDeg) && !(e.HeadingDeg >= 0 && e.HeadingDeg < 360):
		return errors.New("event record: heading out of range")
	case !math.IsNaN(e.FuelPct) && !(e.FuelPct >= 0 && e.FuelPct <= 100):
		return errors.New("event record: fuel out of range")
	case e.TS < minTS || e.TS > maxTS:
		return errors.New("event record: ts out of range")
	}
	return nil
}

// Event times outside years 1970..9999 are refused: telemetry cannot
// carry them, and window arithmetic stays far from overflow.
const (
	minTS = 0
	maxTS = 253402300799999
)

// Partial is one partition's share of one final window: the rows of the
// vehicles the partition holds, with their exact speed sums so that the
// merged fleet average is the very float one processor computes, and the
// partition's counters for the fleet row.
type Partial struct {
	Partition  int32
	Start, End int64 // Unix ms
	Late, Dup  int64
	Rejected   int64
	Rows       []telemetry.VehicleRow // sorted by vehicle id
	Sums       []float64              // speed sums, parallel to Rows
}

// Records of <prefix>.windows. Keys are text, values binary:
//
//	"w/<partition>/<window end ms>"   a Partial (replaced by a redelivery)
//	"m/<partition>"                   a Mark: the partition's watermark
//
// A window's key holds its end only: every window has the same length.
const (
	partialVersion = 1
	markVersion    = 1
	// maxRows bounds the rows a decoded Partial may claim.
	maxRows = 1 << 20
)

// PartialKey is the record key of p.
func PartialKey(partition int32, end int64) []byte {
	return fmt.Appendf(nil, "w/%d/%d", partition, end)
}

// MarkKey is the record key of a partition's Mark.
func MarkKey(partition int32) []byte { return fmt.Appendf(nil, "m/%d", partition) }

// AppendPartial appends p's record value to b. The bytes depend on p
// only: a replay that computes the same partial writes the same bytes.
func AppendPartial(b []byte, p *Partial) []byte {
	b = append(b, 'W', partialVersion)
	for _, v := range [...]int64{p.Start, p.End, p.Late, p.Dup, p.Rejected} {
		b = binary.AppendVarint(b, v)
	}
	b = binary.AppendUvarint(b, uint64(len(p.Rows)))
	for i := range p.Rows {
		r := &p.Rows[i]
		b = binary.AppendUvarint(b, uint64(len(r.VehicleID)))
		b = append(b, r.VehicleID...)
		b = binary.AppendVarint(b, r.Events)
		for _, f := range [...]float64{p.Sums[i], r.MinSpeedKPH, r.MaxSpeedKPH, r.DistanceKM, r.LastLat, r.LastLon} {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
		}
		b = binary.AppendVarint(b, r.LastTS.UnixMilli())
	}
	return b
}

// Mark is a partition's progress as its processor last reported it.
type Mark struct {
	Partition int32
	// Watermark in Unix ms: windows of the partition ending at or before
	// it are final and their partials written. math.MinInt64 while the
	// partition has none: it has seen no event and not yet been idle for
	// the idle timeout.
	Watermark int64
}

// AppendMark appends m's record value to b.
func AppendMark(b []byte, m *Mark) []byte {
	b = append(b, 'M', markVersion)
	return binary.AppendVarint(b, m.Watermark)
}

// A Record of the windows topic, decoded: a Partial or a Mark.
type Record struct {
	Partial *Partial
	Mark    *Mark
}

var errRecord = errors.New("windows record: malformed")

// DecodeRecord decodes a record of the windows topic.
func DecodeRecord(key, value []byte) (Record, error) {
	kind, rest, ok := strings.Cut(string(key), "/")
	if !ok {
		return Record{}, errRecord
	}
	switch kind {
	case "m":
		part, err := parsePartition(rest)
		if err != nil || len(value) < 3 || value[0] != 'M' || value[1] != markVersion {
			return Record{}, errRecord
		}
		wm, n := binary.Varint(value[2:])
		if n <= 0 || len(value) != 2+n {
			return Record{}, errRecord
		}
		m := &Mark{Partition: part, Watermark: wm}
		if !bytes.Equal(AppendMark(nil, m), value) {
			return Record{}, errRecord // not canonical
		}
		return Record{Mark: m}, nil
	case "w":
		ps, es, ok := strings.Cut(rest, "/")
		if !ok {
			return Record{}, errRecord
		}
		part, err := parsePartition(ps)
		if err != nil {
			return Record{}, errRecord
		}
		end, err := strconv.ParseInt(es, 10, 64)
		if err != nil {
			return Record{}, errRecord
		}
		p, err := decodePartial(value)
		if err != nil {
			return Record{}, err
		}
		if p.End != end {
			return Record{}, errRecord
		}
		p.Partition = part
		if !bytes.Equal(AppendPartial(nil, p), value) {
			// Not canonical: one partial has one encoding, so that
			// equal bytes mean equal partials.
			return Record{}, errRecord
		}
		return Record{Partial: p}, nil
	}
	return Record{}, errRecord
}

func parsePartition(s string) (int32, error) {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 0 {
		return 0, errRecord
	}
	return int32(n), nil
}

// reader walks a record value and remembers the first problem.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) float() float64 {
	if len(r.b) < 8 {
		r.bad = true
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if uint64(len(r.b)) < n {
		r.bad = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func decodePartial(value []byte) (*Partial, error) {
	if len(value) < 2 || value[0] != 'W' || value[1] != partialVersion {
		return nil, errRecord
	}
	r := reader{b: value[2:]}
	p := &Partial{Start: r.varint(), End: r.varint(), Late: r.varint(), Dup: r.varint(), Rejected: r.varint()}
	n := r.uvarint()
	// Each row takes at least 1+1+1+6*8+1 bytes: a count beyond what the
	// value can hold is a lie, refused before allocating for it.
	if r.bad || n > maxRows || n > uint64(len(r.b))/52 || p.Start >= p.End || p.Late < 0 || p.Dup < 0 || p.Rejected < 0 {
		return nil, errRecord
	}
	start, end := time.UnixMilli(p.Start).UTC(), time.UnixMilli(p.End).UTC()
	p.Rows = make([]telemetry.VehicleRow, n)
	p.Sums = make([]float64, n)
	for i := range p.Rows {
		id := string(r.bytes(r.uvarint()))
		events := r.varint()
		sum, lo, hi, dist, lat, lon := r.float(), r.float(), r.float(), r.float(), r.float(), r.float()
		last := r.varint()
		if r.bad || !telemetry.ValidVehicleID(id) || events <= 0 || (i > 0 && id <= p.Rows[i-1].VehicleID) {
			return nil, errRecord
		}
		p.Sums[i] = sum
		p.Rows[i] = telemetry.VehicleRow{
			WindowStart: start, WindowEnd: end, VehicleID: id, Events: events,
			AvgSpeedKPH: sum / float64(events), MinSpeedKPH: lo, MaxSpeedKPH: hi,
			DistanceKM: dist, LastLat: lat, LastLon: lon, LastTS: time.UnixMilli(last).UTC(),
		}
	}
	if len(r.b) != 0 || !slices.IsSortedFunc(p.Rows, func(a, b telemetry.VehicleRow) int { return strings.Compare(a.VehicleID, b.VehicleID) }) {
		return nil, errRecord
	}
	return p, nil
}
