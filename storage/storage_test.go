package storage

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"fleetpulse/shared/telemetry"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// t0 is the end of the first test window.
var t0 = time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC)

// goldenWindows are the windows behind the golden files. Their numbers
// exercise the rounding of every column.
var goldenWindows = []telemetry.Window{
	{
		Fleet: telemetry.FleetRow{
			WindowStart: t0.Add(-10 * time.Second), WindowEnd: t0,
			VehiclesActive: 1, Events: 10, AvgSpeedKPH: 48.333333, MaxSpeedKPH: 61.005,
			DistanceKM: 0.1337, LateEvents: 2, DuplicateEvents: 1, RejectedEvents: 3,
		},
		Vehicles: []telemetry.VehicleRow{{
			WindowStart: t0.Add(-10 * time.Second), WindowEnd: t0,
			VehicleID: "TRUCK-0042", Events: 10,
			AvgSpeedKPH: 48.333333, MinSpeedKPH: 30, MaxSpeedKPH: 61.005,
			DistanceKM: 0.1337, LastLat: 52.52, LastLon: 13.405,
			LastTS: t0.Add(-250 * time.Millisecond),
		}},
	},
	{
		Fleet: telemetry.FleetRow{
			WindowStart: t0, WindowEnd: t0.Add(10 * time.Second),
			VehiclesActive: 2, Events: 21, AvgSpeedKPH: 40.123, MaxSpeedKPH: 88.8,
			DistanceKM: 0.30049,
		},
		Vehicles: []telemetry.VehicleRow{
			{
				WindowStart: t0, WindowEnd: t0.Add(10 * time.Second),
				VehicleID: "TRUCK-0042", Events: 11,
				AvgSpeedKPH: 50.1, MinSpeedKPH: 42.666666, MaxSpeedKPH: 88.8,
				DistanceKM: 0.15, LastLat: 52.5200001234, LastLon: 13.4051234567,
				LastTS: t0.Add(9*time.Second + 999*time.Millisecond),
			},
			{
				WindowStart: t0, WindowEnd: t0.Add(10 * time.Second),
				VehicleID: "van_7.b:x", Events: 10,
				AvgSpeedKPH: 0, MinSpeedKPH: 0, MaxSpeedKPH: 0,
				DistanceKM: 0, LastLat: -33.8688, LastLon: -151.2093,
				LastTS: t0.Add(5 * time.Second),
			},
		},
	},
}

// goldenNow is the clock of the golden files' last_updated.
var goldenNow = t0.Add(15*time.Second + 250*time.Millisecond)

func clock(t time.Time) func() time.Time { return func() time.Time { return t } }

func open(t *testing.T, dir string, opt Options) *Writer {
	t.Helper()
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	w, err := Open(dir, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func write(t *testing.T, w *Writer, wins ...telemetry.Window) {
	t.Helper()
	for _, win := range wins {
		if err := w.Write(win); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// listFiles returns the slash paths of the files below dir, sorted.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		names = append(names, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	for _, name := range listFiles(t, dir) {
		if isTemp(filepath.Base(name)) {
			t.Errorf("temporary file left: %s", name)
		}
	}
}

// window returns a window of length 10s ending at end, with one row per id
// and numbers that survive the CSV rounding unchanged.
func window(end time.Time, ids ...string) telemetry.Window {
	start := end.Add(-10 * time.Second)
	win := telemetry.Window{Fleet: telemetry.FleetRow{
		WindowStart: start, WindowEnd: end, VehiclesActive: int64(len(ids)),
		AvgSpeedKPH: 41.25, MaxSpeedKPH: 99.5, LateEvents: 1, RejectedEvents: 2,
	}}
	for i, id := range ids {
		win.Fleet.Events += int64(i + 1)
		win.Fleet.DistanceKM += 0.125
		win.Vehicles = append(win.Vehicles, telemetry.VehicleRow{
			WindowStart: start, WindowEnd: end, VehicleID: id, Events: int64(i + 1),
			AvgSpeedKPH: 40.5 + float64(i), MinSpeedKPH: 12.25, MaxSpeedKPH: 99.5,
			DistanceKM: 0.125, LastLat: 52.520008 + float64(i), LastLon: -13.404954,
			LastTS: end.Add(-time.Duration(i+1) * time.Millisecond),
		})
	}
	return win
}

func TestGolden(t *testing.T) {
	t.Parallel()
	files := []struct{ path, golden string }{
		{"history/2026-11-27/metrics_20261127T044010Z.csv", "history.golden.csv"},
		{"csv/latest_metrics.csv", "latest.golden.csv"},
		{"csv/fleet_metrics.csv", "fleet.golden.csv"},
	}
	for _, tc := range []struct {
		name string
		bom  bool
	}{
		{"plain", false},
		{"bom", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !*update { // the bom case reads what the plain one writes
				t.Parallel()
			}
			dir := t.TempDir()
			w := open(t, dir, Options{BOM: tc.bom, Now: clock(goldenNow)})
			write(t, w, goldenWindows...)
			for _, f := range files {
				got := readFile(t, filepath.Join(dir, filepath.FromSlash(f.path)))
				golden := filepath.Join("testdata", f.golden)
				if *update && !tc.bom {
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want := readFile(t, golden)
				if tc.bom {
					want = append(slices.Clip(bom), want...)
				}
				if diff := cmp.Diff(string(want), string(got)); diff != "" {
					t.Errorf("%s (-want +got):\n%s", f.path, diff)
				}
			}
			assertNoTemp(t, dir)
		})
	}
}

func TestFileModes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out")
	w := open(t, dir, Options{Now: clock(goldenNow)})
	write(t, w, goldenWindows...)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o644)
		if d.IsDir() {
			want = fs.ModeDir | 0o755
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestHistoryName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		end  time.Time
		want string
	}{
		{"utc", t0, "history/2026-11-27/metrics_20261127T044000Z.csv"},
		{"midnight goes to the new day", time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC),
			"history/2026-11-28/metrics_20261128T000000Z.csv"},
		{"other zone", time.Date(2026, 11, 28, 1, 30, 0, 0, time.FixedZone("CET", 3600)),
			"history/2026-11-28/metrics_20261128T003000Z.csv"},
		{"zone across the date", time.Date(2026, 11, 27, 23, 30, 0, 0, time.FixedZone("X", -2*3600)),
			"history/2026-11-28/metrics_20261128T013000Z.csv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			w := open(t, dir, Options{Now: clock(tc.end)})
			write(t, w, window(tc.end, "A"))
			want := []string{"csv/fleet_metrics.csv", "csv/latest_metrics.csv", tc.want}
			if diff := cmp.Diff(want, listFiles(t, dir)); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRewriteIsIdempotent(t *testing.T) {
	t.Parallel()
	wins := []telemetry.Window{window(t0, "A", "B"), window(t0.Add(10*time.Second), "A"), window(t0.Add(20*time.Second), "B", "C")}
	for _, tc := range []struct {
		name    string
		rewrite int
	}{
		{"oldest", 0},
		{"middle", 1},
		{"latest", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			w := open(t, dir, Options{Now: clock(t0.Add(time.Minute))})
			write(t, w, wins...)
			before := snapshot(t, dir)
			fleet := w.Fleet()

			write(t, w, wins[tc.rewrite])
			after := snapshot(t, dir)
			// latest_metrics.csv holds the window written last, whichever.
			latest := filepath.Join("csv", latestFile)
			if tc.rewrite != len(wins)-1 {
				delete(before, latest)
				delete(after, latest)
			}
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("files changed (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(fleet, w.Fleet()); diff != "" {
				t.Errorf("Fleet() changed (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(wins[tc.rewrite].Vehicles, w.Latest()); diff != "" {
				t.Errorf("Latest() (-want +got):\n%s", diff)
			}
		})
	}
}

// snapshot returns the contents of every file below dir by relative path.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := make(map[string]string)
	for _, name := range listFiles(t, dir) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		m[filepath.FromSlash(name)] = string(readFile(t, p))
	}
	return m
}

func TestRetention(t *testing.T) {
	t.Parallel()
	day1 := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	ends := []time.Time{
		day1.Add(22 * time.Hour),
		day1.Add(23*time.Hour + 30*time.Minute),
		day1.Add(24*time.Hour + 10*time.Minute),
		day1.Add(25 * time.Hour),
	}
	for _, tc := range []struct {
		name      string
		retention time.Duration
		foreign   string // a file that is not ours, created before the writes
		wantEnds  []int  // indices into ends
		wantFiles []string
		wantGone  bool // the first day's folder is removed
	}{
		{
			name: "one hour", retention: time.Hour, wantEnds: []int{2, 3}, wantGone: true,
			wantFiles: []string{
				"history/2026-11-27/metrics_20261127T001000Z.csv",
				"history/2026-11-27/metrics_20261127T010000Z.csv",
			},
		},
		{
			// The last write's cutoff is exactly the second window's end.
			name: "boundary kept", retention: time.Hour + 30*time.Minute + 5*time.Second,
			wantEnds: []int{1, 2, 3},
			wantFiles: []string{
				"history/2026-11-26/metrics_20261126T233000Z.csv",
				"history/2026-11-27/metrics_20261127T001000Z.csv",
				"history/2026-11-27/metrics_20261127T010000Z.csv",
			},
		},
		{
			name: "foreign file keeps its folder", retention: time.Hour, foreign: "history/2026-11-26/notes.txt",
			wantEnds: []int{2, 3},
			wantFiles: []string{
				"history/2026-11-26/notes.txt",
				"history/2026-11-27/metrics_20261127T001000Z.csv",
				"history/2026-11-27/metrics_20261127T010000Z.csv",
			},
		},
		{
			name: "default", wantEnds: []int{0, 1, 2, 3},
			wantFiles: []string{
				"history/2026-11-26/metrics_20261126T220000Z.csv",
				"history/2026-11-26/metrics_20261126T233000Z.csv",
				"history/2026-11-27/metrics_20261127T001000Z.csv",
				"history/2026-11-27/metrics_20261127T010000Z.csv",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var now time.Time
			w := open(t, dir, Options{Retention: tc.retention, Now: func() time.Time { return now }})
			if tc.foreign != "" {
				p := filepath.Join(dir, filepath.FromSlash(tc.foreign))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, end := range ends {
				now = end.Add(5 * time.Second)
				write(t, w, window(end, "A"))
			}

			var gotEnds []time.Time
			for _, r := range w.Fleet() {
				gotEnds = append(gotEnds, r.WindowEnd)
			}
			var wantEnds []time.Time
			for _, i := range tc.wantEnds {
				wantEnds = append(wantEnds, ends[i])
			}
			if diff := cmp.Diff(wantEnds, gotEnds); diff != "" {
				t.Errorf("Fleet() window ends (-want +got):\n%s", diff)
			}

			var history []string
			for _, name := range listFiles(t, dir) {
				if strings.HasPrefix(name, "history/") {
					history = append(history, name)
				}
			}
			if diff := cmp.Diff(tc.wantFiles, history); diff != "" {
				t.Errorf("history files (-want +got):\n%s", diff)
			}
			_, err := os.Stat(filepath.Join(dir, "history", "2026-11-26"))
			if gone := errors.Is(err, fs.ErrNotExist); gone != tc.wantGone {
				t.Errorf("first date folder removed = %v, want %v (%v)", gone, tc.wantGone, err)
			}

			// The file holds the same rows as Fleet().
			f, err := os.Open(filepath.Join(dir, "csv", fleetFile))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rows, err := readFleet(f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(w.Fleet(), rows); diff != "" {
				t.Errorf("fleet_metrics.csv (-Fleet() +file):\n%s", diff)
			}
		})
	}
}

func TestRestart(t *testing.T) {
	t.Parallel()
	wins := []telemetry.Window{
		window(t0, "A", "B"),
		window(t0.Add(10*time.Second), "A"),
		window(t0.Add(20*time.Second), "B", "C", "D"),
	}
	fleet := func(idx ...int) []telemetry.FleetRow {
		var rows []telemetry.FleetRow
		for _, i := range idx {
			rows = append(rows, wins[i].Fleet)
		}
		return rows
	}
	for _, tc := range []struct {
		name      string
		bom       bool
		retention time.Duration
		reopenAt  time.Time
		wantFleet []telemetry.FleetRow
	}{
		{"plain", false, 0, t0.Add(time.Minute), fleet(0, 1, 2)},
		{"bom", true, 0, t0.Add(time.Minute), fleet(0, 1, 2)},
		{"retention drops old rows", false, time.Minute, t0.Add(65 * time.Second), fleet(1, 2)},
		{"everything expired", false, time.Minute, t0.Add(time.Hour), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			w := open(t, dir, Options{BOM: tc.bom, Retention: tc.retention, Now: clock(t0.Add(25 * time.Second))})
			write(t, w, wins...)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}

			w = open(t, dir, Options{BOM: tc.bom, Retention: tc.retention, Now: clock(tc.reopenAt)})
			if diff := cmp.Diff(tc.wantFleet, w.Fleet()); diff != "" {
				t.Errorf("Fleet() (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wins[2].Vehicles, w.Latest()); diff != "" {
				t.Errorf("Latest() (-want +got):\n%s", diff)
			}

			// It carries on: the next window appends to the loaded rows.
			next := window(tc.reopenAt.Truncate(10*time.Second), "E")
			write(t, w, next)
			if diff := cmp.Diff(append(tc.wantFleet, next.Fleet), w.Fleet()); diff != "" {
				t.Errorf("Fleet() after a write (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOpenRemovesStaleTemp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := []struct {
		path string
		kept bool
	}{
		{"csv/.latest_metrics.csv.tmp123", false},
		{"csv/.fleet_metrics.csv.tmp", false},
		{"history/.probe.tmp1", false},
		{"history/2026-11-27/.metrics_20261127T044000Z.csv.tmp9", false},
		{"csv/.hidden.csv", true},
		{"csv/notes.txt", true},
		{"csv/sub/.x.tmp", true}, // csv/ is not searched below its top
		{"history/2026-11-27/metrics_20261127T044000Z.csv", true},
		{".top.tmp", true}, // only csv/ and history/ are ours
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("partial,"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	open(t, dir, Options{})
	for _, f := range files {
		t.Run(f.path, func(t *testing.T) {
			_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f.path)))
			if kept := err == nil; kept != f.kept {
				t.Errorf("kept = %v, want %v (%v)", kept, f.kept, err)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	fleetHeader := strings.Join(telemetry.FleetColumns, ",") + "\n"
	latestHeader := strings.Join(telemetry.LatestColumns, ",") + "\n"
	fleetRow := "2026-11-27T04:39:50.000Z,2026-11-27T04:40:00.000Z,1,10,48.33,61.01,0.134,2,1,3\n"
	latestRow := "2026-11-27T04:39:50.000Z,2026-11-27T04:40:00.000Z,TRUCK-0042,10,48.33,30.00,61.01,0.134,52.520000,13.405000,2026-11-27T04:39:59.750Z,2026-11-27T04:40:15.250Z\n"

	// files writes name (below the root) with content.
	files := func(kv ...string) func(t *testing.T, dir string) string {
		return func(t *testing.T, dir string) string {
			for i := 0; i < len(kv); i += 2 {
				p := filepath.Join(dir, filepath.FromSlash(kv[i]))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(kv[i+1]), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			return dir
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the dir to open
		opt   Options
		want  []string // substrings of the error; none means success
	}{
		{
			name: "dir is a regular file",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "storage")
				files("storage", "x")(t, dir)
				return p
			},
			want: []string{"storage", "not a directory"},
		},
		{
			name: "parent is a regular file",
			setup: func(t *testing.T, dir string) string {
				files("file", "x")(t, dir)
				return filepath.Join(dir, "file", "storage")
			},
			want: []string{filepath.Join("file", "storage"), "not a directory"},
		},
		{name: "csv is a regular file", setup: files("csv", "x"), want: []string{"csv is not a directory"}},
		{name: "negative retention", setup: files(), opt: Options{Retention: -time.Hour}, want: []string{"negative retention"}},
		{name: "empty dir", setup: files()},
		{name: "header only", setup: files("csv/fleet_metrics.csv", fleetHeader, "csv/latest_metrics.csv", latestHeader)},
		{name: "bom", setup: files("csv/fleet_metrics.csv", string(bom)+fleetHeader+fleetRow, "csv/latest_metrics.csv", string(bom)+latestHeader+latestRow)},
		{name: "crlf", setup: files("csv/fleet_metrics.csv", strings.ReplaceAll(fleetHeader+fleetRow, "\n", "\r\n"))},
		{
			name:  "fleet empty",
			setup: files("csv/fleet_metrics.csv", ""),
			want:  []string{"fleet_metrics.csv", "line 1", "no header"},
		},
		{
			name:  "fleet foreign header",
			setup: files("csv/fleet_metrics.csv", "a,b,c\n1,2,3\n"),
			want:  []string{"fleet_metrics.csv", "line 1", "header", "window_start"},
		},
		{
			name:  "fleet header reordered",
			setup: files("csv/fleet_metrics.csv", strings.Replace(fleetHeader, "late_events,duplicate_events", "duplicate_events,late_events", 1)),
			want:  []string{"fleet_metrics.csv", "line 1", "header"},
		},
		{
			name:  "fleet double bom",
			setup: files("csv/fleet_metrics.csv", string(bom)+string(bom)+fleetHeader),
			want:  []string{"fleet_metrics.csv", "line 1", "header"},
		},
		{
			name:  "fleet short row",
			setup: files("csv/fleet_metrics.csv", fleetHeader+fleetRow+"2026-11-27T04:40:00.000Z,1\n"),
			want:  []string{"fleet_metrics.csv", "line 3", "2 fields, want 10"},
		},
		{
			name:  "fleet bad number",
			setup: files("csv/fleet_metrics.csv", fleetHeader+strings.Replace(fleetRow, "48.33", "48,33", 1)),
			want:  []string{"fleet_metrics.csv", "line 2", "11 fields"},
		},
		{
			name:  "fleet not a number",
			setup: files("csv/fleet_metrics.csv", fleetHeader+fleetRow+strings.Replace(fleetRow, "61.01", "fast", 1)),
			want:  []string{"fleet_metrics.csv", "line 3", "max_speed_kmh"},
		},
		{
			name:  "fleet infinite",
			setup: files("csv/fleet_metrics.csv", fleetHeader+strings.Replace(fleetRow, "61.01", "+Inf", 1)),
			want:  []string{"fleet_metrics.csv", "line 2", "max_speed_kmh", "finite"},
		},
		{
			name:  "fleet bad time",
			setup: files("csv/fleet_metrics.csv", fleetHeader+strings.Replace(fleetRow, "04:40:00.000Z", "04:40", 1)),
			want:  []string{"fleet_metrics.csv", "line 2", "window_end"},
		},
		{
			name:  "fleet bare quote",
			setup: files("csv/fleet_metrics.csv", fleetHeader+`2026"`+fleetRow),
			want:  []string{"fleet_metrics.csv", "line 2"},
		},
		{
			name:  "fleet binary",
			setup: files("csv/fleet_metrics.csv", "\x00\xff\xfe garbage"),
			want:  []string{"fleet_metrics.csv", "line 1"},
		},
		{
			name:  "latest in history layout",
			setup: files("csv/latest_metrics.csv", strings.Join(telemetry.VehicleColumns, ",")+"\n"),
			want:  []string{"latest_metrics.csv", "line 1", "header"},
		},
		{
			name:  "latest bad last_updated",
			setup: files("csv/latest_metrics.csv", latestHeader+strings.Replace(latestRow, "04:40:15.250Z", "soon", 1)),
			want:  []string{"latest_metrics.csv", "line 2", "last_updated"},
		},
		{
			name:  "latest quoted vehicle id",
			setup: files("csv/latest_metrics.csv", latestHeader+latestRow+strings.Replace(latestRow, "TRUCK-0042", `"TRUCK,0042"`, 1)),
			want:  []string{"latest_metrics.csv", "line 3", "vehicle_id"},
		},
		{
			name:  "latest bad events",
			setup: files("csv/latest_metrics.csv", latestHeader+strings.Replace(latestRow, ",10,", ",1e3,", 1)),
			want:  []string{"latest_metrics.csv", "line 2", "events"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := tc.setup(t, t.TempDir())
			w, err := Open(dir, tc.opt)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				w.Close()
				return
			}
			if err == nil {
				w.Close()
				t.Fatalf("Open succeeded, want an error with %q", tc.want)
			}
			for _, s := range append(tc.want, dir) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

// TestWriteFailureKeepsLastGoodFiles breaks one file's place for real: the
// other files still get the window, the broken one keeps its content, and
// the next Write after the repair catches up.
func TestWriteFailureKeepsLastGoodFiles(t *testing.T) {
	t.Parallel()
	first := window(t0, "A", "B")
	second := window(t0.Add(10*time.Second), "C")
	nextDay := window(time.Date(2026, 11, 28, 0, 0, 10, 0, time.UTC), "C")
	for _, tc := range []struct {
		name       string
		breakIt    func(t *testing.T, dir string)
		repair     func(t *testing.T, dir string)
		win        telemetry.Window
		want       string // substring of the error
		wantLatest []telemetry.VehicleRow
		wantFleet  []telemetry.FleetRow
	}{
		{
			name: "date folder is a file",
			win:  nextDay,
			breakIt: func(t *testing.T, dir string) {
				if err := os.WriteFile(filepath.Join(dir, "history", "2026-11-28"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			repair: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, "history", "2026-11-28")); err != nil {
					t.Fatal(err)
				}
			},
			want:       "2026-11-28 is not a directory",
			wantLatest: nextDay.Vehicles,
			wantFleet:  []telemetry.FleetRow{first.Fleet, nextDay.Fleet},
		},
		{
			name: "fleet file is a folder",
			win:  second,
			breakIt: func(t *testing.T, dir string) {
				p := filepath.Join(dir, "csv", fleetFile)
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(filepath.Join(p, "x"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			repair: func(t *testing.T, dir string) {
				if err := os.RemoveAll(filepath.Join(dir, "csv", fleetFile)); err != nil {
					t.Fatal(err)
				}
			},
			want:       fleetFile,
			wantLatest: second.Vehicles,
			wantFleet:  []telemetry.FleetRow{first.Fleet},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			w := open(t, dir, Options{Now: clock(t0.Add(time.Minute))})
			write(t, w, first)
			tc.breakIt(t, dir)

			err := w.Write(tc.win)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "write window ") {
				t.Fatalf("Write error = %v, want one that starts with %q and contains %q", err, "write window ", tc.want)
			}
			if diff := cmp.Diff(tc.wantFleet, w.Fleet()); diff != "" {
				t.Errorf("Fleet() (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantLatest, w.Latest()); diff != "" {
				t.Errorf("Latest() (-want +got):\n%s", diff)
			}
			assertFilesMatch(t, dir, w)
			assertNoTemp(t, dir)

			tc.repair(t, dir)
			third := window(tc.win.End().Add(10*time.Second), "D")
			write(t, w, third)
			if diff := cmp.Diff([]telemetry.FleetRow{first.Fleet, tc.win.Fleet, third.Fleet}, w.Fleet()); diff != "" {
				t.Errorf("Fleet() after the repair (-want +got):\n%s", diff)
			}
			assertFilesMatch(t, dir, w)
			assertNoTemp(t, dir)
		})
	}
}

// vehiclesCSV returns rows as CSV lines: what a file keeps of them.
func vehiclesCSV(rows []telemetry.VehicleRow) []string {
	var lines []string
	for i := range rows {
		lines = append(lines, string(rows[i].AppendCSV(nil)))
	}
	return lines
}

// fleetCSV returns rows as CSV lines: what a file keeps of them.
func fleetCSV(rows []telemetry.FleetRow) []string {
	var lines []string
	for i := range rows {
		lines = append(lines, string(rows[i].AppendCSV(nil)))
	}
	return lines
}

// assertFilesMatch checks that latest_metrics.csv and fleet_metrics.csv
// parse whole and hold what Latest and Fleet return (as CSV rounds them),
// and that the history
// files on disk are those of the index.
func assertFilesMatch(t *testing.T, dir string, w *Writer) {
	t.Helper()
	regular := func(name string) bool {
		fi, err := os.Stat(name)
		return err == nil && fi.Mode().IsRegular()
	}
	if name := filepath.Join(dir, "csv", latestFile); regular(name) {
		latest, err := readVehicles(bytes.NewReader(readFile(t, name)), telemetry.LatestColumns)
		if err != nil {
			t.Fatalf("latest_metrics.csv: %v", err)
		}
		if diff := cmp.Diff(vehiclesCSV(w.Latest()), vehiclesCSV(latest)); diff != "" {
			t.Errorf("latest_metrics.csv (-Latest() +file):\n%s", diff)
		}
	}
	if name := filepath.Join(dir, "csv", fleetFile); regular(name) {
		fleet, err := readFleet(bytes.NewReader(readFile(t, name)))
		if err != nil {
			t.Fatalf("fleet_metrics.csv: %v", err)
		}
		if diff := cmp.Diff(fleetCSV(w.Fleet()), fleetCSV(fleet)); diff != "" {
			t.Errorf("fleet_metrics.csv (-Fleet() +file):\n%s", diff)
		}
	}
	var onDisk []string
	for _, name := range listFiles(t, dir) {
		if _, err := time.Parse("history/2006-01-02/"+historyLayout, name); err == nil {
			onDisk = append(onDisk, name)
		}
	}
	var indexed []string
	w.mu.Lock()
	var total int64
	for _, h := range w.hist {
		indexed = append(indexed, filepath.ToSlash(historyName(h.end)))
		total += h.size
	}
	histBytes := w.histBytes
	w.mu.Unlock()
	if diff := cmp.Diff(indexed, onDisk); diff != "" {
		t.Errorf("history files (-index +disk):\n%s", diff)
	}
	if total != histBytes {
		t.Errorf("index sizes add up to %d, histBytes = %d", total, histBytes)
	}
}

func TestWriteAfterClose(t *testing.T) {
	t.Parallel()
	w := open(t, t.TempDir(), Options{})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.Write(window(t0, "A")); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Write after Close = %v, want a closed error", err)
	}
}

func TestWriteRejectsBadBounds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		start, end time.Time
	}{
		{"zero", time.Time{}, time.Time{}},
		{"empty", t0, t0},
		{"end before start", t0, t0.Add(-time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			w := open(t, dir, Options{})
			win := window(t0, "A")
			win.Fleet.WindowStart, win.Fleet.WindowEnd = tc.start, tc.end
			if err := w.Write(win); err == nil {
				t.Error("Write succeeded")
			}
			if files := listFiles(t, dir); len(files) != 0 {
				t.Errorf("files written: %q", files)
			}
		})
	}
}

// TestConcurrentReader checks that a reader polling latest_metrics.csv
// while another goroutine keeps replacing it only ever sees whole files:
// thousands of reads, each parsed completely with encoding/csv.
func TestConcurrentReader(t *testing.T) {
	t.Parallel()
	const minReads = 3000
	dir := t.TempDir()
	w := open(t, dir, Options{Now: clock(t0)})
	ids := []string{"A", "B", "C", "D", "E", "F", "G"}
	write(t, w, window(t0, ids[:1]...))

	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		i := 1
		defer func() { done <- i - 1 }()
		for ; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Sizes vary, so a torn read would show.
			if err := w.Write(window(t0.Add(time.Duration(i)*10*time.Second), ids[:1+i%len(ids)]...)); err != nil {
				t.Errorf("Write: %v", err)
				return
			}
		}
	}()

	name := filepath.Join(dir, "csv", latestFile)
	seen := make(map[time.Time]bool) // window ends read
	reads := 0
	for ; reads < minReads; reads++ {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := readVehicles(bytes.NewReader(b), telemetry.LatestColumns)
		if err == nil && (len(rows) == 0 || len(rows) > len(ids) || !bytes.HasSuffix(b, []byte("\n"))) {
			err = fmt.Errorf("%d rows", len(rows))
		}
		if err != nil {
			t.Fatalf("read %d is not a whole file: %v\n%s", reads, err, b)
		}
		end := rows[0].WindowEnd
		for _, r := range rows {
			if !r.WindowEnd.Equal(end) {
				t.Fatalf("read %d mixes windows %v and %v", reads, end, r.WindowEnd)
			}
		}
		if want := 1 + int(end.Sub(t0)/(10*time.Second))%len(ids); len(rows) != want {
			t.Fatalf("read %d: window %v has %d rows, want %d", reads, end, len(rows), want)
		}
		seen[end] = true
		if len(w.Latest()) == 0 || len(w.Fleet()) == 0 {
			t.Fatal("Latest() or Fleet() is empty")
		}
	}
	close(stop)
	windows := <-done
	t.Logf("%d whole reads of %d versions while %d windows were written", reads, len(seen), windows)
	if len(seen) < 2 {
		t.Errorf("the reads saw %d versions of the file; the test needs the writer to replace it meanwhile", len(seen))
	}
	if got := len(w.Fleet()); got != windows+1 {
		t.Errorf("%d fleet rows, want %d", got, windows+1)
	}
	assertFilesMatch(t, dir, w)
	assertNoTemp(t, dir)
}
