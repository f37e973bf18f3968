package main

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// pollPromise evaluates expr, which may return a promise, until it yields
// true, with a deadline: for browser state only reachable asynchronously,
// such as the service worker's cache.
func pollPromise(t testing.TB, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr, chromedp.EvalAwaitPromise))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond) // readiness polling, with a deadline
	}
}

const (
	jsConnected = `(() => { const e = document.getElementById('conn'); return !!e && e.getAttribute('data-state') === 'connected' && /\bconnected\b/i.test(e.textContent); })()`
	jsSeq       = `Number(document.getElementById('fleetpulse').getAttribute('data-seq'))`
	// jsShellCached is true once the service worker holds the whole app
	// shell: the page can start without the server.
	jsShellCached = `Promise.all(['/', '/app.js', '/wasm_exec.js', '/app.css', '/manifest.webmanifest', '/web/app.wasm', '/web/app.css', '/web/echarts/echarts.min.js', '/web/icon.svg'].map(u => caches.match(u))).then(rs => rs.every(Boolean)).then(ok => ok && navigator.serviceWorker.ready.then(r => !!r.active))`
)

// TestReconnectInBrowser: the server is killed and started again on the
// same port and storage; the open page says reconnecting, then live again
// with rising seqs, without a reload. The restarted server is a new build:
// the page then offers the new version, and its Reload button loads it.
func TestReconnectInBrowser(t *testing.T) {
	ctx := newBrowser(t, 1280, 900)
	args := []string{"-vehicles", "10", "-rate", "5"}
	s := startServer(t, args...)
	if err := chromedp.Do(ctx, chromedp.Navigate(s.url)); err != nil {
		t.Fatalf("open %s: %v", s.url, err)
	}
	// An operator's page was loaded with the service worker in place:
	// the first visit installs it, the reload runs under it.
	pollPromise(t, ctx, "the service worker to cache the app", jsShellCached)
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	pollPromise(t, ctx, "the page under the service worker", `!!navigator.serviceWorker.controller`)
	poll[bool](t, ctx, "connected", jsConnected)
	seq := poll[int](t, ctx, "a first window", jsSeq+` > 0 ? `+jsSeq+` : 0`)
	// A mark that a reload would wipe.
	poll[bool](t, ctx, "marking the page", `(window.fleetpulseTestMark = 'same page', true)`)

	u, _ := url.Parse(s.url)
	s.shutdown(t)
	text := poll[string](t, ctx, "the indicator to say reconnecting",
		`(() => { const e = document.getElementById('conn'); return e.getAttribute('data-state') === 'reconnecting' ? e.textContent : ''; })()`)
	if !strings.Contains(text, "Reconnecting") {
		t.Errorf("indicator %q, want it to say Reconnecting", text)
	}
	banner := poll[string](t, ctx, "the offline banner", `(() => { const e = document.getElementById('offline-banner'); return e && !e.hidden ? e.textContent : ''; })()`)
	if !strings.Contains(banner, "Offline · showing data from") {
		t.Errorf("banner %q", banner)
	}
	last := poll[int](t, ctx, "the seq shown while down", jsSeq)
	if last < seq {
		t.Fatalf("seq went back from %d to %d", seq, last)
	}

	// The restart deploys a new build: another version.
	old := version
	version = "restarted-build"
	t.Cleanup(func() { version = old })
	s2 := startServer(t, append(args, "-addr", u.Host, "-storage", s.storage)...)
	if s2.url != s.url {
		t.Fatalf("restarted at %s, not %s", s2.url, s.url)
	}
	poll[bool](t, ctx, "connected again", jsConnected)
	poll[bool](t, ctx, "windows after the restart, seq rising", jsSeq+` > `+strconv.Itoa(last))
	poll[bool](t, ctx, "the banner gone", `document.getElementById('offline-banner').hidden`)
	if mark := poll[string](t, ctx, "the mark", `window.fleetpulseTestMark || 'reloaded'`); mark != "same page" {
		t.Errorf("the page was reloaded (%s)", mark)
	}

	// The new build is offered, and Reload loads it.
	poll[bool](t, ctx, "the new version prompt", `!document.querySelector('.fp-update').hidden`)
	if err := chromedp.Do(ctx, chromedp.Click(`.fp-update-btn`)); err != nil {
		t.Fatal(err)
	}
	pollPromise(t, ctx, "the reloaded page, live, without the prompt", `!window.fleetpulseTestMark && `+jsConnected+` && document.querySelector('.fp-update').hidden`)
}

// TestOfflineReloadInBrowser: with the server gone, a reload still starts
// the app from the service worker's cache and shows the last data, saved in
// localStorage, under an offline banner.
func TestOfflineReloadInBrowser(t *testing.T) {
	ctx := newBrowser(t, 1280, 900)
	s := startServer(t, "-vehicles", "14", "-rate", "5")
	if err := chromedp.Do(ctx, chromedp.Navigate(s.url)); err != nil {
		t.Fatalf("open %s: %v", s.url, err)
	}
	poll[bool](t, ctx, "connected", jsConnected)
	poll[bool](t, ctx, "a window with all vehicles", jsSeq+` > 0 && /14/.test(document.getElementById('kpi-vehicles').textContent)`)
	pollPromise(t, ctx, "the service worker to cache the app", jsShellCached)
	// A first visit is no update: no reload prompt.
	if hidden := poll[string](t, ctx, "the update prompt", `String(document.querySelector('.fp-update').hidden)`); hidden != "true" {
		t.Error("the first visit offers a new version")
	}

	s.shutdown(t)
	poll[bool](t, ctx, "reconnecting", `document.getElementById('conn').getAttribute('data-state') === 'reconnecting'`)
	before := readKPIs(t, ctx)

	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatalf("reload while the server is down: %v", err)
	}
	banner := poll[string](t, ctx, "the offline banner after the reload",
		`(() => { const e = document.getElementById('offline-banner'); return e && /Offline/.test(e.textContent) ? e.textContent : ''; })()`)
	if !strings.Contains(banner, "Offline · showing data from ") || !strings.Contains(banner, "UTC") {
		t.Errorf("banner %q", banner)
	}
	after := readKPIs(t, ctx)
	if after != before {
		t.Errorf("after the offline reload the page shows\n%+v\nwant the numbers from before\n%+v", after, before)
	}
	if after.seq == "" || after.seq == "0" || after.vehicles != "14" {
		t.Errorf("restored seq %q, vehicles %q: want the saved window", after.seq, after.vehicles)
	}
	// The charts draw the saved data too.
	if n := poll[int](t, ctx, "the fleet chart from saved data", seriesLen("chart-fleet-speed", 0)); n < 1 {
		t.Errorf("fleet chart has %d points", n)
	}
	if n := poll[int](t, ctx, "the fleet table from saved data", `document.querySelectorAll('#fleet-table tbody tr').length`); n != 14 {
		t.Errorf("fleet table has %d rows, want 14", n)
	}
}

type kpis struct{ seq, vehicles, events, avg, distance string }

func readKPIs(t *testing.T, ctx context.Context) kpis {
	t.Helper()
	js := `[document.getElementById('fleetpulse').getAttribute('data-seq')].concat(['kpi-vehicles','kpi-events','kpi-avg-speed','kpi-distance'].map(id => document.getElementById(id).textContent.trim()))`
	v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](js))
	if err != nil || len(v) != 5 {
		t.Fatalf("read the tiles: %v %v", v, err)
	}
	return kpis{v[0], v[1], v[2], v[3], v[4]}
}
