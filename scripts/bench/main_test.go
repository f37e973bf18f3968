package main

import (
	"errors"
	"testing"
)

func TestParseBench(t *testing.T) {
	t.Parallel()
	out := []byte(`goos: linux
BenchmarkDecode/string_ts-2         	 1000000	       686.8 ns/op	 195.11 MB/s	   1456051 events/s	       0 B/op	       0 allocs/op
BenchmarkPublish/msg=2KB/subs=1000-2         	      20	  67022123 ns/op	     42313 p50-us	    177435 p99-us
BenchmarkStatePerVehicle   	       1	      1661 bytes/vehicle
PASS
`)
	got := parseBench(out)
	for _, tc := range []struct {
		bench, unit string
		want        float64
	}{
		{"BenchmarkDecode/string_ts", "events/s", 1456051},
		{"BenchmarkDecode/string_ts", "allocs/op", 0},
		{"BenchmarkPublish/msg=2KB/subs=1000", "p99-us", 177435},
		{"BenchmarkStatePerVehicle", "bytes/vehicle", 1661},
	} {
		if v, ok := got[tc.bench][tc.unit]; !ok || v != tc.want {
			t.Errorf("%s %s = %v (found %v), want %v", tc.bench, tc.unit, v, ok, tc.want)
		}
	}
}

func TestLoadgenSummary(t *testing.T) {
	t.Parallel()
	out := []byte(`loadgen: ws http://127.0.0.1:1/ingest, 10000 vehicles
subscribers      1000 connected (1 vehicle each), 0 dropped as too slow (1008), failures: none
window latency   p50 282.62ms, p99 1.163s, max 1.196s over 600 deliveries
accepted         160000 (sent − rejected: WebSocket ingest answers rejected lines only)
accepted/s       10004
`)
	if v, err := number(out, "accepted"); err != nil || v != 160000 {
		t.Errorf("accepted = %v, %v; want 160000", v, err)
	}
	if v, err := number(out, "accepted/s"); err != nil || v != 10004 {
		t.Errorf("accepted/s = %v, %v; want 10004", v, err)
	}
	p50, p99, err := quantiles(out, "window latency")
	if err != nil || p50 != 282.62 || p99 != 1163 {
		t.Errorf("window latency = %v ms, %v ms, %v; want 282.62, 1163", p50, p99, err)
	}
	if _, err := number(out, "requests/s"); !errors.Is(err, errNoFigure) {
		t.Errorf("a missing line gave %v, want errNoFigure", err)
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	for v, want := range map[float64]string{1.54e6: "1.54 M", 112600: "112.6 k", 1661: "1661", 81.9: "81.9", 1.45: "1.45"} {
		if got := format(v); got != want {
			t.Errorf("format(%v) = %q, want %q", v, got, want)
		}
	}
}
