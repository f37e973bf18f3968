package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"fleetpulse/shared/wire"
)

// TestFutureProducerCannotPushTheWatermark: a producer whose clock runs a
// year ahead is rejected by -max-future, end to end, and the watermark and
// windows go on with the honest producers' time.
func TestFutureProducerCannotPushTheWatermark(t *testing.T) {
	t.Parallel()
	s := startServerEnv(t, map[string]string{"FLEETPULSE_INGEST_TOKEN": testToken},
		"-vehicles", "0", "-window", "1s", "-lateness", "0s", "-max-future", "1m")
	sub := dialWS(t, s.url+"ws")
	readMsg(t, sub, nil) // snapshot

	postLine := func(id string, ts time.Time) (int, string) {
		body := fmt.Sprintf(`{"vehicle_id":%q,"ts":%d,"lat":52.5,"lon":13.4,"speed_kmh":50}`+"\n", id, ts.UnixMilli())
		req, _ := http.NewRequest(http.MethodPost, s.url+"ingest", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if st, body := postLine("FUTURE-1", time.Now().AddDate(1, 0, 0)); st != http.StatusBadRequest || !strings.Contains(body, "ts_in_future") {
		t.Fatalf("an event a year ahead: %d %s, want 400 ts_in_future", st, body)
	}
	_, m := getBody(t, s.url+"metrics")
	if !strings.Contains(string(m), "fleetpulse_watermark_seconds 0\n") {
		t.Fatalf("the rejected event moved the watermark:\n%s", grepLines(string(m), "watermark"))
	}
	if !strings.Contains(string(m), `fleetpulse_events_rejected_total{reason="ts_in_future"} 1`) {
		t.Fatalf("rejection not counted:\n%s", grepLines(string(m), "rejected"))
	}

	// Honest events now and a second later: the first window closes with
	// the honest vehicle in it, not late.
	now := time.Now()
	for i, ts := range []time.Time{now, now.Add(1100 * time.Millisecond), now.Add(2200 * time.Millisecond)} {
		if st, body := postLine("HONEST-1", ts); st != http.StatusOK {
			t.Fatalf("honest event %d: %d %s", i, st, body)
		}
	}
	var w wire.Window
	readMsg(t, sub, &w)
	if w.Type != "window" || len(w.Vehicles) != 1 || w.Vehicles[0].VehicleID != "HONEST-1" || w.Fleet.LateEvents != 0 || w.Fleet.RejectedEvents != 1 {
		t.Fatalf("first window: %+v", w)
	}
}
