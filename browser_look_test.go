package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// emulateScheme makes the page see prefers-color-scheme: scheme.
func emulateScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}

// jsContrast returns, for each selector's first visible element, the
// WCAG contrast ratio of its text colour on the background it is drawn on
// (the nearest ancestors' backgrounds composed), as "selector ratio" lines
// for those under min.
const jsContrast = `((sels, min) => {
  const parse = (c) => { const m = c.match(/[\d.]+/g); if (!m) return null; const [r, g, b, a] = m.map(Number); return [r, g, b, a === undefined ? 1 : a]; };
  const over = (top, bottom) => { const a = top[3]; return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat(1); };
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const out = [];
  let checked = 0;
  for (const sel of sels) {
    const el = [...document.querySelectorAll(sel)].find(e => e.offsetParent !== null && (e.tagName === 'INPUT' || e.textContent.trim() !== ''));
    if (!el) { out.push(sel + ' missing'); continue; }
    // An empty input shows its placeholder.
    const st = el.tagName === 'INPUT' && !el.value ? getComputedStyle(el, '::placeholder') : getComputedStyle(el);
    const bg = background(el);
    const fg = over(parse(st.color), bg);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    checked++;
    if (ratio < min) out.push(sel + ' ' + ratio.toFixed(2) + ' (' + st.color + ' on rgb(' + bg.slice(0, 3).map(Math.round) + '))');
  }
  return out.join('\n') || ('ok ' + checked);
})`

// overviewText and vehicleText are the key text elements of each view.
var (
	overviewText = []string{".fp-title", ".fp-tagline", ".fp-conn-text", ".fp-btn", ".fp-window", ".fp-seq",
		".fp-kpi-label", ".fp-kpi-value", ".fp-kpi-unit", ".fp-q-value", ".fp-q-label", ".fp-panel-title", ".fp-panel-sub",
		".fp-range-btn[aria-pressed=true]", ".fp-range-btn[aria-pressed=false]", ".fp-filter", ".fp-sort", ".fp-vlink",
		".fp-table td.fp-num", ".fp-footer", ".fp-footer a"}
	vehicleText = []string{".fp-title", ".fp-panel-title", ".fp-panel-sub", ".fp-table td", ".fp-sort, .fp-table th"}
)

func checkContrast(t *testing.T, ctx context.Context, view string, sels []string) {
	t.Helper()
	q := "['" + strings.Join(sels, "','") + "']"
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](jsContrast+"("+q+", 4.5)"))
	if err != nil {
		t.Fatalf("%s: contrast: %v", view, err)
	}
	if !strings.HasPrefix(res, "ok ") {
		t.Errorf("%s: text below WCAG AA contrast (4.5:1):\n%s", view, res)
	}
}

func checkNoOverflow(t *testing.T, ctx context.Context, view string) {
	t.Helper()
	over, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
  const w = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= w) return '';
  return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w + 1 && !e.closest('.fp-table-wrap')).slice(0, 5).map(e => e.tagName + '.' + e.className).join(', ') || 'page is wider than the viewport';
})()`))
	if err != nil {
		t.Fatal(err)
	}
	if over != "" {
		t.Errorf("%s: content wider than the viewport: %s", view, over)
	}
}

func saveShot(t *testing.T, name string, png []byte) {
	t.Helper()
	dir := os.Getenv("FLEETPULSE_SCREENSHOTS")
	if dir == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLookInBrowser renders every view at desktop and phone sizes in the
// light and the dark theme: no content wider than the screen, key text at
// WCAG AA contrast, charts drawn in the matching ECharts theme. With
// FLEETPULSE_SCREENSHOTS=dir it saves a PNG of each view there.
func TestLookInBrowser(t *testing.T) {
	s := startServer(t, "-vehicles", "60", "-rate", "2", "-sim-faults", "late=0.01,duplicate=0.02,malformed=0.01")
	sizes := []struct {
		name string
		w, h int64
	}{{"desktop", 1440, 900}, {"phone", 390, 844}}
	// One browser for every combination: after the first, the page starts
	// from the service worker's cache and Chromium's compiled wasm, which
	// keeps this test's time reasonable on a busy machine.
	ctx := newBrowser(t, 1440, 900)
	for _, scheme := range []string{"light", "dark"} {
		for _, size := range sizes {
			t.Run(scheme+"-"+size.name, func(t *testing.T) {
				var vp chromedp.Action[chromedp.Void] = chromedp.EmulateViewport(size.w, size.h)
				if size.name == "phone" {
					vp = chromedp.EmulateViewport(size.w, size.h, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch)
				}
				if err := chromedp.Do(ctx, vp, emulateScheme(scheme), chromedp.Navigate(s.url)); err != nil {
					t.Fatal(err)
				}
				name := func(view string) string { return fmt.Sprintf("%s-%s-%s.png", view, size.name, scheme) }
				poll[bool](t, ctx, "the map and three windows in the fleet chart", seriesLen("chart-map", 0)+` >= 60 && `+seriesLen("chart-fleet-speed", 0)+` >= 3`)
				wantDark := scheme == "dark"
				if dark := poll[string](t, ctx, "the page's scheme", `matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'`); dark != scheme {
					t.Fatalf("page sees %s, want %s", dark, scheme)
				}
				// The ECharts theme follows: axis labels light on dark.
				label := poll[string](t, ctx, "the chart's axis label colour", `(() => { const c = echarts.getInstanceByDom(document.getElementById('chart-fleet-speed')); const t = c.getZr().storage.getDisplayList().find(e => e.style && e.style.text && /\d\d:\d\d/.test(e.style.text)); return t ? String(t.style.fill) : ''; })()`)
				if isLightish(label) != wantDark {
					t.Errorf("fleet chart axis labels %s in the %s theme", label, scheme)
				}
				checkNoOverflow(t, ctx, "overview")
				checkContrast(t, ctx, "overview", overviewText)
				png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatal(err)
				}
				saveShot(t, name("overview"), png)
				png, err = chromedp.Run(ctx, chromedp.Screenshot("#fleet-table"))
				if err != nil {
					t.Fatal(err)
				}
				saveShot(t, name("table"), png)

				if err := chromedp.Do(ctx, chromedp.Click(`#fleet-table tbody a`)); err != nil {
					t.Fatalf("open a vehicle: %v", err)
				}
				poll[bool](t, ctx, "the vehicle view's charts", seriesLen("vehicle-speed", 0)+` >= 2 && `+seriesLen("vehicle-track", 1)+` > 0 && document.querySelectorAll('#vehicle-rows tbody tr').length > 0`)
				checkNoOverflow(t, ctx, "vehicle")
				checkContrast(t, ctx, "vehicle", vehicleText)
				png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatal(err)
				}
				saveShot(t, name("vehicle"), png)

				if size.name == "phone" {
					// The narrowest phones in use: nothing may overflow.
					if err := chromedp.Do(ctx, chromedp.EmulateViewport(375, 812, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch)); err != nil {
						t.Fatal(err)
					}
					checkNoOverflow(t, ctx, "vehicle at 375 px")
					if err := chromedp.Do(ctx, chromedp.NavigateBack()); err != nil {
						t.Fatal(err)
					}
					poll[bool](t, ctx, "the overview at 375 px", seriesLen("chart-map", 0)+` > 0`)
					checkNoOverflow(t, ctx, "overview at 375 px")
				}
			})
		}
	}
}

// isLightish reports whether a CSS colour (#rgb, #rrggbb or rgb()) is
// light: its channels average above half.
func isLightish(c string) bool {
	var r, g, b int
	switch {
	case strings.HasPrefix(c, "#") && len(c) == 7:
		fmt.Sscanf(c, "#%02x%02x%02x", &r, &g, &b)
	case strings.HasPrefix(c, "#") && len(c) == 4:
		fmt.Sscanf(c, "#%1x%1x%1x", &r, &g, &b)
		r, g, b = r*17, g*17, b*17
	default:
		fmt.Sscanf(strings.TrimPrefix(c, "rgb("), "%d,%d,%d", &r, &g, &b)
	}
	return r+g+b > 3*128
}
