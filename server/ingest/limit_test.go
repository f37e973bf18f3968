package ingest

import (
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"fleetpulse/shared/telemetry"
)

// fakeClock is a clock that tests move by hand; handlers read it on the
// server's goroutines.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func lines(n int, id string) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(line(id, now.Add(time.Duration(i)*time.Millisecond)))
		b.WriteByte('\n')
	}
	return b.String()
}

func TestRateLimitEventsPerToken(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: now}
	in, srv, out := newIngest(t, 16, Options{Now: clk.now, Limit: Limit{EventsPerSecond: 10}})
	auth := "Bearer " + token
	if r := post(t, srv.URL, auth, lines(10, "A")); r.status != 200 || r.answer.Accepted != 10 {
		t.Fatalf("within the limit: %d %s", r.status, r.raw)
	}
	r := post(t, srv.URL, auth, lines(1, "B"))
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "1" {
		t.Fatalf("over the limit: %d Retry-After %q %s, want 429 with Retry-After 1", r.status, r.header.Get("Retry-After"), r.raw)
	}
	if in.Accepted() != 10 || len(out) != 1 || in.RateLimited() != 1 {
		t.Fatalf("the refused request counted: accepted %d, batches %d, rate limited %d", in.Accepted(), len(out), in.RateLimited())
	}
	// Half a second refills five events.
	clk.advance(500 * time.Millisecond)
	if r := post(t, srv.URL, auth, lines(5, "C")); r.status != 200 {
		t.Fatalf("after refill: %d %s", r.status, r.raw)
	}
	// A request larger than the bucket passes when it is full and leaves
	// it in debt: 25 events at 10/s, then 1 event needs (1+15)/10 s.
	clk.advance(time.Second)
	if r := post(t, srv.URL, auth, lines(25, "D")); r.status != 200 || r.answer.Accepted != 25 {
		t.Fatalf("large request on a full bucket: %d %s", r.status, r.raw)
	}
	if r := post(t, srv.URL, auth, lines(1, "E")); r.status != 429 || r.header.Get("Retry-After") != "2" {
		t.Fatalf("in debt: %d Retry-After %q, want 429 after 2", r.status, r.header.Get("Retry-After"))
	}
	clk.advance(1600 * time.Millisecond)
	if r := post(t, srv.URL, auth, lines(1, "E")); r.status != 200 {
		t.Fatalf("debt paid: %d %s", r.status, r.raw)
	}
	if got := in.Accepted(); got != 41 {
		t.Fatalf("accepted %d, want 41", got)
	}
}

func TestRateLimitRequestsIsPerToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	other := "other-token-0123456789"
	path := dir + "/tokens"
	writeFile(t, path, token+"\n"+other+"\n")
	tok, err := NewTokens("", path, clock)
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: now}
	_, srv, _ := newIngest(t, 16, Options{Tokens: tok, Now: clk.now, Limit: Limit{RequestsPerSecond: 2}})
	for i := range 2 {
		if r := post(t, srv.URL, "Bearer "+token, lines(1, "A")); r.status != 200 {
			t.Fatalf("request %d: %d %s", i, r.status, r.raw)
		}
	}
	if r := post(t, srv.URL, "Bearer "+token, lines(1, "A")); r.status != 429 {
		t.Fatalf("third request: %d, want 429", r.status)
	}
	if r := post(t, srv.URL, "Bearer "+other, lines(1, "A")); r.status != 200 {
		t.Fatalf("another token was limited too: %d %s", r.status, r.raw)
	}
	// A bad token is refused as such, never as rate limited.
	if r := post(t, srv.URL, "Bearer not-a-token-0123456789", lines(1, "A")); r.status != 401 {
		t.Fatalf("bad token: %d, want 401", r.status)
	}
}

func TestRefusedRequestDoesNotSpendTheRate(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: now}
	in, srv, out := newIngest(t, 1, Options{Now: clk.now, EnqueueWait: time.Millisecond, Limit: Limit{EventsPerSecond: 10, RequestsPerSecond: 1}})
	out <- telemetry.Batch{} // the queue is full: the request is refused after its reservation
	if r := post(t, srv.URL, "Bearer "+token, lines(10, "A")); r.status != 429 || !strings.Contains(r.raw, "busy") {
		t.Fatalf("busy: %d %s", r.status, r.raw)
	}
	<-out
	// Without the refund both buckets would be empty now.
	if r := post(t, srv.URL, "Bearer "+token, lines(10, "A")); r.status != 200 || r.answer.Accepted != 10 {
		t.Fatalf("retry: %d %s", r.status, r.raw)
	}
	if in.Accepted() != 10 || in.RateLimited() != 0 {
		t.Fatalf("accepted %d, rate limited %d", in.Accepted(), in.RateLimited())
	}
}

func TestWebSocketRateLimitClosesWith1013(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: now}
	in, srv, out := newIngest(t, 16, Options{Now: clk.now, Limit: Limit{EventsPerSecond: 5}})
	c, _, err := dialIngest(t, srv.URL, "Bearer "+token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.Write(t.Context(), websocket.MessageText, []byte(lines(5, "A")))
	if b := <-out; len(b.Events) != 5 {
		t.Fatalf("first message: %d events", len(b.Events))
	}
	c.Write(t.Context(), websocket.MessageText, []byte(lines(1, "B")))
	_, _, err = c.Read(t.Context())
	if s := websocket.CloseStatus(err); s != websocket.StatusTryAgainLater || !strings.Contains(err.Error(), "rate limit") {
		t.Fatalf("close %v (%v), want 1013 for the rate limit", s, err)
	}
	if in.Accepted() != 5 || len(out) != 0 {
		t.Fatalf("the refused message counted: accepted %d, batches queued %d", in.Accepted(), len(out))
	}
}

func TestIngestRefusesBrowsers(t *testing.T) {
	t.Parallel()
	_, srv, out := newIngest(t, 16, Options{OriginPatterns: []string{"producer.example.com"}})
	post := func(h map[string]string) int {
		req, _ := http.NewRequest("POST", srv.URL+"/ingest", strings.NewReader(lines(1, "A")))
		req.Header.Set("Authorization", "Bearer "+token)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"no browser", nil, 200},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same-site fetch", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"foreign origin", map[string]string{"Origin": "https://evil.example"}, 403},
		{"same origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
	} {
		if got := post(tc.header); got != tc.want {
			t.Errorf("POST %s: %d, want %d", tc.name, got, tc.want)
		}
	}
	for range 2 {
		<-out
	}
	dial := func(origin string) int {
		h := http.Header{"Authorization": {"Bearer " + token}}
		if origin != "" {
			h.Set("Origin", origin)
		}
		c, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/ingest", &websocket.DialOptions{HTTPHeader: h})
		if err == nil {
			c.CloseNow()
			return resp.StatusCode
		}
		if resp == nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	for _, tc := range []struct {
		origin string
		want   int
	}{
		{"", 101},
		{"https://evil.example", 403},
		{srv.URL, 403}, // same origin: still a browser
		{"https://producer.example.com", 101},
		{"null", 403},
	} {
		if got := dial(tc.origin); got != tc.want {
			t.Errorf("WebSocket from origin %q: %d, want %d", tc.origin, got, tc.want)
		}
	}
}

func TestRefusalsAreLoggedWithoutTokensAndBounded(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	clk := &fakeClock{t: now}
	_, srv, _ := newIngest(t, 16, Options{Now: clk.now, Log: slog.New(slog.NewJSONHandler(&buf, nil))})
	bad := "Bearer wrong-secret-0123456789"
	for range RefusalLogsPerSecond + 5 {
		post(t, srv.URL, bad, lines(1, "A"))
	}
	clk.advance(time.Second)
	post(t, srv.URL, bad, lines(1, "A"))
	logs := buf.String()
	if strings.Contains(logs, "wrong-secret") || strings.Contains(logs, token) {
		t.Fatalf("a token reached the log:\n%s", logs)
	}
	if n := strings.Count(logs, `"msg":"ingest refused"`); n != RefusalLogsPerSecond+1 {
		t.Fatalf("%d refusal lines, want %d:\n%s", n, RefusalLogsPerSecond+1, logs)
	}
	if !strings.Contains(logs, `"suppressed":5`) {
		t.Fatalf("the count of lines left out is missing:\n%s", logs)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
