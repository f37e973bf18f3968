package main

import (
	"strings"
	"testing"
)

// FuzzByteSize checks the parser of -max-body, -history-max-bytes and
// -max-header-bytes, which also reads FLEETPULSE_* environment values.
// Seeds live in testdata/fuzz/FuzzByteSize. The invariants: it never
// panics; a refusal says what it wants; an accepted size is positive, at
// most 1 TiB, and prints as a value that parses to the same size.
func FuzzByteSize(f *testing.F) {
	for _, s := range []string{"8MiB", "512KiB", "1048576", "0", "-1", "1TiB", "1099511627776", "1099511627777", "1048577MiB",
		"9223372036854775807", "8 MiB", "8mib", "MiB", "0x10", "+5", "1e6", "１２"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b byteSize
		if err := b.Set(s); err != nil {
			if !strings.Contains(err.Error(), "want") {
				t.Fatalf("Set(%q): %v, without what it wants", s, err)
			}
			return
		}
		if b <= 0 || b > 1<<40 {
			t.Fatalf("Set(%q) = %d", s, int64(b))
		}
		var again byteSize
		if err := again.Set(b.String()); err != nil || again != b {
			t.Fatalf("Set(%q) = %d, printed %q, parsed again %d, %v", s, int64(b), b.String(), int64(again), err)
		}
	})
}
