// Package api serves FleetPulse's HTTP API: /data, /data/fleet, /ws, the
// health probes and the dashboard.
//
// Bodies of unfiltered reads are encoded once per final window by the view
// and served as they are; a filtered read encodes only the rows it selects.
// Every error is JSON {"error": "..."} and never carries internal error text.
package api

import (
	_ "embed"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"fleetpulse/server/view"
	"fleetpulse/shared/telemetry"
)

// Deps are what the handler serves.
type Deps struct {
	View *view.View
	// WS serves /ws (the hub).
	WS http.Handler
	// UI serves the dashboard and its assets at every other path.
	UI http.Handler
	// History reads the retained per-window rows for /data/history.
	History HistoryReader
	// Ingest serves POST /ingest and, with ServeWS, GET /ingest.
	Ingest Ingester
	// Metrics serves /metrics in the Prometheus text format.
	Metrics http.Handler
	// Ready reports whether the server is ready for traffic; /readyz
	// answers 503 while it is false.
	Ready *atomic.Bool
}

// HistoryReader reads retained windows: rows of windows with start >= from
// and end <= to (zero: unbounded), of the given vehicles (nil: all),
// oldest first; more than maxRows is an error for which TooMany is true.
type HistoryReader interface {
	History(from, to time.Time, vehicleIDs map[string]bool, maxRows int) ([]telemetry.VehicleRow, error)
	TooMany(err error) bool
}

// Ingester takes events from producers.
type Ingester interface {
	http.Handler // POST /ingest
	ServeWS(http.ResponseWriter, *http.Request)
}

// NewHandler returns the handler of every route.
func NewHandler(d Deps) http.Handler {
	mux := http.NewServeMux()
	addRoutes(mux, d)
	return mux
}

// badRequest marks errors whose text is safe to show the client.
type badRequest struct{ msg string }

func (e badRequest) Error() string { return e.msg }

// writeError maps err to a status and a JSON body. Only bad-request errors
// show their text; anything else is an internal error.
func writeError(w http.ResponseWriter, err error) {
	var br badRequest
	status, msg := http.StatusInternalServerError, "internal error"
	if errors.As(err, &br) {
		status, msg = http.StatusBadRequest, br.msg
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// query is a parsed, validated set of read parameters.
type query struct {
	csv        bool
	vehicleIDs map[string]bool // nil: all
	since      time.Time       // zero: no bound
	from, to   time.Time       // zero: no bound
}

// parseQuery validates the parameters that route allows; any other
// parameter is an error, so a typo is not silently ignored.
func parseQuery(rawQuery string, allowed ...string) (query, error) {
	var q query
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		// url.Values would drop the bad pair and widen the answer.
		return q, badRequest{"malformed query string: check its % escapes and separators"}
	}
	ok := map[string]bool{"format": true}
	for _, a := range allowed {
		ok[a] = true
	}
	for k := range vals {
		if !ok[k] {
			return q, badRequest{"unknown parameter " + strconv.Quote(k)}
		}
	}
	if len(vals["format"]) > 1 {
		return q, badRequest{"format given more than once"}
	}
	switch f := vals.Get("format"); f {
	case "", "json":
	case "csv":
		q.csv = true
	default:
		return q, badRequest{"format must be json or csv"}
	}
	if ids, ok := vals["vehicle_id"]; ok {
		if len(ids) > 1000 {
			return q, badRequest{"at most 1000 vehicle_id parameters"}
		}
		q.vehicleIDs = make(map[string]bool, len(ids))
		for _, id := range ids {
			if !telemetry.ValidVehicleID(id) {
				return q, badRequest{"vehicle_id must match " + telemetry.VehicleIDPattern}
			}
			q.vehicleIDs[id] = true
		}
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &q.since}, {"from", &q.from}, {"to", &q.to}} {
		if len(vals[p.name]) > 1 {
			return q, badRequest{p.name + " given more than once"}
		}
		if s := vals.Get(p.name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return q, badRequest{p.name + " must be an RFC 3339 time with a zone, such as 2026-11-27T04:40:00Z"}
			}
			*p.dst = t
		}
	}
	if !q.from.IsZero() && !q.to.IsZero() && q.to.Before(q.from) {
		return q, badRequest{"to is before from"}
	}
	return q, nil
}

func handleData(v *view.View, gz *gzipCache) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := parseQuery(r.URL.RawQuery, "vehicle_id")
		if err != nil {
			writeError(w, err)
			return
		}
		c := v.Current()
		if q.vehicleIDs == nil {
			key, body := "data.json", c.LatestJSON
			if q.csv {
				key, body = "data.csv", c.LatestCSV
			}
			serveRows(w, r, c, gz, q.csv, key, func() []byte { return body })
			return
		}
		serveRows(w, r, c, gz, q.csv, "", func() []byte {
			var rows []telemetry.VehicleRow
			for _, row := range c.Latest {
				if q.vehicleIDs[row.VehicleID] {
					rows = append(rows, row)
				}
			}
			if q.csv {
				return view.AppendLatestCSV(nil, rows, c.Updated)
			}
			return append(telemetry.AppendVehiclesJSON(nil, rows), '\n')
		})
	})
}

func handleFleet(v *view.View, gz *gzipCache) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := parseQuery(r.URL.RawQuery, "since")
		if err != nil {
			writeError(w, err)
			return
		}
		c := v.Current()
		if q.since.IsZero() {
			key, body := "fleet.json", c.FleetJSON
			if q.csv {
				key, body = "fleet.csv", c.FleetCSV
			}
			serveRows(w, r, c, gz, q.csv, key, func() []byte { return body })
			return
		}
		serveRows(w, r, c, gz, q.csv, "", func() []byte {
			rows := c.Fleet
			for len(rows) > 0 && rows[0].WindowStart.Before(q.since) {
				rows = rows[1:]
			}
			if q.csv {
				return view.AppendFleetCSV(nil, rows)
			}
			return append(telemetry.AppendFleetJSON(nil, rows), '\n')
		})
	})
}

// maxHistoryRows bounds one /data/history answer.
const maxHistoryRows = 200_000

func handleHistory(v *view.View, hr HistoryReader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := parseQuery(r.URL.RawQuery, "vehicle_id", "from", "to")
		if err != nil {
			writeError(w, err)
			return
		}
		rows, err := hr.History(q.from, q.to, q.vehicleIDs, maxHistoryRows)
		if hr.TooMany(err) {
			writeError(w, badRequest{"more than " + strconv.Itoa(maxHistoryRows) + " rows: narrow from/to or filter by vehicle_id"})
			return
		}
		if err != nil {
			writeError(w, err)
			return
		}
		// No ETag: the files change a moment after the view's seq does.
		serveRows(w, r, nil, nil, q.csv, "", func() []byte {
			if q.csv {
				return view.AppendVehiclesCSV(nil, rows)
			}
			return append(telemetry.AppendVehiclesJSON(nil, rows), '\n')
		})
	})
}

//go:embed openapi.json
var openAPI []byte

// handleOpenAPI serves the OpenAPI description of these routes; a test
// checks it against them.
func handleOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Write(openAPI)
	})
}

func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

func handleReadyz(ready *atomic.Bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}
