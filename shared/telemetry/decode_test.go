package telemetry_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"fleetpulse/shared/telemetry"
)

// exampleLine is the contract's example event; exampleEvent is what it
// decodes to.
const exampleLine = `{"vehicle_id":"TRUCK-0042","ts":"2026-11-27T04:40:00.250Z","lat":52.52,"lon":13.405,"speed_kmh":48.3,"heading_deg":90,"fuel_pct":71.5}`

// exampleTS is 2026-11-27T04:40:00.250Z in Unix ms.
const exampleTS = 1795754400250

// maxTS is 9999-12-31T23:59:59.999Z in Unix ms, the last valid ts.
const maxTS = 253402300799999

func exampleEvent() telemetry.Event {
	return telemetry.Event{
		VehicleID: "TRUCK-0042", TS: exampleTS,
		Lat: 52.52, Lon: 13.405, SpeedKPH: 48.3, HeadingDeg: 90, FuelPct: 71.5,
	}
}

// exampleKeys are the keys of exampleLine in order, with their raw values.
var exampleKeys = [][2]string{
	{"vehicle_id", `"TRUCK-0042"`}, {"ts", `"2026-11-27T04:40:00.250Z"`},
	{"lat", "52.52"}, {"lon", "13.405"}, {"speed_kmh", "48.3"},
	{"heading_deg", "90"}, {"fuel_pct", "71.5"},
}

// eventLine returns exampleLine with the keys in kv (pairs of a raw key,
// written between quotes as it is, and a raw JSON value) changed: a key of
// the example gets the new value in its place, or is removed when the value
// is "-"; another key is appended.
func eventLine(kv ...string) string {
	if len(kv)%2 != 0 {
		panic("eventLine: odd number of arguments")
	}
	fields := slices.Clone(exampleKeys)
	for i := 0; i < len(kv); i += 2 {
		j := slices.IndexFunc(fields, func(f [2]string) bool { return f[0] == kv[i] })
		switch {
		case j < 0:
			fields = append(fields, [2]string{kv[i], kv[i+1]})
		case kv[i+1] == "-":
			fields = slices.Delete(fields, j, j+1)
		default:
			fields[j][1] = kv[i+1]
		}
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + f[0] + `":` + f[1])
	}
	b.WriteByte('}')
	return b.String()
}

// sameFloats compares float64s bit for bit: NaN equals NaN, 0 differs
// from -0.
var sameFloats = cmp.Comparer(func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) })

// nested returns n arrays nested in each other.
func nested(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

// quote returns s as a JSON string literal.
func quote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

var negZero = math.Copysign(0, -1)

func TestDecode(t *testing.T) {
	t.Parallel()
	manyKeys := func(n int, dup bool) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, `"x%d":%d,`, i, i)
		}
		if dup {
			b.WriteString(`"x3":null,`)
		}
		return "{" + b.String() + exampleLine[1:]
	}
	tests := []struct {
		name string
		line string
		want string                 // the reason, "" for a valid event
		edit func(*telemetry.Event) // turns exampleEvent into the valid event
	}{
		// Valid events.
		{name: "example", line: exampleLine},
		{name: "fields reversed", line: `{"fuel_pct":71.5,"heading_deg":90,"speed_kmh":48.3,"lon":13.405,"lat":52.52,"ts":"2026-11-27T04:40:00.250Z","vehicle_id":"TRUCK-0042"}`},
		{name: "whitespace everywhere", line: " \t{ \"vehicle_id\" :\t\"TRUCK-0042\" ,\n\"ts\" : \"2026-11-27T04:40:00.250Z\" , \"lat\" : 52.52 ,\r\n\"lon\":13.405, \"speed_kmh\":48.3 ,\"heading_deg\": 90,\"fuel_pct\" :71.5 }\t \n"},
		{name: "crlf line end", line: exampleLine + "\r\n"},
		{name: "cr line end", line: exampleLine + "\r"},
		{name: "unknown string field", line: eventLine("driver", `"Ann"`)},
		{name: "unknown fields of every kind", line: eventLine("a", `"x"`, "b", "-1.5e+3", "c", "true", "d", "false", "e", "null", "f", "0", "g", `""`)},
		{name: "unknown nested object", line: eventLine("meta", `{"a":[1,{"b":null},"c"],"d":{"e":{"f":{}}}, "g" : [ ] }`)},
		{name: "unknown field first", line: `{"meta":{"lat":1000},` + exampleLine[1:]},
		{name: "unknown field between", line: eventLine("lat", "-", "x", `{"ts":"bad"}`, "lat", "52.52")},
		{name: "unknown nesting at the limit", line: eventLine("deep", nested(31))},
		{name: "unknown object nesting at the limit", line: eventLine("deep", strings.Repeat(`{"a":`, 31)+"1"+strings.Repeat("}", 31))},
		{name: "duplicate key inside an unknown value", line: eventLine("meta", `{"a":1,"a":2}`)},
		{name: "unknown key differing in case", line: eventLine("LAT", "1000", "Lat", `"x"`)},
		{name: "unknown string with escapes", line: eventLine("note", `"a\"b\\c\/d\b\f\n\r\t\u00e9\uD83D\uDE9A\ud800"`)},
		{name: "unknown string with utf-8", line: eventLine("note", `"Größe 東京 🚚"`)},
		{name: "unknown key with escapes", line: eventLine(`n\u00f6te`, "1")},
		{name: "many unknown keys", line: manyKeys(40, false)},
		{name: "escaped key of a known field", line: eventLine("lat", "-", `l\u0061t`, "1.5"), edit: func(e *telemetry.Event) { e.Lat = 1.5 }},
		{name: "vehicle_id with escapes", line: eventLine("vehicle_id", `"\u0054RUCK\u002d0042"`)},
		{name: "vehicle_id with an escaped slash", line: eventLine("vehicle_id", `"A\/B"`), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id of every kind of character", line: eventLine("vehicle_id", `"0aZ.b_c:d-e"`), edit: func(e *telemetry.Event) { e.VehicleID = "0aZ.b_c:d-e" }},
		{name: "vehicle_id of one character", line: eventLine("vehicle_id", `"7"`), edit: func(e *telemetry.Event) { e.VehicleID = "7" }},
		{name: "vehicle_id of 64 characters", line: eventLine("vehicle_id", quote(strings.Repeat("x", 64))), edit: func(e *telemetry.Event) { e.VehicleID = strings.Repeat("x", 64) }},
		{name: "heading absent", line: eventLine("heading_deg", "-"), edit: func(e *telemetry.Event) { e.HeadingDeg = math.NaN() }},
		{name: "fuel absent", line: eventLine("fuel_pct", "-"), edit: func(e *telemetry.Event) { e.FuelPct = math.NaN() }},
		{name: "optional fields null", line: eventLine("heading_deg", "null", "fuel_pct", "null"), edit: func(e *telemetry.Event) { e.HeadingDeg, e.FuelPct = math.NaN(), math.NaN() }},
		{name: "required fields only", line: `{"vehicle_id":"TRUCK-0042","ts":1795754400250,"lat":52.52,"lon":13.405,"speed_kmh":48.3}`, edit: func(e *telemetry.Event) { e.HeadingDeg, e.FuelPct = math.NaN(), math.NaN() }},
		{name: "integer ts", line: eventLine("ts", "1795754400250")},
		{name: "integer ts of the epoch", line: eventLine("ts", "0"), edit: func(e *telemetry.Event) { e.TS = 0 }},
		{name: "integer ts minus zero", line: eventLine("ts", "-0"), edit: func(e *telemetry.Event) { e.TS = 0 }},
		{name: "integer ts at the end of year 9999", line: eventLine("ts", "253402300799999"), edit: func(e *telemetry.Event) { e.TS = maxTS }},
		{name: "ts with an offset", line: eventLine("ts", `"2026-11-27T05:40:00.250+01:00"`)},
		{name: "ts with a negative offset", line: eventLine("ts", `"2026-11-26T23:10:00.250-05:30"`)},
		{name: "ts with offset -00:00", line: eventLine("ts", `"2026-11-27T04:40:00.250-00:00"`)},
		{name: "ts with offset +23:59", line: eventLine("ts", `"2026-11-28T04:39:00.250+23:59"`)},
		{name: "ts with 9 fraction digits", line: eventLine("ts", `"2026-11-27T04:40:00.250999999Z"`)},
		{name: "ts with 12 fraction digits", line: eventLine("ts", `"2026-11-27T04:40:00.250999999999Z"`)},
		{name: "ts with 1 fraction digit", line: eventLine("ts", `"2026-11-27T04:40:00.2Z"`), edit: func(e *telemetry.Event) { e.TS = exampleTS - 50 }},
		{name: "ts with 2 fraction digits", line: eventLine("ts", `"2026-11-27T04:40:00.25Z"`)},
		{name: "ts without a fraction", line: eventLine("ts", `"2026-11-27T04:40:00Z"`), edit: func(e *telemetry.Event) { e.TS = exampleTS - 250 }},
		{name: "ts with escapes", line: eventLine("ts", `"2026-11-27\u005404:40:00.250\u005a"`)},
		{name: "ts of the epoch", line: eventLine("ts", `"1970-01-01T00:00:00Z"`), edit: func(e *telemetry.Event) { e.TS = 0 }},
		{name: "ts of the epoch in 1969 local time", line: eventLine("ts", `"1969-12-31T23:00:00-01:00"`), edit: func(e *telemetry.Event) { e.TS = 0 }},
		{name: "ts at the end of year 9999", line: eventLine("ts", `"9999-12-31T23:59:59.999999999Z"`), edit: func(e *telemetry.Event) { e.TS = maxTS }},
		{name: "ts on a leap day", line: eventLine("ts", `"2024-02-29T12:00:00Z"`), edit: func(e *telemetry.Event) { e.TS = time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC).UnixMilli() }},
		{name: "ts on the leap day of 2000", line: eventLine("ts", `"2000-02-29T00:00:00Z"`), edit: func(e *telemetry.Event) { e.TS = time.Date(2000, 2, 29, 0, 0, 0, 0, time.UTC).UnixMilli() }},
		{name: "lat -90", line: eventLine("lat", "-90"), edit: func(e *telemetry.Event) { e.Lat = -90 }},
		{name: "lat 90", line: eventLine("lat", "90.0"), edit: func(e *telemetry.Event) { e.Lat = 90 }},
		{name: "lat minus zero", line: eventLine("lat", "-0"), edit: func(e *telemetry.Event) { e.Lat = negZero }},
		{name: "lat with an exponent", line: eventLine("lat", "5.252E1"), edit: func(e *telemetry.Event) { e.Lat = 52.52 }},
		{name: "lat with a negative exponent", line: eventLine("lat", "5252e-2"), edit: func(e *telemetry.Event) { e.Lat = 52.52 }},
		{name: "lat with a signed exponent", line: eventLine("lat", "0.5252e+2"), edit: func(e *telemetry.Event) { e.Lat = 52.52 }},
		{name: "lat underflowing to zero", line: eventLine("lat", "1e-400"), edit: func(e *telemetry.Event) { e.Lat = 0 }},
		{name: "lat with many digits", line: eventLine("lat", "52.5200000000000000000000000000000000000000000000000000000001"), edit: func(e *telemetry.Event) { e.Lat = 52.52 }},
		{name: "lon -180", line: eventLine("lon", "-180"), edit: func(e *telemetry.Event) { e.Lon = -180 }},
		{name: "lon 180", line: eventLine("lon", "180"), edit: func(e *telemetry.Event) { e.Lon = 180 }},
		{name: "speed 0", line: eventLine("speed_kmh", "0"), edit: func(e *telemetry.Event) { e.SpeedKPH = 0 }},
		{name: "speed minus zero", line: eventLine("speed_kmh", "-0.0"), edit: func(e *telemetry.Event) { e.SpeedKPH = negZero }},
		{name: "speed 400", line: eventLine("speed_kmh", "400"), edit: func(e *telemetry.Event) { e.SpeedKPH = 400 }},
		{name: "heading 0", line: eventLine("heading_deg", "0"), edit: func(e *telemetry.Event) { e.HeadingDeg = 0 }},
		{name: "heading just below 360", line: eventLine("heading_deg", "359.99999999999994"), edit: func(e *telemetry.Event) { e.HeadingDeg = math.Nextafter(360, 0) }},
		{name: "fuel 0", line: eventLine("fuel_pct", "0"), edit: func(e *telemetry.Event) { e.FuelPct = 0 }},
		{name: "fuel 100", line: eventLine("fuel_pct", "100"), edit: func(e *telemetry.Event) { e.FuelPct = 100 }},

		// Not a single JSON object.
		{name: "empty line", line: "", want: telemetry.ReasonBadJSON},
		{name: "blank line", line: " \r\n", want: telemetry.ReasonBadJSON},
		{name: "array", line: "[" + exampleLine + "]", want: telemetry.ReasonBadJSON},
		{name: "null", line: "null", want: telemetry.ReasonBadJSON},
		{name: "string", line: `"TRUCK-0042"`, want: telemetry.ReasonBadJSON},
		{name: "number", line: "42", want: telemetry.ReasonBadJSON},
		{name: "unterminated object", line: exampleLine[:len(exampleLine)-1], want: telemetry.ReasonBadJSON},
		{name: "cut after a key", line: `{"vehicle_id"`, want: telemetry.ReasonBadJSON},
		{name: "cut after a colon", line: `{"vehicle_id":`, want: telemetry.ReasonBadJSON},
		{name: "cut inside a string", line: `{"vehicle_id":"TRU`, want: telemetry.ReasonBadJSON},
		{name: "cut inside a key", line: `{"vehi`, want: telemetry.ReasonBadJSON},
		{name: "lone brace", line: "{", want: telemetry.ReasonBadJSON},
		{name: "trailing data", line: exampleLine + "x", want: telemetry.ReasonBadJSON},
		{name: "two objects", line: exampleLine + exampleLine, want: telemetry.ReasonBadJSON},
		{name: "two objects on one line", line: exampleLine + " " + exampleLine, want: telemetry.ReasonBadJSON},
		{name: "trailing nul", line: exampleLine + "\x00", want: telemetry.ReasonBadJSON},
		{name: "byte order mark", line: "\ufeff" + exampleLine, want: telemetry.ReasonBadJSON},
		{name: "trailing comma", line: exampleLine[:len(exampleLine)-1] + ",}", want: telemetry.ReasonBadJSON},
		{name: "leading comma", line: `{,` + exampleLine[1:], want: telemetry.ReasonBadJSON},
		{name: "missing comma", line: `{"vehicle_id":"TRUCK-0042" "ts":0}`, want: telemetry.ReasonBadJSON},
		{name: "missing colon", line: `{"vehicle_id" "TRUCK-0042"}`, want: telemetry.ReasonBadJSON},
		{name: "missing value", line: `{"vehicle_id":}`, want: telemetry.ReasonBadJSON},
		{name: "unquoted key", line: `{vehicle_id:"TRUCK-0042"}`, want: telemetry.ReasonBadJSON},
		{name: "single quotes", line: `{'vehicle_id':'TRUCK-0042'}`, want: telemetry.ReasonBadJSON},
		{name: "comment", line: exampleLine + " // ok", want: telemetry.ReasonBadJSON},
		{name: "NaN", line: eventLine("lat", "NaN"), want: telemetry.ReasonBadJSON},
		{name: "Infinity", line: eventLine("lon", "Infinity"), want: telemetry.ReasonBadJSON},
		{name: "minus Infinity", line: eventLine("lon", "-Infinity"), want: telemetry.ReasonBadJSON},
		{name: "leading plus", line: eventLine("lat", "+1"), want: telemetry.ReasonBadJSON},
		{name: "leading zero", line: eventLine("lat", "01"), want: telemetry.ReasonBadJSON},
		{name: "leading zero of an integer ts", line: eventLine("ts", "01795754400250"), want: telemetry.ReasonBadJSON},
		{name: "hex number", line: eventLine("lat", "0x10"), want: telemetry.ReasonBadJSON},
		{name: "leading dot", line: eventLine("lat", ".5"), want: telemetry.ReasonBadJSON},
		{name: "trailing dot", line: eventLine("lat", "1."), want: telemetry.ReasonBadJSON},
		{name: "lone minus", line: strings.Replace(exampleLine, "52.52", "-", 1), want: telemetry.ReasonBadJSON},
		{name: "empty exponent", line: eventLine("lat", "1e"), want: telemetry.ReasonBadJSON},
		{name: "signed empty exponent", line: eventLine("lat", "1e+"), want: telemetry.ReasonBadJSON},
		{name: "two dots", line: eventLine("lat", "1.2.3"), want: telemetry.ReasonBadJSON},
		{name: "digit grouping", line: eventLine("speed_kmh", "1_000"), want: telemetry.ReasonBadJSON},
		{name: "bad number in an unknown field", line: eventLine("x", "01"), want: telemetry.ReasonBadJSON},
		{name: "True", line: eventLine("x", "True"), want: telemetry.ReasonBadJSON},
		{name: "truncated literal", line: eventLine("heading_deg", "nul"), want: telemetry.ReasonBadJSON},
		{name: "literal with a tail", line: eventLine("heading_deg", "nullx"), want: telemetry.ReasonBadJSON},
		{name: "bad escape", line: eventLine("vehicle_id", `"TRUCK\x42"`), want: telemetry.ReasonBadJSON},
		{name: "bad unicode escape", line: eventLine("x", `"\u12G4"`), want: telemetry.ReasonBadJSON},
		{name: "short unicode escape", line: eventLine("x", `"\u12"`), want: telemetry.ReasonBadJSON},
		{name: "backslash at the end", line: `{"x":"\`, want: telemetry.ReasonBadJSON},
		{name: "raw newline in a string", line: eventLine("vehicle_id", "\"TRUCK\n42\""), want: telemetry.ReasonBadJSON},
		{name: "raw tab in a key", line: eventLine("a\tb", "1"), want: telemetry.ReasonBadJSON},
		{name: "nesting one level too deep", line: eventLine("deep", nested(32)), want: telemetry.ReasonBadJSON},
		{name: "object nesting one level too deep", line: eventLine("deep", strings.Repeat(`{"a":`, 32)+"1"+strings.Repeat("}", 32)), want: telemetry.ReasonBadJSON},
		{name: "very deep nesting", line: eventLine("deep", nested(100000)), want: telemetry.ReasonBadJSON},
		{name: "unbalanced nesting", line: eventLine("x", "[1,{]}"), want: telemetry.ReasonBadJSON},
		{name: "array closed by a brace", line: eventLine("x", "[1}"), want: telemetry.ReasonBadJSON},
		{name: "colon in an array", line: eventLine("x", "[1:2]"), want: telemetry.ReasonBadJSON},
		{name: "key without a value in a nested object", line: eventLine("x", `{"a"}`), want: telemetry.ReasonBadJSON},
		{name: "non-string key in a nested object", line: eventLine("x", `{1:2}`), want: telemetry.ReasonBadJSON},
		{name: "trailing comma in an array", line: eventLine("x", "[1,]"), want: telemetry.ReasonBadJSON},

		// Invalid UTF-8 anywhere.
		{name: "invalid byte in vehicle_id", line: eventLine("vehicle_id", "\"TRUCK\xff\""), want: telemetry.ReasonInvalidUTF8},
		{name: "invalid byte in an unknown value", line: eventLine("x", "[\"\xc3\x28\"]"), want: telemetry.ReasonInvalidUTF8},
		{name: "invalid byte in a key", line: eventLine("x\xfe", "1"), want: telemetry.ReasonInvalidUTF8},
		{name: "invalid byte outside strings", line: exampleLine + "\xff", want: telemetry.ReasonInvalidUTF8},
		{name: "invalid byte before the object", line: "\x80" + exampleLine, want: telemetry.ReasonInvalidUTF8},
		{name: "overlong encoding", line: eventLine("x", "\"\xc0\xaf\""), want: telemetry.ReasonInvalidUTF8},
		{name: "surrogate encoded in utf-8", line: eventLine("x", "\"\xed\xa0\x80\""), want: telemetry.ReasonInvalidUTF8},
		{name: "truncated sequence", line: eventLine("x", "\"\xe6\x9d\""), want: telemetry.ReasonInvalidUTF8},
		{name: "invalid utf-8 wins over bad json", line: "{\"x\":\"\xff\"", want: telemetry.ReasonInvalidUTF8},
		{name: "invalid utf-8 after a syntax error", line: "{x\xff}", want: telemetry.ReasonInvalidUTF8},
		{name: "invalid utf-8 wins over a bad field", line: eventLine("lat", "1000", "x", "\"\xff\""), want: telemetry.ReasonInvalidUTF8},

		// Duplicate keys.
		{name: "duplicate known key", line: `{"lat":1,` + exampleLine[1:], want: telemetry.ReasonDuplicateKey},
		{name: "duplicate known key with the same value", line: exampleLine[:len(exampleLine)-1] + `,"fuel_pct":71.5}`, want: telemetry.ReasonDuplicateKey},
		{name: "duplicate null key", line: `{"heading_deg":null,` + exampleLine[1:], want: telemetry.ReasonDuplicateKey},
		{name: "duplicate unknown key", line: `{"x":1,` + eventLine("x", `"y"`)[1:], want: telemetry.ReasonDuplicateKey},
		{name: "duplicate through an escape", line: `{"l\u0061t":1,` + exampleLine[1:], want: telemetry.ReasonDuplicateKey},
		{name: "duplicate unknown key through an escape", line: eventLine("ab", "1", `a\u0062`, "2"), want: telemetry.ReasonDuplicateKey},
		{name: "duplicate among many unknown keys", line: manyKeys(40, true), want: telemetry.ReasonDuplicateKey},
		{name: "duplicate of an escaped and a raw emoji", line: `{"\ud83d\ude9a":1,"🚚":2,` + exampleLine[1:], want: telemetry.ReasonDuplicateKey},
		{name: "duplicate of two lone surrogates, both U+FFFD", line: `{"\ud800":1,"\uDC00":2,` + exampleLine[1:], want: telemetry.ReasonDuplicateKey},
		{name: "duplicate of a lone surrogate and U+FFFD", line: `{"\ud800\ud800A":1,"\ufffd\uFFFDA":2,` + exampleLine[1:], want: telemetry.ReasonDuplicateKey},
		{name: "duplicate of short escapes and unicode escapes", line: `{"\"\\\/\b\f\n\r\t":1,"\u0022\u005c/\u0008\u000C\u000a\u000d\u0009":2,` + exampleLine[1:], want: telemetry.ReasonDuplicateKey},
		{name: "no duplicate of a pair and its first half", line: `{"\ud83d\ude9a":1,"\ud83d":2,` + exampleLine[1:]},
		{name: "duplicate key wins over a bad field", line: `{"lat":1000,"x":1,"x":1}`, want: telemetry.ReasonDuplicateKey},
		{name: "bad json wins over a duplicate key", line: `{"x":1,"x":1,}`, want: telemetry.ReasonBadJSON},

		// vehicle_id.
		{name: "vehicle_id absent", line: eventLine("vehicle_id", "-"), want: telemetry.ReasonMissingVehicleID},
		{name: "vehicle_id null", line: eventLine("vehicle_id", "null"), want: telemetry.ReasonMissingVehicleID},
		{name: "empty object", line: "{}", want: telemetry.ReasonMissingVehicleID},
		{name: "vehicle_id empty", line: eventLine("vehicle_id", `""`), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id a number", line: eventLine("vehicle_id", "42"), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id true", line: eventLine("vehicle_id", "true"), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id an object", line: eventLine("vehicle_id", `{"id":"A"}`), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id an array", line: eventLine("vehicle_id", `["A"]`), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id of 65 characters", line: eventLine("vehicle_id", quote(strings.Repeat("x", 65))), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id formula trigger =", line: eventLine("vehicle_id", quote(`=cmd|' /C calc'!A0`)), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id formula trigger +", line: eventLine("vehicle_id", `"+1"`), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id formula trigger -", line: eventLine("vehicle_id", `"-1"`), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id formula trigger @", line: eventLine("vehicle_id", `"@SUM(1)"`), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id starting with a dot", line: eventLine("vehicle_id", `".A"`), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id with a space", line: eventLine("vehicle_id", `"TRUCK 42"`), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id with a comma", line: eventLine("vehicle_id", `"A,B"`), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id with a quote", line: eventLine("vehicle_id", `"A\"B"`), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id with an escaped newline", line: eventLine("vehicle_id", `"A\nB"`), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id with an escaped nul", line: eventLine("vehicle_id", `"A\u0000"`), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id with an escaped emoji", line: eventLine("vehicle_id", `"A\uD83D\uDE9A"`), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id with an escaped e acute", line: eventLine("vehicle_id", `"A\u00E9"`), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id with a lone surrogate", line: eventLine("vehicle_id", `"A\ud800"`), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id with non-ascii letters", line: eventLine("vehicle_id", `"LKW-Größe"`), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id with a fullwidth digit", line: eventLine("vehicle_id", `"１"`), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id with a trailing newline", line: eventLine("vehicle_id", `"A\n"`), want: telemetry.ReasonBadVehicleID},
		{name: "vehicle_id wins over ts", line: eventLine("ts", "-", "vehicle_id", "1"), want: telemetry.ReasonBadVehicleID},

		// ts.
		{name: "ts absent", line: eventLine("ts", "-"), want: telemetry.ReasonMissingTS},
		{name: "ts null", line: eventLine("ts", "null"), want: telemetry.ReasonMissingTS},
		{name: "ts without a zone", line: eventLine("ts", `"2026-11-27T04:40:00.250"`), want: telemetry.ReasonBadTS},
		{name: "ts with a zone name", line: eventLine("ts", `"2026-11-27T04:40:00.250 UTC"`), want: telemetry.ReasonBadTS},
		{name: "ts with an offset without a colon", line: eventLine("ts", `"2026-11-27T04:40:00+0100"`), want: telemetry.ReasonBadTS},
		{name: "ts with an offset of hours only", line: eventLine("ts", `"2026-11-27T04:40:00+01"`), want: telemetry.ReasonBadTS},
		{name: "ts with offset +24:00", line: eventLine("ts", `"2026-11-27T04:40:00+24:00"`), want: telemetry.ReasonBadTS},
		{name: "ts with offset minutes 60", line: eventLine("ts", `"2026-11-27T04:40:00+01:60"`), want: telemetry.ReasonBadTS},
		{name: "ts with a lower-case t", line: eventLine("ts", `"2026-11-27t04:40:00Z"`), want: telemetry.ReasonBadTS},
		{name: "ts with a lower-case z", line: eventLine("ts", `"2026-11-27T04:40:00z"`), want: telemetry.ReasonBadTS},
		{name: "ts with a space for T", line: eventLine("ts", `"2026-11-27 04:40:00Z"`), want: telemetry.ReasonBadTS},
		{name: "ts with a one-digit hour", line: eventLine("ts", `"2026-11-27T4:40:00Z"`), want: telemetry.ReasonBadTS},
		{name: "ts with a comma before the fraction", line: eventLine("ts", `"2026-11-27T04:40:00,250Z"`), want: telemetry.ReasonBadTS},
		{name: "ts with an empty fraction", line: eventLine("ts", `"2026-11-27T04:40:00.Z"`), want: telemetry.ReasonBadTS},
		{name: "ts without seconds", line: eventLine("ts", `"2026-11-27T04:40Z"`), want: telemetry.ReasonBadTS},
		{name: "ts date only", line: eventLine("ts", `"2026-11-27"`), want: telemetry.ReasonBadTS},
		{name: "ts empty", line: eventLine("ts", `""`), want: telemetry.ReasonBadTS},
		{name: "ts with spaces around", line: eventLine("ts", `" 2026-11-27T04:40:00Z "`), want: telemetry.ReasonBadTS},
		{name: "ts on February 30", line: eventLine("ts", `"2026-02-30T00:00:00Z"`), want: telemetry.ReasonBadTS},
		{name: "ts on February 29 of a common year", line: eventLine("ts", `"2025-02-29T00:00:00Z"`), want: telemetry.ReasonBadTS},
		{name: "ts on February 29 of 1900", line: eventLine("ts", `"1900-02-29T00:00:00Z"`), want: telemetry.ReasonBadTS},
		{name: "ts in month 13", line: eventLine("ts", `"2026-13-01T00:00:00Z"`), want: telemetry.ReasonBadTS},
		{name: "ts on day 0", line: eventLine("ts", `"2026-11-00T00:00:00Z"`), want: telemetry.ReasonBadTS},
		{name: "ts at hour 24", line: eventLine("ts", `"2026-11-27T24:00:00Z"`), want: telemetry.ReasonBadTS},
		{name: "ts on a leap second", line: eventLine("ts", `"2016-12-31T23:59:60Z"`), want: telemetry.ReasonBadTS},
		{name: "ts before the epoch", line: eventLine("ts", `"1969-12-31T23:59:59.999Z"`), want: telemetry.ReasonBadTS},
		{name: "ts before the epoch through its offset", line: eventLine("ts", `"1970-01-01T00:30:00+01:00"`), want: telemetry.ReasonBadTS},
		{name: "ts in year 10000 through its offset", line: eventLine("ts", `"9999-12-31T23:30:00-01:00"`), want: telemetry.ReasonBadTS},
		{name: "ts of year 0", line: eventLine("ts", `"0000-01-01T00:00:00Z"`), want: telemetry.ReasonBadTS},
		{name: "ts with a five-digit year", line: eventLine("ts", `"10000-01-01T00:00:00Z"`), want: telemetry.ReasonBadTS},
		{name: "ts with a signed year", line: eventLine("ts", `"+2026-11-27T04:40:00Z"`), want: telemetry.ReasonBadTS},
		{name: "ts with a letter in the year", line: eventLine("ts", `"2O26-11-27T04:40:00Z"`), want: telemetry.ReasonBadTS},
		{name: "ts with a letter in the zone", line: eventLine("ts", `"2026-11-27T04:40:00+0l:00"`), want: telemetry.ReasonBadTS},
		{name: "ts of digits in a string", line: eventLine("ts", `"1795754400250"`), want: telemetry.ReasonBadTS},
		{name: "ts with non-ascii digits", line: eventLine("ts", `"２026-11-27T04:40:00Z"`), want: telemetry.ReasonBadTS},
		{name: "integer ts with a fraction", line: eventLine("ts", "1795754400250.0"), want: telemetry.ReasonBadTS},
		{name: "integer ts with an exponent", line: eventLine("ts", "1.79575440025e12"), want: telemetry.ReasonBadTS},
		{name: "integer ts negative", line: eventLine("ts", "-1"), want: telemetry.ReasonBadTS},
		{name: "integer ts after year 9999", line: eventLine("ts", "253402300800000"), want: telemetry.ReasonBadTS},
		{name: "integer ts of many digits", line: eventLine("ts", "123456789012345678901234567890"), want: telemetry.ReasonBadTS},
		{name: "integer ts overflowing int64", line: eventLine("ts", "18446744073709551617"), want: telemetry.ReasonBadTS},
		{name: "ts true", line: eventLine("ts", "true"), want: telemetry.ReasonBadTS},
		{name: "ts an object", line: eventLine("ts", `{"ms":0}`), want: telemetry.ReasonBadTS},
		{name: "ts wins over lat, whatever the order", line: eventLine("lat", "1000", "ts", "-", "ts", `"x"`), want: telemetry.ReasonBadTS},

		// lat, lon, speed_kmh.
		{name: "lat absent", line: eventLine("lat", "-"), want: telemetry.ReasonMissingLat},
		{name: "lat null", line: eventLine("lat", "null"), want: telemetry.ReasonMissingLat},
		{name: "lat above 90", line: eventLine("lat", "90.00000000000001"), want: telemetry.ReasonBadLat},
		{name: "lat below -90", line: eventLine("lat", "-91"), want: telemetry.ReasonBadLat},
		{name: "lat a string", line: eventLine("lat", `"52.52"`), want: telemetry.ReasonBadLat},
		{name: "lat true", line: eventLine("lat", "true"), want: telemetry.ReasonBadLat},
		{name: "lat false", line: eventLine("lat", "false"), want: telemetry.ReasonBadLat},
		{name: "lat an array", line: eventLine("lat", "[52.52]"), want: telemetry.ReasonBadLat},
		{name: "lat an object", line: eventLine("lat", "{}"), want: telemetry.ReasonBadLat},
		{name: "lat overflowing", line: eventLine("lat", "1e999"), want: telemetry.ReasonBadLat},
		{name: "lat of a huge digit string", line: eventLine("lat", strings.Repeat("9", 400)), want: telemetry.ReasonBadLat},
		{name: "lat a NaN string", line: eventLine("lat", `"NaN"`), want: telemetry.ReasonBadLat},
		{name: "lon absent", line: eventLine("lon", "-"), want: telemetry.ReasonMissingLon},
		{name: "lon null", line: eventLine("lon", "null"), want: telemetry.ReasonMissingLon},
		{name: "lon above 180", line: eventLine("lon", "180.5"), want: telemetry.ReasonBadLon},
		{name: "lon below -180", line: eventLine("lon", "-180.0001"), want: telemetry.ReasonBadLon},
		{name: "lon overflowing negative", line: eventLine("lon", "-1e999"), want: telemetry.ReasonBadLon},
		{name: "lon a string", line: eventLine("lon", `"13.405"`), want: telemetry.ReasonBadLon},
		{name: "speed absent", line: eventLine("speed_kmh", "-"), want: telemetry.ReasonMissingSpeed},
		{name: "speed null", line: eventLine("speed_kmh", "null"), want: telemetry.ReasonMissingSpeed},
		{name: "speed negative", line: eventLine("speed_kmh", "-0.1"), want: telemetry.ReasonBadSpeed},
		{name: "speed above 400", line: eventLine("speed_kmh", "400.01"), want: telemetry.ReasonBadSpeed},
		{name: "speed a string", line: eventLine("speed_kmh", `"fast"`), want: telemetry.ReasonBadSpeed},
		{name: "missing lat wins over bad lon", line: eventLine("lat", "-", "lon", "1000"), want: telemetry.ReasonMissingLat},

		// Optional fields.
		{name: "heading 360", line: eventLine("heading_deg", "360"), want: telemetry.ReasonBadHeading},
		{name: "heading negative", line: eventLine("heading_deg", "-1"), want: telemetry.ReasonBadHeading},
		{name: "heading rounding to 360", line: eventLine("heading_deg", "359.99999999999999"), want: telemetry.ReasonBadHeading},
		{name: "heading a string", line: eventLine("heading_deg", `"90"`), want: telemetry.ReasonBadHeading},
		{name: "heading overflowing", line: eventLine("heading_deg", "1e999"), want: telemetry.ReasonBadHeading},
		{name: "fuel above 100", line: eventLine("fuel_pct", "100.5"), want: telemetry.ReasonBadFuel},
		{name: "fuel negative", line: eventLine("fuel_pct", "-0.5"), want: telemetry.ReasonBadFuel},
		{name: "fuel false", line: eventLine("fuel_pct", "false"), want: telemetry.ReasonBadFuel},
		{name: "fuel an array", line: eventLine("fuel_pct", "[]"), want: telemetry.ReasonBadFuel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := telemetry.NewDecoder(16)
			var got telemetry.Event
			r := d.Decode([]byte(tc.line), &got)
			if r != tc.want {
				t.Fatalf("Decode(%q) = %q, want %q", tc.line, r, tc.want)
			}
			if !slices.Contains(telemetry.Reasons, r) && r != "" {
				t.Errorf("reason %q is not in Reasons", r)
			}
			if r != "" {
				return
			}
			want := exampleEvent()
			if tc.edit != nil {
				tc.edit(&want)
			}
			if diff := cmp.Diff(want, got, sameFloats); diff != "" {
				t.Errorf("Decode(%q) event (-want +got):\n%s", tc.line, diff)
			}
			checkLikeEncodingJSON(t, []byte(tc.line), &got)
		})
	}
}

// referenceDecode decodes line with encoding/json into a map and converts
// that to an Event, as an independent reference for valid lines: floats
// as encoding/json converts them, a string ts through time.Parse,
// truncated to the millisecond.
func referenceDecode(line []byte) (telemetry.Event, error) {
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		return telemetry.Event{}, err
	}
	if m == nil {
		return telemetry.Event{}, errors.New("not an object")
	}
	e := telemetry.Event{HeadingDeg: math.NaN(), FuelPct: math.NaN()}
	var ok bool
	if e.VehicleID, ok = m["vehicle_id"].(string); !ok {
		return e, errors.New("vehicle_id is not a string")
	}
	switch ts := m["ts"].(type) {
	case string:
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return e, err
		}
		e.TS = t.UnixMilli()
	case float64:
		// Exact: valid ts are below 2^53.
		if ts != math.Trunc(ts) || math.Abs(ts) > 1<<53 {
			return e, fmt.Errorf("ts %v is not an integer", ts)
		}
		e.TS = int64(ts)
	default:
		return e, fmt.Errorf("ts of type %T", ts)
	}
	for _, f := range []struct {
		key      string
		dst      *float64
		optional bool
	}{
		{"lat", &e.Lat, false}, {"lon", &e.Lon, false}, {"speed_kmh", &e.SpeedKPH, false},
		{"heading_deg", &e.HeadingDeg, true}, {"fuel_pct", &e.FuelPct, true},
	} {
		switch v := m[f.key].(type) {
		case float64:
			*f.dst = v
		case nil:
			if !f.optional {
				return e, fmt.Errorf("%s missing", f.key)
			}
		default:
			return e, fmt.Errorf("%s of type %T", f.key, v)
		}
	}
	return e, nil
}

// checkLikeEncodingJSON fails t unless referenceDecode gives exactly got
// for line.
func checkLikeEncodingJSON(t *testing.T, line []byte, got *telemetry.Event) {
	t.Helper()
	want, err := referenceDecode(line)
	if err != nil {
		t.Fatalf("Decode accepted %q, encoding/json does not: %v", line, err)
	}
	if diff := cmp.Diff(want, *got, sameFloats); diff != "" {
		t.Errorf("Decode(%q) differs from encoding/json (-json +Decode):\n%s", line, diff)
	}
}

// TestDecodeLikeEncodingJSON compares Decode with encoding/json over many
// generated valid events, written in many ways.
func TestDecodeLikeEncodingJSON(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	formatFloat := func(v float64) string {
		switch rng.IntN(6) {
		case 0:
			return strconv.FormatFloat(v, 'g', -1, 64)
		case 1:
			return strconv.FormatFloat(v, 'e', rng.IntN(25), 64)
		case 2:
			return strconv.FormatFloat(v, 'E', -1, 64)
		case 3:
			return strconv.FormatFloat(v, 'f', rng.IntN(30), 64)
		case 4: // a decimal longer than any float64 needs
			return strconv.FormatFloat(v, 'f', 17, 64) + strconv.Itoa(rng.IntN(1e9))
		default:
			return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
		}
	}
	inRange := func(lo, hi float64) float64 {
		switch rng.IntN(10) {
		case 0:
			return lo
		case 1:
			return hi
		}
		return lo + rng.Float64()*(hi-lo)
	}
	d := telemetry.NewDecoder(64)
	const n = 3000
	accepted := 0
	for i := range n {
		ts := rng.Int64N(maxTS + 1)
		var tsRaw string
		if rng.IntN(3) == 0 {
			tsRaw = strconv.FormatInt(ts, 10)
		} else {
			tsRaw = quote(formatRFC3339(rng, time.UnixMilli(ts)))
		}
		heading := formatFloat(min(inRange(0, 360), math.Nextafter(360, 0)))
		fuel := formatFloat(inRange(0, 100))
		switch rng.IntN(4) {
		case 0:
			heading = "null"
		case 1:
			fuel = "-"
		}
		line := eventLine(
			"vehicle_id", quote(fmt.Sprintf("V-%d", rng.IntN(100))),
			"ts", tsRaw,
			"lat", formatFloat(inRange(-90, 90)),
			"lon", formatFloat(inRange(-180, 180)),
			"speed_kmh", formatFloat(inRange(0, 400)),
			"heading_deg", heading,
			"fuel_pct", fuel,
		)
		var e telemetry.Event
		if r := d.Decode([]byte(line), &e); r != "" {
			// The rounding of a format may push a value out of range.
			if want, err := referenceDecode([]byte(line)); err == nil && validateEvent(&want) == nil {
				t.Errorf("Decode(%q) = %q, want a valid event %+v", line, r, want)
			}
		} else {
			accepted++
			checkLikeEncodingJSON(t, []byte(line), &e)
		}
		if t.Failed() {
			t.Fatalf("stopped after event %d", i)
		}
	}
	if accepted < n/2 {
		t.Errorf("only %d of %d events accepted: the test checks too little", accepted, n)
	}
}

// formatRFC3339 writes t in RFC 3339 with a random zone offset and 0 to 12
// fraction digits, beyond the nanoseconds when more than 9.
func formatRFC3339(rng *rand.Rand, t time.Time) string {
	var zone *time.Location = time.UTC
	if rng.IntN(2) == 0 {
		zone = time.FixedZone("", (rng.IntN(48*60-1)-(24*60-1))*60)
	}
	t = t.Add(time.Duration(rng.IntN(1e6))) // sub-millisecond digits
	s := t.In(zone).Format("2006-01-02T15:04:05")
	if n := rng.IntN(13); n > 0 {
		frac := fmt.Sprintf("%09d%03d", t.Nanosecond(), rng.IntN(1000))
		s += "." + frac[:n]
	}
	return s + t.In(zone).Format("Z07:00")
}

// TestDecodeTSLikeTimeParse checks string ts against time.Parse: whatever
// Decode accepts, time.Parse accepts with the same instant, truncated to the
// millisecond; whatever time.Parse rejects, Decode rejects.
func TestDecodeTSLikeTimeParse(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	var inputs []string
	for range 5000 {
		// Cover every year, the edges of the range, and instants outside it.
		var ms int64
		switch rng.IntN(4) {
		case 0:
			ms = rng.Int64N(2*86400e3) - 86400e3
		case 1:
			ms = maxTS - rng.Int64N(2*86400e3) + 86400e3
		default:
			ms = rng.Int64N(maxTS + 1)
		}
		inputs = append(inputs, formatRFC3339(rng, time.UnixMilli(ms)))
	}
	// Forms time.Parse takes on its slow path, which are not RFC 3339.
	inputs = append(inputs,
		"2026-11-27T4:40:00Z", "2026-11-27T04:40:00,5Z", "2026-11-27T04:40:00+24:00",
		"2026-11-27T04:40:00.Z", "2026-11-27T04:40:00Z ", "2026-11-27T04:40:00.1234567890123456789Z",
	)
	d := telemetry.NewDecoder(1)
	accepted := 0
	for _, s := range inputs {
		line := eventLine("ts", quote(s))
		var e telemetry.Event
		r := d.Decode([]byte(line), &e)
		want, err := time.Parse(time.RFC3339Nano, s)
		switch {
		case r == "" && err != nil:
			t.Errorf("Decode accepted ts %q, time.Parse does not: %v", s, err)
		case r == "" && e.TS != want.UnixMilli():
			t.Errorf("ts %q decoded to %d, time.Parse gives %d", s, e.TS, want.UnixMilli())
		case r == telemetry.ReasonBadTS && err == nil && want.UnixMilli() >= 0 && want.UnixMilli() <= maxTS && isStrictRFC3339(s):
			t.Errorf("Decode rejected ts %q, time.Parse gives %v", s, want)
		case r != "" && r != telemetry.ReasonBadTS:
			t.Errorf("Decode(%q) = %q, want \"\" or %q", line, r, telemetry.ReasonBadTS)
		case r == "":
			accepted++
		}
	}
	if accepted < len(inputs)/2 {
		t.Errorf("only %d of %d ts accepted: the test checks too little", accepted, len(inputs))
	}
}

// strictRFC3339 is RFC 3339's date-time with upper-case T and Z.
var strictRFC3339 = regexp.MustCompile(`^\d{4}-\d\d-\d\dT([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$`)

func isStrictRFC3339(s string) bool { return strictRFC3339.MatchString(s) }

// TestDecoderReuse decodes lines one after another with one Decoder: no
// state of a line may leak into the next.
func TestDecoderReuse(t *testing.T) {
	t.Parallel()
	many := make([]string, 0, 60)
	for i := range 30 {
		many = append(many, fmt.Sprintf("k%d", i), "1")
	}
	steps := []struct {
		line string
		want string
		id   string
	}{
		{line: eventLine("x", "1", `\u0079`, "2"), id: "TRUCK-0042"},
		{line: eventLine("x", "1", "y", "2", "vehicle_id", `"B-1"`), id: "B-1"},
		{line: eventLine(many...), id: "TRUCK-0042"},
		{line: eventLine(many...), id: "TRUCK-0042"},
		{line: eventLine("vehicle_id", `"\u0043-1"`, "lat", "1000"), want: telemetry.ReasonBadLat},
		{line: `{"k1":1,` + eventLine("k1", "1")[1:], want: telemetry.ReasonDuplicateKey},
		{line: eventLine("k1", "1", "vehicle_id", `"\u0043-1"`), id: "C-1"},
		{line: eventLine(append(many, "vehicle_id", `"B-1"`)...), id: "B-1"},
		{line: "{", want: telemetry.ReasonBadJSON},
		{line: eventLine("heading_deg", "-"), id: "TRUCK-0042"},
	}
	d := telemetry.NewDecoder(2)
	for i, s := range steps {
		var e telemetry.Event
		r := d.Decode([]byte(s.line), &e)
		if r != s.want {
			t.Fatalf("step %d: Decode(%q) = %q, want %q", i, s.line, r, s.want)
		}
		if r == "" && e.VehicleID != s.id {
			t.Errorf("step %d: vehicle id %q, want %q", i, e.VehicleID, s.id)
		}
	}
}

// TestDecodeAllocs checks that interned ids cost no allocation, and ids
// beyond the Decoder's limit one each. It does not run in parallel:
// testing.AllocsPerRun counts the allocations of the whole process.
func TestDecodeAllocs(t *testing.T) {
	tests := []struct {
		name  string
		known []string // lines decoded before measuring
		line  string
		want  float64
	}{
		{name: "known id", known: []string{exampleLine}, line: exampleLine, want: 0},
		{name: "known id, integer ts", known: []string{exampleLine}, line: eventLine("ts", "1795754400250"), want: 0},
		{name: "known id, optional fields absent", known: []string{exampleLine}, line: eventLine("heading_deg", "-", "fuel_pct", "null"), want: 0},
		{name: "known id, unknown fields", known: []string{exampleLine}, line: eventLine("meta", `{"a":[1,2,{"b":"c"}]}`, "n", "1"), want: 0},
		{name: "known id, escaped", known: []string{exampleLine}, line: eventLine("vehicle_id", `"TRUCK\u002d0042"`), want: 0},
		{name: "rejected line", known: nil, line: eventLine("lat", "1000"), want: 0},
		{name: "bad json", known: nil, line: exampleLine + "x", want: 0},
		{name: "id beyond the limit", known: []string{eventLine("vehicle_id", `"A"`), eventLine("vehicle_id", `"B"`)}, line: exampleLine, want: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := telemetry.NewDecoder(2)
			var e telemetry.Event
			for _, l := range tc.known {
				if r := d.Decode([]byte(l), &e); r != "" {
					t.Fatalf("Decode(%q) = %q", l, r)
				}
			}
			line := []byte(tc.line)
			d.Decode(line, &e) // grow scratch space
			if got := testing.AllocsPerRun(100, func() { d.Decode(line, &e) }); got != tc.want {
				t.Errorf("Decode(%q) allocates %v times, want %v", line, got, tc.want)
			}
		})
	}
}

func TestNewDecoderLimits(t *testing.T) {
	t.Parallel()
	for _, n := range []int{-1, 0, 1, 1 << 20} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			d := telemetry.NewDecoder(n)
			for i := range 3 {
				var e telemetry.Event
				line := eventLine("vehicle_id", quote(fmt.Sprintf("V%d", i%2)))
				if r := d.Decode([]byte(line), &e); r != "" || e.VehicleID != fmt.Sprintf("V%d", i%2) {
					t.Errorf("Decode(%q) = %q with id %q", line, r, e.VehicleID)
				}
			}
		})
	}
}

// snakeCase is what a reason must look like to serve as a metric label.
var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

func TestReasons(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, r := range telemetry.Reasons {
		if !snakeCase.MatchString(r) {
			t.Errorf("reason %q is not snake_case", r)
		}
		if seen[r] {
			t.Errorf("reason %q listed twice", r)
		}
		seen[r] = true
	}
	if len(telemetry.Reasons) != 17 {
		t.Errorf("%d reasons, want 17: %q", len(telemetry.Reasons), telemetry.Reasons)
	}
}

func TestCheckTime(t *testing.T) {
	t.Parallel()
	const now = exampleTS
	tests := []struct {
		name              string
		ts, now           int64
		maxFuture, maxAge time.Duration
		want              string
	}{
		{name: "now", ts: now, now: now, maxFuture: time.Minute, maxAge: 24 * time.Hour},
		{name: "exactly max future ahead", ts: now + 60e3, now: now, maxFuture: time.Minute, maxAge: time.Hour},
		{name: "1 ms beyond max future", ts: now + 60e3 + 1, now: now, maxFuture: time.Minute, maxAge: time.Hour, want: telemetry.ReasonFuture},
		{name: "far future", ts: maxTS, now: now, maxFuture: time.Minute, maxAge: time.Hour, want: telemetry.ReasonFuture},
		{name: "exactly max age old", ts: now - 86400e3, now: now, maxFuture: time.Minute, maxAge: 24 * time.Hour},
		{name: "1 ms beyond max age", ts: now - 86400e3 - 1, now: now, maxFuture: time.Minute, maxAge: 24 * time.Hour, want: telemetry.ReasonTooOld},
		{name: "epoch", ts: 0, now: now, maxFuture: time.Minute, maxAge: 24 * time.Hour, want: telemetry.ReasonTooOld},
		{name: "zero limits, now", ts: now, now: now},
		{name: "zero limits, 1 ms ahead", ts: now + 1, now: now, want: telemetry.ReasonFuture},
		{name: "zero limits, 1 ms behind", ts: now - 1, now: now, want: telemetry.ReasonTooOld},
		{name: "sub-millisecond limit rounds down", ts: now + 2, now: now, maxFuture: 1999 * time.Microsecond, want: telemetry.ReasonFuture},
		{name: "sub-millisecond limit, within", ts: now + 1, now: now, maxFuture: 1999 * time.Microsecond},
		{name: "negative max future", ts: now, now: now, maxFuture: -time.Millisecond, want: telemetry.ReasonFuture},
		{name: "negative sub-millisecond max future", ts: now, now: now, maxFuture: -time.Microsecond, want: telemetry.ReasonFuture},
		{name: "negative max age", ts: now, now: now, maxFuture: time.Minute, maxAge: -time.Millisecond, want: telemetry.ReasonTooOld},
		{name: "largest limits, 31 years ahead", ts: now + 1e12, now: now, maxFuture: math.MaxInt64, maxAge: math.MaxInt64},
		{name: "largest limits, 56 years old", ts: 0, now: now, maxFuture: math.MaxInt64, maxAge: math.MaxInt64},
		{name: "largest limits, year 9999", ts: maxTS, now: now, maxFuture: math.MaxInt64, maxAge: math.MaxInt64, want: telemetry.ReasonFuture},
		{name: "smallest limits", ts: 0, now: 0, maxFuture: math.MinInt64, maxAge: math.MinInt64, want: telemetry.ReasonFuture},
		{name: "now at the int64 maximum", ts: maxTS, now: math.MaxInt64, maxFuture: math.MaxInt64, maxAge: math.MaxInt64, want: telemetry.ReasonTooOld},
		{name: "now at the int64 maximum, small limits", ts: 0, now: math.MaxInt64, maxFuture: time.Minute, maxAge: time.Hour, want: telemetry.ReasonTooOld},
		{name: "now at the int64 minimum", ts: 0, now: math.MinInt64, maxFuture: math.MaxInt64, maxAge: time.Hour, want: telemetry.ReasonFuture},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := exampleEvent()
			e.TS = tc.ts
			if got := telemetry.CheckTime(&e, tc.now, tc.maxFuture, tc.maxAge); got != tc.want {
				t.Errorf("CheckTime(ts %d, now %d, %v, %v) = %q, want %q", tc.ts, tc.now, tc.maxFuture, tc.maxAge, got, tc.want)
			}
		})
	}
}

// validIDPattern is the contract's vehicle id pattern.
var validIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)

// validateEvent checks the contract's rules for a decoded event,
// independently of Decode.
func validateEvent(e *telemetry.Event) error {
	in := func(v, lo, hi float64) bool { return v >= lo && v <= hi }
	year := time.UnixMilli(e.TS).UTC().Year()
	switch {
	case !validIDPattern.MatchString(e.VehicleID):
		return fmt.Errorf("vehicle_id %q does not match the pattern", e.VehicleID)
	case year < 1970 || year > 9999 || e.TS < 0:
		return fmt.Errorf("ts %d is in year %d", e.TS, year)
	case !in(e.Lat, -90, 90):
		return fmt.Errorf("lat %v", e.Lat)
	case !in(e.Lon, -180, 180):
		return fmt.Errorf("lon %v", e.Lon)
	case !in(e.SpeedKPH, 0, 400):
		return fmt.Errorf("speed_kmh %v", e.SpeedKPH)
	case !math.IsNaN(e.HeadingDeg) && !(e.HeadingDeg >= 0 && e.HeadingDeg < 360):
		return fmt.Errorf("heading_deg %v", e.HeadingDeg)
	case !math.IsNaN(e.FuelPct) && !in(e.FuelPct, 0, 100):
		return fmt.Errorf("fuel_pct %v", e.FuelPct)
	}
	return nil
}

// topLevelKeys returns the keys of the JSON object in line, in order, as
// encoding/json reads them, or an error if line is not one JSON object.
func topLevelKeys(line []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("starts with %v, not an object", tok)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the object: %v", err)
	}
	return keys, nil
}

// maxNesting returns the deepest nesting of arrays and objects in the valid
// JSON text line.
func maxNesting(line []byte) int {
	dec := json.NewDecoder(bytes.NewReader(line))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return deepest
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

func TestValidVehicleID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"TRUCK-0042": true, "a": true, "A.b_c:d-e": true, strings.Repeat("x", 64): true,
		"": false, "-A": false, "_A": false, "A B": false, "A,B": false, "=cmd": false,
		strings.Repeat("x", 65): false, "é": false,
	} {
		if got := telemetry.ValidVehicleID(id); got != want {
			t.Errorf("ValidVehicleID(%q) = %v, want %v", id, got, want)
		}
	}
}
