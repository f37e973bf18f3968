// Package tail is `fleetpulse tail`: a /ws subscriber for operators that
// prints each window as a JSON line or a table row, reconnecting and
// resuming after the last seq it printed when the connection drops.
//
// Run owns its one connection at a time; it returns when ctx ends, or
// after -count windows.
package tail

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"fleetpulse/shared/telemetry"
	"fleetpulse/shared/wire"
)

type config struct {
	url      string
	format   string
	ids      []string
	sinceSeq string
	count    int
}

// Run is `fleetpulse tail [flags]`.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c config
	fs := flag.NewFlagSet("fleetpulse tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: fleetpulse tail [flags]\n\nPrints the windows a FleetPulse server pushes on /ws.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&c.url, "url", "http://localhost:8080", "server `address`; /ws is added")
	fs.StringVar(&c.format, "format", "table", "table, or json: each message as one JSON line")
	fs.Func("vehicle-id", "print only this vehicle's rows (repeatable); json only", func(s string) error {
		c.ids = append(c.ids, s)
		return nil
	})
	fs.StringVar(&c.sinceSeq, "since-seq", "", "resume after this seq instead of starting with a snapshot")
	fs.IntVar(&c.count, "count", 0, "stop after this many windows (0: run until interrupted)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if c.format != "table" && c.format != "json" {
		return fmt.Errorf("-format %q: want table or json", c.format)
	}
	if c.sinceSeq != "" {
		if _, err := strconv.ParseUint(c.sinceSeq, 10, 64); err != nil {
			return fmt.Errorf("-since-seq %q: want a number", c.sinceSeq)
		}
	}
	base, err := wsURL(c.url)
	if err != nil {
		return err
	}
	return follow(ctx, c, base, stdout, stderr)
}

// wsURL turns a server address into its /ws URL.
func wsURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("-url %q: want an address such as http://localhost:8080", s)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("-url %q: want http, https, ws or wss", s)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/ws"
	return u, nil
}

// follow keeps a connection, reconnecting with capped, jittered backoff
// and resuming after the last seq printed.
func follow(ctx context.Context, c config, base *url.URL, stdout, stderr io.Writer) error {
	p := &printer{w: stdout, format: c.format, ids: c.ids}
	since := c.sinceSeq
	backoff := 250 * time.Millisecond
	for windows := 0; ; {
		u := *base
		q := u.Query()
		if since != "" {
			q.Set("since_seq", since)
		}
		for _, id := range c.ids {
			q.Add("vehicle_id", id)
		}
		u.RawQuery = q.Encode()
		conn, _, err := websocket.Dial(ctx, u.String(), nil)
		if err == nil {
			backoff = 250 * time.Millisecond
			conn.SetReadLimit(256 << 20)
			var n int
			n, since, err = p.read(ctx, conn, since, c.count-windows)
			windows += n
			conn.CloseNow()
			if c.count > 0 && windows >= c.count {
				return nil
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		wait := time.Duration(rand.Int64N(int64(backoff)) + 1) // #nosec G404 -- backoff jitter needs no secrecy
		fmt.Fprintf(stderr, "tail: %v; reconnecting in %v\n", err, wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

type printer struct {
	w      io.Writer
	format string
	ids    []string
	header bool
}

// read prints messages until the connection fails or limit windows (if
// positive) are printed; it returns how many windows it printed and the
// last seq seen.
func (p *printer) read(ctx context.Context, conn *websocket.Conn, since string, limit int) (int, string, error) {
	n := 0
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return n, since, err
		}
		var env wire.Envelope
		if err := json.Unmarshal(b, &env); err != nil {
			return n, since, fmt.Errorf("bad message: %w", err)
		}
		switch env.Type {
		case wire.TypeSnapshot:
			var s wire.Snapshot
			if err := json.Unmarshal(b, &s); err != nil {
				return n, since, fmt.Errorf("bad snapshot: %w", err)
			}
			p.snapshot(b, &s)
		case wire.TypeWindow:
			var w wire.Window
			if err := json.Unmarshal(b, &w); err != nil {
				return n, since, fmt.Errorf("bad window: %w", err)
			}
			p.window(b, &w)
			n++
		default:
			continue // live updates and future types
		}
		since = strconv.FormatUint(env.Seq, 10)
		if limit > 0 && n >= limit {
			return n, since, nil
		}
	}
}

func (p *printer) snapshot(raw []byte, s *wire.Snapshot) {
	if p.format == "json" {
		p.w.Write(append(raw, '\n'))
		return
	}
	fmt.Fprintf(p.w, "snapshot seq %d: %d fleet rows, %d vehicles in the latest window\n", s.Seq, len(s.Fleet), len(s.Vehicles))
	if n := len(s.Fleet); n > 0 {
		p.row(s.Seq, &s.Fleet[n-1])
	}
}

func (p *printer) window(raw []byte, w *wire.Window) {
	if p.format == "json" {
		p.w.Write(append(raw, '\n'))
		return
	}
	p.row(w.Seq, &w.Fleet)
}

func (p *printer) row(seq uint64, f *telemetry.FleetRow) {
	if !p.header {
		fmt.Fprintf(p.w, "%-6s %-24s %8s %9s %9s %9s %10s %5s %5s %5s\n",
			"seq", "window_end", "vehicles", "events", "avg_kmh", "max_kmh", "dist_km", "late", "dup", "rej")
		p.header = true
	}
	fmt.Fprintf(p.w, "%-6d %-24s %8d %9d %9.2f %9.2f %10.3f %5d %5d %5d\n",
		seq, f.WindowEnd.UTC().Format(telemetry.TimeLayout), f.VehiclesActive, f.Events,
		f.AvgSpeedKPH, f.MaxSpeedKPH, f.DistanceKM, f.LateEvents, f.DuplicateEvents, f.RejectedEvents)
}
