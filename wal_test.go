package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fleetpulse/server/stream"
	"fleetpulse/server/wal"
	"fleetpulse/shared/telemetry"
)

// TestReplaySkipsFinalAndCountsRetriesOnce replays a log holding a batch of
// a window already final before the restart, a later batch, and a retry of
// it: the final one is skipped without counting late, the retry counts as
// duplicates, and the released segments are gone.
func TestReplaySkipsFinalAndCountsRetriesOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const window = 10 * time.Second
	through := time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC) // the last window delivered ends here
	ev := func(ts time.Time, n int) []telemetry.Event {
		out := make([]telemetry.Event, n)
		for i := range out {
			out[i] = telemetry.Event{VehicleID: fmt.Sprintf("V%d", i), TS: ts.UnixMilli(), Lat: 1, Lon: 2, SpeedKPH: 30, HeadingDeg: math.NaN(), FuelPct: math.NaN()}
		}
		return out
	}
	final, open := ev(through.Add(-time.Second), 3), ev(through.Add(2*time.Second), 4)
	w, err := wal.Open(dir, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	for _, b := range [][]telemetry.Event{final, open, open} {
		if err := w.Append(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	<-done

	proc, err := stream.New(stream.Config{Window: window, Lateness: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	proc.AdvanceTo(through.UnixMilli())
	d, err := openDurable(dir, window, window, proc, through, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if d.replayed != 4 {
		t.Fatalf("replayed %d events, want the 4 of the open window", d.replayed)
	}
	wins := proc.Flush()
	if len(wins) != 1 {
		t.Fatalf("%d windows after replay, want 1", len(wins))
	}
	f := wins[0].Fleet
	if f.Events != 4 || f.LateEvents != 0 || f.DuplicateEvents != 4 || !f.WindowEnd.Equal(through.Add(window)) {
		t.Fatalf("replayed window: %+v; want 4 events, 0 late, 4 duplicates, ending %v", f, through.Add(window))
	}
	// Once that window is delivered too, the segment goes.
	d.release(through.Add(window))
	if st := d.log.Stats(); st.Segments != 0 {
		t.Fatalf("%d segments left after every event is final", st.Segments)
	}
}

// TestWALCleanRestart: after a clean stop the open windows are flushed and
// delivered, so a restart on the same -storage and -wal replays nothing
// and deletes the log's old segment.
func TestWALCleanRestart(t *testing.T) {
	t.Parallel()
	storageDir, walDir := t.TempDir(), filepath.Join(t.TempDir(), "wal")
	env := map[string]string{"FLEETPULSE_INGEST_TOKEN": testToken}
	args := []string{"-vehicles", "0", "-storage", storageDir, "-wal", walDir, "-window", "10s", "-lateness", "5s", "-idle-timeout", "1h"}
	s := startServerEnv(t, env, args...)
	body := fmt.Sprintf(`{"vehicle_id":"W-1","ts":%d,"lat":52.5,"lon":13.4,"speed_kmh":50}`+"\n", time.Now().UnixMilli())
	req, _ := http.NewRequest(http.MethodPost, s.url+"ingest", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	_, m := getBody(t, s.url+"metrics")
	for _, want := range []string{"fleetpulse_wal_appends_total 1\n", "fleetpulse_wal_fsyncs_total 1\n", "fleetpulse_wal_segments 1\n"} {
		if !strings.Contains(string(m), want) {
			t.Fatalf("metrics lack %q:\n%s", want, grepLines(string(m), "wal"))
		}
	}
	s.shutdown(t)

	s2 := startServerEnv(t, env, args...)
	_, m = getBody(t, s2.url+"metrics")
	for _, want := range []string{"fleetpulse_wal_replayed_events_total 0\n", "fleetpulse_wal_segments 0\n"} {
		if !strings.Contains(string(m), want) {
			t.Fatalf("after a clean restart, metrics lack %q:\n%s", want, grepLines(string(m), "wal"))
		}
	}
}
