package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
)

// fakeIngest imitates a FleetPulse server's /ingest, POST and WebSocket,
// per the contract, and records what it receives.
type fakeIngest struct {
	t     *testing.T
	token string
	// refuse lists answers to give, in turn, before any batch is taken:
	// a status and a Retry-After value ("" for none).
	refuse []refusal
	// reject, when set, names the reason to reject line k (from 1) of a
	// batch, or "".
	reject func(k int, line []byte) string
	// busyAt lists WebSocket messages (counting from 1 over all
	// connections) that find the server busy: it closes with 1013 and
	// takes in neither that message nor any after it on the connection.
	busyAt []int

	mu       sync.Mutex
	messages int
	requests int
	bodies   [][]byte // every POST body and WebSocket message, in order
	auth     []string // the Authorization header of each request or handshake
	taken    int      // lines that passed
	keys     map[string]int
}

type refusal struct {
	code       int
	retryAfter string
}

func newFakeIngest(t *testing.T, token string) *fakeIngest {
	return &fakeIngest{t: t, token: token, keys: map[string]int{}}
}

func (f *fakeIngest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/ingest" {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	f.requests++
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	var ref *refusal
	if len(f.refuse) > 0 {
		ref = &f.refuse[0]
		f.refuse = f.refuse[1:]
	}
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
		return
	}
	if ref != nil {
		if ref.retryAfter != "" {
			w.Header().Set("Retry-After", ref.retryAfter)
		}
		writeJSON(w, ref.code, map[string]string{"error": "busy"})
		return
	}
	switch r.Method {
	case http.MethodPost:
		body, err := io.ReadAll(r.Body)
		if err != nil {
			f.t.Errorf("read body: %v", err)
			return
		}
		a := f.take(body)
		code := http.StatusOK
		if a.accepted == 0 {
			code = http.StatusBadRequest
		}
		writeJSON(w, code, map[string]any{"accepted": a.accepted, "rejected": len(a.errors), "errors": a.errors})
	case http.MethodGet:
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(16 << 20)
		for {
			_, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			f.mu.Lock()
			f.messages++
			busy := slices.Contains(f.busyAt, f.messages)
			f.mu.Unlock()
			if busy {
				c.Close(websocket.StatusTryAgainLater, "server busy: this message was not accepted; retry")
				return
			}
			for _, e := range f.take(msg).errors {
				b, _ := json.Marshal(e)
				if err := c.Write(r.Context(), websocket.MessageText, b); err != nil {
					return
				}
			}
		}
	default:
		http.Error(w, "method", http.StatusMethodNotAllowed)
	}
}

type lineError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

type taken struct {
	accepted int
	errors   []lineError
}

// take validates body line by line as the server would.
func (f *fakeIngest) take(body []byte) taken {
	var a taken
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bodies = append(f.bodies, bytes.Clone(body))
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for k := 1; sc.Scan(); k++ {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		e, err := checkEvent(line)
		reason := ""
		switch {
		case err != nil:
			reason = err.Error()
		case f.reject != nil:
			reason = f.reject(k, line)
		}
		if reason != "" {
			a.errors = append(a.errors, lineError{k, reason})
			continue
		}
		a.accepted++
		f.taken++
		f.keys[*e.VehicleID+"@"+strconv.FormatInt(*e.TS, 10)]++
	}
	return a
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// fakeClock is a clock that only waiting moves on.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	waits []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) wait(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.waits = append(c.waits, d)
	return nil
}

// runLoadgen runs loadgen against srv with a fake clock and returns its
// output.
func runLoadgen(t *testing.T, srv *httptest.Server, clock *fakeClock, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append([]string{"-url", srv.URL}, args...)
	err := run(t.Context(), args, func(k string) string { return env[k] }, &out, &errOut,
		deps{now: clock.now, wait: clock.wait, http: srv.Client()})
	t.Logf("loadgen %s:\n%s%s", strings.Join(args, " "), out.String(), errOut.String())
	return out.String(), err
}

var tokenEnv = map[string]string{"FLEETPULSE_INGEST_TOKEN": "s3cret"}

// field returns the value of a row of the summary table.
func field(t *testing.T, out, name string) string {
	t.Helper()
	for line := range strings.Lines(out) {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatalf("no %q in the summary:\n%s", name, out)
	return ""
}

func TestLoadgenSendsTheRequestedEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		transport string
		conns     int
	}{
		{"http", "http", 1},
		{"http, 3 conns", "http", 3},
		{"ws", "ws", 1},
		{"ws, 2 conns", "ws", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := newFakeIngest(t, "s3cret")
			srv := httptest.NewServer(fake)
			defer srv.Close()
			out, err := runLoadgen(t, srv, newFakeClock(), tokenEnv, "-transport", tt.transport,
				"-conns", strconv.Itoa(tt.conns), "-vehicles", "300", "-batch", "500", "-events", "2750", "-duration", "1h")
			if err != nil {
				t.Fatal(err)
			}
			srv.Close() // waits for the handlers
			if fake.taken != 2750 {
				t.Fatalf("server took %d events, want 2750", fake.taken)
			}
			for k, n := range fake.keys {
				if n > 1 {
					t.Fatalf("%s sent %d times", k, n)
				}
			}
			wantReqs := 6 // 5 × 500 + 250
			if tt.transport == "ws" {
				wantReqs = tt.conns // handshakes
			}
			if fake.requests != wantReqs {
				t.Errorf("%d requests, want %d", fake.requests, wantReqs)
			}
			for _, a := range fake.auth {
				if a != "Bearer s3cret" {
					t.Errorf("Authorization %q, want the token from the environment", a)
				}
			}
			unit := "requests"
			if tt.transport == "ws" {
				unit = "messages"
			}
			if got, want := field(t, out, "sent"), "2750 events in 6 "+unit; got != want {
				t.Errorf("sent %q, want %q", got, want)
			}
			if got := field(t, out, "accepted"); !strings.HasPrefix(got, "2750") {
				t.Errorf("accepted %q, want 2750", got)
			}
			if got := field(t, out, "errors"); got != "none" {
				t.Errorf("errors %q, want none", got)
			}
		})
	}
}

func TestLoadgenHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	fake := newFakeIngest(t, "s3cret")
	fake.refuse = []refusal{{429, "1"}, {503, "0"}, {429, "1"}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	clock := newFakeClock()
	out, err := runLoadgen(t, srv, clock, tokenEnv, "-events", "2000", "-batch", "1000", "-vehicles", "1000")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Duration{time.Second, 0, time.Second}, clock.waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.taken != 2000 {
		t.Fatalf("server took %d events, want 2000", fake.taken)
	}
	// The refused batch was not lost: it came again, unchanged.
	if len(fake.bodies) != 2 {
		t.Fatalf("%d bodies read, want 2 (refusals are answered before reading)", len(fake.bodies))
	}
	if fake.requests != 5 {
		t.Fatalf("%d requests, want 5", fake.requests)
	}
	if got, want := field(t, out, "errors"), "429: 2, 503: 1"; got != want {
		t.Errorf("errors %q, want %q", got, want)
	}
	if got, want := field(t, out, "retries"), "3, waited 2s"; got != want {
		t.Errorf("retries %q, want %q", got, want)
	}
	if got, want := field(t, out, "sent"), "2000 events in 5 requests"; got != want {
		t.Errorf("sent %q, want %q", got, want)
	}
}

func TestLoadgenResendsTheSameBatch(t *testing.T) {
	t.Parallel()
	// Each refusal reads the body first, to show the retry resends it.
	var mu sync.Mutex
	var bodies [][]byte
	refusals := 2
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, b)
		if refusals > 0 {
			refusals--
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "slow down"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"accepted": bytes.Count(b, []byte("\n")), "rejected": 0, "errors": []any{}})
	}))
	defer srv.Close()
	if _, err := runLoadgen(t, srv, newFakeClock(), nil, "-events", "10", "-batch", "10", "-vehicles", "10"); err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 3 || !bytes.Equal(bodies[0], bodies[1]) || !bytes.Equal(bodies[1], bodies[2]) {
		t.Fatalf("%d bodies; want the same batch three times", len(bodies))
	}
}

func TestLoadgenKeepsTheRate(t *testing.T) {
	t.Parallel()
	fake := newFakeIngest(t, "s3cret")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	clock := newFakeClock()
	out, err := runLoadgen(t, srv, clock, tokenEnv, "-rate", "2000", "-batch", "100", "-duration", "1s", "-vehicles", "100")
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	// 2000 events/s in batches of 100: one batch each 50 ms, the first at
	// once, none due at 1 s or later.
	if fake.taken != 2000 {
		t.Errorf("server took %d events in 1 s at 2000/s, want 2000", fake.taken)
	}
	var total time.Duration
	for _, w := range clock.waits {
		if w != 50*time.Millisecond {
			t.Errorf("waited %s, want 50ms between batches", w)
		}
		total += w
	}
	if total != 950*time.Millisecond {
		t.Errorf("waited %s in all, want 950ms", total)
	}
	if got := field(t, out, "accepted/s"); got != "2105" {
		t.Errorf("accepted/s %q, want 2105 (2000 in 950 ms)", got)
	}
}

func TestLoadgenReportsRejections(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"http", "ws"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			fake := newFakeIngest(t, "s3cret")
			fake.reject = func(k int, _ []byte) string {
				if k%10 == 3 {
					return "speed_kmh out of range"
				}
				return ""
			}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			out, err := runLoadgen(t, srv, newFakeClock(), tokenEnv, "-transport", transport, "-events", "200", "-batch", "100", "-vehicles", "100")
			if err != nil {
				t.Fatal(err)
			}
			if got := field(t, out, "rejected"); !strings.HasPrefix(got, "20") {
				t.Errorf("rejected %q, want 20", got)
			}
			if got := field(t, out, "accepted"); !strings.HasPrefix(got, "180") {
				t.Errorf("accepted %q, want 180", got)
			}
			if !strings.Contains(out, "  20× speed_kmh out of range (e.g. line 3 of a batch)") {
				t.Errorf("no rejection reason in the summary")
			}
		})
	}
}

func TestLoadgenWebSocketResendsWhatTheServerDidNotTake(t *testing.T) {
	t.Parallel()
	fake := newFakeIngest(t, "s3cret")
	fake.busyAt = []int{3, 4, 9}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	clock := newFakeClock()
	out, err := runLoadgen(t, srv, clock, tokenEnv, "-transport", "ws", "-events", "5000", "-batch", "500", "-vehicles", "500")
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	// Every event arrived, some twice (the server drops duplicates).
	if len(fake.keys) != 5000 {
		t.Fatalf("%d distinct events taken, want 5000", len(fake.keys))
	}
	if got := field(t, out, "sent"); got != "5000 events in 10 messages" {
		t.Errorf("sent %q, want 5000 events in 10 messages", got)
	}
	if got := field(t, out, "errors"); got != "ws close 1013: 3" {
		t.Errorf("errors %q, want ws close 1013: 3", got)
	}
	if len(clock.waits) != 3 {
		t.Errorf("waits %v, want a backoff after each 1013", clock.waits)
	}
}

func TestLoadgenWebSocketHandshakeRetry(t *testing.T) {
	t.Parallel()
	fake := newFakeIngest(t, "s3cret")
	fake.refuse = []refusal{{503, "1"}, {429, ""}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	clock := newFakeClock()
	out, err := runLoadgen(t, srv, clock, tokenEnv, "-transport", "ws", "-events", "100", "-batch", "100", "-vehicles", "10")
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	// Retry-After, then the second backoff: no Retry-After on the 429.
	if diff := cmp.Diff([]time.Duration{time.Second, 200 * time.Millisecond}, clock.waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if fake.taken != 100 {
		t.Errorf("server took %d events, want 100", fake.taken)
	}
	if got, want := field(t, out, "errors"), "429: 1, 503: 1"; got != want {
		t.Errorf("errors %q, want %q", got, want)
	}
}

func TestLoadgenStopsOnAnswersThatWillNotChange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		code      int
		transport string
		wantErr   string
	}{
		{"401", http.StatusUnauthorized, "http", "401 Unauthorized: the token does not match the server's: set -token or FLEETPULSE_INGEST_TOKEN"},
		{"401 ws", http.StatusUnauthorized, "ws", "WebSocket handshake: 401 Unauthorized"},
		{"403", http.StatusForbidden, "http", "403 Forbidden: ingest is not enabled on the server"},
		{"413", http.StatusRequestEntityTooLarge, "http", "413 Content Too Large: a batch of 50 events"},
		{"404", http.StatusNotFound, "http", "404 Not Found from http://"},
		{"404 ws", http.StatusNotFound, "ws", "404 Not Found from http://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			requests := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				requests++
				mu.Unlock()
				writeJSON(w, tt.code, map[string]string{"error": "no"})
			}))
			defer srv.Close()
			out, err := runLoadgen(t, srv, newFakeClock(), tokenEnv, "-transport", tt.transport, "-events", "500", "-batch", "50", "-vehicles", "50")
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), `(server: "no")`) {
				t.Errorf("error %q does not quote the server", err)
			}
			if requests != 1 {
				t.Errorf("%d requests, want 1: the answer will not change", requests)
			}
			if !strings.Contains(out, "sent") {
				t.Errorf("no summary on failure")
			}
		})
	}
}

func TestLoadgenUnreachableServer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens there now
	tests := []struct {
		duration, wantErr string
	}{
		// Backing off runs into -duration: nothing was taken.
		{"10s", "loadgen: the server took no batch (last: transport: "},
		// Backing off runs out of retries first.
		{"1h", "loadgen: connection 1: gave up on a batch after 20 retries (last: transport: "},
	}
	for _, tt := range tests {
		_, err := runLoadgen(t, srv, newFakeClock(), tokenEnv, "-duration", tt.duration, "-events", "10", "-batch", "10", "-vehicles", "10")
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("-duration %s: error %v, want %q…connection refused", tt.duration, err, tt.wantErr)
		}
	}
}

func TestLoadgenTokenFlagWins(t *testing.T) {
	t.Parallel()
	fake := newFakeIngest(t, "flag-token")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	if _, err := runLoadgen(t, srv, newFakeClock(), tokenEnv, "-token", "flag-token", "-events", "10", "-batch", "10", "-vehicles", "10"); err != nil {
		t.Fatal(err)
	}
}

func TestLoadgenStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	fake := newFakeIngest(t, "s3cret")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	clock := newFakeClock()
	waits := 0
	wait := func(ctx context.Context, d time.Duration) error {
		if waits++; waits == 5 {
			cancel()
		}
		return clock.wait(ctx, d)
	}
	var out bytes.Buffer
	err := run(ctx, []string{"-url", srv.URL, "-rate", "100", "-batch", "10", "-vehicles", "10"}, func(string) string { return "s3cret" },
		&out, io.Discard, deps{now: clock.now, wait: wait, http: srv.Client()})
	if err != nil {
		t.Fatalf("interrupted run: %v, want nil", err)
	}
	if !strings.Contains(out.String(), "stopped early: interrupted") || !strings.Contains(out.String(), "sent") {
		t.Fatalf("no summary of the interrupted run:\n%s", out.String())
	}
}

func TestLoadgenFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"-transport", "udp"}, `loadgen: -transport "udp": want http, ws or data`},
		{[]string{"-duration", "2h"}, "loadgen: -duration 2h0m0s: want more than 0 and at most 1h0m0s"},
		{[]string{"-duration", "0s"}, "loadgen: -duration 0s: want more than 0 and at most 1h0m0s"},
		{[]string{"-batch", "0"}, "loadgen: -batch 0: want 1 to 100000"},
		{[]string{"-conns", "0"}, "loadgen: -conns 0: want 1 to 256"},
		{[]string{"-vehicles", "0"}, "loadgen: -vehicles 0: want 1 to 1000000"},
		{[]string{"-vehicles", "2", "-conns", "3"}, "loadgen: -conns 3 exceeds -vehicles 2: each connection needs vehicles of its own"},
		{[]string{"-rate", "-1"}, "loadgen: -rate -1: want events per second, or 0 for as fast as possible"},
		{[]string{"-events", "-5"}, "loadgen: -events -5 must not be negative"},
		{[]string{"-url", "localhost:8080"}, `loadgen: -url "localhost:8080": want an http:// or https:// address`},
		{[]string{"-url", "ftp://example.com"}, `loadgen: -url "ftp://example.com": want an http:// or https:// address`},
		{[]string{"-url", "http://"}, `loadgen: -url "http://": want a server address such as http://localhost:8080`},
		{[]string{"extra"}, `loadgen: unexpected argument "extra"`},
		{[]string{"-subscribers", "10001"}, "loadgen: -subscribers 10001: want 0 to 10000"},
		{[]string{"-sub-vehicles", "1001"}, "loadgen: -sub-vehicles 1001: want 0 to 1000"},
		{[]string{"-slide", "500ms"}, "loadgen: -lateness, -slide and -sub-grace: want the server's settings (-slide at least 1s)"},
		{[]string{"-transport", "data", "-subscribers", "2"}, "loadgen: -subscribers needs events: use -transport http or ws"},
		{[]string{"-transport", "data", "-data-path", "data"}, `loadgen: -data-path "data": want a path such as /data?format=csv`},
		{[]string{"-nope"}, "flag provided but not defined: -nope"},
		{[]string{"-duration", "soon"}, `invalid value "soon" for flag -duration`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			err := run(t.Context(), tt.args, func(string) string { return "" }, io.Discard, io.Discard, deps{})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		t.Parallel()
		var errOut bytes.Buffer
		if err := run(t.Context(), []string{"-h"}, func(string) string { return "" }, io.Discard, &errOut, deps{}); err != nil {
			t.Fatalf("-h: %v", err)
		}
		if !strings.Contains(errOut.String(), "Usage: fleetpulse loadgen") {
			t.Fatalf("-h printed %q", errOut.String())
		}
	})
}

func TestIngestURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://localhost:8080":         "http://localhost:8080/ingest",
		"http://localhost:8080/":        "http://localhost:8080/ingest",
		"https://fp.example.com/ingest": "https://fp.example.com/ingest",
		"ws://localhost:8080":           "http://localhost:8080/ingest",
		"http://h/base/":                "http://h/base/ingest",
	} {
		if got, err := IngestURL(in); err != nil || got != want {
			t.Errorf("IngestURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC)
	tests := []struct {
		h    string
		want time.Duration
	}{
		{"0", 0},
		{"1", time.Second},
		{" 3 ", 3 * time.Second},
		{"-2", 0},
		{"7200", time.Minute},
		{"", 100 * time.Millisecond},
		{"soon", 100 * time.Millisecond},
		{now.Add(5 * time.Second).Format(http.TimeFormat), 5 * time.Second},
		{now.Add(-5 * time.Second).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.h, now, 0); got != tt.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tt.h, got, tt.want)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}} {
		got := h.quantile(tt.q)
		if diff := float64(got-tt.want) / float64(tt.want); diff < -0.03 || diff > 0.03 {
			t.Errorf("p%v = %s, want %s ± 3%%", tt.q*100, got, tt.want)
		}
	}
	var small histogram
	small.add(40 * time.Microsecond)
	if got := small.quantile(0.5); got != 40*time.Microsecond {
		t.Errorf("one sample of 40µs: p50 %s", got)
	}
}

func ExampleStats_Print() {
	s := NewStats()
	s.answer("200", 2*time.Millisecond)
	s.answer("429", time.Millisecond)
	s.retry(time.Second)
	s.answer("200", 4*time.Millisecond)
	s.took(2000, 1999, 1)
	s.reject(7, "lat out of range", false)
	s.Print(os.Stdout, 2*time.Second)
	// Output:
	// sent             2000 events in 3 requests
	// accepted         1999
	// rejected         1
	// errors           429: 1
	// retries          1, waited 1s
	// elapsed          2s
	// accepted/s       1000
	// request latency  p50 2ms, p99 4ms
	// rejection reasons (first 1; answers list at most 20 per batch):
	//   1× lat out of range (e.g. line 7 of a batch)
}
