// Package loadgen is `fleetpulse loadgen`: a load generator that sends
// synthetic vehicle events to a FleetPulse server's /ingest, over HTTP or
// WebSocket, and reports what the server accepted and how fast.
//
// Each connection runs in its own goroutine with its own share of the fleet
// and its own generator, so that they share nothing but the Stats; Run
// starts them and returns only after all have stopped. Client, the HTTP
// sender with Retry-After handling, is shared with package replay.
package loadgen

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"
)

// Bounds of the flags: a load test is bounded in time and size.
const (
	maxDuration = time.Hour
	maxVehicles = 1_000_000
	maxBatch    = 100_000
	maxConns    = 256
	// maxSubscribers is the hub's default cap.
	maxSubscribers = 10_000
)

// config is what the flags say.
type config struct {
	base      string
	token     string
	transport string
	vehicles  int
	rate      float64
	duration  time.Duration
	batch     int
	conns     int
	seed      uint64
	events    int64
	// -subscribers and the server's windows, for the latency of windows
	subscribers int
	subVehicles int
	lateness    time.Duration
	slide       time.Duration
	subGrace    time.Duration
	dataPath    string
}

// deps are what Run takes from the process: the clock, sleeping and the
// HTTP client. Tests replace them.
type deps struct {
	now  func() time.Time
	wait func(ctx context.Context, d time.Duration) error
	http *http.Client
}

// Run is `fleetpulse loadgen [flags]`: args are the flags after the
// subcommand's name. It sends events until -duration has passed or
// -events are sent, then writes a summary to stdout. It reads the token
// from FLEETPULSE_INGEST_TOKEN when -token is not given. It returns nil
// for -h, and when ctx ends the run early (the summary says so).
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return run(ctx, args, getenv, stdout, stderr, deps{})
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("fleetpulse loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: fleetpulse loadgen [flags]\n\nSends synthetic events to a FleetPulse server's /ingest and reports what it accepted.\n\n")
		fs.PrintDefaults()
	}
	tokenFromEnv := ServerFlags(fs, &c.base, &c.token, getenv)
	fs.StringVar(&c.transport, "transport", "http", "http (POST /ingest), ws (WebSocket /ingest), or data (GET -data-path as fast as possible, sending no events)")
	fs.IntVar(&c.vehicles, "vehicles", 10_000, "distinct vehicles (LOAD-000001, ...)")
	fs.Float64Var(&c.rate, "rate", 0, "target events per second, all connections together; 0 is as fast as possible")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to send, at most 1h")
	fs.IntVar(&c.batch, "batch", 1000, "events per request or message")
	fs.IntVar(&c.conns, "conns", 1, "parallel connections")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the synthetic fleet")
	fs.Int64Var(&c.events, "events", 0, "stop after this many events; 0 is no limit but -duration")
	fs.IntVar(&c.subscribers, "subscribers", 0, "/ws subscribers to hold open while sending, measuring window-to-subscriber latency (see BENCHMARKS.md)")
	fs.IntVar(&c.subVehicles, "sub-vehicles", 0, "vehicle ids each subscriber filters on (?vehicle_id=); 0 is every vehicle")
	fs.DurationVar(&c.lateness, "lateness", 5*time.Second, "the server's -lateness, for the latency of windows")
	fs.DurationVar(&c.slide, "slide", 10*time.Second, "the server's -slide (its -window when tumbling), for the latency of windows")
	fs.DurationVar(&c.subGrace, "sub-grace", 10*time.Second, "after sending, how long to wait for subscribers to read the last window that should close")
	fs.StringVar(&c.dataPath, "data-path", "/data", "the path and query -transport data asks for, gzip accepted")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("loadgen: unexpected argument %q", fs.Arg(0))
	}
	tokenFromEnv()
	return c, c.validate()
}

func (c config) validate() error {
	if _, err := IngestURL(c.base); err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	switch {
	case c.transport != "http" && c.transport != "ws" && c.transport != "data":
		return fmt.Errorf("loadgen: -transport %q: want http, ws or data", c.transport)
	case c.vehicles < 1 || c.vehicles > maxVehicles:
		return fmt.Errorf("loadgen: -vehicles %d: want 1 to %d", c.vehicles, maxVehicles)
	case c.rate < 0 || c.rate != c.rate:
		return fmt.Errorf("loadgen: -rate %v: want events per second, or 0 for as fast as possible", c.rate)
	case c.duration <= 0 || c.duration > maxDuration:
		return fmt.Errorf("loadgen: -duration %s: want more than 0 and at most %s", c.duration, maxDuration)
	case c.batch < 1 || c.batch > maxBatch:
		return fmt.Errorf("loadgen: -batch %d: want 1 to %d", c.batch, maxBatch)
	case c.conns < 1 || c.conns > maxConns:
		return fmt.Errorf("loadgen: -conns %d: want 1 to %d", c.conns, maxConns)
	case c.conns > c.vehicles:
		return fmt.Errorf("loadgen: -conns %d exceeds -vehicles %d: each connection needs vehicles of its own", c.conns, c.vehicles)
	case c.events < 0:
		return fmt.Errorf("loadgen: -events %d must not be negative", c.events)
	case c.subscribers < 0 || c.subscribers > maxSubscribers:
		return fmt.Errorf("loadgen: -subscribers %d: want 0 to %d", c.subscribers, maxSubscribers)
	case c.subVehicles < 0 || c.subVehicles > 1000:
		return fmt.Errorf("loadgen: -sub-vehicles %d: want 0 to 1000", c.subVehicles)
	case c.lateness < 0 || c.slide < time.Second || c.subGrace < 0:
		return fmt.Errorf("loadgen: -lateness, -slide and -sub-grace: want the server's settings (-slide at least 1s)")
	case c.subscribers > 0 && c.transport == "data":
		return fmt.Errorf("loadgen: -subscribers needs events: use -transport http or ws")
	case !strings.HasPrefix(c.dataPath, "/"):
		return fmt.Errorf("loadgen: -data-path %q: want a path such as /data?format=csv", c.dataPath)
	}
	return nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, d deps) error {
	cfg, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.wait == nil {
		d.wait = Sleep
	}
	if d.http == nil {
		d.http = NewHTTPClient(cfg.conns + cfg.subscribers)
	}
	endpoint, _ := IngestURL(cfg.base)
	stats := NewStats()
	stats.ws = cfg.transport == "ws"

	if cfg.transport == "data" {
		return runData(ctx, cfg, d, stdout)
	}
	rate := "as fast as possible"
	if cfg.rate > 0 {
		rate = fmt.Sprintf("%g events/s", cfg.rate)
	}
	conns := "1 connection"
	if cfg.conns > 1 {
		conns = fmt.Sprintf("%d connections", cfg.conns)
	}
	fmt.Fprintf(stdout, "loadgen: %s %s, %d vehicles, %s, batches of %d, %s, for %s\n",
		cfg.transport, endpoint, cfg.vehicles, conns, cfg.batch, rate, cfg.duration)

	start := d.now()
	l := &loader{cfg: cfg, deps: d, stats: stats, start: start, deadline: start.Add(cfg.duration)}
	l.remaining.Store(cfg.events)
	// However the clock behaves, the run ends a little after -duration.
	rctx, cancel := context.WithTimeout(ctx, cfg.duration+cfg.subGrace+15*time.Second)
	defer cancel()
	var subs *subscribers
	var subConns []*websocket.Conn
	var readers sync.WaitGroup
	if cfg.subscribers > 0 {
		l.marks = newMarks()
		subs = newSubscribers(cfg.subVehicles)
		if subConns, err = l.connectSubscribers(rctx, subs); err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
		for _, c := range subConns {
			readers.Go(func() { subs.read(c, d.now) })
		}
		// The run's clock starts once every subscriber is in.
		start = d.now()
		l.start, l.deadline = start, start.Add(cfg.duration)
	}
	l.client = &Client{URL: endpoint, Token: cfg.token, HTTP: d.http, Stats: stats, Wait: d.wait, Now: d.now, Deadline: l.deadline}
	l.client.defaults() // the WebSocket transport reads them too
	g, gctx := errgroup.WithContext(rctx)
	for w := range cfg.conns {
		gen := newGenerator(w+1, cfg.conns, cfg.vehicles, cfg.seed)
		g.Go(func() error { return l.work(gctx, w, gen) })
	}
	err = g.Wait()
	elapsed := d.now().Sub(start)
	var extra []Row
	if subs != nil {
		l.awaitLastWindow(rctx, subs)
		// Each close waits for the server's answer: close them at once.
		var closing sync.WaitGroup
		for _, c := range subConns {
			closing.Go(func() { c.Close(websocket.StatusNormalClosure, "done") })
		}
		closing.Wait()
		readers.Wait()
		extra = subs.rows(l.marks, cfg.lateness)
	}

	if ctx.Err() != nil && err != nil && errors.Is(err, ctx.Err()) {
		fmt.Fprintln(stdout, "stopped early: interrupted")
		err = nil
	}
	if perr := stats.Print(stdout, elapsed, extra...); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	if t := stats.Totals(); t.Sent == 0 && len(t.Answers) > 0 {
		return fmt.Errorf("loadgen: the server took no batch (last: %s)", stats.last())
	}
	return nil
}

// loader is one run's shared state.
type loader struct {
	cfg             config
	deps            deps
	stats           *Stats
	client          *Client
	start, deadline time.Time
	remaining       atomic.Int64 // events left to send under -events
	marks           *marks       // when batches were written, with -subscribers
}

// awaitLastWindow waits, at most -sub-grace, until every subscriber has
// read the last window the events sent should have closed: the one ending
// at the last multiple of -slide at or before the watermark.
func (l *loader) awaitLastWindow(ctx context.Context, subs *subscribers) {
	l.marks.mu.Lock()
	top, any := l.marks.top, len(l.marks.first) > 0
	l.marks.mu.Unlock()
	if !any {
		return
	}
	slide := l.cfg.slide.Milliseconds()
	last := floorDiv(top*1000-l.cfg.lateness.Milliseconds(), slide) * slide
	grace := time.NewTimer(l.cfg.subGrace)
	defer grace.Stop()
	for !subs.caughtUp(last) {
		select {
		case <-subs.changed:
		case <-grace.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// claim takes up to n events of the -events budget; without a budget it
// returns n.
func (l *loader) claim(n int) int {
	if l.cfg.events == 0 {
		return n
	}
	for {
		left := l.remaining.Load()
		take := min(int64(n), left)
		if take <= 0 {
			return 0
		}
		if l.remaining.CompareAndSwap(left, left-take) {
			return int(take)
		}
	}
}

// errDone ends a connection's loop without an error.
var errDone = errors.New("done")

// next waits until connection w may send its next batch, having sent sent
// events, and returns the size of that batch, or errDone.
func (l *loader) next(ctx context.Context, sent int64) (int, error) {
	now := l.deps.now()
	if !now.Before(l.deadline) {
		return 0, errDone
	}
	if l.cfg.rate > 0 {
		perConn := l.cfg.rate / float64(l.cfg.conns)
		due := l.start.Add(time.Duration(float64(sent) / perConn * float64(time.Second)))
		if !due.Before(l.deadline) {
			return 0, errDone
		}
		if wait := due.Sub(now); wait > 0 {
			if err := l.deps.wait(ctx, wait); err != nil {
				return 0, err
			}
		}
	}
	n := l.claim(l.cfg.batch)
	if n == 0 {
		return 0, errDone
	}
	return n, nil
}

// work runs connection w until the run is over.
func (l *loader) work(ctx context.Context, w int, gen *generator) error {
	var err error
	if l.cfg.transport == "ws" {
		err = l.workWS(ctx, gen)
	} else {
		err = l.workHTTP(ctx, gen)
	}
	if errors.Is(err, errDone) || errors.Is(err, ErrDeadline) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("connection %d: %w", w+1, err)
	}
	return nil
}

func (l *loader) workHTTP(ctx context.Context, gen *generator) error {
	buf := make([]byte, 0, l.cfg.batch*160)
	var sent int64
	for {
		n, err := l.next(ctx, sent)
		if err != nil {
			return err
		}
		buf = gen.appendBatch(buf[:0], n, l.deps.now().UnixMilli())
		l.marks.sent(gen.maxTS, l.deps.now())
		if err := l.client.Post(ctx, buf, n); err != nil {
			return err
		}
		sent += int64(n)
	}
}
