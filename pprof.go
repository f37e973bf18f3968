//go:build pprof

package main

import (
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
)

// A build with -tags pprof serves the runtime profiles on
// FLEETPULSE_PPROF_ADDR (loopback only, such as 127.0.0.1:6060), for
// profiling the server under `fleetpulse loadgen` (see BENCHMARKS.md). The
// product build never links net/http/pprof.
func init() {
	addr := os.Getenv("FLEETPULSE_PPROF_ADDR")
	if addr == "" {
		return
	}
	go http.ListenAndServe(addr, nil) //nolint:errcheck // a debugging aid; the server runs without it
}
