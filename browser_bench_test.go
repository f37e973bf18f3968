package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fleetpulse/app/ui"
)

// BenchmarkFirstChart measures, in headless Chromium, the time from the
// start of navigation to the first chart drawn with data (the page's
// performance mark), on a fresh profile and on a reload served by the
// service worker's cache, and when app.wasm had arrived in each case (the
// rest is compiling and starting it, ECharts and the first snapshot). Each
// iteration starts a new browser profile.
//
//	FLEETPULSE_BROWSER_TEST=1 go test -run '^$' -bench FirstChart -benchtime 5x .
func BenchmarkFirstChart(b *testing.B) {
	s := startServer(b, "-vehicles", "200", "-rate", "1")
	waitData(b, s.url)
	var fresh, reload, wasmFresh, wasmReload []float64
	// When app.wasm finished arriving, from the start of navigation.
	wasmAt := `(() => { const e = performance.getEntriesByType('resource').find(r => r.name.endsWith('/web/app.wasm')); return e ? e.responseEnd : -1; })()`
	mark := `(() => { const e = performance.getEntriesByName('` + ui.FirstChartMark + `'); return e.length ? e[0].startTime : 0; })()`
	for b.Loop() {
		ctx := newBrowser(b, 1440, 900)
		if err := chromedp.Do(ctx, chromedp.Navigate(s.url)); err != nil {
			b.Fatal(err)
		}
		ms, err := chromedp.Run(ctx, chromedp.Poll[float64](mark, chromedp.WithPollingTimeout(30*time.Second)))
		if err != nil {
			b.Fatalf("first chart on a fresh profile: %v", err)
		}
		fresh = append(fresh, ms)
		w, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](wasmAt))
		wasmFresh = append(wasmFresh, w)
		pollPromise(b, ctx, "the service worker to cache the app", jsShellCached)
		if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
			b.Fatal(err)
		}
		ms, err = chromedp.Run(ctx, chromedp.Poll[float64](mark, chromedp.WithPollingTimeout(30*time.Second)))
		if err != nil {
			b.Fatalf("first chart on reload: %v", err)
		}
		reload = append(reload, ms)
		w, _ = chromedp.Run(ctx, chromedp.Evaluate[float64](wasmAt))
		wasmReload = append(wasmReload, w)
	}
	b.ReportMetric(median(fresh), "ms-fresh")
	b.ReportMetric(median(reload), "ms-reload")
	b.ReportMetric(median(wasmFresh), "ms-wasm-fresh")
	b.ReportMetric(median(wasmReload), "ms-wasm-reload")
	b.ReportMetric(0, "ns/op")
}

// waitData waits, with a deadline, until the server has a final window, so
// that the page gets data at once.
func waitData(b *testing.B, url string) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "data/fleet")
		if err == nil {
			var rows []json.RawMessage
			err = json.NewDecoder(resp.Body).Decode(&rows)
			resp.Body.Close()
			if err == nil && len(rows) > 0 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond) // readiness polling only
	}
	b.Fatal("no window within 30 s")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
