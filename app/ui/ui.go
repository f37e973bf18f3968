// Package ui is FleetPulse's dashboard: go-app v10 components, their routes
// and the app.Handler that serves them.
//
// It builds for js/wasm (the client in app/main.go) and natively (the server
// mounts Handler at "/" and prerenders the page). Both sides must call Routes:
// go-app's handler answers 404 for a page whose route the server process does
// not know. Components touch the browser (the WebSocket feed, ECharts) only
// from OnMount on, which never runs on the server.
package ui

import "github.com/maxence-charriere/go-app/v10/pkg/app"

// WSPathEnv names the app.Handler Env entry that tells the client where the
// /ws push endpoint is; the client reads it with app.Getenv.
const WSPathEnv = "FLEETPULSE_WS_PATH"

// Page colours, also used by the manifest and the browser chrome.
const (
	themeColor      = "#0f6e70"
	backgroundColor = "#f3f5f8"
)

// Routes registers the dashboard's pages: "/" is the fleet overview and
// "/vehicle/{id}" one vehicle's last hour. Call it in both the client and
// the server before serving.
func Routes() {
	app.Route("/", func() app.Composer { return &overview{} })
	app.RouteWithRegexp(vehicleRoute, func() app.Composer { return &vehicle{} })
}

// Handler returns the go-app handler to mount at "/": it serves the page,
// app.wasm, the service worker, the manifest and the static files under
// /web/ (from the ./web directory of the working dir). version must be stable
// for a build and change between builds: the service worker serves from its
// cache until the version changes, and an empty version busts every client's
// cache on each restart.
//
// ECharts is served from /web/echarts/echarts.min.js (fetched at build time by
// make echarts) and loads deferred; nothing is fetched from another host.
// /web/warm.js, deferred after it, draws a few charts nobody sees while
// app.wasm downloads and compiles, so that ECharts' first-use cost is paid
// before the first snapshot rather than after it.
func Handler(version string) *app.Handler {
	return &app.Handler{
		Name:        "FleetPulse",
		ShortName:   "FleetPulse",
		Title:       "FleetPulse · live fleet overview",
		Description: "Real-time vehicle analytics: fleet speed, distance and data quality per window.",
		Lang:        "en",
		Icon: app.Icon{
			Default:  "/web/icon-192.png",
			Large:    "/web/icon-512.png",
			SVG:      "/web/icon.svg",
			Maskable: "/web/icon-maskable.png",
		},
		ThemeColor:      themeColor,
		BackgroundColor: backgroundColor,
		LoadingLabel:    "Loading FleetPulse… {progress}%",
		Styles:          []string{"/web/app.css"},
		Scripts:         []string{"/web/echarts/echarts.min.js defer", "/web/warm.js defer"},
		Version:         version,
		// The header's logo; go-app caches the other icons itself.
		CacheableResources:    []string{"/web/icon.svg"},
		ServiceWorkerTemplate: workerJS,
		Env:                   map[string]string{WSPathEnv: "/ws"},
	}
}
