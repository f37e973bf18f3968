package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fleetpulse/server/stream"
	"fleetpulse/server/wal"
	"fleetpulse/shared/telemetry"
)

// durable is the write-ahead log of ingest (-wal) as the server uses it:
// opened and replayed at start, appended to by ingest, and released as
// windows are delivered. A nil *durable (no -wal) does nothing.
type durable struct {
	log           *wal.WAL
	window, slide time.Duration
	logger        *slog.Logger
	replayed      int64 // events replayed into open windows at start
}

// openDurable opens the log in dir and replays into proc the events that
// are not in a window final by through (the end of the last window
// delivered before the restart): those are skipped, not counted late.
// Duplicates among the replayed events (retries) count once, as live.
func openDurable(dir string, window, slide time.Duration, proc *stream.Processor, through time.Time, log *slog.Logger) (*durable, error) {
	w, err := wal.Open(dir, wal.Options{Log: log})
	if err != nil {
		return nil, fmt.Errorf("-wal: %w", err)
	}
	d := &durable{log: w, window: window, slide: slide, logger: log}
	cut := d.cut(through)
	var replayed, skipped, dup, late int64
	err = w.Replay(func(events []telemetry.Event) error {
		for i := range events {
			if events[i].TS < cut {
				skipped++
				continue
			}
			switch proc.Add(&events[i]) {
			case stream.Accepted:
				replayed++
			case stream.Duplicate:
				dup++
			case stream.Late:
				late++
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("-wal: %w", err)
	}
	d.replayed = replayed
	st := w.Stats()
	log.Info("write-ahead log replayed", "dir", dir, "segments", st.Segments, "bytes", st.Size,
		"events", replayed, "already_final", skipped, "duplicate", dup, "late", late)
	// What was final before the restart can go now.
	d.release(through)
	return d, nil
}

// cut is the ts (Unix ms) before which every event is in a window final
// once the window ending at through is: the last window holding ts starts
// at ts rounded down to the slide and ends a window later.
func (d *durable) cut(through time.Time) int64 {
	if through.IsZero() {
		return math.MinInt64
	}
	return through.UnixMilli() - d.window.Milliseconds() + d.slide.Milliseconds()
}

// release deletes the segments whose events are all in windows delivered
// through through.
func (d *durable) release(through time.Time) {
	if d == nil || through.IsZero() {
		return
	}
	if _, err := d.log.Release(d.cut(through)); err != nil {
		d.logger.Warn("write-ahead log: cannot delete a released segment", "err", err)
	}
}

// appender is what ingest appends to: nil without -wal.
func (d *durable) appender() interface {
	Append(ctx context.Context, events []telemetry.Event) error
} {
	if d == nil {
		return nil
	}
	return d.log
}

// run runs the log's committer until close.
func (d *durable) run(ctx context.Context) error {
	if d == nil {
		return nil
	}
	return d.log.Run(ctx)
}

// close stops the log once ingest has stopped appending; run then returns.
func (d *durable) close() {
	if d != nil {
		d.log.Close()
	}
}

// register exports the log's totals on /metrics.
func (d *durable) register(reg *prometheus.Registry) {
	if d == nil {
		return
	}
	stat := func(f func(wal.Stats) float64) func() float64 { return func() float64 { return f(d.log.Stats()) } }
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fleetpulse_wal_appends_total", Help: "Ingest batches made durable in the write-ahead log."},
			stat(func(s wal.Stats) float64 { return float64(s.Appends) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fleetpulse_wal_fsyncs_total", Help: "Group commits (one fsync each) of the write-ahead log."},
			stat(func(s wal.Stats) float64 { return float64(s.Syncs) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fleetpulse_wal_refused_total", Help: "Ingest batches refused (503) because the write-ahead log was full (1 GiB) or its queue stayed full."},
			stat(func(s wal.Stats) float64 { return float64(s.Refused) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fleetpulse_wal_bytes", Help: "Size of the write-ahead log's segments on disk."},
			stat(func(s wal.Stats) float64 { return float64(s.Size) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "fleetpulse_wal_replayed_events_total", Help: "Events the write-ahead log replayed into open windows at start."},
			func() float64 { return float64(d.replayed) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fleetpulse_wal_segments", Help: "Segment files of the write-ahead log."},
			stat(func(s wal.Stats) float64 { return float64(s.Segments) })),
	)
}
