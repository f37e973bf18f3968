// Package ingest takes telemetry from real producers: POST /ingest with an
// NDJSON body, and GET /ingest, a WebSocket carrying one event or an NDJSON
// batch per text message.
//
// Every line goes through the same validation as telemetry.Decoder; valid
// events of one request or message go to the window stage as one Batch, or
// not at all: when the stage's queue stays full for EnqueueWait, the
// producer is told to come back (429 with Retry-After, or close code 1013)
// and nothing of that request counts, so a retry neither loses nor doubles
// anything. Handlers run on the HTTP server's goroutines; Close stops new
// work and waits for the handlers that may still send.
package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fleetpulse/shared/telemetry"
)

// Options configure ingest. Zero values take the defaults given.
type Options struct {
	// Tokens that may ingest; with none, ingest answers 403.
	Tokens *Tokens
	// MaxBody is the largest POST body and WebSocket message in bytes.
	// Defaults to 8 MiB.
	MaxBody int64
	// MaxLineBytes is the longest line. Defaults to 64 KiB.
	MaxLineBytes int
	// MaxLines is the most lines in one body or message. Defaults to
	// 100000.
	MaxLines int
	// MaxFuture and MaxAge bound event time against the clock. Default 1m
	// and 24h.
	MaxFuture, MaxAge time.Duration
	// EnqueueWait is how long a request waits for room in the window
	// stage's queue before it is refused. Defaults to 1s.
	EnqueueWait time.Duration
	// MaxConns caps WebSocket producers. Defaults to 1000.
	MaxConns int
	// Now is the clock for the time bounds. Defaults to time.Now.
	Now func() time.Time
	// Log gets one line per refused connection or failure, never a token.
	Log *slog.Logger
	// WAL, when set, makes the valid events of each request or message
	// durable before they go to the window stage: a 2xx (or no close)
	// then means they are on disk. An Append error refuses the request
	// (503 with Retry-After, close code 1013).
	WAL interface {
		Append(ctx context.Context, events []telemetry.Event) error
	}
}

// Reasons beyond those of telemetry.Decoder.
const (
	ReasonLineTooLong = "line_too_long"
)

// maxErrors is how many rejected lines an answer lists.
const maxErrors = 20

// maxInterned bounds the vehicle ids each decoder interns.
const maxInterned = 200_000

// Ingest serves the ingest endpoints. Create it with New.
type Ingest struct {
	opt Options
	out chan<- telemetry.Batch

	// decoders keeps a few long-lived decoders, whose interned ids make
	// decoding allocation-free; a sync.Pool would drop them at every GC.
	decoders chan *telemetry.Decoder

	// mu guards closing; senders hold it for reading while they send on
	// out, so that after Close no send can happen.
	mu      sync.RWMutex
	closing bool
	done    chan struct{}
	conns   sync.WaitGroup
	nconns  atomic.Int64

	accepted atomic.Int64
	rejected sync.Map // reason -> *atomic.Int64
	// pending holds rejected counts of requests that sent no events,
	// carried by the next batch.
	pending atomic.Int64
}

// New returns an Ingest that sends batches to out.
func New(out chan<- telemetry.Batch, opt Options) *Ingest {
	if opt.MaxBody <= 0 {
		opt.MaxBody = 8 << 20
	}
	if opt.MaxLineBytes <= 0 {
		opt.MaxLineBytes = 64 << 10
	}
	if opt.MaxLines <= 0 {
		opt.MaxLines = 100_000
	}
	if opt.MaxFuture <= 0 {
		opt.MaxFuture = time.Minute
	}
	if opt.MaxAge <= 0 {
		opt.MaxAge = 24 * time.Hour
	}
	if opt.EnqueueWait <= 0 {
		opt.EnqueueWait = time.Second
	}
	if opt.MaxConns <= 0 {
		opt.MaxConns = 1000
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	in := &Ingest{opt: opt, out: out, done: make(chan struct{}), decoders: make(chan *telemetry.Decoder, 2*runtime.GOMAXPROCS(0))}
	for _, r := range append(append([]string(nil), telemetry.Reasons...), ReasonLineTooLong) {
		in.rejected.Store(r, new(atomic.Int64))
	}
	return in
}

// Accepted returns how many lines passed validation and reached the stage.
func (in *Ingest) Accepted() int64 { return in.accepted.Load() }

// Rejected returns the rejected lines by reason.
func (in *Ingest) Rejected() map[string]int64 {
	m := make(map[string]int64)
	in.rejected.Range(func(k, v any) bool {
		m[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return m
}

// Close refuses new requests and connections (503, Going Away) and waits
// for every handler that may still send; afterwards nothing is sent on out.
func (in *Ingest) Close() {
	in.mu.Lock()
	if !in.closing {
		in.closing = true
		close(in.done)
	}
	in.mu.Unlock()
	in.conns.Wait()
}

// lineError is one rejected line of an answer.
type lineError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// result is what decoding one body or message gave.
type result struct {
	batch    telemetry.Batch
	rejected int
	errors   []lineError
	reasons  map[string]int
}

var errTooManyLines = errors.New("too many lines")

// decode validates every line of body, listing the first maxErrors
// rejected lines, or all with allErrors. Blank lines are skipped but count
// for line numbers; CRLF line ends are fine.
func (in *Ingest) decode(body []byte, allErrors bool) (result, error) {
	var d *telemetry.Decoder
	select {
	case d = <-in.decoders:
	default:
		d = telemetry.NewDecoder(maxInterned)
	}
	defer func() {
		select {
		case in.decoders <- d:
		default: // enough are kept
		}
	}()
	var res result
	res.batch.Events = make([]telemetry.Event, 0, min(bytes.Count(body, []byte{'\n'})+1, in.opt.MaxLines, 4096))
	nowMS := in.opt.Now().UnixMilli()
	reject := func(line int, reason string) {
		res.rejected++
		if allErrors || len(res.errors) < maxErrors {
			res.errors = append(res.errors, lineError{line, reason})
		}
		if res.reasons == nil {
			res.reasons = make(map[string]int)
		}
		res.reasons[reason]++
	}
	for n := 1; len(body) > 0; n++ {
		if n > in.opt.MaxLines {
			return res, errTooManyLines
		}
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if len(line) > in.opt.MaxLineBytes {
			reject(n, ReasonLineTooLong)
			continue
		}
		var e telemetry.Event
		reason := d.Decode(line, &e)
		if reason == "" {
			reason = telemetry.CheckTime(&e, nowMS, in.opt.MaxFuture, in.opt.MaxAge)
		}
		if reason != "" {
			reject(n, reason)
			continue
		}
		res.batch.Events = append(res.batch.Events, e)
	}
	return res, nil
}

// errBusy means the stage's queue stayed full; errClosing that ingest is
// shutting down.
var (
	errBusy    = errors.New("busy")
	errClosing = errors.New("closing")
	// errNotDurable means the write-ahead log could not take the events.
	errNotDurable = errors.New("not durable")
)

// send hands the valid events of res to the stage, waiting at most
// EnqueueWait, and counts res once it is sent.
func (in *Ingest) send(ctx context.Context, res *result) error {
	in.mu.RLock()
	defer in.mu.RUnlock()
	if in.closing {
		return errClosing
	}
	if in.opt.WAL != nil && len(res.batch.Events) > 0 {
		if err := in.opt.WAL.Append(ctx, res.batch.Events); err != nil {
			return errNotDurable // the log reports its own failures
		}
	}
	b := res.batch
	b.Rejected = int64(res.rejected) + in.pending.Swap(0)
	if len(b.Events) == 0 {
		// Only a count to deliver: never wait for it.
		select {
		case in.out <- b:
		default:
			in.pending.Add(b.Rejected)
		}
		in.count(res)
		return nil
	}
	select {
	case in.out <- b: // room at once: the common case
		in.count(res)
		return nil
	default:
	}
	t := time.NewTimer(in.opt.EnqueueWait)
	defer t.Stop()
	select {
	case in.out <- b:
		in.count(res)
		return nil
	case <-t.C:
		in.pending.Add(b.Rejected - int64(res.rejected))
		return errBusy
	case <-ctx.Done():
		in.pending.Add(b.Rejected - int64(res.rejected))
		return ctx.Err()
	}
}

func (in *Ingest) count(res *result) {
	in.accepted.Add(int64(len(res.batch.Events)))
	for reason, n := range res.reasons {
		if c, ok := in.rejected.Load(reason); ok {
			c.(*atomic.Int64).Add(int64(n))
		}
	}
}

// authorize checks the bearer token; it answers and returns false when the
// request may not ingest.
func (in *Ingest) authorize(w http.ResponseWriter, r *http.Request) bool {
	if !in.opt.Tokens.Enabled() {
		writeError(w, http.StatusForbidden, "ingest is not enabled on this server: start it with FLEETPULSE_INGEST_TOKEN set")
		return false
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !in.opt.Tokens.Valid(strings.TrimSpace(token)) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="fleetpulse ingest"`)
		writeError(w, http.StatusUnauthorized, "missing or invalid bearer token")
		return false
	}
	return true
}

// ServeHTTP serves POST /ingest.
func (in *Ingest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if in.isClosing() {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "server is shutting down")
		return
	}
	if !in.authorize(w, r) {
		return
	}
	if r.ContentLength > in.opt.MaxBody {
		writeError(w, http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(in.opt.MaxBody, 10)+" bytes")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, in.opt.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(in.opt.MaxBody, 10)+" bytes")
			return
		}
		writeError(w, http.StatusBadRequest, "could not read the body")
		return
	}
	res, err := in.decode(body, false)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "more than "+strconv.Itoa(in.opt.MaxLines)+" lines in one request")
		return
	}
	if res.rejected == 0 && len(res.batch.Events) == 0 {
		writeError(w, http.StatusBadRequest, "no events: the body is empty")
		return
	}
	switch err := in.send(r.Context(), &res); {
	case errors.Is(err, errBusy):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "the server is busy: nothing was accepted; retry after 1 s")
		return
	case errors.Is(err, errClosing):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "server is shutting down")
		return
	case errors.Is(err, errNotDurable):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "the events could not be written to the write-ahead log: nothing was accepted; retry")
		return
	case err != nil:
		// The request ended before its events were taken: say so,
		// should anyone still listen.
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "nothing was accepted; retry")
		return
	}
	a := answer{Accepted: len(res.batch.Events), Rejected: res.rejected, Errors: nonNil(res.errors)}
	status := http.StatusOK
	if a.Accepted == 0 {
		status, a.Error = http.StatusBadRequest, "no line passed validation"
	}
	writeJSON(w, status, a)
}

type answer struct {
	Accepted int         `json:"accepted"`
	Rejected int         `json:"rejected"`
	Errors   []lineError `json:"errors"`
	Error    string      `json:"error,omitempty"`
}

func nonNil(e []lineError) []lineError {
	if e == nil {
		return []lineError{}
	}
	return e
}

func (in *Ingest) isClosing() bool {
	in.mu.RLock()
	defer in.mu.RUnlock()
	return in.closing
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
