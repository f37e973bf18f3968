package telemetry

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// TimeLayout is how every timestamp is written, in JSON and CSV: RFC 3339 in
// UTC with millisecond precision, such as 2026-11-27T04:40:00.000Z.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Column orders. They are part of the contract with users' tools.
var (
	VehicleColumns = []string{"window_start", "window_end", "vehicle_id", "events",
		"avg_speed_kmh", "min_speed_kmh", "max_speed_kmh", "distance_km",
		"last_lat", "last_lon", "last_ts"}
	// LatestColumns are the columns of latest_metrics.csv: the vehicle
	// columns plus last_updated.
	LatestColumns = append(append([]string(nil), VehicleColumns...), "last_updated")
	FleetColumns  = []string{"window_start", "window_end", "vehicles_active", "events",
		"avg_speed_kmh", "max_speed_kmh", "distance_km",
		"late_events", "duplicate_events", "rejected_events"}
)

// AppendHeader appends cols joined by commas and a newline.
func AppendHeader(b []byte, cols []string) []byte {
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, c...)
	}
	return append(b, '\n')
}

// AppendTime appends t in TimeLayout.
func AppendTime(b []byte, t time.Time) []byte {
	// By hand: three timestamps per row made time.AppendFormat a tenth of
	// the server's CPU when a 10k-vehicle window was encoded.
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, TimeLayout)
	}
	hour, minute, sec := t.Clock()
	ms := t.Nanosecond() / 1e6 // truncated, as the layout's .000 is
	// #nosec G115 -- every value below is one decimal digit, 0 to 9
	b = append(b,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
	return b
}

func appendFixed(b []byte, f float64, places int) []byte {
	n := len(b)
	b = strconv.AppendFloat(b, f, 'f', places, 64)
	// A tiny negative value rounds to "-0.00": write "0.00".
	if b[n] == '-' {
		zero := true
		for _, c := range b[n+1:] {
			if c != '0' && c != '.' {
				zero = false
				break
			}
		}
		if zero {
			b = append(b[:n], b[n+1:]...)
		}
	}
	return b
}

// AppendCSV appends r as one CSV record without a line end. Speeds have 2
// decimals, distance 3, coordinates 6. Vehicle ids cannot hold a comma, a
// quote or a formula trigger at their start, so no field needs quoting.
func (r *VehicleRow) AppendCSV(b []byte) []byte {
	b = AppendTime(b, r.WindowStart)
	b = append(b, ',')
	b = AppendTime(b, r.WindowEnd)
	b = append(b, ',')
	b = append(b, r.VehicleID...)
	b = append(b, ',')
	b = strconv.AppendInt(b, r.Events, 10)
	b = append(b, ',')
	b = appendFixed(b, r.AvgSpeedKPH, 2)
	b = append(b, ',')
	b = appendFixed(b, r.MinSpeedKPH, 2)
	b = append(b, ',')
	b = appendFixed(b, r.MaxSpeedKPH, 2)
	b = append(b, ',')
	b = appendFixed(b, r.DistanceKM, 3)
	b = append(b, ',')
	b = appendFixed(b, r.LastLat, 6)
	b = append(b, ',')
	b = appendFixed(b, r.LastLon, 6)
	b = append(b, ',')
	return AppendTime(b, r.LastTS)
}

// AppendCSV appends r as one CSV record without a line end.
func (r *FleetRow) AppendCSV(b []byte) []byte {
	b = AppendTime(b, r.WindowStart)
	b = append(b, ',')
	b = AppendTime(b, r.WindowEnd)
	b = append(b, ',')
	b = strconv.AppendInt(b, r.VehiclesActive, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, r.Events, 10)
	b = append(b, ',')
	b = appendFixed(b, r.AvgSpeedKPH, 2)
	b = append(b, ',')
	b = appendFixed(b, r.MaxSpeedKPH, 2)
	b = append(b, ',')
	b = appendFixed(b, r.DistanceKM, 3)
	b = append(b, ',')
	b = strconv.AppendInt(b, r.LateEvents, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, r.DuplicateEvents, 10)
	b = append(b, ',')
	return strconv.AppendInt(b, r.RejectedEvents, 10)
}

func appendKey(b []byte, k string) []byte {
	b = append(b, '"')
	b = append(b, k...)
	return append(b, '"', ':')
}

func appendTimeJSON(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = AppendTime(b, t)
	return append(b, '"')
}

// appendString appends s as a JSON string. Control characters, quotes and
// backslashes are escaped; invalid UTF-8 becomes U+FFFD, as in encoding/json.
// (strconv.Quote is not JSON: it writes escapes such as \x00 and \U000e0001.)
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func appendFloat(b []byte, f float64) []byte {
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// AppendJSON appends r as a JSON object. Numbers are unrounded; timestamps
// use TimeLayout.
func (r *VehicleRow) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendKey(b, "window_start")
	b = appendTimeJSON(b, r.WindowStart)
	b = append(b, ',')
	b = appendKey(b, "window_end")
	b = appendTimeJSON(b, r.WindowEnd)
	b = append(b, ',')
	b = appendKey(b, "vehicle_id")
	b = appendString(b, r.VehicleID)
	b = append(b, ',')
	b = appendKey(b, "events")
	b = strconv.AppendInt(b, r.Events, 10)
	b = append(b, ',')
	b = appendKey(b, "avg_speed_kmh")
	b = appendFloat(b, r.AvgSpeedKPH)
	b = append(b, ',')
	b = appendKey(b, "min_speed_kmh")
	b = appendFloat(b, r.MinSpeedKPH)
	b = append(b, ',')
	b = appendKey(b, "max_speed_kmh")
	b = appendFloat(b, r.MaxSpeedKPH)
	b = append(b, ',')
	b = appendKey(b, "distance_km")
	b = appendFloat(b, r.DistanceKM)
	b = append(b, ',')
	b = appendKey(b, "last_lat")
	b = appendFloat(b, r.LastLat)
	b = append(b, ',')
	b = appendKey(b, "last_lon")
	b = appendFloat(b, r.LastLon)
	b = append(b, ',')
	b = appendKey(b, "last_ts")
	b = appendTimeJSON(b, r.LastTS)
	return append(b, '}')
}

// AppendJSON appends r as a JSON object.
func (r *FleetRow) AppendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendKey(b, "window_start")
	b = appendTimeJSON(b, r.WindowStart)
	b = append(b, ',')
	b = appendKey(b, "window_end")
	b = appendTimeJSON(b, r.WindowEnd)
	b = append(b, ',')
	b = appendKey(b, "vehicles_active")
	b = strconv.AppendInt(b, r.VehiclesActive, 10)
	b = append(b, ',')
	b = appendKey(b, "events")
	b = strconv.AppendInt(b, r.Events, 10)
	b = append(b, ',')
	b = appendKey(b, "avg_speed_kmh")
	b = appendFloat(b, r.AvgSpeedKPH)
	b = append(b, ',')
	b = appendKey(b, "max_speed_kmh")
	b = appendFloat(b, r.MaxSpeedKPH)
	b = append(b, ',')
	b = appendKey(b, "distance_km")
	b = appendFloat(b, r.DistanceKM)
	b = append(b, ',')
	b = appendKey(b, "late_events")
	b = strconv.AppendInt(b, r.LateEvents, 10)
	b = append(b, ',')
	b = appendKey(b, "duplicate_events")
	b = strconv.AppendInt(b, r.DuplicateEvents, 10)
	b = append(b, ',')
	b = appendKey(b, "rejected_events")
	b = strconv.AppendInt(b, r.RejectedEvents, 10)
	return append(b, '}')
}

// MarshalJSON encodes r with AppendJSON.
func (r VehicleRow) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil), nil }

// MarshalJSON encodes r with AppendJSON.
func (r FleetRow) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil), nil }

// AppendVehiclesJSON appends rows as a JSON array.
func AppendVehiclesJSON(b []byte, rows []VehicleRow) []byte {
	b = append(b, '[')
	for i := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = rows[i].AppendJSON(b)
	}
	return append(b, ']')
}

// AppendFleetJSON appends rows as a JSON array.
func AppendFleetJSON(b []byte, rows []FleetRow) []byte {
	b = append(b, '[')
	for i := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = rows[i].AppendJSON(b)
	}
	return append(b, ']')
}
