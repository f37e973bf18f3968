// Package live is the browser's feed of the /ws push stream: it dials the
// server with coder/websocket, decodes each message into a wire.Snapshot or a
// wire.Window and hands it on, and reconnects with capped, fully jittered
// exponential backoff when the connection drops.
//
// The caller owns the goroutine: Feed.Run blocks until its context ends and
// closes its output channel when it returns. Randomness and waiting are
// injected, so the retry logic runs natively in tests without sleeping; the
// same code runs in js/wasm, where coder/websocket wraps the browser's
// WebSocket.
package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"fleetpulse/shared/wire"
)

// State is the state of a Feed's connection.
type State int

// Connection states, in the order a feed first goes through them.
const (
	// Connecting is the first dial, before any connection was made.
	Connecting State = iota
	// Connected means the socket is open and messages can arrive.
	Connected
	// Reconnecting means a connection failed or dropped and the feed is
	// waiting to dial again.
	Reconnecting
)

// String returns the lower-case name shown to users: "connecting",
// "connected" or "reconnecting".
func (s State) String() string {
	switch s {
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	case Reconnecting:
		return "reconnecting"
	default:
		return "state(" + strconv.Itoa(int(s)) + ")"
	}
}

// Event is what a Feed reports: either a change of connection state, or one
// decoded message (then Snapshot or Window is set and State is Connected).
type Event struct {
	// State is the connection state when the event happened.
	State State
	// Err says why the feed is Reconnecting, or which message it could not
	// decode (then the message is skipped and the connection kept).
	Err error
	// RetryIn is the wait before the next dial, with State Reconnecting.
	RetryIn time.Duration
	// Snapshot is set for a "snapshot" message.
	Snapshot *wire.Snapshot
	// Window is set for a "window" (final) or "live" (provisional) message.
	Window *wire.Window
}

// DefaultReadLimit is the largest message a Feed accepts unless told
// otherwise: a snapshot of a big fleet is far beyond coder/websocket's
// 32 KiB default.
const DefaultReadLimit = 64 << 20

// Feed connects to a /ws endpoint and keeps reconnecting. The zero value is
// not usable: set URL. A Feed must not be copied after first use, and runs one
// Run at a time.
type Feed struct {
	// URL is the ws:// or wss:// address of the push endpoint, as made by
	// SocketURL.
	URL string
	// Backoff spaces the dials after a failure.
	Backoff Backoff
	// ReadLimit is the largest message in bytes. Defaults to DefaultReadLimit.
	ReadLimit int64
	// DialTimeout bounds one dial. Defaults to 15s.
	DialTimeout time.Duration
	// Rand returns a uniform number in [0, 1) for the jitter. Defaults to
	// math/rand/v2's Float64.
	Rand func() float64
	// Wait blocks for d or until ctx ends, returning ctx.Err() then.
	// Defaults to a timer; tests pass one that returns at once.
	Wait func(ctx context.Context, d time.Duration) error

	lastSeq uint64
}

// LastSeq returns the seq of the last final window or snapshot received; a
// reconnect resumes after it with ?since_seq=. Only safe to call when Run is
// not running.
func (f *Feed) LastSeq() uint64 { return f.lastSeq }

// Run dials f.URL and sends every state change and message on out until ctx
// ends, reconnecting after each failure. It closes out when it returns, and
// returns ctx's error. Sends block: the reader of out must keep up, or the
// server, which never waits for slow clients, drops the connection and Run
// reconnects.
func (f *Feed) Run(ctx context.Context, out chan<- Event) error {
	defer close(out)
	if f.URL == "" {
		return errors.New("live: feed has no URL")
	}
	random := f.Rand
	if random == nil {
		random = rand.Float64
	}
	wait := f.Wait
	if wait == nil {
		wait = sleep
	}
	send := func(ev Event) bool {
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}

	if !send(Event{State: Connecting}) {
		return ctx.Err()
	}
	failures := 0
	for {
		got, err := f.session(ctx, send)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if got > 0 {
			// The connection worked; a later drop starts the backoff afresh.
			failures = 0
		}
		delay := f.Backoff.Delay(failures, random())
		failures++
		if !send(Event{State: Reconnecting, Err: err, RetryIn: delay}) {
			return ctx.Err()
		}
		if err := wait(ctx, delay); err != nil {
			return err
		}
	}
}

// session makes one connection and reads it until it fails. It returns how
// many messages it delivered and why it ended.
func (f *Feed) session(ctx context.Context, send func(Event) bool) (int, error) {
	target, err := resumeURL(f.URL, f.lastSeq)
	if err != nil {
		return 0, err
	}
	timeout := f.DialTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	dialCtx, cancel := context.WithTimeout(ctx, timeout)
	c, _, err := websocket.Dial(dialCtx, target, nil)
	cancel()
	if err != nil {
		return 0, err
	}
	defer c.CloseNow()
	limit := f.ReadLimit
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	c.SetReadLimit(limit)

	if !send(Event{State: Connected}) {
		c.Close(websocket.StatusGoingAway, "")
		return 0, ctx.Err()
	}
	n := 0
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				c.Close(websocket.StatusGoingAway, "")
			}
			return n, err
		}
		if typ != websocket.MessageText {
			continue
		}
		ev, err := decodeMessage(data)
		if err != nil {
			if !send(Event{State: Connected, Err: err}) {
				return n, ctx.Err()
			}
			continue
		}
		if ev.Snapshot == nil && ev.Window == nil {
			continue // a message type this client does not know
		}
		f.remember(ev)
		if !send(ev) {
			c.Close(websocket.StatusGoingAway, "")
			return n, ctx.Err()
		}
		n++
	}
}

// remember keeps the seq to resume from after a reconnect.
func (f *Feed) remember(ev Event) {
	switch {
	case ev.Snapshot != nil:
		f.lastSeq = ev.Snapshot.Seq
	case ev.Window != nil && ev.Window.Final && ev.Window.Seq > f.lastSeq:
		f.lastSeq = ev.Window.Seq
	}
}

// Decode decodes one /ws message: the envelope first, then the snapshot or
// window it announces. A message of an unknown type gives an Event with
// neither set and no error, so that newer servers can add types.
func Decode(data []byte) (Event, error) {
	var env wire.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return Event{}, fmt.Errorf("decode message envelope: %w", err)
	}
	ev := Event{State: Connected}
	switch env.Type {
	case wire.TypeSnapshot:
		s := new(wire.Snapshot)
		if err := json.Unmarshal(data, s); err != nil {
			return Event{}, fmt.Errorf("decode snapshot %d: %w", env.Seq, err)
		}
		ev.Snapshot = s
	case wire.TypeWindow, wire.TypeLive:
		w := new(wire.Window)
		if err := json.Unmarshal(data, w); err != nil {
			return Event{}, fmt.Errorf("decode %s %d: %w", env.Type, env.Seq, err)
		}
		ev.Window = w
	}
	return ev, nil
}

// SocketURL returns the WebSocket address of path on the host that served
// page: ws:// for an http page, wss:// for https. path defaults to "/ws".
func SocketURL(page *url.URL, path string) (string, error) {
	if page == nil || page.Host == "" {
		return "", errors.New("live: page URL has no host")
	}
	if path == "" {
		path = "/ws"
	}
	p, err := url.Parse(path)
	if err != nil {
		return "", fmt.Errorf("live: parse socket path %q: %w", path, err)
	}
	u := url.URL{Scheme: "ws", Host: page.Host, Path: p.Path, RawQuery: p.RawQuery}
	switch page.Scheme {
	case "https", "wss":
		u.Scheme = "wss"
	case "http", "ws":
	default:
		return "", fmt.Errorf("live: page scheme %q is not http or https", page.Scheme)
	}
	return u.String(), nil
}

// resumeURL adds since_seq=seq to raw when seq is positive, so the server
// sends the windows missed while disconnected.
func resumeURL(raw string, seq uint64) (string, error) {
	if seq == 0 {
		return raw, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("live: parse feed URL: %w", err)
	}
	q := u.Query()
	q.Set("since_seq", strconv.FormatUint(seq, 10))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
