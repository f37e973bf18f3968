package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"fleetpulse/shared/telemetry"
)

// floodHeapBudget and floodRSSBudget are the memory a flood of a million
// distinct vehicle ids may take at the default -max-vehicles (100000): the
// server's peak heap in use and peak resident set, as /metrics reports
// them. The README states them. Measured: about 380 MiB and 430 MiB; the
// cost is a window holding 100000 vehicles, once in the window stage, the
// served view, the subscribers' message and the CSV writer (about 1.4 KiB
// per vehicle live, twice that with the garbage collector's headroom).
const (
	floodHeapBudget = 512 << 20
	floodRSSBudget  = 640 << 20
)

// TestFloodOfDistinctVehicles posts a million events, each of a vehicle id
// never seen before, to the built binary at default limits while the
// simulated fleet runs: memory stays within the budget, the excess over
// -max-vehicles is rejected and counted, and /data still serves the real
// (simulated) fleet afterwards.
func TestFloodOfDistinctVehicles(t *testing.T) {
	if testing.Short() {
		t.Skip("a million events through the built binary")
	}
	const (
		token    = "flood-token-0123456789abcdef"
		total    = 1_000_000
		perBatch = 20_000
	)
	bin := buildBinary(t)
	p := startBinary(t, bin, []string{"FLEETPULSE_INGEST_TOKEN=" + token},
		"-addr", "127.0.0.1:0", "-storage", t.TempDir(), "-window", "1s", "-lateness", "2s", "-vehicles", "20", "-rate", "5")

	var peakHeap, peakRSS float64
	sample := func() {
		m := scrape(t, p.url+"metrics")
		peakHeap = max(peakHeap, m["go_memstats_heap_inuse_bytes"])
		peakRSS = max(peakRSS, m["process_resident_memory_bytes"])
	}
	sample()
	baseHeap, baseRSS := peakHeap, peakRSS
	start := time.Now()
	var body []byte
	accepted := 0
	for n := 0; n < total; n += perBatch {
		body = body[:0]
		ts := time.Now().UnixMilli()
		for i := n; i < n+perBatch; i++ {
			body = append(body, `{"vehicle_id":"FLOOD-`...)
			body = strconv.AppendInt(body, int64(i), 10)
			body = append(body, `","ts":`...)
			body = strconv.AppendInt(body, ts, 10)
			body = append(body, `,"lat":1.5,"lon":2.5,"speed_kmh":3}`+"\n"...)
		}
		req, _ := http.NewRequest(http.MethodPost, p.url+"ingest", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var a struct{ Accepted int }
		json.NewDecoder(resp.Body).Decode(&a)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			accepted += a.Accepted
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			n -= perBatch // back-pressure: send it again
		default:
			t.Fatalf("batch at %d: status %d", n, resp.StatusCode)
		}
		sample()
	}
	elapsed := time.Since(start)
	// Let the flooded windows close and reach the files and subscribers.
	var m map[string]float64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) { // readiness polling
		sample()
		m = scrape(t, p.url+"metrics")
		if m["fleetpulse_ingest_queue_depth"] == 0 && m["fleetpulse_vehicles_tracked"] > 0 && m["fleetpulse_windows_closed_total"] > 3 {
			break
		}
	}
	for range 10 { // a few more windows, sampled
		time.Sleep(200 * time.Millisecond) // sampling interval
		sample()
	}
	m = scrape(t, p.url+"metrics")
	rejected := 0.0
	for k, v := range scrapeLabelled(t, p.url+"metrics", "fleetpulse_events_rejected_total") {
		if k == `reason="too_many_vehicles"` {
			rejected = v
		}
	}
	t.Logf("flood of %d distinct ids in %v: %d accepted by ingest, %.0f over -max-vehicles; heap in use %.0f MiB at start, peak %.0f MiB; RSS %.0f MiB at start, peak %.0f MiB; %.0f vehicles tracked now",
		total, elapsed.Round(time.Millisecond), accepted, rejected, baseHeap/(1<<20), peakHeap/(1<<20), baseRSS/(1<<20), peakRSS/(1<<20), m["fleetpulse_vehicles_tracked"])
	if accepted != total {
		t.Errorf("ingest accepted %d of %d valid lines", accepted, total)
	}
	if rejected < total-100_000 {
		t.Errorf("only %.0f events rejected over -max-vehicles 100000", rejected)
	}
	if peakHeap > floodHeapBudget {
		t.Errorf("peak heap in use %.0f MiB, over the budget of %d MiB", peakHeap/(1<<20), floodHeapBudget>>20)
	}
	if peakRSS > floodRSSBudget {
		t.Errorf("peak RSS %.0f MiB, over the budget of %d MiB", peakRSS/(1<<20), floodRSSBudget>>20)
	}

	// The real fleet is still served: its vehicles are in the latest
	// window's rows.
	sims := 0
	for deadline := time.Now().Add(15 * time.Second); sims < 20 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) { // readiness polling
		resp, b := getBody(t, p.url+"data")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/data: %d", resp.StatusCode)
		}
		var rows []telemetry.VehicleRow
		if err := json.Unmarshal(b, &rows); err != nil {
			t.Fatal(err)
		}
		sims = 0
		for _, r := range rows {
			if len(r.VehicleID) < 6 || r.VehicleID[:6] != "FLOOD-" {
				sims++
			}
		}
	}
	if sims != 20 {
		t.Fatalf("/data serves %d of the 20 simulated vehicles after the flood", sims)
	}
	p.term(t)
}

// scrapeLabelled returns the samples of one labelled metric by label set.
func scrapeLabelled(t *testing.T, url, name string) map[string]float64 {
	t.Helper()
	_, b := getBody(t, url)
	out := map[string]float64{}
	for l := range bytes.SplitSeq(b, []byte("\n")) {
		rest, ok := bytes.CutPrefix(l, []byte(name+"{"))
		if !ok {
			continue
		}
		labels, val, ok := bytes.Cut(rest, []byte("} "))
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(string(val), 64); err == nil {
			out[string(labels)] = f
		}
	}
	return out
}
