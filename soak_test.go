package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"
)

// TestSoak runs the built binary with -wal for an hour at moderate load
// (the simulated fleet, an HTTP ingest producer, /ws subscribers that come
// and go, GET /data readers) and samples the heap and goroutine counts and
// the write-ahead log's size from /metrics. It asserts that both stay flat: no leak of goroutines and no
// heap growth beyond a margin once warmed up. It runs only with
// BENCH_FULL=1; FLEETPULSE_SOAK_DURATION (such as 2m) shortens it for a
// quick check:
//
//	BENCH_FULL=1 go test -run TestSoak -timeout 2h -v .
func TestSoak(t *testing.T) {
	if os.Getenv("BENCH_FULL") != "1" {
		t.Skip("the soak runs only with BENCH_FULL=1")
	}
	duration := time.Hour
	if v := os.Getenv("FLEETPULSE_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("FLEETPULSE_SOAK_DURATION: %v", err)
		}
		duration = d
	}
	const token = "soak-token-0123456789abcdef"
	bin := buildBinary(t)
	p := startBinary(t, bin, []string{"FLEETPULSE_INGEST_TOKEN=" + token},
		"-addr", "127.0.0.1:0", "-storage", t.TempDir(), "-wal", t.TempDir(), "-window", "5s", "-lateness", "1s",
		"-vehicles", "200", "-rate", "2", "-retention", "5m")

	ctx, cancel := context.WithTimeout(t.Context(), duration)
	defer cancel()
	var g errgroup.Group
	var posted, postFailed int
	g.Go(func() error { // 20 external vehicles, one batch every 200 ms: 100 events/s
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for k := 0; ; k++ {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
			var b strings.Builder
			now := time.Now().UnixMilli()
			for v := range 20 {
				fmt.Fprintf(&b, `{"vehicle_id":"SOAK-%02d","ts":%d,"lat":52.5,"lon":13.4,"speed_kmh":%d}`+"\n", v, now, (k+v)%120)
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"ingest", strings.NewReader(b.String()))
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				postFailed++
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				postFailed++
				continue
			}
			posted++
		}
	})
	g.Go(func() error { // a subscriber that reconnects every 20 s
		for ctx.Err() == nil {
			cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
			c, _, err := websocket.Dial(cctx, "ws"+strings.TrimPrefix(p.url, "http")+"ws", nil)
			if err == nil {
				c.SetReadLimit(16 << 20)
				for {
					if _, _, err := c.Read(cctx); err != nil {
						break
					}
				}
				c.CloseNow()
			}
			<-cctx.Done()
			ccancel()
		}
		return nil
	})
	g.Go(func() error { // a reader of /data every second
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
			if resp, err := http.Get(p.url + "data"); err == nil {
				resp.Body.Close()
			}
		}
	})

	// Sample about 60 times.
	every := max(duration/60, time.Second)
	type sample struct {
		at         time.Duration
		heap       float64 // go_memstats_heap_inuse_bytes
		goroutines float64
		rss        float64
		windows    float64
		walBytes   float64
	}
	var samples []sample
	start := time.Now()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			m := scrape(t, p.url+"metrics")
			samples = append(samples, sample{time.Since(start), m["go_memstats_heap_inuse_bytes"], m["go_goroutines"],
				m["process_resident_memory_bytes"], m["fleetpulse_windows_closed_total"], m["fleetpulse_wal_bytes"]})
		}
	}
	g.Wait()
	p.term(t)

	if len(samples) < 6 {
		t.Fatalf("only %d samples", len(samples))
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "soak %v: %d samples every %v, %d ingest batches acked, %d failed\n", duration, len(samples), every, posted, postFailed)
	fmt.Fprintf(&sb, "%10s %12s %10s %12s %8s %12s\n", "elapsed", "heap_MiB", "goroutines", "rss_MiB", "windows", "wal_KiB")
	for _, s := range samples {
		fmt.Fprintf(&sb, "%10v %12.1f %10.0f %12.1f %8.0f %12.1f\n", s.at.Round(time.Second), s.heap/(1<<20), s.goroutines, s.rss/(1<<20), s.windows, s.walBytes/(1<<10))
	}
	// Warm-up: the first sixth (retention fills in 5 minutes, the first
	// sample of a short run is before the first windows).
	warm := samples[len(samples)/6:]
	third := len(warm) / 3
	peak := func(ss []sample, f func(sample) float64) float64 {
		m := 0.0
		for _, s := range ss {
			m = max(m, f(s))
		}
		return m
	}
	heapEarly := peak(warm[:third], func(s sample) float64 { return s.heap })
	heapLate := peak(warm[len(warm)-third:], func(s sample) float64 { return s.heap })
	gorEarly := peak(warm[:third], func(s sample) float64 { return s.goroutines })
	gorLate := peak(warm[len(warm)-third:], func(s sample) float64 { return s.goroutines })
	fmt.Fprintf(&sb, "heap in-use peak: first third %.1f MiB, last third %.1f MiB; goroutines peak: %.0f then %.0f\n",
		heapEarly/(1<<20), heapLate/(1<<20), gorEarly, gorLate)
	t.Log("\n" + sb.String())
	// Flat: the last third's peak within 25% (plus 4 MiB of GC slack) of
	// the first third's; goroutines within 10 (subscribers and
	// connections in flight at the moment of a sample).
	if heapLate > 1.25*heapEarly+4<<20 {
		t.Errorf("heap grew: peak %.1f MiB in the first third, %.1f MiB in the last", heapEarly/(1<<20), heapLate/(1<<20))
	}
	if gorLate > gorEarly+10 {
		t.Errorf("goroutines grew: peak %.0f in the first third, %.0f in the last", gorEarly, gorLate)
	}
	// The write-ahead log is released as windows are delivered: it holds
	// one segment being written (16 MiB at most), never the whole run.
	walLate := peak(warm[len(warm)-third:], func(s sample) float64 { return s.walBytes })
	fmt.Fprintf(&sb, "write-ahead log peak in the last third: %.1f KiB\n", walLate/(1<<10))
	if walLate > 32<<20 {
		t.Errorf("write-ahead log grew to %.1f MiB", walLate/(1<<20))
	}
	if last := samples[len(samples)-1].windows; last < float64(duration/(5*time.Second))/2 {
		t.Errorf("only %.0f windows closed in %v", last, duration)
	}
	if postFailed > posted/100 {
		t.Errorf("%d of %d ingest requests failed", postFailed, posted+postFailed)
	}
}

// scrape reads the unlabelled samples of a Prometheus text page.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.Contains(line, "{") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(val, 64); err == nil {
			m[name] = f
		}
	}
	return m
}
