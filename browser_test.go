package main

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserPath finds Chromium, or fails (CI=true, or FLEETPULSE_BROWSER_TEST
// set, as make test does) or skips the test when it is missing.
func browserPath(t testing.TB) string {
	t.Helper()
	required := os.Getenv("CI") == "true" || os.Getenv("FLEETPULSE_BROWSER_TEST") != ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			if _, err := fs.Stat(web, "web/app.wasm"); err != nil {
				if required {
					t.Fatal("web/app.wasm is not built: run make test, which builds it first")
				}
				t.Skip("web/app.wasm is not built (make wasm)")
			}
			return p
		}
	}
	if required {
		t.Fatal("Chromium is required for the browser test and was not found (apt-get install chromium)")
	}
	t.Skip("Chromium not found; set CI=true to make this a failure")
	return ""
}

// newBrowser starts headless Chromium with a fresh profile.
func newBrowser(t testing.TB, width, height int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browserPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

func poll[T any](t *testing.T, ctx context.Context, what, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Poll[T](expr, chromedp.WithPollingTimeout(45*time.Second), chromedp.WithPollingInterval(50*time.Millisecond)))
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	return v
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := t.TempDir()
	if d := os.Getenv("FLEETPULSE_SCREENSHOTS"); d != "" {
		dir = d
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func TestDashboardInBrowser(t *testing.T) {
	ctx := newBrowser(t, 1280, 900)
	s := startServer(t, "-vehicles", "20", "-rate", "5")
	if err := chromedp.Do(ctx, chromedp.Navigate(s.url)); err != nil {
		t.Fatalf("open %s: %v", s.url, err)
	}
	poll[bool](t, ctx, "the connection indicator to say connected",
		`(() => { const e = document.getElementById('conn'); return !!e && /\bconnected\b/i.test(e.textContent) && !/disconnected/i.test(e.textContent); })()`)
	poll[bool](t, ctx, "both charts to draw on a canvas",
		`!!document.querySelector('#chart-fleet-speed canvas') && !!document.querySelector('#chart-fastest canvas')`)
	vehicles := poll[string](t, ctx, "live numbers in the vehicles tile",
		`(() => { const e = document.getElementById('kpi-vehicles'); return e && /\d/.test(e.textContent) ? e.textContent.trim() : ''; })()`)
	if want := "20"; !strings.Contains(vehicles, want) {
		t.Errorf("vehicles tile %q, want it to show %s", vehicles, want)
	}
	seq1 := poll[string](t, ctx, "a seq from /ws", `(() => { const e = document.querySelector('[data-seq]'); const s = e && e.getAttribute('data-seq'); return s && s !== '0' ? s : ''; })()`)
	// Data changes: a later window arrives and the page shows it.
	poll[bool](t, ctx, "the next window", `(() => { const e = document.querySelector('[data-seq]'); return Number(e.getAttribute('data-seq')) > `+seq1+`; })()`)
	// ECharts drew series data, not an empty frame.
	n := poll[int](t, ctx, "points in the fleet speed chart",
		`(() => { const c = echarts.getInstanceByDom(document.getElementById('chart-fleet-speed')); if (!c) return 0; const s = c.getOption().series; return s && s[0] && s[0].data ? s[0].data.length : 0; })()`)
	if n < 1 {
		t.Errorf("fleet speed chart has %d points", n)
	}
	// After the first full option, a new window merges only data, and the
	// chart shows it.
	poll[bool](t, ctx, "a data-only update of the fleet chart with the new window",
		`document.getElementById('chart-fleet-speed').getAttribute('data-merge') === 'data' && `+seriesLen("chart-fleet-speed", 0)+` > `+strconv.Itoa(n))
	screenshot(t, ctx, "dashboard.png")

	// A chart follows its own element, not only the window: narrowing the
	// card (as a scrollbar appearing or a reflow does) resizes the chart.
	poll[bool](t, ctx, "narrowing the fleet chart's card", `(() => { const e = document.getElementById('chart-fleet-speed'); e.style.width = '300px'; return true; })()`)
	if w := poll[int](t, ctx, "the fleet chart to fit its narrower element", `(() => { const c = echarts.getInstanceByDom(document.getElementById('chart-fleet-speed')); return c && c.getWidth() <= 300 ? c.getWidth() : 0; })()`); w != 300 {
		t.Errorf("fleet chart is %d px wide in a 300 px element", w)
	}
}
