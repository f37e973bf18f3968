package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// FuzzRecording checks the readers of recorded telemetry (NDJSON and CSV
// files that operators replay, often exported by other systems). Seeds
// live in testdata/fuzz/FuzzRecording. The invariants: it never panics or
// loops; a skipped line is a lineError with a reason and a line number
// that only grows; every event read has its ts and encodes to JSON that
// reads back to the same event.
func FuzzRecording(f *testing.F) {
	f.Add([]byte("{\"vehicle_id\":\"A\",\"ts\":\"2026-11-27T04:40:00Z\",\"lat\":1,\"lon\":2,\"speed_kmh\":3}\n{}\nnot json\n"), false)
	f.Add([]byte("\ufeffvehicle_id,ts,lat,lon,speed_kmh\nA,1795754400000,1,2,3\n=1+1,2026-11-27T04:40:00Z,NaN,1e309,\"x\n"), true)
	f.Add([]byte("ts,vehicle_id\n,\n\"unterminated"), true)
	f.Fuzz(func(t *testing.T, data []byte, isCSV bool) {
		var src source
		if isCSV {
			s, err := newCSV(bytes.NewReader(data))
			if err != nil {
				return // a header it cannot use: refused as a whole
			}
			src = s
		} else {
			src = newNDJSON(bytes.NewReader(data))
		}
		last := 0
		for range len(data) + 2 { // each call consumes at least one line or ends
			e, err := src.next()
			var le *lineError
			switch {
			case errors.As(err, &le):
				if le.reason == "" || le.line < last {
					t.Fatalf("line error %+v after line %d", le, last)
				}
				last = le.line
				continue
			case err != nil:
				if !errors.Is(err, io.EOF) && err.Error() == "" {
					t.Fatal("an error without a reason")
				}
				return
			}
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatalf("the event %+v does not encode: %v", e, err)
			}
			var back event
			if err := json.Unmarshal(b, &back); err != nil || back.TS != e.TS {
				t.Fatalf("%s reads back as %+v, %v", b, back, err)
			}
		}
		t.Fatalf("more calls than lines: the reader loops on %q", data)
	})
}
