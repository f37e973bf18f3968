package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"fleetpulse/server/view"
	"fleetpulse/shared/telemetry"
)

var errTooMany = errors.New("too many rows")

// fakeHistory stands in for the files (a process edge): it records the
// query and answers rows or an error.
type fakeHistory struct {
	from, to time.Time
	ids      map[string]bool
	rows     []telemetry.VehicleRow
	err      error
}

func (f *fakeHistory) History(from, to time.Time, ids map[string]bool, maxRows int) ([]telemetry.VehicleRow, error) {
	f.from, f.to, f.ids = from, to, ids
	return f.rows, f.err
}

func (f *fakeHistory) TooMany(err error) bool { return errors.Is(err, errTooMany) }

func TestHistory(t *testing.T) {
	t.Parallel()
	end := time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC)
	row := telemetry.VehicleRow{WindowStart: end.Add(-10 * time.Second), WindowEnd: end, VehicleID: "BUS-1", Events: 3, AvgSpeedKPH: 12.345, LastTS: end}
	hist := &fakeHistory{rows: []telemetry.VehicleRow{row}}
	var ready atomic.Bool
	nop := http.NotFoundHandler()
	srv := httptest.NewServer(NewHandler(Deps{View: view.New(0, nil, nil, time.Hour, time.Now), WS: nop, UI: nop, Metrics: nop, Ready: &ready, History: hist}))
	defer srv.Close()
	get := func(q string) (int, string) {
		resp, err := http.Get(srv.URL + "/data/history" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	status, body := get("?vehicle_id=BUS-1&from=2026-11-27T04:00:00Z&to=2026-11-27T05:00:00%2B01:00")
	var rows []telemetry.VehicleRow
	if err := json.Unmarshal([]byte(body), &rows); status != 200 || err != nil {
		t.Fatalf("%d %s", status, body)
	}
	if diff := cmp.Diff([]telemetry.VehicleRow{row}, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if !hist.from.Equal(end.Add(-40*time.Minute)) || !hist.to.Equal(end.Add(-40*time.Minute)) || !hist.ids["BUS-1"] {
		t.Errorf("query passed on: from %v to %v ids %v", hist.from, hist.to, hist.ids)
	}
	if status, body := get("?format=csv"); status != 200 || !strings.HasPrefix(body, strings.Join(telemetry.VehicleColumns, ",")+"\n") || !strings.Contains(body, ",BUS-1,3,12.35,") {
		t.Errorf("CSV: %d %q", status, body)
	}
	for _, q := range []string{"?from=today", "?to=2026-11-27", "?from=2026-11-27T05:00:00Z&to=2026-11-27T04:00:00Z", "?from=2026-11-27T05:00:00Z&from=2026-11-27T05:00:00Z", "?since=2026-11-27T05:00:00Z"} {
		if status, body := get(q); status != 400 || !strings.Contains(body, `"error"`) {
			t.Errorf("%s: %d %s, want 400", q, status, body)
		}
	}
	hist.err = errTooMany
	if status, body := get(""); status != 400 || !strings.Contains(body, "narrow") {
		t.Errorf("too many rows: %d %s", status, body)
	}
	hist.err = errors.New("read history/2026-11-27/x: input/output error")
	if status, body := get(""); status != 500 || strings.Contains(body, "input/output") {
		t.Errorf("read error: %d %s, want 500 without the internal text", status, body)
	}
}

// TestBuiltBodiesAreLimited: when as many per-request bodies are being
// built as allowed, another filtered read gets 503 with Retry-After, and
// cached reads still work.
func TestBuiltBodiesAreLimited(t *testing.T) {
	for range cap(builds) {
		builds <- struct{}{}
	}
	defer func() {
		for range cap(builds) {
			<-builds
		}
	}()
	var ready atomic.Bool
	nop := http.NotFoundHandler()
	srv := httptest.NewServer(NewHandler(Deps{View: view.New(0, nil, nil, time.Hour, time.Now), WS: nop, UI: nop, Metrics: nop, Ready: &ready}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/data?vehicle_id=A")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("filtered read while busy: %d, want 503 with Retry-After", resp.StatusCode)
	}
	resp, err = http.Get(srv.URL + "/data")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("cached read while busy: %d, want 200", resp.StatusCode)
	}
}
