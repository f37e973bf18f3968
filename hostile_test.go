package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"fleetpulse/shared/wire"
)

// hostileArgs start a server with small limits, so that each can be hit
// cheaply: the slow-client cases wait on the real clock for at most two
// seconds, and only for the connection to be closed. The read timeout
// leaves a slow machine room to read the 64 KiB bodies of the other cases.
var hostileArgs = []string{
	"-vehicles", "2", "-max-body", "64KiB", "-max-header-bytes", "8KiB",
	"-read-header-timeout", "300ms", "-read-timeout", "2s", "-max-subscribers", "2",
	"-log-format", "json",
}

// rawResponse writes raw to the server byte for byte (no client
// normalises it) and reads one response.
func rawResponse(t *testing.T, addr, raw string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A bound so that a broken server fails the test rather than hangs it.
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no response to %.80q: %v", raw, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func hostAddr(t *testing.T, s *server) string {
	t.Helper()
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// TestHostileRequests sends requests a stranger might, over real HTTP to
// the real server, and checks each answer's status: never a 5xx but for
// the documented 503 of a full server.
func TestHostileRequests(t *testing.T) {
	s := startServerEnv(t, map[string]string{"FLEETPULSE_INGEST_TOKEN": testToken}, hostileArgs...)
	addr := hostAddr(t, s)
	event := fmt.Sprintf(`{"vehicle_id":"H-1","ts":%d,"lat":1,"lon":2,"speed_kmh":3}`, time.Now().UnixMilli())
	req := func(method, target string, header []string, body string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, addr)
		for _, h := range header {
			b.WriteString(h + "\r\n")
		}
		if body != "" {
			fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
		}
		b.WriteString("\r\n" + body)
		return b.String()
	}
	auth := "Authorization: Bearer " + testToken
	big := strings.Repeat(event+"\n", 65<<10/len(event)+1)
	chunked := func(body string) string {
		return fmt.Sprintf("POST /ingest HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", addr, auth, len(body), body)
	}
	manyIDs := "/data?" + strings.Repeat("vehicle_id&", 1001) // within 8 KiB

	tests := []struct {
		name string
		raw  string
		want int
		// notInBody must not appear in the answer.
		notInBody string
	}{
		// Bodies.
		{"body over -max-body by Content-Length", req("POST", "/ingest", []string{auth}, big), 413, ""},
		{"body over -max-body, chunked", chunked(big), 413, ""},
		{"claimed Content-Length beyond the limit, no body", fmt.Sprintf("POST /ingest HTTP/1.1\r\nHost: %s\r\n%s\r\nContent-Length: 1099511627776\r\n\r\n", addr, auth), 413, ""},
		{"empty body", req("POST", "/ingest", []string{auth, "Content-Length: 0"}, ""), 400, ""},
		{"invalid UTF-8 body", req("POST", "/ingest", []string{auth}, "{\"vehicle_id\":\"\xff\xfe\"}\n"), 400, ""},
		{"wrong content type, HTML body", req("POST", "/ingest", []string{auth, "Content-Type: text/html"}, "<script>alert(1)</script>"), 400, "<script>"},
		{"gzip body not decoded", req("POST", "/ingest", []string{auth, "Content-Encoding: gzip"}, "\x1f\x8b\x08\x00garbage"), 400, ""},
		{"negative Content-Length", fmt.Sprintf("POST /ingest HTTP/1.1\r\nHost: %s\r\nContent-Length: -1\r\n\r\n", addr), 400, ""},
		{"two Content-Lengths", fmt.Sprintf("POST /ingest HTTP/1.1\r\nHost: %s\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", addr), 400, ""},
		// With both, chunked wins and Content-Length is dropped (RFC 9112
		// 6.3), so no second request can hide in the body.
		{"Content-Length with Transfer-Encoding", fmt.Sprintf("POST /ingest HTTP/1.1\r\nHost: %s\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", addr), 401, ""},
		{"unknown Transfer-Encoding", fmt.Sprintf("POST /ingest HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: gzip\r\n\r\n", addr), 501, ""},
		// Tokens.
		{"no token", req("POST", "/ingest", nil, event), 401, ""},
		{"empty bearer", req("POST", "/ingest", []string{"Authorization: Bearer "}, event), 401, ""},
		{"scheme only", req("POST", "/ingest", []string{"Authorization: Bearer"}, event), 401, ""},
		{"partial token", req("POST", "/ingest", []string{"Authorization: Bearer " + testToken[:10]}, event), 401, ""},
		{"token with a suffix", req("POST", "/ingest", []string{auth + "x"}, event), 401, ""},
		{"token twice", req("POST", "/ingest", []string{auth + " " + testToken}, event), 401, ""},
		{"basic auth", req("POST", "/ingest", []string{"Authorization: Basic dXNlcjpwYXNz"}, event), 401, ""},
		{"token in the query", req("POST", "/ingest?token="+testToken+"&access_token="+testToken, nil, event), 401, ""},
		{"token in a cookie", req("POST", "/ingest", []string{"Cookie: token=" + testToken + "; Authorization=Bearer%20" + testToken}, event), 401, ""},
		{"lower-case scheme is fine", req("POST", "/ingest", []string{"Authorization: bearer " + testToken}, event), 200, ""},
		{"cross-site browser POST", req("POST", "/ingest", []string{auth, "Sec-Fetch-Site: cross-site"}, event), 403, ""},
		{"foreign Origin POST", req("POST", "/ingest", []string{auth, "Origin: https://evil.example"}, event), 403, ""},
		// Parameters.
		{"unknown parameter", req("GET", "/data?vehicle=1", nil, ""), 400, ""},
		{"format twice", req("GET", "/data?format=csv&format=json", nil, ""), 400, ""},
		{"bad format", req("GET", "/data?format=xml", nil, ""), 400, ""},
		{"vehicle id with a newline", req("GET", "/data?vehicle_id=A%0AB", nil, ""), 400, ""},
		{"vehicle id with a formula", req("GET", "/data?vehicle_id=%3DHYPERLINK(1)", nil, ""), 400, "HYPERLINK"},
		{"too many vehicle ids", req("GET", manyIDs, nil, ""), 400, ""},
		{"empty vehicle id", req("GET", "/data?vehicle_id=", nil, ""), 400, ""},
		{"history from not a time", req("GET", "/data/history?from=yesterday", nil, ""), 400, ""},
		{"history to before from", req("GET", "/data/history?from=2026-11-27T05:00:00Z&to=2026-11-27T04:00:00Z", nil, ""), 400, ""},
		{"history from without a zone", req("GET", "/data/history?from=2026-11-27T05:00:00", nil, ""), 400, ""},
		{"fleet since out of range", req("GET", "/data/fleet?since=2026-13-45T99:00:00Z", nil, ""), 400, ""},
		{"bad query escape", req("GET", "/data?vehicle_id=%zz", nil, ""), 400, ""},
		{"bad query escape on /ws", req("GET", "/ws?since_seq=1%", nil, ""), 400, ""},
		{"since_seq negative", req("GET", "/ws?since_seq=-1", nil, ""), 400, ""},
		{"since_seq overflow", req("GET", "/ws?since_seq=99999999999999999999999", nil, ""), 400, ""},
		{"since_seq twice", req("GET", "/ws?since_seq=1&since_seq=2", nil, ""), 400, ""},
		// Paths.
		// The mux redirects to the cleaned path, which is a 404.
		{"dot-dot path", req("GET", "/../../../../etc/passwd", nil, ""), 307, "root:"},
		{"cleaned dot-dot path", req("GET", "/etc/passwd", nil, ""), 404, "root:"},
		{"dot-dot below web", req("GET", "/web/../../go.mod", nil, ""), 307, "module fleetpulse"},
		{"cleaned dot-dot below web", req("GET", "/go.mod", nil, ""), 404, "module fleetpulse"},
		{"encoded dot-dot", req("GET", "/web/%2e%2e/%2e%2e/go.mod", nil, ""), 404, "module fleetpulse"},
		{"encoded slash dot-dot", req("GET", "/web/..%2f..%2fgo.mod", nil, ""), 404, "module fleetpulse"},
		{"double slash", req("GET", "//data", nil, ""), 307, ""},
		{"encoded NUL", req("GET", "/web/app.wasm%00.txt", nil, ""), 404, ""},
		{"encoded NUL in an API path", req("GET", "/data%00", nil, ""), 404, ""},
		{"backslashes", req("GET", "/web\\..\\..\\go.mod", nil, ""), 404, "module fleetpulse"},
		{"long path within the header limit", req("GET", "/"+strings.Repeat("a", 6<<10), nil, ""), 404, ""},
		{"path beyond the header limit", req("GET", "/"+strings.Repeat("a", 16<<10), nil, ""), 431, ""},
		{"absolute-form target", req("GET", "http://evil.example/data", nil, ""), 200, ""},
		// Headers.
		{"huge header", req("GET", "/healthz", []string{"X-Big: " + strings.Repeat("b", 16<<10)}, ""), 431, ""},
		{"many headers", req("GET", "/healthz", strings.Split(strings.Repeat("X-A: 1\n", 3000), "\n")[:3000], ""), 431, ""},
		{"no Host", "GET /healthz HTTP/1.1\r\n\r\n", 400, ""},
		{"NUL in a header", req("GET", "/healthz", []string{"X-A: a\x00b"}, ""), 400, ""},
		{"space in a header name", req("GET", "/healthz", []string{"X A: 1"}, ""), 400, ""},
		{"garbage request line", "HELLO\r\n\r\n", 400, ""},
		{"unknown HTTP version", "GET / HTTP/7.0\r\nHost: x\r\n\r\n", 505, ""},
		// Methods.
		{"DELETE /data", req("DELETE", "/data", nil, ""), 405, ""},
		{"PUT /ingest", req("PUT", "/ingest", []string{auth}, event), 405, ""},
		{"POST /", req("POST", "/", nil, "x"), 405, ""},
		{"TRACE /", req("TRACE", "/", nil, ""), 405, ""},
		{"POST /ws", req("POST", "/ws", nil, "x"), 405, ""},
		{"OPTIONS /ingest gets no CORS", req("OPTIONS", "/ingest", []string{"Origin: https://evil.example", "Access-Control-Request-Method: POST"}, ""), 405, ""},
		{"OPTIONS /data preflight", req("OPTIONS", "/data", []string{"Origin: https://bi.example", "Access-Control-Request-Method: GET"}, ""), 204, ""},
		// WebSocket handshakes.
		{"ws from a foreign origin", req("GET", "/ws", []string{"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Origin: https://evil.example"}, ""), 403, ""},
		{"ws without a key", req("GET", "/ws", []string{"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13"}, ""), 400, ""},
		{"ws of another version", req("GET", "/ws", []string{"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 8", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="}, ""), 400, ""},
		{"ingest ws from a browser page", req("GET", "/ingest", []string{auth, "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Origin: " + strings.TrimSuffix(s.url, "/")}, ""), 403, ""},
		{"ingest ws without a token", req("GET", "/ingest", []string{"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="}, ""), 401, ""},
		{"ingest ws token in the query", req("GET", "/ingest?token="+testToken, []string{"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="}, ""), 401, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawResponse(t, addr, tc.raw)
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d; body %.300q", resp.StatusCode, tc.want, body)
			}
			if resp.StatusCode >= 500 && resp.StatusCode != tc.want {
				t.Errorf("a 5xx for a client's mistake")
			}
			if strings.Contains(tc.raw, " /ingest") && resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("CORS on /ingest: %q", resp.Header.Get("Access-Control-Allow-Origin"))
			}
			if tc.notInBody != "" && strings.Contains(body, tc.notInBody) {
				t.Errorf("the answer holds %q", tc.notInBody)
			}
			if resp.StatusCode >= 400 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") &&
				!strings.Contains(body, `"error":`) {
				t.Errorf("a JSON error without a reason: %q", body)
			}
		})
	}
	s.shutdown(t)
	logs := s.stderr.String()
	if strings.Contains(logs, testToken) || strings.Contains(logs, testToken[:10]) {
		t.Errorf("a token reached the log:\n%s", logs)
	}
}

// TestSlowClientsAreCut holds connections open the way slowloris does and
// checks that the server closes them: the test waits on the close, not on
// a clock.
func TestSlowClientsAreCut(t *testing.T) {
	s := startServerEnv(t, map[string]string{"FLEETPULSE_INGEST_TOKEN": testToken}, hostileArgs...)
	addr := hostAddr(t, s)
	tests := []struct {
		name string
		raw  string
		// want is the status the server answers before closing, or 0
		// when it closes without one.
		want int
	}{
		{"headers never end", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n", 0},
		{"request line never ends", "GET /healthz HTTP/1.1", 0},
		{"nothing sent at all", "", 0},
		{"body never ends", fmt.Sprintf("POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n{\"vehicle_id\":", testToken), http.StatusRequestTimeout},
		{"chunked body never ends", fmt.Sprintf("POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"vehicle_id\":", testToken), http.StatusRequestTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// Far beyond the configured timeouts: only a server that
			// never closes reaches it.
			c.SetDeadline(time.Now().Add(30 * time.Second))
			io.WriteString(c, tc.raw)
			b, err := io.ReadAll(c) // returns once the server closes
			if err != nil {
				t.Fatalf("the server did not close the connection: %v", err)
			}
			got := 0
			if len(b) > 0 {
				resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(b))), nil)
				if err != nil {
					t.Fatalf("%q: %v", b, err)
				}
				got = resp.StatusCode
			}
			if got != tc.want {
				t.Fatalf("answer %d before the close, want %d: %q", got, tc.want, b)
			}
		})
	}
}

// TestWebSocketAbuse checks the caps of WebSocket clients: oversized
// messages and the subscriber cap.
func TestWebSocketAbuse(t *testing.T) {
	s := startServerEnv(t, map[string]string{"FLEETPULSE_INGEST_TOKEN": testToken}, hostileArgs...)
	wsURL := "ws" + strings.TrimPrefix(s.url, "http")

	t.Run("oversized ingest message", func(t *testing.T) {
		h := http.Header{"Authorization": {"Bearer " + testToken}}
		c, _, err := websocket.Dial(t.Context(), wsURL+"ingest", &websocket.DialOptions{HTTPHeader: h})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		c.Write(t.Context(), websocket.MessageText, make([]byte, 65<<10))
		_, _, err = c.Read(t.Context())
		if st := websocket.CloseStatus(err); st != websocket.StatusMessageTooBig {
			t.Fatalf("close %v (%v), want 1009", st, err)
		}
	})
	t.Run("oversized subscribe message", func(t *testing.T) {
		c := dialWS(t, s.url+"ws")
		defer c.CloseNow()
		go c.Write(context.Background(), websocket.MessageText, make([]byte, 1<<20))
		for {
			_, _, err := c.Read(t.Context())
			if err != nil {
				if st := websocket.CloseStatus(err); st != websocket.StatusMessageTooBig {
					t.Fatalf("close %v (%v), want 1009", st, err)
				}
				return
			}
		}
	})
	t.Run("subscribe message of another type", func(t *testing.T) {
		c := dialWS(t, s.url+"ws")
		defer c.CloseNow()
		c.Write(t.Context(), websocket.MessageText, []byte(`{"type":"subscribe","vehicle_ids":["=cmd|' /C calc'!A0"]}`))
		for {
			_, _, err := c.Read(t.Context())
			if err != nil {
				if st := websocket.CloseStatus(err); st != websocket.StatusPolicyViolation {
					t.Fatalf("close %v (%v), want 1008", st, err)
				}
				return
			}
		}
	})
	t.Run("subscriber cap", func(t *testing.T) {
		var conns []*websocket.Conn
		defer func() {
			for _, c := range conns {
				c.CloseNow()
			}
		}()
		for i := 0; ; i++ {
			c, resp, err := websocket.Dial(t.Context(), wsURL+"ws", nil)
			if err == nil {
				conns = append(conns, c)
				if i >= 2 {
					t.Fatalf("subscriber %d of -max-subscribers 2 was let in", i+1)
				}
				continue
			}
			var body []byte
			if resp != nil {
				body, _ = io.ReadAll(resp.Body)
			}
			if resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
				!strings.Contains(string(body), "too many subscribers") {
				t.Fatalf("subscriber %d: %v %v %q, want 503 with Retry-After and a reason", i+1, err, resp, body)
			}
			break
		}
		_, b := getBody(t, s.url+"metrics")
		if !strings.Contains(string(b), "fleetpulse_ws_refused_total 1") {
			t.Fatalf("the refusal is not counted:\n%s", grepLines(string(b), "fleetpulse_ws"))
		}
	})
}

// TestWebSocketsOutliveHTTPTimeouts checks that the read and write
// timeouts, set far below a window here, do not cut upgraded connections:
// a subscriber gets windows for several timeouts' worth, and a producer's
// WebSocket still answers after them.
func TestWebSocketsOutliveHTTPTimeouts(t *testing.T) {
	s := startServerEnv(t, map[string]string{"FLEETPULSE_INGEST_TOKEN": testToken},
		"-read-header-timeout", "100ms", "-read-timeout", "200ms", "-write-timeout", "200ms", "-http-idle-timeout", "200ms")
	sub := dialWS(t, s.url+"ws")
	defer sub.CloseNow()
	h := http.Header{"Authorization": {"Bearer " + testToken}}
	prod, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(s.url, "http")+"ingest", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.CloseNow()
	readMsg(t, sub, nil) // the snapshot
	// Three final windows of 1 s each: at least 2 s, ten write timeouts.
	for range 3 {
		var w wire.Window
		if env := readMsg(t, sub, &w); env.Type != wire.TypeWindow {
			t.Fatalf("got %q, want a window", env.Type)
		}
	}
	if err := prod.Write(t.Context(), websocket.MessageText, []byte("not json")); err != nil {
		t.Fatalf("the producer's connection was cut: %v", err)
	}
	_, msg, err := prod.Read(t.Context())
	if err != nil || !strings.Contains(string(msg), "bad_json") {
		t.Fatalf("the producer's answer: %q, %v", msg, err)
	}
}

// TestRateLimitEndToEnd checks the per-token limit through the real
// server: one request per 1000 s, so the second is refused whatever the
// machine's speed, with Retry-After, and counted in /metrics. (That nothing
// of it counts is tested in server/ingest, with a fake clock.)
func TestRateLimitEndToEnd(t *testing.T) {
	s := startServerEnv(t, map[string]string{"FLEETPULSE_INGEST_TOKEN": testToken}, "-vehicles", "0", "-ingest-requests", "0.001")
	event := fmt.Sprintf(`{"vehicle_id":"R-1","ts":%d,"lat":1,"lon":2,"speed_kmh":3}`, time.Now().UnixMilli())
	post := func() *http.Response {
		req, _ := http.NewRequest("POST", s.url+"ingest", strings.NewReader(event))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := post(); r.StatusCode != 200 {
		t.Fatalf("first request: %d", r.StatusCode)
	}
	r := post()
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("second request: %d, Retry-After %q; want 429 with Retry-After", r.StatusCode, r.Header.Get("Retry-After"))
	}
	_, b := getBody(t, s.url+"metrics")
	if !strings.Contains(string(b), "fleetpulse_ingest_rate_limited_total 1") {
		t.Errorf("the refusal is not in /metrics:\n%s", grepLines(string(b), "fleetpulse_ingest"))
	}
}
