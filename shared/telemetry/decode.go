package telemetry

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Reasons a line is rejected. They are short, stable and snake_case, and part
// of the API: /ingest answers carry them, and they label the metric
// fleetpulse_events_rejected_total{reason}. Keep the set bounded: never build
// a reason from input.
const (
	// ReasonBadJSON means the line is not a single valid JSON object: a
	// syntax error, data after the object, a value other than an object, or
	// nesting deeper than 32 levels.
	ReasonBadJSON = "bad_json"
	// ReasonInvalidUTF8 means the line holds invalid UTF-8 somewhere.
	ReasonInvalidUTF8 = "invalid_utf8"
	// ReasonDuplicateKey means a key of the event object, known or unknown,
	// appears twice (compared after unescaping).
	ReasonDuplicateKey = "duplicate_key"
	// ReasonMissingVehicleID means vehicle_id is absent or null.
	ReasonMissingVehicleID = "missing_vehicle_id"
	// ReasonBadVehicleID means vehicle_id is not a string, or does not match
	// ^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$ once unescaped.
	ReasonBadVehicleID = "bad_vehicle_id"
	// ReasonMissingTS means ts is absent or null.
	ReasonMissingTS = "missing_ts"
	// ReasonBadTS means ts is neither an RFC 3339 string with a zone nor a
	// JSON integer of Unix milliseconds, or lies outside the years 1970 to
	// 9999 (UTC).
	ReasonBadTS = "bad_ts"
	// ReasonMissingLat means lat is absent or null.
	ReasonMissingLat = "missing_lat"
	// ReasonBadLat means lat is not a number in [-90, 90].
	ReasonBadLat = "bad_lat"
	// ReasonMissingLon means lon is absent or null.
	ReasonMissingLon = "missing_lon"
	// ReasonBadLon means lon is not a number in [-180, 180].
	ReasonBadLon = "bad_lon"
	// ReasonMissingSpeed means speed_kmh is absent or null.
	ReasonMissingSpeed = "missing_speed_kmh"
	// ReasonBadSpeed means speed_kmh is not a number in [0, 400].
	ReasonBadSpeed = "bad_speed_kmh"
	// ReasonBadHeading means heading_deg is neither null nor a number in
	// [0, 360).
	ReasonBadHeading = "bad_heading_deg"
	// ReasonBadFuel means fuel_pct is neither null nor a number in [0, 100].
	ReasonBadFuel = "bad_fuel_pct"
	// ReasonFuture means ts is too far ahead of the server clock; only
	// CheckTime returns it.
	ReasonFuture = "ts_in_future"
	// ReasonTooOld means ts is too far behind the server clock; only
	// CheckTime returns it.
	ReasonTooOld = "ts_too_old"
)

// Reasons lists every reason above once, for metrics that must exist before
// the first rejection.
var Reasons = []string{
	ReasonBadJSON, ReasonInvalidUTF8, ReasonDuplicateKey,
	ReasonMissingVehicleID, ReasonBadVehicleID,
	ReasonMissingTS, ReasonBadTS,
	ReasonMissingLat, ReasonBadLat,
	ReasonMissingLon, ReasonBadLon,
	ReasonMissingSpeed, ReasonBadSpeed,
	ReasonBadHeading, ReasonBadFuel,
	ReasonFuture, ReasonTooOld,
}

// The fields of an event, in the order in which their reasons are checked:
// a line with several bad fields gets the reason of the first, whatever the
// order of its keys.
const (
	fieldVehicleID = iota
	fieldTS
	fieldLat
	fieldLon
	fieldSpeed
	fieldHeading
	fieldFuel
	numFields
	fieldUnknown = -1
)

// Reasons per field; the optional fields have no missing reason.
var (
	missingReasons = [numFields]string{ReasonMissingVehicleID, ReasonMissingTS, ReasonMissingLat, ReasonMissingLon, ReasonMissingSpeed, "", ""}
	badReasons     = [numFields]string{ReasonBadVehicleID, ReasonBadTS, ReasonBadLat, ReasonBadLon, ReasonBadSpeed, ReasonBadHeading, ReasonBadFuel}
)

const (
	// maxDepth is the deepest nesting Decode accepts; the event object
	// itself is level 1. It bounds the recursion of skipValue.
	maxDepth = 32
	// maxTS is 9999-12-31T23:59:59.999Z in Unix ms: the last instant RFC
	// 3339's four-digit years can name in UTC.
	maxTS = 253402300799999
	// maxIDLen is the longest vehicle id.
	maxIDLen = 64
	// maxUnknownList is how many unknown keys an event may have before
	// Decode finds duplicates among them with a map instead of comparing
	// each new key with every earlier one.
	maxUnknownList = 16
)

// Decoder decodes events, one JSON object at a time, with a hand-written
// scanner. It interns vehicle ids: decoding an event whose vehicle id it has
// seen before allocates nothing. A Decoder is not safe for concurrent use;
// give each goroutine its own. The zero value is not usable: call NewDecoder.
type Decoder struct {
	ids    map[string]string // interned vehicle ids, each its own value
	maxIDs int

	// scratch holds the latest unescaped string (a key, ts or vehicle_id).
	scratch []byte
	// unknown holds the keys of the current event that are no field of
	// Event, to find duplicates among them; they point into the line or,
	// for escaped keys, into their own copies. Decode clears it before it
	// returns, so that it keeps no line alive.
	unknown [][]byte
	// unknownSet replaces unknown when an event has many unknown keys.
	unknownSet map[string]struct{}
}

// NewDecoder returns a Decoder that interns at most maxIDs distinct vehicle
// ids. Ids beyond that are still decoded, but cost an allocation per event.
// The interned ids stay in memory as long as the Decoder, so maxIDs bounds
// what a producer sending ever new ids can pin.
func NewDecoder(maxIDs int) *Decoder {
	d := &Decoder{maxIDs: max(maxIDs, 0)}
	if d.maxIDs > 0 {
		d.ids = make(map[string]string, min(d.maxIDs, 1024))
	}
	return d
}

// Decode parses line, which holds one JSON object, optionally surrounded by
// JSON whitespace (so a CR of a CRLF line end is fine, a BOM is not), into
// *e and validates every field except the bounds that CheckTime checks. It
// returns "" for a valid event, else one of the reasons, and then *e is
// unspecified.
//
// Invalid UTF-8 anywhere wins over every other reason, bad JSON over a
// duplicate key, and a duplicate key over the field reasons, which are
// checked in the order vehicle_id, ts, lat, lon, speed_kmh, heading_deg,
// fuel_pct.
//
// Unknown keys are ignored, but their values must be valid JSON, nested at
// most 32 levels deep counting the event object; duplicate keys inside such
// values are not looked for. null for heading_deg or fuel_pct means absent
// (NaN), for a required field it means missing. Numbers follow the JSON
// grammar exactly and are converted as encoding/json does; a number too
// large for a float64 (1e999) is bad, one too small becomes 0. A string ts is
// RFC 3339 as time.Parse reads it (upper-case T and Z, a '.' before any
// number of fraction digits, zone hours up to 23) and is truncated to the
// millisecond; an integer ts is Unix milliseconds. Either must lie within the
// years 1970 to 9999 UTC.
func (d *Decoder) Decode(line []byte, e *Event) string {
	r := d.decode(line, e)
	if len(d.unknown) > 0 {
		clear(d.unknown)
		d.unknown = d.unknown[:0]
	}
	return r
}

func (d *Decoder) decode(line []byte, e *Event) string {
	i := skipSpace(line, 0)
	if i == len(line) || line[i] != '{' {
		return badJSON(line)
	}
	i = skipSpace(line, i+1)
	var (
		present uint8 // keys seen, null or not
		seen    uint8 // keys seen with a value other than null
		bad     uint8 // keys whose value is of the wrong type or out of range
		dup     bool
		// The vehicle id is validated once the whole line is known to
		// be JSON, and interned once the event is known to be valid:
		// rejected lines must not fill the intern table.
		idStart, idEnd int
		idEscaped      bool
	)
	if i < len(line) && line[i] == '}' {
		i++
	} else {
		for {
			if i == len(line) || line[i] != '"' {
				return badJSON(line)
			}
			end, flags, r := scanString(line, i+1)
			if r != "" {
				return fail(line, r)
			}
			key := line[i+1 : end]
			if flags&escaped != 0 {
				d.scratch = unescape(d.scratch[:0], key)
				key = d.scratch
			}
			f := fieldOf(key)
			if f == fieldUnknown {
				if !dup && d.seenUnknown(key, flags&escaped != 0) {
					dup = true
				}
			} else {
				bit := uint8(1) << f
				if present&bit != 0 {
					dup = true
				}
				present |= bit
			}
			i = skipSpace(line, end+1)
			if i == len(line) || line[i] != ':' {
				return badJSON(line)
			}
			i = skipSpace(line, i+1)
			if i == len(line) {
				return badJSON(line)
			}
			c := line[i]
			switch {
			case f == fieldUnknown:
				i, r = skipValue(line, i, 1)
				if r != "" {
					return fail(line, r)
				}
			case c == 'n':
				// null: absent, so missing when required.
				if !hasLiteral(line, i, "null") {
					return badJSON(line)
				}
				i += len("null")
			case f == fieldVehicleID && c == '"':
				end, flags, r := scanString(line, i+1)
				if r != "" {
					return fail(line, r)
				}
				idStart, idEnd, idEscaped = i+1, end, flags&escaped != 0
				seen |= 1 << fieldVehicleID
				i = end + 1
			case f == fieldTS && c == '"':
				end, flags, r := scanString(line, i+1)
				if r != "" {
					return fail(line, r)
				}
				s := line[i+1 : end]
				if flags&escaped != 0 {
					d.scratch = unescape(d.scratch[:0], s)
					s = d.scratch
				}
				ts, ok := parseTime(s)
				if ok {
					e.TS = ts
				} else {
					bad |= 1 << fieldTS
				}
				seen |= 1 << fieldTS
				i = end + 1
			case f != fieldVehicleID && (c == '-' || isDigit(c)):
				end, flags := scanNumber(line, i)
				if end < 0 {
					return badJSON(line)
				}
				if !d.setNumber(e, f, line[i:end], flags) {
					bad |= 1 << f
				}
				seen |= 1 << f
				i = end
			default:
				// Valid JSON of the wrong type, or a syntax error.
				i, r = skipValue(line, i, 1)
				if r != "" {
					return fail(line, r)
				}
				seen |= 1 << f
				bad |= 1 << f
			}
			i = skipSpace(line, i)
			if i == len(line) {
				return badJSON(line)
			}
			if line[i] == ',' {
				i = skipSpace(line, i+1)
				continue
			}
			if line[i] != '}' {
				return badJSON(line)
			}
			i++
			break
		}
	}
	if skipSpace(line, i) != len(line) {
		return badJSON(line)
	}
	if dup {
		return ReasonDuplicateKey
	}
	var id []byte
	if seen&^bad&(1<<fieldVehicleID) != 0 {
		id = line[idStart:idEnd]
		if idEscaped {
			d.scratch = unescape(d.scratch[:0], id)
			id = d.scratch
		}
		if !validID(id) {
			return ReasonBadVehicleID
		}
	}
	for f := range numFields {
		bit := uint8(1) << f
		if bad&bit != 0 {
			return badReasons[f]
		}
		if seen&bit == 0 && missingReasons[f] != "" {
			return missingReasons[f]
		}
	}
	if seen&(1<<fieldHeading) == 0 {
		e.HeadingDeg = math.NaN()
	}
	if seen&(1<<fieldFuel) == 0 {
		e.FuelPct = math.NaN()
	}
	e.VehicleID = d.intern(id)
	return ""
}

// fieldOf returns the field that key names, or fieldUnknown. Keys match
// exactly: "LAT" is an unknown key.
func fieldOf(key []byte) int {
	switch len(key) {
	case 2:
		if string(key) == "ts" {
			return fieldTS
		}
	case 3:
		switch string(key) {
		case "lat":
			return fieldLat
		case "lon":
			return fieldLon
		}
	case 8:
		if string(key) == "fuel_pct" {
			return fieldFuel
		}
	case 9:
		if string(key) == "speed_kmh" {
			return fieldSpeed
		}
	case 10:
		if string(key) == "vehicle_id" {
			return fieldVehicleID
		}
	case 11:
		if string(key) == "heading_deg" {
			return fieldHeading
		}
	}
	return fieldUnknown
}

// seenUnknown records an unknown key and reports whether the event had it
// before. An escaped key lives in d.scratch, which the next string reuses,
// so it is copied; an unescaped one points into the line.
func (d *Decoder) seenUnknown(key []byte, escaped bool) bool {
	if len(d.unknown) < maxUnknownList {
		for _, k := range d.unknown {
			if string(k) == string(key) {
				return true
			}
		}
		if escaped {
			key = append([]byte(nil), key...)
		}
		d.unknown = append(d.unknown, key)
		return false
	}
	// Many unknown keys: comparing each with all before it would take
	// quadratic time on a hostile line, so move them into a set.
	if len(d.unknown) == maxUnknownList {
		if d.unknownSet == nil {
			d.unknownSet = make(map[string]struct{}, 2*maxUnknownList)
		}
		clear(d.unknownSet)
		for _, k := range d.unknown {
			d.unknownSet[string(k)] = struct{}{}
		}
		// One more entry marks the set as in use for this event.
		d.unknown = append(d.unknown, nil)
	}
	if _, ok := d.unknownSet[string(key)]; ok {
		return true
	}
	d.unknownSet[string(key)] = struct{}{}
	return false
}

// setNumber converts the JSON number b to a float64 exactly as
// encoding/json does, stores it in the field f of e and reports whether it
// is valid there.
func (d *Decoder) setNumber(e *Event, f int, b []byte, flags uint8) bool {
	if f == fieldTS {
		ts, ok := parseMillis(b, flags)
		e.TS = ts
		return ok
	}
	// string(b) in the call does not allocate: ParseFloat copies the
	// string into the error it returns.
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return false // out of float64's range
	}
	switch f {
	case fieldLat:
		e.Lat = v
		return v >= -90 && v <= 90
	case fieldLon:
		e.Lon = v
		return v >= -180 && v <= 180
	case fieldSpeed:
		e.SpeedKPH = v
		return v >= 0 && v <= 400
	case fieldHeading:
		e.HeadingDeg = v
		return v >= 0 && v < 360
	case fieldFuel:
		e.FuelPct = v
		return v >= 0 && v <= 100
	}
	return false
}

// intern returns b as a string, allocating only for an id not seen before.
func (d *Decoder) intern(b []byte) string {
	if s, ok := d.ids[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.ids) < d.maxIDs {
		d.ids[s] = s
	}
	return s
}

// idChar classifies the bytes of a vehicle id: idFirst may start it, idRest
// may follow.
const (
	idFirst = 1 << iota
	idRest
)

var idChar = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			t[c] = idFirst | idRest
		case c == '.', c == '_', c == ':', c == '-':
			t[c] = idRest
		}
	}
	return t
}()

// VehicleIDPattern is the contract's pattern for vehicle ids, for messages.
const VehicleIDPattern = `^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`

// ValidVehicleID reports whether id matches VehicleIDPattern.
func ValidVehicleID(id string) bool {
	if len(id) == 0 || len(id) > maxIDLen || idChar[id[0]]&idFirst == 0 {
		return false
	}
	for i := 1; i < len(id); i++ {
		if idChar[id[i]]&idRest == 0 {
			return false
		}
	}
	return true
}

// validID is ValidVehicleID for the decoder's bytes.
func validID(id []byte) bool {
	if len(id) == 0 || len(id) > maxIDLen || idChar[id[0]]&idFirst == 0 {
		return false
	}
	for _, c := range id[1:] {
		if idChar[c]&idRest == 0 {
			return false
		}
	}
	return true
}

// badJSON returns the reason for a syntax error in line: invalid_utf8 when
// the line holds invalid UTF-8 anywhere (a byte that broke the syntax may
// be part of it), else bad_json.
func badJSON(line []byte) string {
	if !utf8.Valid(line) {
		return ReasonInvalidUTF8
	}
	return ReasonBadJSON
}

// fail turns the reason of a scan into Decode's answer.
func fail(line []byte, r string) string {
	if r == ReasonBadJSON {
		return badJSON(line)
	}
	return r
}

// isSpace reports whether c is JSON whitespace.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace, or len(b).
func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// hasLiteral reports whether b holds lit at i.
func hasLiteral(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}

// Flags of a scanned string or number.
const (
	escaped  = 1 << iota // a string holds a backslash escape
	fraction             // a number has a fraction
	exponent             // a number has an exponent
	negative             // a number has a minus sign
)

// plain marks the bytes that stand for themselves inside a JSON string and
// need no further look: printable ASCII other than '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString scans the rest of a string whose opening quote is just before
// b[i]. It returns the index of the closing quote and whether the string
// holds escapes, or a reason: bad_json for a missing quote, a control
// character or a bad escape; invalid_utf8 for invalid UTF-8.
func scanString(b []byte, i int) (end int, flags uint8, reason string) {
	for {
		for i < len(b) && plain[b[i]] {
			i++
		}
		if i == len(b) {
			return 0, 0, ReasonBadJSON
		}
		switch c := b[i]; {
		case c == '"':
			return i, flags, ""
		case c == '\\':
			flags |= escaped
			if i+1 == len(b) {
				return 0, 0, ReasonBadJSON
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(b, i+2); !ok {
					return 0, 0, ReasonBadJSON
				}
				i += 6
			default:
				return 0, 0, ReasonBadJSON
			}
		case c < 0x20:
			return 0, 0, ReasonBadJSON
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, 0, ReasonInvalidUTF8
			}
			i += size
		}
	}
}

// hex4 returns the value of the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if len(b)-i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// unescape appends the content of a string that scanString accepted to dst,
// with its escapes resolved as encoding/json resolves them: a \u escape of a
// surrogate that is not half of a pair becomes U+FFFD.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		case 'u':
			r, _ := hex4(s, i+2)
			i += 6
			if 0xD800 <= r && r < 0xE000 {
				if r < 0xDC00 && len(s)-i >= 6 && s[i] == '\\' && s[i+1] == 'u' {
					if lo, ok := hex4(s, i+2); ok && 0xDC00 <= lo && lo < 0xE000 {
						r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
						i += 6
						dst = utf8.AppendRune(dst, r)
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\' and '/' stand for themselves
			c = s[i+1]
		}
		dst = append(dst, c)
		i += 2
	}
	return dst
}

// scanNumber scans the JSON number that starts at b[i] and returns the index
// just after it and its flags, or -1 when it breaks the JSON grammar (a
// leading zero, a missing digit, a '+' sign). What follows it is the
// caller's to check.
func scanNumber(b []byte, i int) (end int, flags uint8) {
	if b[i] == '-' {
		flags |= negative
		i++
	}
	switch {
	case i == len(b):
		return -1, 0
	case b[i] == '0':
		i++
	case isDigit(b[i]):
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		return -1, 0
	}
	if i < len(b) && b[i] == '.' {
		flags |= fraction
		i++
		if i == len(b) || !isDigit(b[i]) {
			return -1, 0
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		flags |= exponent
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i == len(b) || !isDigit(b[i]) {
			return -1, 0
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	return i, flags
}

// skipValue skips the JSON value that starts at b[i], inside a container at
// nesting level depth, and returns the index just after it, or a reason.
func skipValue(b []byte, i, depth int) (int, string) {
	switch c := b[i]; c {
	case '"':
		end, _, r := scanString(b, i+1)
		return end + 1, r
	case '{', '[':
		if depth == maxDepth {
			return 0, ReasonBadJSON
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1, ""
		}
		for {
			if c == '{' {
				if i == len(b) || b[i] != '"' {
					return 0, ReasonBadJSON
				}
				end, _, r := scanString(b, i+1)
				if r != "" {
					return 0, r
				}
				i = skipSpace(b, end+1)
				if i == len(b) || b[i] != ':' {
					return 0, ReasonBadJSON
				}
				i = skipSpace(b, i+1)
			}
			if i == len(b) {
				return 0, ReasonBadJSON
			}
			var r string
			if i, r = skipValue(b, i, depth+1); r != "" {
				return 0, r
			}
			i = skipSpace(b, i)
			if i == len(b) {
				return 0, ReasonBadJSON
			}
			if b[i] == closer {
				return i + 1, ""
			}
			if b[i] != ',' {
				return 0, ReasonBadJSON
			}
			i = skipSpace(b, i+1)
		}
	case 't':
		if hasLiteral(b, i, "true") {
			return i + len("true"), ""
		}
	case 'f':
		if hasLiteral(b, i, "false") {
			return i + len("false"), ""
		}
	case 'n':
		if hasLiteral(b, i, "null") {
			return i + len("null"), ""
		}
	default:
		if c == '-' || isDigit(c) {
			if end, _ := scanNumber(b, i); end >= 0 {
				return end, ""
			}
		}
	}
	return 0, ReasonBadJSON
}

// parseMillis parses an integer ts of Unix ms, the JSON number b with the
// given flags, and reports whether it is an integer in [0, maxTS].
func parseMillis(b []byte, flags uint8) (int64, bool) {
	if flags&(fraction|exponent) != 0 {
		return 0, false
	}
	if flags&negative != 0 {
		b = b[1:]
		if string(b) != "0" { // -0 is 0
			return 0, false
		}
	}
	if len(b) > len("253402300799999") {
		return 0, false
	}
	var ms int64
	for _, c := range b {
		ms = ms*10 + int64(c-'0')
	}
	return ms, ms <= maxTS
}

// parseTime parses an RFC 3339 ts such as 2026-11-27T04:40:00.250+01:00
// and returns it in Unix ms, truncated towards the past, and whether it is
// valid and within [0, maxTS]. It accepts exactly what the fast path of
// time.Parse(time.RFC3339Nano, ...) accepts and returns the same instant;
// it rejects the non-RFC 3339 forms that time.Parse's slow path would take
// (one-digit hours, a ',' before the fraction, zone hours past 23).
func parseTime(s []byte) (int64, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") ||
		s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	s = s[19:]
	var ms int64
	if len(s) >= 2 && s[0] == '.' && isDigit(s[1]) {
		n := 1
		for ; n < len(s) && isDigit(s[n]); n++ {
			if n <= 3 {
				ms = ms*10 + int64(s[n]-'0')
			}
		}
		for k := n; k <= 3; k++ { // fewer than 3 digits
			ms *= 10
		}
		s = s[n:]
	}
	var offset int64 // seconds east of UTC
	if len(s) != 1 || s[0] != 'Z' {
		if len(s) != len("+07:00") || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
			return 0, false
		}
		zh, ok1 := digits(s[1:3])
		zm, ok2 := digits(s[4:6])
		if !ok1 || !ok2 || zh > 23 || zm > 59 {
			return 0, false
		}
		offset = zh*3600 + zm*60
		if s[0] == '-' {
			offset = -offset
		}
	}
	secs := daysSinceEpoch(year, month, day)*86400 + hour*3600 + minute*60 + sec - offset
	ts := secs*1000 + ms
	return ts, secs >= 0 && ts <= maxTS
}

// digits returns the value of the decimal digits b.
func digits(b []byte) (int64, bool) {
	var n int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func isLeap(year int64) bool { return year%4 == 0 && (year%100 != 0 || year%400 == 0) }

// daysBefore[m] is the number of days before month m+1 in a common year.
var daysBefore = [13]int64{0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365}

// daysIn returns the number of days in month (1 to 12) of year.
func daysIn(month, year int64) int64 {
	if month == 2 && isLeap(year) {
		return 29
	}
	return daysBefore[month] - daysBefore[month-1]
}

// daysSinceEpoch returns the days from 1970-01-01 to the given date of the
// proleptic Gregorian calendar, for years 0 to 9999.
func daysSinceEpoch(year, month, day int64) int64 {
	// Leap years in [1, y) are y'/4 - y'/100 + y'/400 with y' = y-1;
	// shifting by 400 years keeps y' positive for year 0.
	leapsBefore := func(y int64) int64 {
		y += 400 - 1
		return y/4 - y/100 + y/400
	}
	days := (year-1970)*365 + leapsBefore(year) - leapsBefore(1970) + daysBefore[month-1] + day - 1
	if month > 2 && isLeap(year) {
		days++
	}
	return days
}

// CheckTime returns ReasonFuture when e.TS is more than maxFuture after
// nowMS (Unix ms), ReasonTooOld when it is more than maxAge before it, else
// "". Exactly maxFuture ahead or maxAge behind is fine; the durations count
// in whole milliseconds, rounded down.
func CheckTime(e *Event, nowMS int64, maxFuture, maxAge time.Duration) string {
	switch {
	case exceeds(e.TS, nowMS, maxFuture):
		return ReasonFuture
	case exceeds(nowMS, e.TS, maxAge):
		return ReasonTooOld
	}
	return ""
}

// exceeds reports whether a-b > limit, for a and b in ms, without overflow.
func exceeds(a, b int64, limit time.Duration) bool {
	l := int64(limit / time.Millisecond)
	if limit%time.Millisecond < 0 {
		l-- // round down, not towards zero
	}
	// a-b > l  ⇔  a > b+l; b+l may leave the int64 range.
	if l >= 0 && b > math.MaxInt64-l {
		return false
	}
	if l < 0 && b < math.MinInt64-l {
		return true
	}
	return a > b+l
}
