package telemetry_test

import (
	"encoding/json"
	"slices"
	"testing"
	"unicode/utf8"

	"fleetpulse/shared/telemetry"
)

// FuzzDecode checks Decode against encoding/json and the contract's rules.
// Seeds live in testdata/fuzz/FuzzDecode; they cover valid events, formula
// triggers, NaN and Infinity, huge numbers, deep nesting, invalid UTF-8,
// duplicate keys, a BOM and CRLF. The invariants:
//   - Decode never panics and answers "" or a reason of Decode from Reasons,
//     the same again for the same line, whatever the Decoder decoded before;
//   - invalid UTF-8 anywhere gives invalid_utf8, any other line that
//     encoding/json finds invalid gives bad_json;
//   - bad_json is only for lines that are not one valid JSON object or nest
//     deeper than 32 levels;
//   - a valid event is one JSON object (json.Valid) without duplicate keys,
//     passes validateEvent, and equals what encoding/json decodes.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(exampleLine))
	f.Add([]byte(eventLine("ts", "1795754400250", "heading_deg", "null", "fuel_pct", "-")))
	shared := telemetry.NewDecoder(64) // carries state from input to input
	f.Fuzz(func(t *testing.T, line []byte) {
		in := slices.Clone(line)
		var e telemetry.Event
		r := shared.Decode(line, &e)
		if string(line) != string(in) {
			t.Fatalf("Decode changed its input %q to %q", in, line)
		}
		var e2 telemetry.Event
		if r2 := telemetry.NewDecoder(0).Decode(line, &e2); r2 != r {
			t.Fatalf("Decode(%q) = %q with a used Decoder, %q with a new one", line, r, r2)
		}
		if r == telemetry.ReasonFuture || r == telemetry.ReasonTooOld || (r != "" && !slices.Contains(telemetry.Reasons, r)) {
			t.Fatalf("Decode(%q) = %q, not a reason of Decode", line, r)
		}

		valid := json.Valid(line)
		switch {
		case !utf8.Valid(line):
			if r != telemetry.ReasonInvalidUTF8 {
				t.Fatalf("Decode(%q) = %q for invalid UTF-8", line, r)
			}
			return
		case !valid:
			if r != telemetry.ReasonBadJSON {
				t.Fatalf("Decode(%q) = %q, but encoding/json finds it invalid", line, r)
			}
			return
		}
		keys, objErr := topLevelKeys(line)
		if r == telemetry.ReasonBadJSON {
			if objErr == nil && maxNesting(line) <= 32 {
				t.Fatalf("Decode(%q) = bad_json for a JSON object %d levels deep", line, maxNesting(line))
			}
			return
		}
		if objErr != nil {
			t.Fatalf("Decode(%q) = %q, but it is not one JSON object: %v", line, r, objErr)
		}
		sorted := slices.Clone(keys)
		slices.Sort(sorted)
		dup := len(slices.Compact(sorted)) != len(keys)
		if dup != (r == telemetry.ReasonDuplicateKey) {
			t.Fatalf("Decode(%q) = %q, keys %q", line, r, keys)
		}
		if r != "" {
			return
		}
		if err := validateEvent(&e); err != nil {
			t.Fatalf("Decode(%q) accepted an invalid event: %v", line, err)
		}
		checkLikeEncodingJSON(t, line, &e)
		checkLikeEncodingJSON(t, line, &e2)
	})
}
