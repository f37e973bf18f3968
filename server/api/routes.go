package api

import "net/http"

// addRoutes lists every route of the server.
func addRoutes(mux *http.ServeMux, d Deps) {
	mux.Handle("GET /data", handleData(d.View))
	mux.Handle("GET /data/fleet", handleFleet(d.View))
	mux.Handle("GET /ws", d.WS)
	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", handleReadyz(d.Ready))
	mux.Handle("GET /metrics", d.Metrics)
	mux.Handle("/", d.UI)
}
