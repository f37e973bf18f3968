package hub

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"fleetpulse/shared/telemetry"
)

var validID = regexp.MustCompile(telemetry.VehicleIDPattern)

// checkFilter fails unless f holds at most MaxVehicleIDs valid ids.
func checkFilter(t *testing.T, f filter) {
	t.Helper()
	if len(f) > MaxVehicleIDs {
		t.Fatalf("a filter of %d ids", len(f))
	}
	for id := range f {
		if !validID.MatchString(id) {
			t.Fatalf("the filter holds the invalid id %q", id)
		}
	}
}

// FuzzParseConnect checks the /ws query parser. Seeds live in
// testdata/fuzz/FuzzParseConnect. The invariants: it never panics; a
// refusal has a reason; an accepted since_seq is the one decimal number
// given, and encoding the accepted query again parses to the same one.
func FuzzParseConnect(f *testing.F) {
	for _, s := range []string{"", "since_seq=42", "since_seq=-1", "since_seq=1e3", "since_seq=18446744073709551616",
		"since_seq=1&since_seq=2", "vehicle_id=A&vehicle_id=B", "vehicle_id=%3D1", "since_seq=%zz", "since_seq=+1", "since_seq=0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := parseConnect(raw)
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatalf("parseConnect(%q): an error without a reason", raw)
			}
			return
		}
		vals, perr := url.ParseQuery(raw)
		if perr != nil {
			t.Fatalf("parseConnect accepted %q, which url.ParseQuery refuses", raw)
		}
		if c.resume != vals.Has("since_seq") {
			t.Fatalf("parseConnect(%q): resume %v", raw, c.resume)
		}
		if n, err := strconv.ParseUint(vals.Get("since_seq"), 10, 64); c.resume && (err != nil || n != c.since) {
			t.Fatalf("parseConnect(%q): since_seq %d", raw, c.since)
		}
		checkFilter(t, c.filter)
		again := url.Values{}
		if c.resume {
			again.Set("since_seq", strconv.FormatUint(c.since, 10))
		}
		for id := range c.filter {
			again.Add("vehicle_id", id)
		}
		c2, err := parseConnect(again.Encode())
		if err != nil || c2.resume != c.resume || c2.since != c.since || len(c2.filter) != len(c.filter) {
			t.Fatalf("%q parsed to %+v; encoded again %q gives %+v, %v", raw, c, again.Encode(), c2, err)
		}
	})
}

// FuzzParseSubscribe checks the subscribe messages a /ws client may send.
// Seeds live in testdata/fuzz/FuzzParseSubscribe. The invariants: it never
// panics; a refusal's reason fits a WebSocket close frame (123 bytes) and is
// valid UTF-8; an accepted message is a JSON subscribe message whose ids
// make a valid filter.
func FuzzParseSubscribe(f *testing.F) {
	for _, s := range []string{
		`{"type":"subscribe","vehicle_ids":["TRUCK-0001"]}`, `{"type":"subscribe","vehicle_ids":[]}`, `{"type":"subscribe"}`,
		`{"type":"subscribe","vehicle_ids":["=1+1"]}`, `{"type":"unsubscribe"}`, `{"type":"subscribe","vehicle_ids":"A"}`,
		`[]`, `null`, `{"type":"subscribe","type":"x"}`, "{\"type\":\"subscribe\",\"vehicle_ids\":[\"\xff\"]}",
		`{"type":"subscribe","vehicle_ids":[` + strings.Repeat(`"A",`, 1000) + `"A"]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		flt, err := parseSubscribe(b)
		if err != nil {
			if r := err.Error(); len(r) > 123 || !utf8.ValidString(r) || strings.TrimSpace(r) == "" {
				t.Fatalf("parseSubscribe(%q): the reason %q cannot be a close reason", b, r)
			}
			return
		}
		var m subscribeMessage
		if err := json.Unmarshal(b, &m); err != nil || m.Type != "subscribe" {
			t.Fatalf("parseSubscribe accepted %q: %v, type %q", b, err, m.Type)
		}
		checkFilter(t, flt)
	})
}
