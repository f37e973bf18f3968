package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"fleetpulse/shared/telemetry"
	"fleetpulse/shared/wire"
)

// server is a running fleetpulse started by startServer.
type server struct {
	url     string // http://127.0.0.1:port/
	storage string
	stop    context.CancelFunc
	done    chan error
	stderr  *strings.Builder
}

// startServer runs the real server in-process on a free port with args
// added to test defaults, and stops it at the end of the test.
func startServer(t testing.TB, args ...string) *server {
	t.Helper()
	return startServerEnv(t, nil, args...)
}

// startServerEnv is startServer with environment variables.
func startServerEnv(t testing.TB, env map[string]string, args ...string) *server {
	t.Helper()
	dir := t.TempDir()
	base := []string{"-addr", "127.0.0.1:0", "-storage", dir, "-window", "1s", "-lateness", "0s", "-vehicles", "8", "-rate", "20"}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &server{storage: dir, stop: cancel, done: make(chan error, 1), stderr: new(strings.Builder)}
	getenv := func(k string) string { return env[k] }
	go func() {
		err := run(ctx, append(base, args...), getenv, pw, &syncWriter{b: s.stderr})
		pw.Close()
		s.done <- err
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "FleetPulse dashboard: "); ok {
			s.url = u
			break
		}
	}
	if s.url == "" {
		cancel()
		t.Fatalf("server did not print its URL: %v", <-s.done)
	}
	go io.Copy(io.Discard, pr)
	t.Cleanup(func() { s.shutdown(t) })
	waitReady(t, s.url+"readyz")
	return s
}

func (s *server) shutdown(t testing.TB) {
	t.Helper()
	if s.stop == nil {
		return
	}
	s.stop()
	s.stop = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("server did not stop within 10 s")
	}
}

// waitReady polls url until it answers 200, with a deadline.
func waitReady(t testing.TB, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond) // readiness polling only
	}
	t.Fatalf("%s not ready within 10 s", url)
}

func getBody(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func dialWS(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(url, "http"), nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.SetReadLimit(64 << 20)
	return c
}

func readMsg(t *testing.T, c *websocket.Conn, v any) wire.Envelope {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read /ws: %v", err)
	}
	var env wire.Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("decode %s: %v", env.Type, err)
		}
	}
	return env
}

func TestEndToEnd(t *testing.T) {
	s := startServer(t)
	c := dialWS(t, s.url+"ws")
	defer c.CloseNow()

	var snap wire.Snapshot
	if env := readMsg(t, c, &snap); env.Type != wire.TypeSnapshot {
		t.Fatalf("first message %q, want snapshot", env.Type)
	}
	var w1, w2 wire.Window
	readMsg(t, c, &w1)
	readMsg(t, c, &w2)
	if w1.Type != wire.TypeWindow || !w1.Final || w2.Seq != w1.Seq+1 || w1.Seq != snap.Seq+1 {
		t.Fatalf("windows: %s seq %d final %v, then seq %d; snapshot seq %d", w1.Type, w1.Seq, w1.Final, w2.Seq, snap.Seq)
	}
	if !w2.WindowStart.Equal(w1.WindowEnd) || w2.Fleet.VehiclesActive != 8 || len(w2.Vehicles) != 8 {
		t.Fatalf("second window %v–%v with %d vehicles, want the next second with 8", w2.WindowStart, w2.WindowEnd, len(w2.Vehicles))
	}

	t.Run("data", func(t *testing.T) {
		resp, b := getBody(t, s.url+"data")
		var rows []telemetry.VehicleRow
		if err := json.Unmarshal(b, &rows); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /data: %d %v %s", resp.StatusCode, err, b)
		}
		if len(rows) != 8 || rows[0].VehicleID == "" || rows[0].Events == 0 {
			t.Fatalf("GET /data: %d rows, first %+v", len(rows), rows[0])
		}
		_, b = getBody(t, s.url+"data?format=csv&vehicle_id="+rows[0].VehicleID)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if lines[0] != strings.Join(telemetry.LatestColumns, ",") || len(lines) != 2 || !strings.Contains(lines[1], rows[0].VehicleID) {
			t.Fatalf("GET /data?format=csv&vehicle_id=: %q", b)
		}
		resp, b = getBody(t, s.url+"data/fleet")
		var fleet []telemetry.FleetRow
		if err := json.Unmarshal(b, &fleet); err != nil || len(fleet) == 0 {
			t.Fatalf("GET /data/fleet: %d %v %s", resp.StatusCode, err, b)
		}
		for _, bad := range []string{"data?format=xml", "data?vehicle_id=%0A", "data/fleet?since=yesterday", "data?colour=red"} {
			resp, b := getBody(t, s.url+bad)
			if resp.StatusCode != 400 || !strings.Contains(string(b), `"error"`) {
				t.Errorf("GET /%s: %d %s, want 400 with an error", bad, resp.StatusCode, b)
			}
		}
	})

	t.Run("metrics", func(t *testing.T) {
		resp, b := getBody(t, s.url+"metrics")
		if resp.StatusCode != 200 {
			t.Fatalf("GET /metrics: %d", resp.StatusCode)
		}
		for _, want := range []string{
			"fleetpulse_events_ingested_total ", "fleetpulse_events_late_total 0", "fleetpulse_events_duplicate_total 0",
			`fleetpulse_events_rejected_total{reason="too_many_vehicles"} 0`, "fleetpulse_windows_closed_total ",
			"fleetpulse_ws_subscribers 1", `fleetpulse_csv_write_errors_total{reason="disk_full"} 0`,
		} {
			if !strings.Contains(string(b), "\n"+want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	})

	t.Run("files", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(s.storage, "csv", "latest_metrics.csv"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if lines[0] != strings.Join(telemetry.LatestColumns, ",") || len(lines) != 9 {
			t.Fatalf("latest_metrics.csv: header %q and %d rows, want the contract's header and 8 rows", lines[0], len(lines)-1)
		}
		hist, _ := filepath.Glob(filepath.Join(s.storage, "history", "*", "metrics_*Z.csv"))
		if len(hist) < 2 {
			t.Fatalf("%d history files, want one per window", len(hist))
		}
	})

	t.Run("shutdown", func(t *testing.T) {
		s.shutdown(t)
		// Subscribers get the flushed windows, then Going Away.
		for {
			_, _, err := c.Read(t.Context())
			if err != nil {
				if st := websocket.CloseStatus(err); st != websocket.StatusGoingAway {
					t.Fatalf("close status %v (%v), want 1001", st, err)
				}
				break
			}
		}
		entries, _ := os.ReadDir(filepath.Join(s.storage, "csv"))
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				t.Errorf("temporary file left: %s", e.Name())
			}
		}
	})
}

func TestBadConfigFailsFast(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"slide not dividing", []string{"-window", "10s", "-slide", "3s"}, nil, "multiple"},
		{"env is read", nil, map[string]string{"FLEETPULSE_WINDOW": "1500ms"}, "whole number"},
		{"bad env value", nil, map[string]string{"FLEETPULSE_RATE": "many"}, "FLEETPULSE_RATE"},
		{"flag wins over env", []string{"-window", "2s", "-slide", "3s"}, map[string]string{"FLEETPULSE_SLIDE": "1s"}, "multiple"},
		{"storage not writable", []string{"-storage", file}, nil, "storage"},
		{"unknown flag", []string{"-colour"}, nil, "colour"},
		{"wal not a folder", nil, map[string]string{"FLEETPULSE_WAL": file}, "-wal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"-addr", "127.0.0.1:0", "-vehicles", "0", "-storage", t.TempDir()}, tc.args...)
			// Should the config wrongly pass, the server stops soon.
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			err := run(ctx, args, func(k string) string { return tc.env[k] }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run(%v) = %v, want an error mentioning %q", tc.args, err, tc.want)
			}
		})
	}
}

// TestRestartCarriesOn stops the server and starts it again on the same
// -storage: seq, the fleet rows and the history carry on.
func TestRestartCarriesOn(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "-storage", dir)
	c := dialWS(t, s.url+"ws")
	readMsg(t, c, nil) // snapshot
	var w wire.Window
	readMsg(t, c, &w)
	s.shutdown(t)
	// The subscriber gets the flushed windows, then Going Away.
	lastEnd := w.WindowEnd
	for {
		_, b, err := c.Read(t.Context())
		if err != nil {
			break
		}
		var fw wire.Window
		if json.Unmarshal(b, &fw) == nil && fw.WindowEnd.After(lastEnd) {
			lastEnd = fw.WindowEnd
		}
	}
	c.CloseNow()

	s2 := startServer(t, "-storage", dir)
	c2 := dialWS(t, s2.url+"ws")
	defer c2.CloseNow()
	var snap wire.Snapshot
	readMsg(t, c2, &snap)
	if snap.Seq <= w.Seq || len(snap.Fleet) == 0 || len(snap.Vehicles) == 0 {
		t.Fatalf("after restart: snapshot seq %d with %d fleet rows and %d vehicles; before: seq %d", snap.Seq, len(snap.Fleet), len(snap.Vehicles), w.Seq)
	}
	var next wire.Window
	readMsg(t, c2, &next)
	if next.Seq != snap.Seq+1 {
		t.Fatalf("first window after restart has seq %d, want %d", next.Seq, snap.Seq+1)
	}
	// No window is emitted twice: the first one after the restart starts
	// where the flushed ones ended, or later.
	if next.WindowStart.Before(lastEnd) {
		t.Fatalf("after restart a window [%v, %v) again, though windows up to %v were delivered", next.WindowStart, next.WindowEnd, lastEnd)
	}
	_, body := getBody(t, s2.url+"data/history?to="+w.WindowEnd.Format(time.RFC3339Nano))
	var rows []telemetry.VehicleRow
	if err := json.Unmarshal(body, &rows); err != nil || len(rows) == 0 {
		t.Fatalf("/data/history of the first run: %v, %d rows: %s", err, len(rows), body)
	}
	for _, r := range rows {
		if r.WindowEnd.After(w.WindowEnd) {
			t.Fatalf("row of window ending %v beyond to=%v", r.WindowEnd, w.WindowEnd)
		}
	}
}

func TestLiveUpdatesOnWS(t *testing.T) {
	s := startServer(t, "-window", "60s", "-live-interval", "200ms")
	c := dialWS(t, s.url+"ws")
	defer c.CloseNow()
	var snap wire.Snapshot
	readMsg(t, c, &snap)
	// A minute may end first: skip final windows until the live update.
	var w wire.Window
	for range 3 {
		if env := readMsg(t, c, &w); env.Type == wire.TypeLive {
			break
		}
	}
	if w.Type != wire.TypeLive || w.Final || w.Seq < snap.Seq || w.Fleet.VehiclesActive != 8 {
		t.Fatalf("got %s seq %d final %v with %d vehicles; want a live update of the open window", w.Type, w.Seq, w.Final, w.Fleet.VehiclesActive)
	}
	entries, _ := os.ReadDir(filepath.Join(s.storage, "history"))
	if len(entries) != 0 {
		t.Fatalf("a live update was written to history: %v", entries)
	}
}

// TestRestartEmitsNoWindowTwice stops and restarts the server, mostly
// within one window: the window flushed at the first stop is final, so the
// second run's events in it are late, and the flushed row is never
// replaced by a second emission.
func TestRestartEmitsNoWindowTwice(t *testing.T) {
	dir := t.TempDir()
	fleetRows := func() map[string]string {
		b, err := os.ReadFile(filepath.Join(dir, "csv", "fleet_metrics.csv"))
		if err != nil {
			t.Fatal(err)
		}
		rows := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
			rows[strings.Split(line, ",")[1]] = line
		}
		return rows
	}
	var first map[string]string
	for run := range 2 {
		s := startServer(t, "-storage", dir, "-window", "60s", "-live-interval", "200ms")
		if run == 0 {
			c := dialWS(t, s.url+"ws")
			readMsg(t, c, nil) // snapshot
			// Any message after it means the events are in.
			readMsg(t, c, nil)
			c.CloseNow()
		} else {
			// Within the same minute the events are late: wait until the
			// simulator's first events have been taken.
			waitMetric(t, s.url, "fleetpulse_events_ingested_total")
		}
		s.shutdown(t)
		if run == 0 {
			first = fleetRows()
		}
	}
	if len(first) == 0 {
		t.Fatal("the first run flushed no window")
	}
	// The window flushed by the first run keeps its row: the second run's
	// events in it (same minute) were late, not a second emission.
	after := fleetRows()
	for end, row := range first {
		if after[end] != row {
			t.Fatalf("the window ending %s was emitted again:\nfirst run:  %s\nsecond run: %s", end, row, after[end])
		}
	}
}

// waitMetric polls /metrics until the counter name is above zero, with a
// deadline.
func waitMetric(t *testing.T, url, name string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		_, b := getBody(t, url+"metrics")
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok && v != "0" {
				return
			}
		}
		time.Sleep(20 * time.Millisecond) // readiness polling
	}
	t.Fatalf("%s stayed 0 for 10 s", name)
}

// TestStaticGzip: app.wasm and ECharts are served gzipped when the browser
// accepts it, and decompress to the embedded bytes.
func TestStaticGzip(t *testing.T) {
	raw, err := fs.ReadFile(web, "web/app.css")
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "-vehicles", "1")
	req, _ := http.NewRequest(http.MethodGet, s.url+"web/app.css", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req) // no transparent gunzip
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("headers %v: want gzip and text/css", resp.Header)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	if !bytes.Equal(got, raw) {
		t.Fatal("gunzipped app.css differs from the embedded file")
	}
	// Without gzip, the plain file.
	req.Header.Set("Accept-Encoding", "identity")
	resp2, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	plain, _ := io.ReadAll(resp2.Body)
	if resp2.Header.Get("Content-Encoding") != "" || !bytes.Equal(plain, raw) {
		t.Fatal("the plain app.css differs from the embedded file")
	}
}
