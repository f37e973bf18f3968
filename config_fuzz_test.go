package main

import (
	"io"
	"reflect"
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

// FuzzConfigEnv checks that every setting reads the same from the
// environment as from its flag: one value, the same config or the same
// refusal, never a panic. Seeds live in testdata/fuzz/FuzzConfigEnv.
func FuzzConfigEnv(f *testing.F) {
	var names []string
	parseConfig(nil, func(k string) string { names = append(names, k); return "" }, io.Discard)
	for i, v := range []string{"8MiB", "1s", "-1", "1e309", "NaN", "0", "a,b", "true", "1h", "99999999999999999999", "127.0.0.1:0", "late=0.5"} {
		f.Add(uint8(i), v)
	}
	f.Fuzz(func(t *testing.T, i uint8, value string) {
		if value == "" {
			return // an empty variable means unset
		}
		env := names[int(i)%len(names)]
		flagName := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(env, "FLEETPULSE_"), "_", "-"))
		fromEnv, errEnv := parseConfig(nil, func(k string) string {
			if k == env {
				return value
			}
			return ""
		}, io.Discard)
		fromFlag, errFlag := parseConfig([]string{"-" + flagName + "=" + value}, func(string) string { return "" }, io.Discard)
		if (errEnv == nil) != (errFlag == nil) {
			t.Fatalf("%s=%q: environment %v, flag %v", env, value, errEnv, errFlag)
		}
		if errEnv != nil {
			if !strings.Contains(errEnv.Error(), env) && !strings.Contains(errEnv.Error(), "-") {
				t.Fatalf("%s=%q: %v names neither the variable nor a flag", env, value, errEnv)
			}
			return
		}
		if !reflect.DeepEqual(fromEnv, fromFlag) {
			t.Fatalf("%s=%q: environment %+v, flag %+v", env, value, fromEnv, fromFlag)
		}
	})
}
