package api

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"fleetpulse/server/view"
	"fleetpulse/shared/telemetry"
)

func benchView(vehicles int) *view.View {
	end := time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC)
	w := telemetry.Window{Fleet: telemetry.FleetRow{WindowStart: end.Add(-10 * time.Second), WindowEnd: end, VehiclesActive: int64(vehicles)}}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range vehicles {
		w.Vehicles = append(w.Vehicles, telemetry.VehicleRow{
			WindowStart: w.Fleet.WindowStart, WindowEnd: end, VehicleID: fmt.Sprintf("TRUCK-%05d", i), Events: 10,
			AvgSpeedKPH: 30 + r.Float64()*30, MinSpeedKPH: r.Float64() * 30, MaxSpeedKPH: 60 + r.Float64()*5, DistanceKM: r.Float64(),
			LastLat: 52.4 + r.Float64()/5, LastLon: 13.3 + r.Float64()/5, LastTS: end.Add(-time.Duration(r.IntN(10_000)) * time.Millisecond),
		})
	}
	v := view.New(0, nil, nil, time.Hour, func() time.Time { return end })
	v.Apply(w)
	return v
}

// BenchmarkData measures GET /data through the handler (no network): the
// body encoded once per window, gzipped once, against encoding per request.
func BenchmarkData(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		v := benchView(n)
		var ready atomic.Bool
		nop := http.NotFoundHandler()
		h := NewHandler(Deps{View: v, Ready: &ready, WS: nop, UI: nop, Metrics: nop})
		for _, tc := range []struct {
			name string
			hdr  http.Header
			run  func(w http.ResponseWriter, r *http.Request)
		}{
			{"cached", nil, h.ServeHTTP},
			{"cached-gzip", http.Header{"Accept-Encoding": {"gzip"}}, h.ServeHTTP},
			{"encode-per-request", nil, func(w http.ResponseWriter, r *http.Request) {
				body := telemetry.AppendVehiclesJSON(nil, v.Current().Latest)
				w.Header().Set("Content-Type", "application/json")
				w.Write(body)
			}},
		} {
			b.Run(fmt.Sprintf("%dvehicles/%s", n, tc.name), func(b *testing.B) {
				var size int
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						r := httptest.NewRequest(http.MethodGet, "/data", nil)
						for k, vs := range tc.hdr {
							r.Header[k] = vs
						}
						w := &discard{h: http.Header{}}
						tc.run(w, r)
						size = w.n
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
				b.ReportMetric(float64(size), "body-bytes")
			})
		}
	}
}

// discard is a ResponseWriter that counts and drops the body, so the
// benchmark measures the handler, not a buffer.
type discard struct {
	h http.Header
	n int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(b []byte) (int, error) { d.n += len(b); return len(b), nil }
