package api

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// AccessLog wraps h so that each request is logged, at Info, once it has
// been answered (a WebSocket once it has ended): method, path, query,
// status, bytes, duration, remote address and user agent. Headers are never
// logged, so neither is a bearer token; query parameters that look like
// credentials are logged as REDACTED. Client text goes in attributes, which
// slog quotes and escapes, so a newline or an escape code in a path cannot
// forge a log line.
func AccessLog(h http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			log.Info("request", "method", clip(r.Method), "path", clip(r.URL.Path), "query", clip(RedactQuery(r.URL.RawQuery)),
				"status", sw.status(), "bytes", sw.bytes, "duration_ms", time.Since(start).Milliseconds(),
				"remote", r.RemoteAddr, "user_agent", clip(r.UserAgent()))
		}()
		h.ServeHTTP(sw, r)
	})
}

// clip bounds client text in a log line.
func clip(s string) string {
	const n = 256
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// sensitiveParams are query parameter names (lower case) whose values are
// never logged. The server reads no credential from the query, but clients
// put them there by mistake.
var sensitiveParams = map[string]bool{
	"token": true, "access_token": true, "auth": true, "authorization": true, "bearer": true,
	"api_key": true, "apikey": true, "key": true, "password": true, "secret": true, "jwt": true,
	"ingest_token": true, "sig": true, "signature": true,
}

// RedactQuery returns rawQuery, still escaped, with the values of
// credential-like parameters replaced by REDACTED. Malformed pairs are
// judged by their name as far as it can be read.
func RedactQuery(rawQuery string) string {
	if rawQuery == "" {
		return ""
	}
	var b strings.Builder
	for i, pair := range strings.FieldsFunc(rawQuery, func(r rune) bool { return r == '&' || r == ';' }) {
		if i > 0 {
			b.WriteByte('&')
		}
		name, _, hasValue := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(name)
		if err != nil {
			key = name
		}
		key = strings.ToLower(strings.TrimSpace(key))
		if sensitiveParams[key] || strings.Contains(key, "token") || strings.Contains(key, "secret") || strings.Contains(key, "password") {
			b.WriteString(name)
			if hasValue {
				b.WriteString("=REDACTED")
			}
			continue
		}
		b.WriteString(pair)
	}
	return b.String()
}

// statusWriter records the status and size of an answer. Unwrap lets
// http.ResponseController (deadlines, flushing, the WebSocket hijack) reach
// the connection.
type statusWriter struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush lets handlers that assert http.Flusher stream through the wrapper.
func (w *statusWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
