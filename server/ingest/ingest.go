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
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
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
	// Limit is the rate each token may ingest at; zero fields mean no
	// limit. A request over it gets 429 with Retry-After (a WebSocket
	// message, close code 1013) and counts nothing.
	Limit Limit
	// OriginPatterns are the browser Origin hosts (path.Match patterns,
	// such as *.example.com) that may open WebSocket /ingest. Producers
	// are not browsers: by default every request with an Origin header
	// is refused, same-origin pages too.
	OriginPatterns []string
	// Log gets one line per refused connection or failure, never a token;
	// refusals are logged at most RefusalLogsPerSecond a second, with a
	// count of those left out.
	Log *slog.Logger
	// Sink, when set, takes each batch instead of the window stage's
	// queue, and the producer gets its answer only after Sink returns:
	// a scaled-out ingest node writes the events to Kafka there and
	// answers 2xx once they are acknowledged. It must honour ctx.
	Sink func(ctx context.Context, b telemetry.Batch) error
	// SinkTimeout bounds one Sink call. Defaults to 10s.
	SinkTimeout time.Duration
	// WAL, when set, makes the valid events of each request or message
	// durable before they go to the window stage: a 2xx (or no close)
	// then means they are on disk. An Append error refuses the request
	// (503 with Retry-After, close code 1013).
	WAL interface {
		Append(ctx context.Context, events []telemetry.Event) error
	}
}

// RefusalLogsPerSecond bounds the log lines about refused requests, so that
// a flood of bad requests cannot flood the log.
const RefusalLogsPerSecond = 10

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

	lim     *limiter
	csrf    *http.CrossOriginProtection
	refusal logSampler

	accepted    atomic.Int64
	rateLimited atomic.Int64
	rejected    sync.Map // reason -> *atomic.Int64
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
	if opt.SinkTimeout <= 0 {
		opt.SinkTimeout = 10 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	in := &Ingest{
		opt: opt, out: out, done: make(chan struct{}), decoders: make(chan *telemetry.Decoder, 2*runtime.GOMAXPROCS(0)),
		lim: newLimiter(opt.Limit, opt.Now), csrf: http.NewCrossOriginProtection(),
	}
	in.refusal.now = opt.Now
	for _, r := range append(append([]string(nil), telemetry.Reasons...), ReasonLineTooLong) {
		in.rejected.Store(r, new(atomic.Int64))
	}
	return in
}

// Accepted returns how many lines passed validation and reached the stage.
func (in *Ingest) Accepted() int64 { return in.accepted.Load() }

// RateLimited returns how many requests and WebSocket messages were refused
// for going over the rate limit of their token.
func (in *Ingest) RateLimited() int64 { return in.rateLimited.Load() }

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
	res.batch.Events = getEvents(min(bytes.Count(body, []byte{'\n'})+1, in.opt.MaxLines, 4096))
	res.batch.Recycle = putEvents
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
		// Decode in place: an Event is 64 bytes, not worth copying.
		res.batch.Events = append(res.batch.Events, telemetry.Event{})
		e := &res.batch.Events[len(res.batch.Events)-1]
		reason := d.Decode(line, e)
		if reason == "" {
			reason = telemetry.CheckTime(e, nowMS, in.opt.MaxFuture, in.opt.MaxAge)
		}
		if reason != "" {
			res.batch.Events = res.batch.Events[:len(res.batch.Events)-1]
			reject(n, reason)
			continue
		}
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
	if in.opt.Sink != nil {
		return in.sink(ctx, res)
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

// errSink: the sink did not take every event of a batch.
var errSink = errors.New("sink failed")

// sink hands the valid events of res to the Sink and counts res once the
// Sink has taken them. Rejected lines are counted by ingest only: the Sink
// carries events.
func (in *Ingest) sink(ctx context.Context, res *result) error {
	if len(res.batch.Events) > 0 {
		sctx, cancel := context.WithTimeout(ctx, in.opt.SinkTimeout)
		err := in.opt.Sink(sctx, res.batch)
		cancel()
		if err != nil {
			in.opt.Log.Warn("ingest sink failed", "err", err)
			return errSink
		}
	}
	in.count(res)
	return nil
}

func (in *Ingest) count(res *result) {
	in.accepted.Add(int64(len(res.batch.Events)))
	for reason, n := range res.reasons {
		if c, ok := in.rejected.Load(reason); ok {
			c.(*atomic.Int64).Add(int64(n))
		}
	}
}

// tokenKey identifies a token without holding it.
type tokenKey = [sha256.Size]byte

// authorize checks the bearer token and the rate limit's first gate; it
// answers and returns false when the request may not ingest. Only the
// Authorization header carries the token: never a cookie, never the query.
func (in *Ingest) authorize(w http.ResponseWriter, r *http.Request) (tokenKey, bool) {
	if !in.opt.Tokens.Enabled() {
		in.refused(r, "ingest not enabled")
		writeError(w, http.StatusForbidden, "ingest is not enabled on this server: start it with FLEETPULSE_INGEST_TOKEN set")
		return tokenKey{}, false
	}
	token, ok := bearer(r.Header.Get("Authorization"))
	key, valid := in.opt.Tokens.Key(token)
	if !ok || !valid {
		in.refused(r, "missing or invalid token")
		w.Header().Set("WWW-Authenticate", `Bearer realm="fleetpulse ingest"`)
		writeError(w, http.StatusUnauthorized, "missing or invalid bearer token")
		return key, false
	}
	if d := in.lim.check(key); d > 0 {
		in.tooFast(w, r, d)
		return key, false
	}
	return key, true
}

// bearer returns the token of an Authorization header value; the scheme
// is case-insensitive (RFC 9110).
func bearer(h string) (string, bool) {
	const scheme = "bearer "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimSpace(h[len(scheme):]), true
}

// tooFast answers a request over its token's rate limit.
func (in *Ingest) tooFast(w http.ResponseWriter, r *http.Request, d time.Duration) {
	in.rateLimited.Add(1)
	in.refused(r, "rate limited")
	secs := retryAfter(d)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, http.StatusTooManyRequests, "over this token's ingest rate limit: nothing was accepted; retry after "+strconv.Itoa(secs)+" s")
}

// refused logs a refused request: never its token, and at most
// RefusalLogsPerSecond lines a second. slog escapes the client's text.
func (in *Ingest) refused(r *http.Request, reason string) {
	if n, ok := in.refusal.allow(); ok {
		in.opt.Log.Warn("ingest refused", "reason", reason, "remote", r.RemoteAddr, "method", r.Method,
			"path", clip(r.URL.Path), "user_agent", clip(r.UserAgent()), "suppressed", n)
	}
}

// clip bounds client text in a log line.
func clip(s string) string {
	const n = 200
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// logSampler allows RefusalLogsPerSecond lines in each second and counts
// the rest.
type logSampler struct {
	now        func() time.Time
	mu         sync.Mutex
	second     int64
	n          int
	suppressed int64
}

// allow reports whether to log now, and how many lines were left out
// since the last one logged.
func (l *logSampler) allow() (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.now().Unix(); s != l.second {
		l.second, l.n = s, 0
	}
	if l.n >= RefusalLogsPerSecond {
		l.suppressed++
		return 0, false
	}
	l.n++
	n := l.suppressed
	l.suppressed = 0
	return n, true
}

// ServeHTTP serves POST /ingest.
func (in *Ingest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if in.isClosing() {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "server is shutting down")
		return
	}
	if err := in.csrf.Check(r); err != nil {
		// A browser page of another site: producers are not browsers.
		in.refused(r, "cross-origin browser request")
		writeError(w, http.StatusForbidden, "cross-origin browser requests may not ingest")
		return
	}
	key, ok := in.authorize(w, r)
	if !ok {
		return
	}
	if r.ContentLength > in.opt.MaxBody {
		writeError(w, http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(in.opt.MaxBody, 10)+" bytes")
		return
	}
	// Room for the whole body at once when its length is known; +1 lets
	// the read that sees the end need no growing.
	buf := getBody(min(r.ContentLength, in.opt.MaxBody) + 1)
	defer putBody(buf)
	body, err := readAll(http.MaxBytesReader(w, r.Body, in.opt.MaxBody), buf)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(in.opt.MaxBody, 10)+" bytes")
			return
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			// A slow client: -read-timeout passed before the body ended.
			writeError(w, http.StatusRequestTimeout, "the body did not arrive in time: nothing was accepted")
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
	if d := in.lim.reserve(key, len(res.batch.Events)); d > 0 {
		in.tooFast(w, r, d)
		return
	}
	err = in.send(r.Context(), &res)
	if err != nil {
		in.lim.refund(key, len(res.batch.Events))
	}
	switch {
	case errors.Is(err, errBusy):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "the server is busy: nothing was accepted; retry after 1 s")
		return
	case errors.Is(err, errClosing):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "server is shutting down")
		return
	case errors.Is(err, errSink):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "the events could not all be stored; retry: an event stored twice counts once while its window is open")
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
