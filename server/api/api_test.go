package api_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"fleetpulse/server/api"
	"fleetpulse/server/view"
	"fleetpulse/shared/telemetry"
)

// t0 is the start of window 0; window i is [t0+10s·i, t0+10s·(i+1)).
var t0 = time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC)

// updated is the view's clock: the last_updated of every latest row.
var updated = time.Date(2026, 11, 27, 4, 41, 5, 250e6, time.UTC)

const (
	windows   = 5 // applied to the view
	uiMarker  = "ui handler"
	wsMarker  = "ws handler"
	metMarker = "metrics handler"
	jsonType  = "application/json"
	csvType   = "text/csv; charset=utf-8"
	latestCSV = "window_start,window_end,vehicle_id,events,avg_speed_kmh,min_speed_kmh,max_speed_kmh,distance_km,last_lat,last_lon,last_ts,last_updated"
	fleetCSV  = "window_start,window_end,vehicles_active,events,avg_speed_kmh,max_speed_kmh,distance_km,late_events,duplicate_events,rejected_events"
)

func start(i int) time.Time { return t0.Add(time.Duration(i) * 10 * time.Second) }

func window(i int, ids ...string) telemetry.Window {
	w := telemetry.Window{Fleet: telemetry.FleetRow{
		WindowStart: start(i), WindowEnd: start(i + 1), VehiclesActive: int64(i + 1), Events: int64(10 * (i + 1)),
		AvgSpeedKPH: 50 + 1.0/3, MaxSpeedKPH: 88.8, DistanceKM: 0.1337 * float64(i+1), LateEvents: int64(i),
	}}
	for j, id := range ids {
		w.Vehicles = append(w.Vehicles, telemetry.VehicleRow{
			WindowStart: start(i), WindowEnd: start(i + 1), VehicleID: id, Events: 10,
			AvgSpeedKPH: 40 + float64(j)/3, MinSpeedKPH: 10, MaxSpeedKPH: 61.005, DistanceKM: 0.30049,
			LastLat: 52.52 + float64(j)/1e4, LastLon: -13.405, LastTS: start(i + 1).Add(-250 * time.Millisecond),
		})
	}
	return w
}

// latestIDs are the vehicles of the last applied window, sorted.
var latestIDs = []string{"BUS-1", "TRUCK-0042", "VAN.7:a_b"}

type server struct {
	*httptest.Server
	view  *view.View
	ready *atomic.Bool
}

// newServer serves a view filled with windows 0 to windows-1.
func newServer(t *testing.T) *server {
	t.Helper()
	v := view.New(0, nil, nil, time.Hour, func() time.Time { return updated })
	for i := range windows - 1 {
		v.Apply(window(i, "BUS-1", "OLD-1"))
	}
	v.Apply(window(windows-1, latestIDs...))
	var ready atomic.Bool
	h := api.NewHandler(api.Deps{
		View: v,
		WS:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, wsMarker) }),
		UI:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, uiMarker) }),
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, metMarker)
		}),
		Ready: &ready,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &server{Server: srv, view: v, ready: &ready}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (s *server) do(t *testing.T, method, target string) response {
	t.Helper()
	// identity: no transparent gzip, so bodies and lengths compare.
	return s.doHeader(t, method, target, http.Header{"Accept-Encoding": {"identity"}})
}

func (s *server) doHeader(t *testing.T, method, target string, hdr http.Header) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL+target, nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header = hdr
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, target, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

func (s *server) get(t *testing.T, target string) response {
	t.Helper()
	return s.do(t, http.MethodGet, target)
}

// wantOK checks a 200 answer of the given content type and seq header.
func wantOK(t *testing.T, r response, contentType string) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", r.status, r.body)
	}
	if got := r.header.Get("Content-Type"); got != contentType {
		t.Errorf("Content-Type = %q, want %q", got, contentType)
	}
	if got := r.header.Get("X-Fleetpulse-Seq"); got != "5" {
		t.Errorf("X-Fleetpulse-Seq = %q, want %q", got, "5")
	}
}

func decodeJSON[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// readCSV returns the header line and the records of a CSV body.
func readCSV(t *testing.T, b []byte) (string, [][]string) {
	t.Helper()
	header, _, _ := strings.Cut(string(b), "\n")
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("parse CSV %q: %v", b, err)
	}
	if len(recs) == 0 {
		t.Fatalf("CSV without a header: %q", b)
	}
	return header, recs[1:]
}

func rowsOf(w telemetry.Window, ids ...string) []telemetry.VehicleRow {
	var rows []telemetry.VehicleRow
	for _, r := range w.Vehicles {
		for _, id := range ids {
			if r.VehicleID == id {
				rows = append(rows, r)
			}
		}
	}
	return rows
}

func fleetRows(from, to int) []telemetry.FleetRow {
	var rows []telemetry.FleetRow
	for i := from; i < to; i++ {
		rows = append(rows, window(i).Fleet)
	}
	return rows
}

func TestDataJSON(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	last := window(windows-1, latestIDs...)
	tests := []struct {
		name  string
		query string
		want  []telemetry.VehicleRow
	}{
		{name: "all", query: "", want: last.Vehicles},
		{name: "format json", query: "?format=json", want: last.Vehicles},
		{name: "one vehicle", query: "?vehicle_id=TRUCK-0042", want: rowsOf(last, "TRUCK-0042")},
		{name: "repeated vehicle_id", query: "?vehicle_id=VAN.7:a_b&vehicle_id=BUS-1", want: rowsOf(last, "BUS-1", "VAN.7:a_b")},
		{name: "repeated same vehicle_id", query: "?vehicle_id=BUS-1&vehicle_id=BUS-1", want: rowsOf(last, "BUS-1")},
		{name: "known and unknown vehicle", query: "?vehicle_id=BUS-1&vehicle_id=NOPE", want: rowsOf(last, "BUS-1")},
		{name: "vehicle only in an older window", query: "?vehicle_id=OLD-1", want: []telemetry.VehicleRow{}},
		{name: "unknown vehicle", query: "?vehicle_id=NOPE-9", want: []telemetry.VehicleRow{}},
		{name: "longest valid vehicle id", query: "?vehicle_id=" + strings.Repeat("x", 64), want: []telemetry.VehicleRow{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := s.get(t, "/data"+tc.query)
			wantOK(t, r, jsonType)
			if len(tc.want) == 0 && string(r.body) != "[]\n" {
				t.Errorf("body = %q, want an empty array %q", r.body, "[]\n")
			}
			got := decodeJSON[[]telemetry.VehicleRow](t, r.body)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			if got := r.header.Get("X-Fleetpulse-Window-End"); got != "2026-11-27T04:40:50.000Z" {
				t.Errorf("X-Fleetpulse-Window-End = %q, want the end of the latest window", got)
			}
		})
	}
}

func TestDataCSV(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	stamp := string(telemetry.AppendTime(nil, updated))
	tests := []struct {
		name    string
		query   string
		wantIDs []string
	}{
		{name: "all", query: "?format=csv", wantIDs: latestIDs},
		{name: "one vehicle", query: "?format=csv&vehicle_id=TRUCK-0042", wantIDs: []string{"TRUCK-0042"}},
		{name: "repeated vehicle_id", query: "?vehicle_id=VAN.7:a_b&format=csv&vehicle_id=BUS-1", wantIDs: []string{"BUS-1", "VAN.7:a_b"}},
		{name: "unknown vehicle is the header only", query: "?format=csv&vehicle_id=NOPE", wantIDs: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := s.get(t, "/data"+tc.query)
			wantOK(t, r, csvType)
			header, recs := readCSV(t, r.body)
			if header != latestCSV {
				t.Errorf("header = %q, want %q", header, latestCSV)
			}
			var ids []string
			for i, rec := range recs {
				if len(rec) != len(telemetry.LatestColumns) {
					t.Fatalf("row %d has %d fields, want %d", i, len(rec), len(telemetry.LatestColumns))
				}
				ids = append(ids, rec[2])
				if got := rec[len(rec)-1]; got != stamp {
					t.Errorf("row %d: last_updated = %q, want %q", i, got, stamp)
				}
				if got := rec[6]; got != "61.01" {
					t.Errorf("row %d: max_speed_kmh = %q, want it rounded to 61.01", i, got)
				}
			}
			if diff := cmp.Diff(tc.wantIDs, ids, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("vehicle ids (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFleet(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tests := []struct {
		name  string
		query string
		want  []telemetry.FleetRow
	}{
		{name: "all retained, oldest first", query: "", want: fleetRows(0, windows)},
		{name: "since a window start", query: "?since=2026-11-27T04:40:20Z", want: fleetRows(2, windows)},
		{name: "since within a window", query: "?since=2026-11-27T04:40:20.001Z", want: fleetRows(3, windows)},
		{name: "since in another zone", query: "?since=" + url.QueryEscape("2026-11-27T05:40:30+01:00"), want: fleetRows(3, windows)},
		{name: "since before every window", query: "?since=2000-01-01T00:00:00Z", want: fleetRows(0, windows)},
		{name: "since after every window", query: "?since=2030-01-01T00:00:00Z", want: []telemetry.FleetRow{}},
		{name: "since the last window start", query: "?format=json&since=2026-11-27T04:40:40.000Z", want: fleetRows(4, windows)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := s.get(t, "/data/fleet"+tc.query)
			wantOK(t, r, jsonType)
			got := decodeJSON[[]telemetry.FleetRow](t, r.body)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFleetCSV(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tests := []struct {
		name       string
		query      string
		wantStarts []string
	}{
		{
			name:  "all",
			query: "?format=csv",
			wantStarts: []string{"2026-11-27T04:40:00.000Z", "2026-11-27T04:40:10.000Z", "2026-11-27T04:40:20.000Z",
				"2026-11-27T04:40:30.000Z", "2026-11-27T04:40:40.000Z"},
		},
		{name: "since", query: "?format=csv&since=2026-11-27T04:40:30Z", wantStarts: []string{"2026-11-27T04:40:30.000Z", "2026-11-27T04:40:40.000Z"}},
		{name: "since after every window", query: "?since=2030-01-01T00:00:00Z&format=csv", wantStarts: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := s.get(t, "/data/fleet"+tc.query)
			wantOK(t, r, csvType)
			header, recs := readCSV(t, r.body)
			if header != fleetCSV {
				t.Errorf("header = %q, want %q", header, fleetCSV)
			}
			var starts []string
			for i, rec := range recs {
				if len(rec) != len(telemetry.FleetColumns) {
					t.Fatalf("row %d has %d fields, want %d", i, len(rec), len(telemetry.FleetColumns))
				}
				starts = append(starts, rec[0])
			}
			if diff := cmp.Diff(tc.wantStarts, starts, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("window starts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBadRequest(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tests := []struct {
		name   string
		target string
	}{
		{"format xml", "/data?format=xml"},
		{"format upper case", "/data?format=CSV"},
		{"fleet format xml", "/data/fleet?format=xml"},
		{"vehicle_id with a space", "/data?vehicle_id=" + url.QueryEscape("TRUCK 42")},
		{"vehicle_id with a comma", "/data?vehicle_id=A,B"},
		{"vehicle_id starting with a dash", "/data?vehicle_id=-A"},
		{"vehicle_id starting with a formula trigger", "/data?vehicle_id=" + url.QueryEscape("=cmd")},
		{"empty vehicle_id", "/data?vehicle_id="},
		{"vehicle_id too long", "/data?vehicle_id=" + strings.Repeat("x", 65)},
		{"vehicle_id with a newline", "/data?vehicle_id=A%0AB"},
		{"one bad vehicle_id among good ones", "/data?vehicle_id=BUS-1&vehicle_id=" + url.QueryEscape("<script>")},
		{"since garbage", "/data/fleet?since=garbage"},
		{"since without a zone", "/data/fleet?since=2026-11-27T04:40:00"},
		{"since a date only", "/data/fleet?since=2026-11-27"},
		{"since unix seconds", "/data/fleet?since=1795754400"},
		{"unknown parameter", "/data?foo=1"},
		{"misspelt vehicle_id", "/data?vehicle=BUS-1"},
		{"since on /data", "/data?since=2026-11-27T04:40:00Z"},
		{"vehicle_id on /data/fleet", "/data/fleet?vehicle_id=BUS-1"},
		{"unknown parameter on /data/fleet", "/data/fleet?limit=10"},
	}
	leaks := []string{"parsing time", "cannot parse", "strconv", "regexp", "invalid syntax", "runtime", ".go:"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := s.get(t, tc.target)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %s", r.status, r.body)
			}
			if got := r.header.Get("Content-Type"); got != jsonType {
				t.Errorf("Content-Type = %q, want %q", got, jsonType)
			}
			var body map[string]string
			if err := json.Unmarshal(r.body, &body); err != nil {
				t.Fatalf("body %q is not a JSON object of strings: %v", r.body, err)
			}
			if len(body) != 1 || body["error"] == "" {
				t.Errorf(`body = %q, want {"error": "..."} and nothing else`, r.body)
			}
			for _, leak := range leaks {
				if strings.Contains(strings.ToLower(string(r.body)), leak) {
					t.Errorf("body %q contains internal error text %q", r.body, leak)
				}
			}
		})
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	r := s.get(t, "/healthz")
	if r.status != http.StatusOK {
		t.Errorf("/healthz: status %d, want 200 (also while not ready)", r.status)
	}
	if !json.Valid(r.body) {
		t.Errorf("/healthz: body %q is not JSON", r.body)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	steps := []struct {
		name  string
		ready bool
		want  int
	}{
		{"starting", false, http.StatusServiceUnavailable},
		{"ready", true, http.StatusOK},
		{"draining", false, http.StatusServiceUnavailable},
	}
	// The steps share the server's Ready flag, so they run in order.
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			s.ready.Store(st.ready)
			r := s.get(t, "/readyz")
			if r.status != st.want {
				t.Errorf("/readyz: status %d, want %d", r.status, st.want)
			}
			if !json.Valid(r.body) {
				t.Errorf("/readyz: body %q is not JSON", r.body)
			}
			if !st.ready && r.header.Get("Retry-After") == "" {
				t.Errorf("/readyz: 503 without Retry-After")
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tests := []struct {
		method, target string
	}{
		{http.MethodPost, "/data"},
		{http.MethodPut, "/data"},
		{http.MethodDelete, "/data"},
		{http.MethodPost, "/data/fleet"},
		{http.MethodPost, "/healthz"},
		{http.MethodPost, "/"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			t.Parallel()
			r := s.do(t, tc.method, tc.target)
			if r.status != http.StatusMethodNotAllowed {
				t.Fatalf("status %d, want 405; body %q", r.status, r.body)
			}
			if allow := r.header.Get("Allow"); !strings.Contains(allow, http.MethodGet) {
				t.Errorf("Allow = %q, want it to list GET", allow)
			}
			if bytes.Contains(r.body, []byte(uiMarker)) {
				t.Errorf("the dashboard answered %s %s", tc.method, tc.target)
			}
			if !bytes.Contains(r.body, []byte(`"error":`)) || r.header.Get("Content-Type") != "application/json" {
				t.Errorf("405 body %q (%s), want JSON with an error", r.body, r.header.Get("Content-Type"))
			}
		})
	}
}

func TestHead(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tests := []struct {
		name        string
		target      string
		contentType string
	}{
		{"data", "/data", jsonType},
		{"data csv", "/data?format=csv", csvType},
		{"data filtered", "/data?vehicle_id=BUS-1", jsonType},
		{"fleet", "/data/fleet", jsonType},
		{"fleet since", "/data/fleet?since=2026-11-27T04:40:30Z", jsonType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			get := s.get(t, tc.target)
			head := s.do(t, http.MethodHead, tc.target)
			wantOK(t, head, tc.contentType)
			if len(head.body) != 0 {
				t.Errorf("HEAD body = %q, want none", head.body)
			}
			if len(get.body) == 0 {
				t.Fatalf("GET %s has no body to compare with", tc.target)
			}
			if got, want := head.header.Get("Content-Length"), get.header.Get("Content-Length"); got != want || got == "" {
				t.Errorf("HEAD Content-Length = %q, want %q as for GET", got, want)
			}
		})
	}
}

func TestOtherRoutes(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tests := []struct {
		name, target, want string
	}{
		{"root reaches the dashboard", "/", uiMarker},
		{"a page reaches the dashboard", "/vehicles/TRUCK-0042", uiMarker},
		{"assets reach the dashboard", "/web/app.wasm", uiMarker},
		{"ws reaches the hub", "/ws", wsMarker},
		{"metrics reach the metrics handler", "/metrics", metMarker},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := s.get(t, tc.target)
			if r.status != http.StatusOK || string(r.body) != tc.want {
				t.Errorf("GET %s: status %d body %q, want 200 %q", tc.target, r.status, r.body, tc.want)
			}
		})
	}
}

// TestDataFollowsApply checks that reads serve the latest state, not the
// one at start.
func TestDataFollowsApply(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	next := window(windows, "NEW-1")
	s.view.Apply(next)
	r := s.get(t, "/data")
	if got := r.header.Get("X-Fleetpulse-Seq"); got != "6" {
		t.Errorf("X-Fleetpulse-Seq = %q, want 6", got)
	}
	if diff := cmp.Diff(next.Vehicles, decodeJSON[[]telemetry.VehicleRow](t, r.body)); diff != "" {
		t.Errorf("rows after Apply (-want +got):\n%s", diff)
	}
	fleet := decodeJSON[[]telemetry.FleetRow](t, s.get(t, "/data/fleet").body)
	if diff := cmp.Diff(fleetRows(0, windows+1), fleet); diff != "" {
		t.Errorf("fleet rows after Apply (-want +got):\n%s", diff)
	}
}
