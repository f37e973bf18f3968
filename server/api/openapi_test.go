package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fleetpulse/server/view"
	"fleetpulse/shared/telemetry"
)

type stubIngest struct{ http.Handler }

type stubHistory struct{}

func (stubHistory) History(from, to time.Time, ids map[string]bool, maxRows int) ([]telemetry.VehicleRow, error) {
	return nil, nil
}
func (stubHistory) TooMany(error) bool { return false }

func (stubIngest) ServeWS(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusSwitchingProtocols)
}

// TestOpenAPIMatchesRoutes checks /openapi.json against the real handler:
// every documented operation exists and answers a plain request with a
// documented status, and every route the mux serves is documented.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	var ready atomic.Bool
	ready.Store(true)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	ingest := stubIngest{http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) })}
	h := NewHandler(Deps{
		View: view.New(0, nil, nil, time.Hour, time.Now), WS: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusSwitchingProtocols)
		}),
		UI: ok, Ready: &ready, Metrics: ok, Ingest: ingest, History: stubHistory{},
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var spec struct {
		OpenAPI string                                                   `json:"openapi"`
		Paths   map[string]map[string]struct{ Responses map[string]any } `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&spec); err != nil || !strings.HasPrefix(spec.OpenAPI, "3.") {
		t.Fatalf("GET /openapi.json: %v, version %q", err, spec.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range spec.Paths {
		for method, op := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
			req, _ := http.NewRequest(strings.ToUpper(method), srv.URL+path, nil)
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if _, ok := op.Responses[strconv.Itoa(r.StatusCode)]; !ok {
				t.Errorf("%s %s answered %d, not among its documented responses", method, path, r.StatusCode)
			}
		}
	}
	// Every route of routes.go is documented and served as registered.
	d := Deps{Ingest: ingest, History: stubHistory{}}
	mux := h.(*http.ServeMux)
	rs := routes(d, nil)
	for _, r := range rs {
		route := r.method + " " + r.path
		if _, pattern := mux.Handler(httptest.NewRequest(r.method, r.path, nil)); pattern != route {
			t.Errorf("the mux serves %s with pattern %q", route, pattern)
		}
		if !documented[route] {
			t.Errorf("%s is served but not in openapi.json", route)
		}
	}
	if len(documented) != len(rs) {
		var keys []string
		for k := range documented {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		t.Errorf("openapi.json documents %d operations %v; routes.go has %d", len(documented), keys, len(rs))
	}
}
