package ingest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"fleetpulse/shared/telemetry"
)

const token = "test-token-0123456789"

var now = time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC)

func clock() time.Time { return now }

func line(id string, ts time.Time) string {
	return fmt.Sprintf(`{"vehicle_id":%q,"ts":%q,"lat":52.52,"lon":13.405,"speed_kmh":48.3}`, id, ts.Format(time.RFC3339Nano))
}

// newIngest serves an Ingest with a token over httptest; out has room for
// queue batches.
func newIngest(t testing.TB, queue int, opt Options) (*Ingest, *httptest.Server, chan telemetry.Batch) {
	t.Helper()
	if opt.Tokens == nil {
		tok, err := NewTokens(token, "", clock)
		if err != nil {
			t.Fatal(err)
		}
		opt.Tokens = tok
	}
	if opt.Now == nil {
		opt.Now = clock
	}
	out := make(chan telemetry.Batch, queue)
	in := New(out, opt)
	mux := http.NewServeMux()
	mux.Handle("POST /ingest", in)
	mux.HandleFunc("GET /ingest", in.ServeWS)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return in, srv, out
}

type reply struct {
	status int
	header http.Header
	answer answer
	raw    string
}

func post(t *testing.T, url, auth, body string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/ingest", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	json.Unmarshal(b, &r.answer)
	return r
}

func TestMixedBatchCountsAndLineNumbers(t *testing.T) {
	t.Parallel()
	in, srv, out := newIngest(t, 1, Options{MaxLineBytes: 300})
	body := strings.Join([]string{
		line("TRUCK-1", now),                    // 1 ok
		"",                                      // 2 blank: skipped, counted
		`{"vehicle_id":"TRUCK-1"`,               // 3 bad json
		line("bad id!", now),                    // 4
		line("TRUCK-2", now.Add(2*time.Minute)), // 5 future
		line("TRUCK-3", now.Add(-25*time.Hour)), // 6 too old
		line("TRUCK-4", now.Add(-time.Second)) + "\r", // 7 ok, CRLF
		`{"x":"` + strings.Repeat("a", 400) + `"}`,    // 8 too long
		"   ",                // 9 blank
		line("TRUCK-5", now), // 10 ok, no final newline
	}, "\n")
	r := post(t, srv.URL, "Bearer "+token, body)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	want := answer{Accepted: 3, Rejected: 5, Errors: []lineError{
		{3, telemetry.ReasonBadJSON}, {4, telemetry.ReasonBadVehicleID}, {5, telemetry.ReasonFuture},
		{6, telemetry.ReasonTooOld}, {8, ReasonLineTooLong},
	}}
	if diff := cmp.Diff(want, r.answer); diff != "" {
		t.Fatalf("answer (-want +got):\n%s", diff)
	}
	b := <-out
	if len(b.Events) != 3 || b.Rejected != 5 || b.Events[1].VehicleID != "TRUCK-4" {
		t.Fatalf("batch: %d events, %d rejected, second %q", len(b.Events), b.Rejected, b.Events[1].VehicleID)
	}
	if in.Accepted() != 3 || in.Rejected()[telemetry.ReasonBadJSON] != 1 || in.Rejected()[ReasonLineTooLong] != 1 {
		t.Fatalf("counters: accepted %d, rejected %v", in.Accepted(), in.Rejected())
	}
}

func TestStatuses(t *testing.T) {
	t.Parallel()
	noTokens, err := NewTokens("", "", clock)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat(line("TRUCK-1", now)+"\n", 200)
	for _, tc := range []struct {
		name   string
		opt    Options
		queue  int
		auth   string
		body   string
		status int
		want   string
	}{
		{"ingest off", Options{Tokens: noTokens}, 1, "Bearer " + token, line("A", now), 403, "not enabled"},
		{"no token", Options{}, 1, "", line("A", now), 401, "bearer token"},
		{"wrong token", Options{}, 1, "Bearer " + token + "x", line("A", now), 401, "bearer token"},
		{"basic auth", Options{}, 1, "Basic " + token, line("A", now), 401, "bearer token"},
		{"body too large", Options{MaxBody: 1000}, 1, "Bearer " + token, big, 413, "larger than 1000 bytes"},
		{"too many lines", Options{MaxLines: 10}, 1, "Bearer " + token, big, 413, "more than 10 lines"},
		{"empty body", Options{}, 1, "Bearer " + token, "\n\n", 400, "empty"},
		{"nothing valid", Options{}, 1, "Bearer " + token, "{}\n[]", 400, "no line passed"},
		{"queue full", Options{EnqueueWait: time.Millisecond}, 0, "Bearer " + token, line("A", now), 429, "busy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, srv, out := newIngest(t, tc.queue, tc.opt)
			r := post(t, srv.URL, tc.auth, tc.body)
			if r.status != tc.status || !strings.Contains(r.raw, tc.want) {
				t.Fatalf("got %d %s, want %d mentioning %q", r.status, r.raw, tc.status, tc.want)
			}
			if tc.status == 429 && r.header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			if tc.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tc.status != 400 && len(out) != 0 {
				t.Errorf("a refused request reached the stage")
			}
			if strings.Contains(r.raw, token) {
				t.Error("the answer echoes the token")
			}
		})
	}
}

func TestBusyRequestCountsNothing(t *testing.T) {
	t.Parallel()
	in, srv, out := newIngest(t, 1, Options{EnqueueWait: time.Millisecond})
	out <- telemetry.Batch{} // the queue is full
	body := line("A", now) + "\n{}"
	if r := post(t, srv.URL, "Bearer "+token, body); r.status != 429 {
		t.Fatalf("status %d, want 429", r.status)
	}
	if in.Accepted() != 0 || in.Rejected()[telemetry.ReasonMissingVehicleID] != 0 {
		t.Fatalf("a refused request was counted: %d accepted, %v", in.Accepted(), in.Rejected())
	}
	<-out // room again: the retry goes through and is counted once
	r := post(t, srv.URL, "Bearer "+token, body)
	if r.status != 200 || r.answer.Accepted != 1 || r.answer.Rejected != 1 {
		t.Fatalf("retry: %d %s", r.status, r.raw)
	}
	if b := <-out; len(b.Events) != 1 || b.Rejected != 1 {
		t.Fatalf("retry batch: %d events, %d rejected", len(b.Events), b.Rejected)
	}
	if in.Accepted() != 1 || in.Rejected()[telemetry.ReasonMissingVehicleID] != 1 {
		t.Fatalf("after the retry: %d accepted, %v", in.Accepted(), in.Rejected())
	}
}

func TestCloseRefusesAndStopsSending(t *testing.T) {
	t.Parallel()
	in, srv, out := newIngest(t, 4, Options{})
	in.Close()
	r := post(t, srv.URL, "Bearer "+token, line("A", now))
	if r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Fatalf("after Close: %d %s, want 503 with Retry-After", r.status, r.raw)
	}
	if len(out) != 0 {
		t.Fatal("sent after Close")
	}
}

func dialIngest(t *testing.T, url string, auth string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if auth != "" {
		h.Set("Authorization", auth)
	}
	return websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(url, "http")+"/ingest", &websocket.DialOptions{HTTPHeader: h})
}

func TestWebSocketIngest(t *testing.T) {
	t.Parallel()
	in, srv, out := newIngest(t, 4, Options{})
	if _, resp, err := dialIngest(t, srv.URL, "Bearer nope-nope-nope-nope"); err == nil || resp.StatusCode != 401 {
		t.Fatalf("bad token: %v %v, want 401", err, resp)
	}
	c, _, err := dialIngest(t, srv.URL, "Bearer "+token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	// One event per message, then a batch with two bad lines.
	if err := c.Write(t.Context(), websocket.MessageText, []byte(line("VAN-1", now))); err != nil {
		t.Fatal(err)
	}
	if b := <-out; len(b.Events) != 1 || b.Events[0].VehicleID != "VAN-1" {
		t.Fatalf("first message: %+v", b)
	}
	batch := line("VAN-2", now) + "\n" + `{"vehicle_id":"VAN-3"}` + "\n" + line("VAN-4", now) + "\nnot json\n"
	if err := c.Write(t.Context(), websocket.MessageText, []byte(batch)); err != nil {
		t.Fatal(err)
	}
	if b := <-out; len(b.Events) != 2 || b.Rejected != 2 {
		t.Fatalf("batch: %d events, %d rejected", len(b.Events), b.Rejected)
	}
	var got []lineError
	for range 2 {
		_, msg, err := c.Read(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var e lineError
		if err := json.Unmarshal(msg, &e); err != nil {
			t.Fatalf("%q: %v", msg, err)
		}
		got = append(got, e)
	}
	want := []lineError{{2, telemetry.ReasonMissingTS}, {4, telemetry.ReasonBadJSON}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("rejections (-want +got):\n%s", diff)
	}
	// Shutting down closes producers with Going Away.
	in.Close()
	_, _, err = c.Read(t.Context())
	if s := websocket.CloseStatus(err); s != websocket.StatusGoingAway {
		t.Fatalf("after Close: %v (%v), want 1001", s, err)
	}
}

func TestWebSocketBusyClosesWith1013(t *testing.T) {
	t.Parallel()
	_, srv, _ := newIngest(t, 0, Options{EnqueueWait: time.Millisecond})
	c, _, err := dialIngest(t, srv.URL, "Bearer "+token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.Write(t.Context(), websocket.MessageText, []byte(line("VAN-1", now)))
	_, _, err = c.Read(t.Context())
	if s := websocket.CloseStatus(err); s != websocket.StatusTryAgainLater {
		t.Fatalf("close %v (%v), want 1013", s, err)
	}
}

func TestTokenFileRotates(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tokens")
	old, next := "old-token-0123456789", "new-token-0123456789"
	if err := os.WriteFile(path, []byte("# producers\n"+old+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clk := now
	tok, err := NewTokens("", path, func() time.Time { return clk })
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Valid(old) || tok.Valid(next) || tok.Valid("") {
		t.Fatal("initial tokens wrong")
	}
	if err := os.WriteFile(path, []byte(next+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, now.Add(time.Hour), now.Add(time.Hour))
	clk = clk.Add(2 * time.Second)
	if tok.Valid(old) || !tok.Valid(next) {
		t.Fatal("rotation not picked up")
	}
	if _, err := NewTokens("short", "", clock); err == nil {
		t.Fatal("a short token was accepted")
	}
	if _, err := NewTokens("", filepath.Join(t.TempDir(), "missing"), clock); err == nil {
		t.Fatal("a missing token file was accepted")
	}
}
