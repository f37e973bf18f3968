package api

import (
	"net/http"
	"strings"
)

// route is one operation of the API.
type route struct {
	method, path string
	h            http.Handler
}

// routes lists every operation of the server but the dashboard; the
// OpenAPI test checks openapi.json against this list.
func routes(d Deps, gz *gzipCache) []route {
	rs := []route{
		{"GET", "/data", handleData(d.View, gz)},
		{"GET", "/data/fleet", handleFleet(d.View, gz)},
		{"GET", "/ws", d.WS},
		{"GET", "/healthz", handleHealthz()},
		{"GET", "/readyz", handleReadyz(d.Ready)},
		{"GET", "/metrics", d.Metrics},
		{"GET", "/openapi.json", handleOpenAPI()},
	}
	if d.History != nil {
		rs = append(rs, route{"GET", "/data/history", handleHistory(d.View, d.History)})
	}
	if d.Ingest != nil {
		rs = append(rs,
			route{"POST", "/ingest", d.Ingest},
			route{"GET", "/ingest", http.HandlerFunc(d.Ingest.ServeWS)})
	}
	return rs
}

// addRoutes registers the routes. Other methods on their paths get a JSON
// 405 rather than the mux's plain-text one.
func addRoutes(mux *http.ServeMux, d Deps) {
	allow := map[string][]string{}
	for _, r := range routes(d, new(gzipCache)) {
		mux.Handle(r.method+" "+r.path, r.h)
		allow[r.path] = append(allow[r.path], r.method)
	}
	for path, methods := range allow {
		if len(methods) == 1 && methods[0] == "GET" {
			methods = append(methods, "HEAD")
		}
		mux.Handle(path, methodNotAllowed(strings.Join(methods, ", ")))
	}
	// The dashboard and its assets: every other path. A "GET /" pattern
	// would conflict with the method-less ones above.
	mux.Handle("/", getOnly(d.UI))
}

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions && strings.HasPrefix(r.URL.Path, "/data") {
			preflight(w)
			return
		}
		w.Header().Set("Allow", allow)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed; use " + allow})
	})
}

func getOnly(h http.Handler) http.Handler {
	refuse := methodNotAllowed("GET, HEAD")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			refuse.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
