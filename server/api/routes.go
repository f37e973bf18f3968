package api

import (
	"net/http"
	"strings"
)

// addRoutes lists every route of the server. Other methods get a JSON 405,
// rather than the mux's plain-text one.
func addRoutes(mux *http.ServeMux, d Deps) {
	gz := new(gzipCache)
	for _, r := range []struct {
		path string
		h    http.Handler
	}{
		{"/data", handleData(d.View, gz)},
		{"/data/fleet", handleFleet(d.View, gz)},
		{"/ws", d.WS},
		{"/healthz", handleHealthz()},
		{"/readyz", handleReadyz(d.Ready)},
		{"/metrics", d.Metrics},
	} {
		mux.Handle("GET "+r.path, r.h)
		mux.Handle(r.path, methodNotAllowed(allowed))
	}
	if d.Ingest != nil {
		mux.Handle("POST /ingest", d.Ingest)
		mux.HandleFunc("GET /ingest", d.Ingest.ServeWS)
		mux.Handle("/ingest", methodNotAllowed("GET, POST"))
	}
	// The dashboard and its assets: every other path. A "GET /" pattern
	// would conflict with the method-less ones above.
	mux.Handle("/", getOnly(d.UI))
}

const allowed = "GET, HEAD"

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
	refuse := methodNotAllowed(allowed)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			refuse.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
