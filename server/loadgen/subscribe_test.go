package loadgen

import (
	"compress/gzip"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"fleetpulse/server/hub"
)

// windowMsg is a final window message as the server writes it, head first.
func windowMsg(seq int, end time.Time) []byte {
	return fmt.Appendf(nil, `{"type":"window","seq":%d,"final":true,"window_start":%q,"window_end":%q,"fleet":{},"vehicles":[]}`,
		seq, end.Add(-time.Second).Format("2006-01-02T15:04:05.000Z"), end.Format("2006-01-02T15:04:05.000Z"))
}

// TestLoadgenMeasuresWindowLatency runs loadgen with subscribers of a real
// hub. The test publishes a window when the batch that moves the watermark
// past its end arrives, as the server would: every subscriber must read
// every window once, each matched to that batch.
func TestLoadgenMeasuresWindowLatency(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	start := clock.now()
	h := hub.New(hub.Options{})
	h.SetSnapshot([]byte(`{"type":"snapshot","seq":0,"fleet":[],"vehicles":[]}`))
	fake := newFakeIngest(t, "s3cret")
	var mu sync.Mutex
	seq := 0
	mux := http.NewServeMux()
	mux.Handle("/ws", h)
	mux.HandleFunc("/ingest", func(w http.ResponseWriter, r *http.Request) {
		// -rate 1000, -batch 100: request k carries ts start+(k-1)×100ms.
		// With 1 s lateness and 1 s windows, the window ending at s
		// closes with the first event at s+1s.
		fake.ServeHTTP(w, r)
		mu.Lock()
		defer mu.Unlock()
		if fake.requests == 11 || fake.requests == 21 {
			seq++
			h.Publish(uint64(seq), nil, windowMsg(seq, start.Add(time.Duration(seq-1)*time.Second)), nil)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer h.Close()
	out, err := runLoadgen(t, srv, clock, tokenEnv, "-transport", "http", "-vehicles", "300", "-rate", "1000", "-batch", "100",
		"-events", "3000", "-duration", "1h", "-subscribers", "3", "-sub-vehicles", "2", "-lateness", "1s", "-slide", "1s")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := field(t, out, "subscribers"), "3 connected (2 vehicles each), 0 dropped as too slow (1008), failures: none"; got != want {
		t.Errorf("subscribers %q, want %q", got, want)
	}
	if got := field(t, out, "windows"); !strings.HasPrefix(got, "2 final windows read 6 times (6 messages") {
		t.Errorf("windows %q, want 2 windows read 6 times", got)
	}
	if got := field(t, out, "window latency"); !strings.Contains(got, "over 6 deliveries") {
		t.Errorf("window latency %q, want 6 deliveries measured", got)
	}
	if strings.Contains(out, "unmatched") {
		t.Errorf("deliveries without a matching batch:\n%s", out)
	}
}

// TestWindowLatencyFromMarks checks the measure itself: from the write of
// the first batch with an event at or after window_end + lateness to the
// read.
func TestWindowLatencyFromMarks(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC)
	ms := t0.UnixMilli()
	m := newMarks()
	m.sent(ms+900, t0.Add(900*time.Millisecond))   // second 0
	m.sent(ms+1200, t0.Add(1250*time.Millisecond)) // second 1: the first event at or after 1 s
	m.sent(ms+1900, t0.Add(1900*time.Millisecond)) // second 1 again: later, ignored
	m.sent(ms+3500, t0.Add(3500*time.Millisecond)) // seconds 2 and 3 at once
	m.sent(ms+1500, t0.Add(1100*time.Millisecond)) // another connection, earlier write
	s := newSubscribers(0)
	s.deliveries = []delivery{
		{endMS: ms, at: t0.Add(1300 * time.Millisecond)},        // closable at 1.1 s: 200 ms
		{endMS: ms, at: t0.Add(1400 * time.Millisecond)},        // 300 ms
		{endMS: ms + 1000, at: t0.Add(3540 * time.Millisecond)}, // second 2, marked at 3.5 s: 40 ms
		{endMS: ms + 9000, at: t0.Add(20 * time.Second)},        // never closable in this run
	}
	h, windows, unmatched := s.result(m, time.Second)
	if windows != 3 || unmatched != 1 || h.n != 3 {
		t.Fatalf("windows %d, unmatched %d, measured %d: want 3, 1, 3", windows, unmatched, h.n)
	}
	for _, q := range []struct {
		q    float64
		want time.Duration
	}{{0.1, 40 * time.Millisecond}, {0.5, 200 * time.Millisecond}, {1, 300 * time.Millisecond}} {
		if got := h.quantile(q.q); got < q.want*97/100 || got > q.want*103/100 {
			t.Errorf("quantile %v = %s, want %s within the histogram's 3 %%", q.q, got, q.want)
		}
	}
}

func TestWindowEnd(t *testing.T) {
	t.Parallel()
	end := time.Date(2026, 11, 27, 4, 40, 10, 0, time.UTC)
	for _, tc := range []struct {
		head  string
		final bool
	}{
		{string(windowMsg(3, end)), true},
		{`{"type":"snapshot","seq":3,"window_end":"2026-11-27T04:40:10.000Z"}`, false},
		{`{"type":"live","final":false,"window_end":"2026-11-27T04:40:10.000Z"}`, false},
		{`{"type":"window","seq":3,"final":true,"window_start":"2026-11-27T04:40:00.000Z","window_end":"2026-11-27T04:40`, false},
		{`{"type":"window","seq":3,"final":true,"window_end":"soon"}`, false},
	} {
		ms, final := windowEnd([]byte(tc.head))
		if final != tc.final || (final && ms != end.UnixMilli()) {
			t.Errorf("windowEnd(%s) = %d, %v; want final %v at %d", tc.head, ms, final, tc.final, end.UnixMilli())
		}
	}
}

func TestSubscribeURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		base    string
		i, k, n int
		want    string
	}{
		{"http://localhost:8080", 0, 0, 10, "ws://localhost:8080/ws"},
		{"https://fp.example.com/ingest", 0, 0, 10, "wss://fp.example.com/ws"},
		{"http://localhost:8080/", 4, 2, 9, "ws://localhost:8080/ws?vehicle_id=LOAD-000009&vehicle_id=LOAD-000001"},
	} {
		if got, err := subscribeURL(tc.base, tc.i, tc.k, tc.n); err != nil || got != tc.want {
			t.Errorf("subscribeURL(%q, %d, %d, %d) = %q, %v; want %q", tc.base, tc.i, tc.k, tc.n, got, err, tc.want)
		}
	}
}

// TestLoadgenData asks a /data server for as long as -duration says; each
// answer takes 10 ms of the fake clock, so one client makes 100 requests
// in 1 s.
func TestLoadgenData(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var mu sync.Mutex
	var paths []string
	gzipped := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clock.wait(r.Context(), 10*time.Millisecond)
		mu.Lock()
		paths = append(paths, r.URL.RequestURI())
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			gzipped++
		}
		mu.Unlock()
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zw.Write([]byte(`[{"vehicle_id":"LOAD-000001"}]`))
		zw.Close()
	}))
	defer srv.Close()
	out, err := runLoadgen(t, srv, clock, nil, "-transport", "data", "-data-path", "/data?format=csv", "-duration", "1s")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 100 || gzipped != 100 || paths[0] != "/data?format=csv" {
		t.Fatalf("%d requests (%d asking for gzip), first %q: want 100 of /data?format=csv, all gzip", len(paths), gzipped, paths[0])
	}
	if got := field(t, out, "requests/s"); got != "100" {
		t.Errorf("requests/s %q, want 100", got)
	}
	if got := field(t, out, "answers"); got != "100, errors: none" {
		t.Errorf("answers %q", got)
	}
}

func TestLoadgenDataStopsOnAnError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	out, err := runLoadgen(t, srv, newFakeClock(), nil, "-transport", "data", "-duration", "1s")
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("error %v, want the 404", err)
	}
	if got := field(t, out, "answers"); got != "1, errors: 404: 1" {
		t.Errorf("answers %q", got)
	}
}

// FuzzWindowEnd feeds windowEnd, which reads the head of every message a
// server sends to a subscriber, arbitrary bytes: it must not panic, and a
// window it accepts has a head that says so.
func FuzzWindowEnd(f *testing.F) {
	f.Add(windowMsg(3, time.Date(2026, 11, 27, 4, 40, 10, 0, time.UTC)))
	f.Add([]byte(`{"type":"snapshot","seq":1,"fleet":[],"vehicles":[]}`))
	f.Add([]byte(`{"type":"window","window_end":"`))
	f.Add([]byte(`{"type":"window","window_end":"2026-11-27T04:40:10+99:00"}`))
	f.Fuzz(func(t *testing.T, head []byte) {
		if _, final := windowEnd(head); final && !strings.HasPrefix(string(head), `{"type":"window"`) {
			t.Fatalf("windowEnd(%q) took a message that is no window", head)
		}
	})
}
