// Package replay is `fleetpulse replay`: it sends a recording of events,
// NDJSON or CSV, to a FleetPulse server's /ingest in batches, at the pace
// the events' timestamps set (or faster), and reports what the server
// accepted.
//
// It streams the file, so a recording of any length takes little memory,
// and it sends one batch at a time on one connection, in file order. It
// uses loadgen.Client, so 429 and 503 are waited out as in loadgen.
package replay

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"time"

	"fleetpulse/server/loadgen"
	"fleetpulse/shared/telemetry"
)

// maxBatch bounds -batch.
const maxBatch = 100_000

// linger is how early an event may go: events due within it of now join
// the batch being sent, which keeps the number of requests down when
// timestamps are close together.
const linger = 50 * time.Millisecond

// maxSkipped is how many skipped lines the summary lists.
const maxSkipped = 5

type config struct {
	base       string
	token      string
	batch      int
	speed      float64
	shiftToNow bool
	format     string
	file       string
}

// deps are what Run takes from the process; tests replace them.
type deps struct {
	now  func() time.Time
	wait func(ctx context.Context, d time.Duration) error
	http *http.Client
}

// Run is `fleetpulse replay [flags] FILE`: args are what follows the
// subcommand's name (flags may also follow FILE). It reads the token from
// FLEETPULSE_INGEST_TOKEN when -token is not given, and writes a summary to
// stdout. It returns nil for -h, and when ctx ends the replay early (the
// summary says so).
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return run(ctx, args, getenv, stdout, stderr, deps{})
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("fleetpulse replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: fleetpulse replay [flags] FILE\n\n"+
			"Sends recorded events, NDJSON (one per line) or CSV (header with at least\n"+
			"vehicle_id,ts,lat,lon,speed_kmh), to a FleetPulse server's /ingest.\n\n")
		fs.PrintDefaults()
	}
	tokenFromEnv := loadgen.ServerFlags(fs, &c.base, &c.token, getenv)
	fs.IntVar(&c.batch, "batch", 1000, "most events per request")
	fs.Float64Var(&c.speed, "speed", 1, "pace: 1 is as recorded, 10 ten times faster, 0 as fast as possible")
	fs.BoolVar(&c.shiftToNow, "shift-to-now", false, "shift every ts by the same amount so that the first event is stamped now")
	fs.StringVar(&c.format, "format", "auto", "auto (by extension, else by the first byte), ndjson or csv")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() == 0 {
		return c, errors.New("replay: want the FILE to replay, as in: fleetpulse replay [flags] FILE")
	}
	c.file = fs.Arg(0)
	// Flags may follow the file too.
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("replay: unexpected argument %q: replay one FILE at a time", fs.Arg(0))
	}
	tokenFromEnv()
	if _, err := loadgen.IngestURL(c.base); err != nil {
		return c, fmt.Errorf("replay: %w", err)
	}
	switch {
	case c.batch < 1 || c.batch > maxBatch:
		return c, fmt.Errorf("replay: -batch %d: want 1 to %d", c.batch, maxBatch)
	case c.speed < 0 || math.IsNaN(c.speed) || math.IsInf(c.speed, 0):
		return c, fmt.Errorf("replay: -speed %v: want 1 for the recorded pace, more to go faster, 0 for as fast as possible", c.speed)
	case c.format != "auto" && c.format != formatNDJSON && c.format != formatCSV:
		return c, fmt.Errorf("replay: -format %q: want auto, ndjson or csv", c.format)
	}
	return c, nil
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
		d.wait = loadgen.Sleep
	}
	if d.http == nil {
		d.http = loadgen.NewHTTPClient(1)
	}

	f, err := os.Open(cfg.file)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	format := cfg.format
	if format == "auto" {
		head, _ := br.Peek(512)
		format = detect(cfg.file, head)
	}
	var src source
	if format == formatCSV {
		if src, err = newCSV(br); err != nil {
			return fmt.Errorf("replay: %s: %w", cfg.file, err)
		}
	} else {
		src = newNDJSON(br)
	}

	endpoint, _ := loadgen.IngestURL(cfg.base)
	stats := loadgen.NewStats()
	client := &loadgen.Client{URL: endpoint, Token: cfg.token, HTTP: d.http, Stats: stats, Wait: d.wait, Now: d.now}
	pace := "as fast as possible"
	if cfg.speed > 0 {
		pace = fmt.Sprintf("at %g× the recorded pace", cfg.speed)
	}
	stamps := "timestamps as recorded"
	if cfg.shiftToNow {
		stamps = "timestamps shifted to start now"
	}
	fmt.Fprintf(stdout, "replay: %s (%s) to %s, %s, %s\n", cfg.file, format, endpoint, pace, stamps)

	p := &player{cfg: cfg, deps: d, client: client, src: src, stderr: stderr}
	start := d.now()
	err = p.play(ctx, start)
	elapsed := d.now().Sub(start)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		fmt.Fprintln(stdout, "stopped early: interrupted")
		err = nil
	}
	if perr := p.printSummary(stdout, stats, elapsed); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return fmt.Errorf("replay: %s: %w", cfg.file, err)
	}
	if p.events == 0 {
		return fmt.Errorf("replay: %s holds no events", cfg.file)
	}
	return nil
}

// player sends one recording.
type player struct {
	cfg    config
	deps   deps
	client *loadgen.Client
	src    source
	stderr io.Writer // for a warning as soon as it arises

	events      int64 // read and sent on
	skipped     []*lineError
	skippedN    int64
	first, last int64  // smallest and greatest recorded ts
	warning     string // set once events went out stamped out of bounds
}

// play sends the recording, pacing it from start.
func (p *player) play(ctx context.Context, start time.Time) error {
	var (
		body  []byte
		lines int
		ts0   int64 // the first event's recorded ts
		shift int64
	)
	flush := func() error {
		if lines == 0 {
			return nil
		}
		err := p.client.Post(ctx, body, lines)
		body, lines = body[:0], 0
		return err
	}
	for {
		e, err := p.src.next()
		var le *lineError
		switch {
		case errors.As(err, &le):
			p.skip(le)
			continue
		case errors.Is(err, io.EOF):
			return flush()
		case err != nil:
			if ferr := flush(); ferr != nil {
				return ferr
			}
			return err
		}
		if p.events == 0 {
			ts0, p.first, p.last = e.TS, e.TS, e.TS
			if p.cfg.shiftToNow {
				shift = start.UnixMilli() - ts0
			}
		}
		p.events++
		p.first, p.last = min(p.first, e.TS), max(p.last, e.TS)
		if p.cfg.speed > 0 {
			offset := time.Duration(float64(e.TS-ts0) / p.cfg.speed * float64(time.Millisecond))
			if wait := start.Add(offset).Sub(p.deps.now()); wait > linger {
				if err := flush(); err != nil {
					return err
				}
				// Posting took time: wait for what is left.
				if wait = start.Add(offset).Sub(p.deps.now()); wait > 0 {
					if err := p.deps.wait(ctx, wait); err != nil {
						return err
					}
				}
			}
		}
		e.TS += shift
		p.checkStamp(e.TS)
		line, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode an event: %w", err)
		}
		body = append(append(body, line...), '\n')
		if lines++; lines >= p.cfg.batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

func (p *player) skip(le *lineError) {
	p.skippedN++
	if len(p.skipped) < maxSkipped {
		p.skipped = append(p.skipped, le)
	}
}

// The server's default -max-future and -max-age: events stamped further
// ahead of its clock, or older, are rejected.
const (
	maxFuture = time.Minute
	maxAge    = 24 * time.Hour
)

// checkStamp notes, once, when an event goes out with a ts the server
// would reject at its defaults: an old recording replayed as recorded, or
// shifted timestamps replayed faster than recorded, which run ahead of the
// clock.
func (p *player) checkStamp(ts int64) {
	if p.warning != "" {
		return
	}
	switch d := time.Duration(ts-p.deps.now().UnixMilli()) * time.Millisecond; {
	case d > maxFuture:
		p.warning = fmt.Sprintf("warning: events went out stamped more than %s ahead of now; the server rejects them beyond its -max-future (use -speed 1 with -shift-to-now)", maxFuture)
	case d < -maxAge:
		p.warning = fmt.Sprintf("warning: events went out stamped more than %s ago; the server rejects them beyond its -max-age (use -shift-to-now)", maxAge)
	default:
		return
	}
	fmt.Fprintln(p.stderr, "replay:", p.warning)
}

func (p *player) printSummary(w io.Writer, stats *loadgen.Stats, elapsed time.Duration) error {
	if p.warning != "" {
		fmt.Fprintln(w, p.warning)
	}
	rows := []loadgen.Row{{Name: "read", Value: fmt.Sprintf("%d events, %d lines skipped", p.events, p.skippedN)}}
	if p.events > 0 {
		first, last := time.UnixMilli(p.first), time.UnixMilli(p.last)
		rows = append(rows, loadgen.Row{Name: "recording", Value: fmt.Sprintf("%s to %s (%s)",
			telemetry.AppendTime(nil, first), telemetry.AppendTime(nil, last), last.Sub(first))})
	}
	if err := stats.Print(w, elapsed, rows...); err != nil {
		return err
	}
	if len(p.skipped) > 0 {
		fmt.Fprintf(w, "skipped lines (first %d):\n", len(p.skipped))
		for _, le := range p.skipped {
			fmt.Fprintf(w, "  %s\n", le)
		}
	}
	return nil
}
