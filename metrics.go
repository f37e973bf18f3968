package main

import (
	"errors"
	"io/fs"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"fleetpulse/server/hub"
	"fleetpulse/server/ingest"
	"fleetpulse/server/stream"
)

// metrics are the server's Prometheus metrics. Labels never carry a vehicle
// id: their values come from short fixed lists.
type metrics struct {
	reg       *prometheus.Registry
	csvErrors *prometheus.CounterVec
	// closeLag observes, per delivered window, how long after its end
	// (by the wall clock) it reached subscribers.
	closeLag prometheus.Histogram
}

func newMetrics(stats *stream.Stats, subs *hub.Hub, producers *ingest.Ingest, simMalformed func() int64, queue func() int, lastGoodWrite func() time.Time) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	counter := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
	}
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	counter("fleetpulse_events_ingested_total", "Events that passed validation, including those later dropped as late or duplicate.",
		func() float64 {
			return float64(stats.Accepted.Load() + stats.Late.Load() + stats.Duplicate.Load() + stats.TooManyVehicles.Load())
		})
	counter("fleetpulse_events_late_total", "Events dropped because every window that would hold them was final.",
		func() float64 { return float64(stats.Late.Load()) })
	counter("fleetpulse_events_duplicate_total", "Events dropped as duplicates of one already in an open window.",
		func() float64 { return float64(stats.Duplicate.Load()) })
	counter("fleetpulse_windows_closed_total", "Final windows with rows, delivered.",
		func() float64 { return float64(stats.WindowsClosed.Load()) })
	gauge("fleetpulse_ws_subscribers", "Connected /ws subscribers.",
		func() float64 { return float64(subs.Len()) })
	counter("fleetpulse_ws_dropped_total", "Subscribers disconnected (1008) for falling behind.",
		func() float64 { return float64(subs.Dropped()) })
	counter("fleetpulse_ws_coalesced_total", "Times a slow subscriber's queue was replaced by the current snapshot.",
		func() float64 { return float64(subs.Coalesced()) })
	counter("fleetpulse_ws_refused_total", "Subscribers refused (503) because -max-subscribers were connected.",
		func() float64 { return float64(subs.Refused()) })
	counter("fleetpulse_ingest_rate_limited_total", "Ingest requests and WebSocket messages refused (429, 1013) for going over their token's rate limit.",
		func() float64 { return float64(producers.RateLimited()) })
	gauge("fleetpulse_vehicles_tracked", "Vehicles the window stage tracks now.",
		func() float64 { return float64(stats.Vehicles.Load()) })
	gauge("fleetpulse_watermark_seconds", "The watermark, in Unix seconds.",
		func() float64 { return float64(stats.WatermarkMS.Load()) / 1000 })

	reg.MustRegister(&byReason{
		desc: prometheus.NewDesc("fleetpulse_events_rejected_total", "Events rejected, by reason.", []string{"reason"}, nil),
		counts: func() map[string]int64 {
			m := producers.Rejected()
			m["too_many_vehicles"] = stats.TooManyVehicles.Load()
			m["simulated_malformed"] = simMalformed()
			return m
		},
	})

	gauge("fleetpulse_csv_last_good_write_age_seconds", "Seconds since the CSV files last took a window whole (or since start-up).",
		func() float64 { return time.Since(lastGoodWrite()).Seconds() })
	gauge("fleetpulse_ingest_queue_depth", "Batches waiting for the window stage.",
		func() float64 { return float64(queue()) })

	m := &metrics{reg: reg, closeLag: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "fleetpulse_window_close_lag_seconds",
		Help:    "Wall-clock time from a window's end to its delivery; at least the lateness.",
		Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300},
	}), csvErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fleetpulse_csv_write_errors_total", Help: "Failed CSV writes, by reason; the last good files stay in place.",
	}, []string{"reason"})}
	for _, r := range []string{"disk_full", "permission", "missing", "other"} {
		m.csvErrors.WithLabelValues(r) // export zeros, so alerts see the series
	}
	reg.MustRegister(m.csvErrors, m.closeLag)
	return m
}

// csvErrorReason names the cause of a failed write in a few fixed words.
func csvErrorReason(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return "disk_full"
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS):
		return "permission"
	case errors.Is(err, fs.ErrNotExist):
		return "missing"
	}
	return "other"
}

// byReason exports counters kept elsewhere as one labelled counter.
type byReason struct {
	desc   *prometheus.Desc
	counts func() map[string]int64
}

func (b *byReason) Describe(ch chan<- *prometheus.Desc) { ch <- b.desc }

func (b *byReason) Collect(ch chan<- prometheus.Metric) {
	for reason, n := range b.counts() {
		ch <- prometheus.MustNewConstMetric(b.desc, prometheus.CounterValue, float64(n), reason)
	}
}
