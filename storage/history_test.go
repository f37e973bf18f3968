package storage

import (
	"bytes"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"fleetpulse/shared/telemetry"
)

// sliding returns window(end, ids...) with its start moved to end-length.
func sliding(end time.Time, length time.Duration, ids ...string) telemetry.Window {
	win := window(end, ids...)
	start := end.Add(-length)
	win.Fleet.WindowStart = start
	for i := range win.Vehicles {
		win.Vehicles[i].WindowStart = start
	}
	return win
}

// rowsOf returns the per-vehicle rows of wins whose vehicle is in ids (all
// when ids is nil), in order.
func rowsOf(ids map[string]bool, wins ...telemetry.Window) []telemetry.VehicleRow {
	rows := []telemetry.VehicleRow{}
	for _, win := range wins {
		for _, r := range win.Vehicles {
			if ids == nil || ids[r.VehicleID] {
				rows = append(rows, r)
			}
		}
	}
	return rows
}

func TestHistory(t *testing.T) {
	t.Parallel()
	// Sliding windows of 30 s every 10 s, so that start and end bounds
	// select different windows.
	const length = 30 * time.Second
	var wins []telemetry.Window
	for i := range 6 {
		wins = append(wins, sliding(t0.Add(time.Duration(i)*10*time.Second), length, []string{"A", "B", "C"}[:1+i%3]...))
	}
	dir := t.TempDir()
	var now atomic.Pointer[time.Time]
	setNow := func(t time.Time) { now.Store(&t) }
	setNow(wins[5].End())
	w := open(t, dir, Options{Retention: time.Hour, Now: func() time.Time { return *now.Load() }})
	write(t, w, wins...)
	// A window written to the same day's folder for another day: not
	// ours, never read.
	other := filepath.Join(dir, "history", "2026-11-27", "metrics_20261128T000000Z.csv")
	if err := os.WriteFile(other, readFile(t, filepath.Join(dir, filepath.FromSlash("history/2026-11-27/metrics_20261127T044000Z.csv"))), 0o644); err != nil {
		t.Fatal(err)
	}

	ab := map[string]bool{"A": true, "B": true}
	for _, tc := range []struct {
		name     string
		from, to time.Time
		ids      map[string]bool
		maxRows  int
		want     []telemetry.VehicleRow
		wantErr  error
	}{
		{name: "all", want: rowsOf(nil, wins...)},
		{name: "from a window start", from: wins[2].Start(), want: rowsOf(nil, wins[2:]...)},
		{name: "from inside windows", from: wins[2].Start().Add(time.Second), want: rowsOf(nil, wins[3:]...)},
		{name: "to a window end", to: wins[3].End(), want: rowsOf(nil, wins[:4]...)},
		{name: "to inside a window", to: wins[3].End().Add(-time.Millisecond), want: rowsOf(nil, wins[:3]...)},
		{name: "from and to", from: wins[1].Start(), to: wins[4].End(), want: rowsOf(nil, wins[1:5]...)},
		{name: "one window", from: wins[4].Start(), to: wins[4].End(), want: rowsOf(nil, wins[4])},
		{name: "to before from", from: wins[4].Start(), to: wins[1].End(), want: rowsOf(nil)},
		{name: "after the last", from: wins[5].End(), want: rowsOf(nil)},
		{name: "vehicles", ids: ab, want: rowsOf(ab, wins...)},
		{name: "vehicles and range", ids: map[string]bool{"C": true}, to: wins[4].End(), want: rowsOf(map[string]bool{"C": true}, wins[:5]...)},
		{name: "unknown vehicle", ids: map[string]bool{"Z": true}, want: rowsOf(nil)},
		{name: "empty vehicle set", ids: map[string]bool{}, want: rowsOf(nil)},
		{name: "as many rows as allowed", maxRows: 12, want: rowsOf(nil, wins...)},
		{name: "one row too many", maxRows: 11, wantErr: ErrTooManyRows},
		{name: "limit counts filtered rows", ids: ab, maxRows: 10, want: rowsOf(ab, wins...)},
		{name: "limit with a range", from: wins[3].Start(), maxRows: 6, want: rowsOf(nil, wins[3:]...)},
		{name: "limit with a range exceeded", from: wins[3].Start(), maxRows: 5, wantErr: ErrTooManyRows},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := w.History(tc.from, tc.to, tc.ids, tc.maxRows)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("History error = %v, want %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, rows); diff != "" {
				t.Errorf("History (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("retention", func(t *testing.T) {
		// The clock moves on without a Write: windows past the retention
		// are left out although their files are still there.
		setNow(wins[3].End().Add(time.Hour))
		defer setNow(wins[5].End())
		rows, err := w.History(time.Time{}, time.Time{}, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(rowsOf(nil, wins[3:]...), rows); diff != "" {
			t.Errorf("History (-want +got):\n%s", diff)
		}
	})

	t.Run("file deleted in between", func(t *testing.T) {
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash("history/2026-11-27/metrics_20261127T044010Z.csv"))); err != nil {
			t.Fatal(err)
		}
		rows, err := w.History(time.Time{}, time.Time{}, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(rowsOf(nil, append(wins[:1:1], wins[2:]...)...), rows); diff != "" {
			t.Errorf("History (-want +got):\n%s", diff)
		}
	})

	t.Run("foreign content", func(t *testing.T) {
		name := filepath.Join(dir, filepath.FromSlash("history/2026-11-27/metrics_20261127T044020Z.csv"))
		if err := os.WriteFile(name, []byte("a,b\n1,2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := w.History(time.Time{}, time.Time{}, nil, 0)
		if err == nil || !strings.Contains(err.Error(), "metrics_20261127T044020Z.csv") || !strings.Contains(err.Error(), "header") {
			t.Errorf("History error = %v, want one naming the file and its header", err)
		}
	})

	t.Run("after close", func(t *testing.T) {
		w.Close()
		if _, err := w.History(time.Time{}, time.Time{}, nil, 0); err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("History after Close = %v, want a closed error", err)
		}
	})
}

// TestHistoryDuringWrites reads the history from other goroutines while
// windows are written and retention deletes the oldest files: every answer
// is whole windows, and none is an error.
func TestHistoryDuringWrites(t *testing.T) {
	t.Parallel()
	const windows = 150
	dir := t.TempDir()
	var nowNS atomic.Int64
	now := func() time.Time { return time.Unix(0, nowNS.Load()).UTC() }
	f := faults{noSync: true}
	w := open(t, dir, Options{Retention: 100 * time.Second, MaxHistoryBytes: 3000, Now: now, hooks: &hooks{layer: f.layer()}})
	ids := []string{"A", "B", "C", "D"}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads atomic.Int64
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				rows, err := w.History(time.Time{}, time.Time{}, nil, 0)
				if err != nil {
					t.Errorf("History: %v", err)
					return
				}
				// Windows come whole and in order.
				for i := 0; i < len(rows); {
					end := rows[i].WindowEnd
					n := 0
					for ; i < len(rows) && rows[i].WindowEnd.Equal(end); i++ {
						n++
					}
					if want := 1 + int(end.Sub(t0)/(10*time.Second))%len(ids); n != want {
						t.Errorf("window %v has %d rows, want %d", end, n, want)
						return
					}
					if i < len(rows) && !rows[i].WindowEnd.After(end) {
						t.Errorf("window %v after %v", rows[i].WindowEnd, end)
						return
					}
				}
				reads.Add(1)
			}
		})
	}
	for i := range windows {
		end := t0.Add(time.Duration(i) * 10 * time.Second)
		nowNS.Store(end.Add(5 * time.Second).UnixNano())
		write(t, w, window(end, ids[:1+i%len(ids)]...))
	}
	close(stop)
	wg.Wait()
	t.Logf("%d History reads during %d writes", reads.Load(), windows)
	assertFilesMatch(t, dir, w)
}

// TestSizeCap checks the size cap on its own: oldest files go first, the
// newest stays even when it alone is over the cap, fleet rows stay for the
// retention, and a restart finds the same sizes.
func TestSizeCap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	small := window(t0, "A")
	size := int64(len(telemetry.AppendHeader(nil, telemetry.VehicleColumns)) + len(small.Vehicles[0].AppendCSV(nil)) + 1)
	opt := Options{MaxHistoryBytes: 3 * size, Now: clock(t0.Add(time.Hour))}
	w := open(t, dir, opt)
	var wins []telemetry.Window
	for i := range 5 {
		win := window(t0.Add(time.Duration(i)*10*time.Second), "A")
		wins = append(wins, win)
		write(t, w, win)
	}
	assertHistoryEnds(t, w, []time.Time{wins[2].End(), wins[3].End(), wins[4].End()})
	if w.histBytes != 3*size {
		t.Errorf("history bytes = %d, want %d", w.histBytes, 3*size)
	}
	if got := len(w.Fleet()); got != 5 {
		t.Errorf("%d fleet rows, want all 5: the cap leaves them alone", got)
	}
	assertFilesMatch(t, dir, w)

	big := window(t0.Add(50*time.Second), "A", "B", "C", "D", "E")
	write(t, w, big)
	assertHistoryEnds(t, w, []time.Time{big.End()})
	if w.histBytes <= 3*size {
		t.Errorf("history bytes = %d, want the newest file's, over the cap", w.histBytes)
	}
	assertFilesMatch(t, dir, w)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	w2 := open(t, dir, opt)
	if w2.histBytes != w.histBytes {
		t.Errorf("after a restart: history bytes = %d, want %d", w2.histBytes, w.histBytes)
	}
	assertHistoryEnds(t, w2, []time.Time{big.End()})
}

// TestOpenIndexesHistory checks what Open takes into its history index
// and what it cleans up.
func TestOpenIndexesHistory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	files := map[string]string{
		"history/2026-11-27/metrics_20261127T044000Z.csv": "12345",
		"history/2026-11-27/metrics_20261127T044010Z.csv": "123",
		"history/2026-11-26/metrics_20261127T044020Z.csv": "in the wrong folder",
		"history/2026-11-27/metrics_20261127T4400Z.csv":   "not our name",
		"history/2026-11-27/notes.txt":                    "foreign",
		"history/2026-11-27/.metrics_x.csv.tmp1":          "stale",
		"history/2026-11-25/.metrics_y.csv.tmp1":          "stale, in an old folder",
		"history/misc/metrics_20261127T044030Z.csv":       "not a date folder",
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"history/2026-11-20", "history/2026-11-27/sub"} { // empty
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(d)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w := open(t, dir, Options{Retention: 24 * time.Hour, Now: clock(now)})
	assertHistoryEnds(t, w, []time.Time{t0, t0.Add(10 * time.Second)})
	if w.histBytes != 8 {
		t.Errorf("history bytes = %d, want 8", w.histBytes)
	}
	want := []string{
		"history/2026-11-26/metrics_20261127T044020Z.csv",
		"history/2026-11-27/metrics_20261127T044000Z.csv",
		"history/2026-11-27/metrics_20261127T044010Z.csv",
		"history/2026-11-27/metrics_20261127T4400Z.csv",
		"history/2026-11-27/notes.txt",
		"history/misc/metrics_20261127T044030Z.csv",
	}
	if diff := cmp.Diff(want, listFiles(t, dir)); diff != "" {
		t.Errorf("files after Open (-want +got):\n%s", diff)
	}
	for _, d := range []struct {
		name string
		kept bool
	}{
		{"history/2026-11-20", false}, // empty and older than the retention
		{"history/2026-11-25", false}, // held only a stale temporary file
		{"history/2026-11-27/sub", true},
	} {
		_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(d.name)))
		if kept := err == nil; kept != d.kept {
			t.Errorf("%s kept = %v, want %v", d.name, kept, d.kept)
		}
	}
}

// TestRetention48h writes 48 hours of 10 s windows with an injected clock,
// a retention of 6 h and a 1 MB cap on the history files. For the first
// day the windows are small and the retention bounds the history; then
// they grow and the cap does. At every window the history files and the
// fleet rows stay within their bounds, and what is left is always the
// newest windows, in one run without gaps: the oldest went first. The
// files live in memory (memFS): on a real disk the 52,000 creates and
// renames alone take a minute.
func TestRetention48h(t *testing.T) {
	t.Parallel()
	const (
		step      = 10 * time.Second
		lateness  = 5 * time.Second
		retention = 6 * time.Hour
		maxBytes  = 1 << 20
		windows   = int(48 * time.Hour / step)
		maxRows   = int((retention-lateness)/step) + 1 // windows ending at or after now - retention
	)
	start := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	var now time.Time
	m := newMemFS()
	opt := Options{Retention: retention, MaxHistoryBytes: maxBytes, Now: func() time.Time { return now }, hooks: &hooks{layer: m.layer()}}
	w := open(t, t.TempDir(), opt)
	big := []string{"TRUCK-0001", "TRUCK-0002", "TRUCK-0003", "TRUCK-0004", "TRUCK-0005", "TRUCK-0006"}
	var maxFiles int
	var maxSize int64
	for i := 1; i <= windows; i++ {
		end := start.Add(time.Duration(i) * step)
		now = end.Add(lateness)
		cutoff := now.Add(-retention)
		ids := big[:1]
		if i > windows/2 {
			ids = big
		}
		// The files' bytes are kept only where they are read: at the
		// checks every 3 simulated hours, and for the restart at the end.
		check := i%1080 == 0
		m.mu.Lock()
		m.sizesOnly = !check && i != windows
		m.mu.Unlock()
		write(t, w, window(end, ids...))

		w.mu.Lock()
		rows, hist, size := w.fleet.rows, w.hist, w.histBytes
		w.mu.Unlock()
		if len(rows) > maxRows || rows[0].WindowEnd.Before(cutoff) || !rows[len(rows)-1].WindowEnd.Equal(end) {
			t.Fatalf("window %d: %d fleet rows from %v to %v, want at most %d from %v to %v",
				i, len(rows), rows[0].WindowEnd, rows[len(rows)-1].WindowEnd, maxRows, cutoff, end)
		}
		if wantRows := min(i, maxRows); len(rows) != wantRows {
			t.Fatalf("window %d: %d fleet rows, want %d: the cap must not touch them", i, len(rows), wantRows)
		}
		if len(hist) > maxRows || size > maxBytes || hist[0].end.Before(cutoff) {
			t.Fatalf("window %d: %d history files, %d bytes, oldest %v; want at most %d, %d bytes, from %v",
				i, len(hist), size, hist[0].end, maxRows, maxBytes, cutoff)
		}
		if first := end.Add(-time.Duration(len(hist)-1) * step); !hist[0].end.Equal(first) || !hist[len(hist)-1].end.Equal(end) {
			t.Fatalf("window %d: history files from %v to %v are not the newest %d windows", i, hist[0].end, hist[len(hist)-1].end, len(hist))
		}
		maxFiles, maxSize = max(maxFiles, len(hist)), max(maxSize, size)
		if i == windows/2 && len(hist) != maxRows {
			t.Fatalf("after the first day: %d history files, want %d: the retention should bound them", len(hist), maxRows)
		}
		if check {
			assertMemFiles(t, m, w)
		}
	}
	w.mu.Lock()
	files := len(w.hist)
	w.mu.Unlock()
	if files >= maxRows || maxSize < maxBytes*9/10 {
		t.Errorf("on the second day: %d history files, up to %d bytes; want the cap of %d bytes to bound them", files, maxSize, maxBytes)
	}
	t.Logf("at most %d history files, %d bytes; %d files at the end", maxFiles, maxSize, files)

	// A restart finds the same.
	w.Close()
	w2 := open(t, t.TempDir(), opt)
	if diff := cmp.Diff(w.hist, w2.hist, cmp.AllowUnexported(histFile{})); diff != "" {
		t.Errorf("history index after a restart (-before +after):\n%s", diff)
	}
	if w2.histBytes != w.histBytes {
		t.Errorf("history bytes after a restart = %d, want %d", w2.histBytes, w.histBytes)
	}
	if diff := cmp.Diff(w.Fleet(), w2.Fleet()); diff != "" {
		t.Errorf("Fleet() after a restart (-before +after):\n%s", diff)
	}
}

// assertMemFiles checks the files in m against w: the history files and
// their sizes are those of the index, no date folder is left empty, no
// temporary file is left, and the two csv/ files hold Latest and Fleet.
func assertMemFiles(t *testing.T, m *memFS, w *Writer) {
	t.Helper()
	var want []string
	var wantDays []string
	w.mu.Lock()
	for _, h := range w.hist {
		name := filepath.ToSlash(historyName(h.end))
		want = append(want, name)
		if n := m.size(name); n != h.size {
			t.Errorf("%s: %d bytes, the index says %d", name, n, h.size)
		}
		if day := h.end.Format(dayLayout); len(wantDays) == 0 || wantDays[len(wantDays)-1] != day {
			wantDays = append(wantDays, day)
		}
	}
	w.mu.Unlock()
	var got []string
	for _, name := range m.list() {
		switch {
		case isTemp(path.Base(name)):
			t.Errorf("temporary file left: %s", name)
		case strings.HasPrefix(name, "history/"):
			got = append(got, name)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history files (-index +files):\n%s", diff)
	}
	m.mu.Lock()
	var days []string
	for _, e := range m.children(historyDir) {
		days = append(days, e.Name())
	}
	m.mu.Unlock()
	if diff := cmp.Diff(wantDays, days); diff != "" {
		t.Errorf("date folders (-want +got):\n%s", diff)
	}
	fleet, err := readFleet(bytes.NewReader(m.read("csv/" + fleetFile)))
	if err != nil {
		t.Fatalf("fleet_metrics.csv: %v", err)
	}
	if diff := cmp.Diff(fleetCSV(w.Fleet()), fleetCSV(fleet)); diff != "" {
		t.Errorf("fleet_metrics.csv (-Fleet() +file):\n%s", diff)
	}
	latest, err := readVehicles(bytes.NewReader(m.read("csv/"+latestFile)), telemetry.LatestColumns)
	if err != nil {
		t.Fatalf("latest_metrics.csv: %v", err)
	}
	if diff := cmp.Diff(vehiclesCSV(w.Latest()), vehiclesCSV(latest)); diff != "" {
		t.Errorf("latest_metrics.csv (-Latest() +file):\n%s", diff)
	}
}
