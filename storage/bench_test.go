package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"fleetpulse/shared/telemetry"
)

// BenchmarkWrite writes windows of 10k and 100k vehicles to a real disk,
// fsyncs included, in the steady state of the default retention: a week
// of 10 s windows in fleet_metrics.csv (60,480 rows, rewritten with every
// window) and history files up to a 256 MiB cap (which then deletes one
// per window). It reports the vehicle rows written per second, the time
// per window, and that time as a share of a 10 s window.
func BenchmarkWrite(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("vehicles=%d", n), func(b *testing.B) {
			ids := make([]string, n)
			for i := range ids {
				ids[i] = fmt.Sprintf("TRUCK-%06d", i)
			}
			win := window(t0, ids...)
			dir := b.TempDir()
			fillFleet(b, dir, t0, DefaultRetention)
			var now time.Time
			w, err := Open(dir, Options{MaxHistoryBytes: 256 << 20, Now: func() time.Time { return now }})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()

			windows := 0
			for b.Loop() {
				end := t0.Add(time.Duration(windows+1) * 10 * time.Second)
				win.Fleet.WindowStart, win.Fleet.WindowEnd = end.Add(-10*time.Second), end
				now = end.Add(5 * time.Second)
				if err := w.Write(win); err != nil {
					b.Fatal(err)
				}
				windows++
			}
			perWindow := b.Elapsed() / time.Duration(windows)
			b.ReportMetric(float64(n*windows)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(perWindow)/float64(time.Millisecond), "ms/window")
			b.ReportMetric(100*float64(perWindow)/float64(10*time.Second), "%of10s")
		})
	}
}

// fillFleet writes a fleet_metrics.csv with the 10 s windows of retention
// up to end, as a server that has run that long has.
func fillFleet(b *testing.B, dir string, end time.Time, retention time.Duration) {
	b.Helper()
	var rows []telemetry.FleetRow
	for t := end.Add(-retention).Add(10 * time.Second); !t.After(end); t = t.Add(10 * time.Second) {
		rows = append(rows, window(t, "A").Fleet)
	}
	data := append(telemetry.AppendHeader(nil, telemetry.FleetColumns), newFleetState(rows).body()...)
	if err := os.MkdirAll(filepath.Join(dir, csvDir), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, csvDir, fleetFile), data, 0o644); err != nil {
		b.Fatal(err)
	}
}
