package api

import (
	"errors"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"fleetpulse/shared/telemetry"
)

// routeParams are the parameters of each /data route, as handleData,
// handleFleet and handleHistory pass them to parseQuery.
var routeParams = [][]string{{"vehicle_id"}, {"since"}, {"vehicle_id", "from", "to"}}

// FuzzParseQuery checks the /data, /data/fleet and /data/history query
// parser. Seeds live in testdata/fuzz/FuzzParseQuery. The invariants:
//   - it never panics; a refusal is a badRequest with a reason, which is
//     what the client sees;
//   - what it accepts is a well-formed query of known parameters, each
//     given at most once but vehicle_id, with valid vehicle ids (never one
//     that could start a CSV formula), at most 1000 of them, and from <= to;
//   - an accepted query encoded again parses to the same query.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"", "format=csv", "vehicle_id=TRUCK-0001&vehicle_id=VAN-2", "since=2026-11-27T04:40:00Z",
		"from=2026-11-27T04:40:00.123456789%2B02:00&to=2026-11-28T00:00:00Z", "vehicle_id=%3D1%2B1",
		"format=csv&format=json", "vehicle_id=%zz", "a;b", "to=2026-11-27T04:00:00Z&from=2026-11-27T05:00:00Z",
	} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(2))
	}
	id := regexp.MustCompile(telemetry.VehicleIDPattern)
	f.Fuzz(func(t *testing.T, raw string, route uint8) {
		allowed := routeParams[int(route)%len(routeParams)]
		q, err := parseQuery(raw, allowed...)
		if err != nil {
			var br badRequest
			if !errors.As(err, &br) || strings.TrimSpace(br.msg) == "" {
				t.Fatalf("parseQuery(%q) = %v: not a bad request with a reason", raw, err)
			}
			return
		}
		vals, perr := url.ParseQuery(raw)
		if perr != nil {
			t.Fatalf("parseQuery accepted %q, which url.ParseQuery refuses: %v", raw, perr)
		}
		for k, vs := range vals {
			if k != "format" && !slices.Contains(allowed, k) {
				t.Fatalf("parseQuery accepted the unknown parameter %q", k)
			}
			if k != "vehicle_id" && len(vs) > 1 {
				t.Fatalf("parseQuery accepted %q %d times", k, len(vs))
			}
		}
		if len(q.vehicleIDs) > 1000 {
			t.Fatalf("%d vehicle ids accepted", len(q.vehicleIDs))
		}
		for v := range q.vehicleIDs {
			if !id.MatchString(v) || strings.ContainsAny(v[:1], "=+-@\t\r") {
				t.Fatalf("accepted the vehicle id %q", v)
			}
		}
		if !q.from.IsZero() && !q.to.IsZero() && q.to.Before(q.from) {
			t.Fatalf("accepted to %v before from %v", q.to, q.from)
		}
		again, err := parseQuery(encodeQuery(q), allowed...)
		if err != nil {
			t.Fatalf("%q parsed to %+v, whose encoding %q is refused: %v", raw, q, encodeQuery(q), err)
		}
		if !sameQuery(q, again) {
			t.Fatalf("%q parsed to %+v; encoded and parsed again %+v", raw, q, again)
		}
	})
}

func encodeQuery(q query) string {
	v := url.Values{}
	if q.csv {
		v.Set("format", "csv")
	}
	for _, id := range slices.Sorted(maps.Keys(q.vehicleIDs)) {
		v.Add("vehicle_id", id)
	}
	for name, t := range map[string]time.Time{"since": q.since, "from": q.from, "to": q.to} {
		if !t.IsZero() {
			v.Set(name, t.Format(time.RFC3339Nano))
		}
	}
	return v.Encode()
}

func sameQuery(a, b query) bool {
	return a.csv == b.csv && maps.Equal(a.vehicleIDs, b.vehicleIDs) && (a.vehicleIDs == nil) == (b.vehicleIDs == nil) &&
		a.since.Equal(b.since) && a.from.Equal(b.from) && a.to.Equal(b.to)
}

// FuzzRedactQuery checks that the access log never shows the value of a
// credential-like parameter, however the query is spelled, and keeps the
// rest as it was sent.
func FuzzRedactQuery(f *testing.F) {
	for _, s := range []string{
		"token=abc", "a=1&token=abc&b=2", "TOKEN=abc", "t%6Fken=abc", "access_token=abc;b=2", "x=1&&y=2",
		"my_token=abc", "token", "token=", "%zz=abc&token=s", "api_key=abc=def",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out := RedactQuery(raw)
		in := strings.FieldsFunc(raw, func(r rune) bool { return r == '&' || r == ';' })
		got := strings.FieldsFunc(out, func(r rune) bool { return r == '&' || r == ';' })
		if len(in) != len(got) {
			t.Fatalf("RedactQuery(%q) = %q: %d pairs, want %d", raw, out, len(got), len(in))
		}
		for i, pair := range in {
			name, value, hasValue := strings.Cut(pair, "=")
			key, err := url.QueryUnescape(name)
			if err != nil {
				key = name
			}
			key = strings.ToLower(strings.TrimSpace(key))
			secret := sensitiveParams[key] || strings.Contains(key, "token") || strings.Contains(key, "secret") || strings.Contains(key, "password")
			switch {
			case secret && hasValue && got[i] != name+"=REDACTED":
				t.Fatalf("RedactQuery(%q) = %q shows the value %q of %q", raw, out, value, name)
			case !secret && got[i] != pair:
				t.Fatalf("RedactQuery(%q) = %q changed the pair %q", raw, out, pair)
			}
		}
	})
}
