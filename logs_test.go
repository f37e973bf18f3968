package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// do sends a request with the given headers and drops the answer.
func do(t *testing.T, method, url string, header map[string]string, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestLogsNeverHoldTokens sends tokens every way a client might, good and
// bad, with the access log on, and checks that no log line holds one.
func TestLogsNeverHoldTokens(t *testing.T) {
	dir := t.TempDir()
	fileToken := "file-token-abcdefghijklmnop"
	tokenFile := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokenFile, []byte(fileToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServerEnv(t, map[string]string{"FLEETPULSE_INGEST_TOKEN": testToken},
		"-access-log", "-log-format", "json", "-ingest-token-file", tokenFile, "-ingest-requests", "0.001") // one request, then 429s
	event := fmt.Sprintf(`{"vehicle_id":"T-1","ts":%d,"lat":1,"lon":2,"speed_kmh":3}`, time.Now().UnixMilli())
	badTokens := []string{"wrong-token-0123456789", testToken[:12], testToken + "x", "Zm9vOmJhcg=="}
	secrets := append([]string{testToken, fileToken}, badTokens...)

	// Good tokens, in the header: accepted, then rate limited.
	for range 5 {
		do(t, "POST", s.url+"ingest", map[string]string{"Authorization": "Bearer " + testToken}, event)
		do(t, "POST", s.url+"ingest", map[string]string{"Authorization": "Bearer " + fileToken}, event)
	}
	// Bad attempts.
	for _, bad := range badTokens {
		do(t, "POST", s.url+"ingest", map[string]string{"Authorization": "Bearer " + bad}, event)
		do(t, "POST", s.url+"ingest", map[string]string{"Authorization": "Basic " + bad}, event)
		do(t, "POST", s.url+"ingest", map[string]string{"Cookie": "token=" + bad}, event)
		do(t, "POST", s.url+"ingest?token="+bad, nil, event)
	}
	// Tokens in query strings and paths, where the server never reads them.
	for _, tok := range []string{testToken, fileToken} {
		for _, p := range []string{"token", "access_token", "Ingest-Token", "api_key", "password", "auth"} {
			do(t, "GET", s.url+"data?"+p+"="+tok, nil, "")
			do(t, "GET", s.url+"ws?"+p+"="+tok, nil, "")
		}
	}
	do(t, "GET", s.url+"data?x="+testToken, nil, "")
	do(t, "GET", s.url+"ingest/"+testToken, nil, "")
	// WebSocket ingest, good and bad.
	wsURL := "ws" + strings.TrimPrefix(s.url, "http") + "ingest"
	for _, tok := range []string{testToken, badTokens[0]} {
		c, _, err := websocket.Dial(t.Context(), wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}})
		if err == nil {
			c.Close(websocket.StatusNormalClosure, "")
		}
	}
	s.shutdown(t)
	logs := s.stderr.String()
	for _, secret := range secrets {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
	for _, want := range []string{`"msg":"ingest refused"`, `"reason":"rate limited"`, `"msg":"request"`, "token=REDACTED", "/ingest/REDACTED", "x=REDACTED"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %s, so the test proves nothing", want)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", logs)
	}
}

// hostilePaths are request targets (escaped) whose decoded text tries to
// forge a log line: newlines, carriage returns, quotes and ANSI escapes.
var hostilePaths = []struct{ target, path string }{
	{"/%0A%7B%22time%22%3A%222026-11-27T00%3A00%3A00Z%22%2C%22level%22%3A%22ERROR%22%2C%22msg%22%3A%22forged%22%7D",
		"/\n{\"time\":\"2026-11-27T00:00:00Z\",\"level\":\"ERROR\",\"msg\":\"forged\"}"},
	{"/x%0D%0Atime=2026-11-27T00:00:00Z%20level=ERROR%20msg=forged", "/x\r\ntime=2026-11-27T00:00:00Z level=ERROR msg=forged"},
	{"/%1B%5B31mred%1B%5B0m%1B%5B2K%0D", "/\x1b[31mred\x1b[0m\x1b[2K\r"},
	{"/a%22%20level=ERROR%20msg=%22forged", "/a\" level=ERROR msg=\"forged"},
}

// TestLogInjection sends hostile paths, query strings, vehicle ids and
// headers with both log formats and checks that every line is exactly one
// record, with the hostile text escaped and intact.
func TestLogInjection(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			s := startServerEnv(t, map[string]string{"FLEETPULSE_INGEST_TOKEN": testToken}, "-access-log", "-log-format", format)
			ua := "evil\" level=ERROR msg=\"forged"
			for _, p := range hostilePaths {
				do(t, "GET", strings.TrimSuffix(s.url, "/")+p.target, map[string]string{"User-Agent": ua}, "")
			}
			do(t, "GET", s.url+"data?vehicle_id=%0Atime%3D2026+level%3DERROR+msg%3Dforged%1B%5B31m", nil, "")
			do(t, "POST", s.url+"ingest", map[string]string{"Authorization": "Bearer nope", "User-Agent": ua},
				"{\"vehicle_id\":\"A\\n\\u001b[31mB\",\"ts\":1}\n")
			s.shutdown(t)
			logs := s.stderr.String()

			paths := map[string]bool{}
			agents := 0
			for line := range strings.Lines(logs) {
				line = strings.TrimSuffix(line, "\n")
				if strings.ContainsAny(line, "\x1b\r") {
					t.Errorf("a raw control character in %q", line)
				}
				rec, err := parseRecord(format, line)
				if err != nil {
					t.Errorf("not one record: %v: %q", err, line)
					continue
				}
				if rec["msg"] == "forged" || rec["level"] == "ERROR" {
					t.Errorf("a forged record: %q", line)
				}
				if rec["msg"] == "request" {
					paths[rec["path"]] = true
				}
				if rec["user_agent"] == ua {
					agents++
				}
			}
			for _, p := range hostilePaths {
				if !paths[p.path] {
					t.Errorf("no record with the path %q intact", p.path)
				}
			}
			if agents != len(hostilePaths)+2 { // access log of each, and the ingest refusal
				t.Errorf("%d records with the user agent intact, want %d", agents, len(hostilePaths)+2)
			}
			if t.Failed() {
				t.Logf("log:\n%s", logs)
			}
		})
	}
}

// parseRecord parses one log line as a JSON object or as slog's text
// format (key=value, values quoted when they need it) and returns its
// string fields.
func parseRecord(format, line string) (map[string]string, error) {
	rec := map[string]string{}
	if format == "json" {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return nil, err
		}
		for k, v := range m {
			if s, ok := v.(string); ok {
				rec[k] = s
			}
		}
		return rec, nil
	}
	if !strings.HasPrefix(line, "time=") {
		return nil, fmt.Errorf("does not start with time=")
	}
	for rest := line; rest != ""; {
		key, after, ok := strings.Cut(rest, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \"") {
			return nil, fmt.Errorf("bad key at %q", rest)
		}
		var val string
		if strings.HasPrefix(after, `"`) {
			q, err := strconv.QuotedPrefix(after)
			if err != nil {
				return nil, fmt.Errorf("bad quoted value at %q", after)
			}
			val, _ = strconv.Unquote(q)
			after = after[len(q):]
		} else {
			val, after, _ = strings.Cut(after, " ")
			after = " " + after
			if strings.TrimSpace(after) == "" {
				after = ""
			}
		}
		if _, dup := rec[key]; dup {
			return nil, fmt.Errorf("key %s twice", key)
		}
		rec[key] = val
		if after != "" && !strings.HasPrefix(after, " ") {
			return nil, fmt.Errorf("no space after a value at %q", after)
		}
		rest = strings.TrimPrefix(after, " ")
	}
	return rec, nil
}
