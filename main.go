// Command fleetpulse is the FleetPulse server: it runs the simulated fleet,
// computes event-time windows per vehicle and for the fleet, and delivers
// them to the dashboard, WebSocket subscribers, GET /data and CSV files.
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"fleetpulse/app/ui"
	"fleetpulse/server/api"
	"fleetpulse/server/hub"
	"fleetpulse/server/ingest"
	"fleetpulse/server/loadgen"
	"fleetpulse/server/replay"
	"fleetpulse/server/sim"
	"fleetpulse/server/stream"
	"fleetpulse/server/tail"
	"fleetpulse/server/view"
	"fleetpulse/shared/telemetry"
	"fleetpulse/shared/wire"
	"fleetpulse/storage"
)

// version names the build; the Makefile sets it. The dashboard's service
// worker keeps its cache for as long as it does not change.
var version = ""

// web holds the static assets: icons and styles, and the build outputs
// app.wasm and echarts (make wasm echarts), so the binary is self-contained.
//
//go:embed web
var web embed.FS

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fleetpulse:", err)
		os.Exit(1)
	}
}

// shutdownGrace bounds the HTTP server's shutdown once the pipeline has
// drained; the whole shutdown stays within 10 s.
const shutdownGrace = 5 * time.Second

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) > 0 {
		// Tools that talk to a running server.
		switch args[0] {
		case "loadgen":
			return loadgen.Run(ctx, args[1:], getenv, stdout, stderr)
		case "replay":
			return replay.Run(ctx, args[1:], getenv, stdout, stderr)
		case "tail":
			return tail.Run(ctx, args[1:], stdout, stderr)
		}
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.limits.logFormat, cfg.ingestToken)

	store, err := storage.Open(cfg.storage, storage.Options{
		Retention: cfg.retention, MaxHistoryBytes: int64(cfg.historyMax), BOM: cfg.csvBOM, Log: log,
	})
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	defer store.Close()
	fleetRows := store.Fleet()
	// seq carries on from state.json; a storage folder written before it
	// existed counts its retained windows.
	v := view.New(max(store.Seq(), uint64(len(fleetRows))), fleetRows, store.Latest(), cfg.retention, time.Now)

	proc, err := stream.New(cfg.streamConfig())
	if err != nil {
		return err
	}
	if t := store.Through(); !t.IsZero() {
		// Windows delivered before the restart (flushed ones included)
		// are final: their events now count as late, never twice.
		proc.AdvanceTo(t.UnixMilli())
	}
	var dur *durable // the write-ahead log; nil without -wal
	if cfg.wal != "" {
		// Replayed before any new input is taken.
		if dur, err = openDurable(cfg.wal, cfg.window, cfg.slide, proc, store.Through(), log); err != nil {
			return err
		}
	}
	var stats stream.Stats
	// The server's "now" for the simulator and the time bounds of ingest:
	// wall time at start-up plus monotonic time since, immune to steps.
	clock := stream.SteadyClock(time.Now)
	stage := stream.NewStage(proc, cfg.lateness, cfg.idleTimeout, time.Now, &stats)
	node, err := newClusterNode(ctx, cfg, log, &stats, store.Through()) // nil without -kafka
	if err != nil {
		return err
	}
	defer node.Close()
	fleet := sim.New(cfg.vehicles, cfg.seed)
	if err := fleet.SetFaults(cfg.simFaults); err != nil {
		return fmt.Errorf("-sim-faults: %w", err)
	}
	tokens, err := ingest.NewTokens(cfg.ingestToken, cfg.tokenFile, time.Now)
	if err != nil {
		return err
	}
	events := make(chan telemetry.Batch, 64)
	producers := ingest.New(events, ingest.Options{
		Tokens: tokens, MaxBody: int64(cfg.maxBody), MaxFuture: cfg.maxFuture, MaxAge: cfg.maxAge, Log: log,
		Sink:           node.Sink(),
		Limit:          ingest.Limit{EventsPerSecond: cfg.limits.ingestRate, RequestsPerSecond: cfg.limits.ingestRequests},
		OriginPatterns: cfg.limits.ingestOrigins,
		WAL:            dur.appender(), Now: clock,
	})
	subs := hub.New(hub.Options{
		OriginPatterns: cfg.origins, Log: log, MaxSubscribers: cfg.limits.maxSubscribers,
		// Resume no further back than the retention.
		ResumeWindows: int(min(360, cfg.retention/cfg.slide)),
	})
	subs.SetSnapshot(v.Current().Snapshot)

	ui.Routes()
	dashboard := ui.Handler(buildVersion() + "-" + webDigest(web))
	dashboard.Resources = newEmbeddedWeb(web)
	met := newMetrics(&stats, subs, producers, fleet.MalformedTotal, func() int { return len(events) }, store.LastGoodWrite)
	node.Register(met.reg)
	dur.register(met.reg)
	// Ready from the start: the listener opens below, and the shutdown
	// path, which may run at once, only ever sets it false.
	var ready atomic.Bool
	ready.Store(true)
	handler := api.NewHandler(api.Deps{
		View: v, WS: subs, UI: dashboard, Ready: &ready, Ingest: producers, History: history{store},
		Metrics: promhttp.HandlerFor(met.reg, promhttp.HandlerOpts{}),
	})

	if cfg.limits.accessLog {
		handler = api.AccessLog(handler, log)
	}
	reqCtx, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := newHTTPServer(cfg.limits, handler, reqCtx, log)

	// The pipeline runs on a context that a signal does not cancel, so
	// that it can drain: the producers stop on the signal, the window
	// stage flushes the open windows, delivery writes them and says
	// goodbye to subscribers, and only then does the HTTP server stop.
	g, gctx := errgroup.WithContext(context.WithoutCancel(ctx))
	produce, stopProducing := context.WithCancel(ctx)
	defer stopProducing()
	windows := make(chan telemetry.Window, 16)
	var live chan telemetry.Window
	if cfg.liveEvery > 0 {
		live = make(chan telemetry.Window, 1)
		stage.SendLive(cfg.liveEvery, live)
	}
	drained := make(chan struct{})
	simDone := make(chan struct{})

	g.Go(func() error {
		defer close(simDone)
		return fleet.Run(produce, cfg.rate, clock, events)
	})
	g.Go(func() error {
		if node != nil {
			return node.Run(gctx, events, windows)
		}
		return stage.Run(gctx, events, windows)
	})
	g.Go(func() error { return dur.run(gctx) })
	g.Go(func() error {
		defer close(drained)
		return deliver(windows, live, v, subs, store, dur, met, log)
	})
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		select {
		case <-ctx.Done():
			// A second signal now ends the process at once.
			stop()
			log.Info("shutting down")
		case <-gctx.Done():
		}
		ready.Store(false)
		stopProducing()
		// events has two writers: once both have stopped, close it, and
		// the window stage flushes.
		producers.Close()
		dur.close()
		<-simDone
		close(events)
		select {
		case <-drained:
		case <-gctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
		defer cancel()
		subs.Close()
		if err := srv.Shutdown(sctx); err != nil {
			// A client that does not read its answer: cut it off. The
			// data is safe; this is no reason to exit non-zero.
			log.Warn("http shutdown timed out; closing connections", "err", err)
			cancelRequests()
			srv.Close()
		}
		return nil
	})
	url := dashboardURL(ln.Addr())
	log.Info("listening", "url", url, "ingest", tokens.Enabled(), "vehicles", cfg.vehicles, "window", cfg.window.String(), "slide", cfg.slide.String(), "storage", store.Dir())
	fmt.Fprintf(stdout, "FleetPulse dashboard: %s\n", url)
	err = g.Wait()
	log.Info("stopped", "events_accepted", stats.Accepted.Load(), "windows_closed", stats.WindowsClosed.Load())
	return err
}

// deliver hands each final window to the CSV files, then to subscribers
// and the served view, and each provisional window (live, nil when off) to
// subscribers, until windows is closed; then it disconnects the
// subscribers after what is queued for them.
func deliver(windows, live <-chan telemetry.Window, v *view.View, subs *hub.Hub, store *storage.Writer, dur *durable, met *metrics, log *slog.Logger) error {
	failing := false
	for windows != nil {
		var w telemetry.Window
		select {
		case lw, ok := <-live:
			if !ok {
				live = nil
				continue
			}
			subs.PublishLive(&lw, wire.AppendLive(nil, v.Current().Seq, &lw.Fleet, lw.Vehicles))
			continue
		case fw, ok := <-windows:
			if !ok {
				windows = nil
				continue
			}
			w = fw
		}
		// The files first, then subscribers and the view: a window
		// anyone has seen is on disk, so a crash (kill -9) never takes a
		// seq back or emits a window again. The view makes the /ws
		// message and snapshot before (no I/O), its other encodings after
		// publishing. Save the state even when the CSV files failed: seq
		// must never go back after a restart.
		next := v.Prepare(w)
		werr := store.Write(w)
		serr := store.SaveState(next.Seq, w.End())
		if serr == nil {
			// The window's events are final and delivered: the log
			// need not keep them.
			dur.release(w.End())
		}
		subs.Publish(next.Seq, &w, next.Message, next.Snapshot)
		met.closeLag.Observe(time.Since(w.End()).Seconds())
		cur := v.Commit(next)
		err := errors.Join(werr, serr)
		if err != nil {
			met.csvErrors.WithLabelValues(csvErrorReason(err)).Inc()
		}
		switch {
		case err != nil && !failing:
			// Log once per episode, not once per window.
			log.Error("csv write failed; keeping the last good files", "err", err)
			failing = true
		case err == nil && failing:
			log.Info("csv writes recovered")
			failing = false
		}
		log.Debug("window", "seq", cur.Seq, "window_end", w.End(), "vehicles", len(w.Vehicles), "events", w.Fleet.Events)
	}
	return subs.Close()
}

// history reads /data/history from the CSV files.
type history struct{ *storage.Writer }

func (history) TooMany(err error) bool { return errors.Is(err, storage.ErrTooManyRows) }

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return s.Value[:12]
			}
		}
	}
	return "dev"
}

func dashboardURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
