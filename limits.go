package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// addLimitFlags declares the flags of the caps on HTTP clients.
func addLimitFlags(fs *flag.FlagSet, l *limits, ingestOrigins *string) {
	fs.Float64Var(&l.ingestRate, "ingest-rate", 200_000, "most valid events per second per ingest token, with one second of burst (0: no limit); beyond, 429 with Retry-After")
	fs.Float64Var(&l.ingestRequests, "ingest-requests", 1000, "most POST /ingest requests and WebSocket messages per second per ingest token (0: no limit)")
	fs.StringVar(ingestOrigins, "ingest-origins", "", "browser Origin `hosts` allowed to open WebSocket /ingest, comma-separated; by default every browser page is refused")
	fs.IntVar(&l.maxSubscribers, "max-subscribers", 10_000, "most /ws subscribers at once; beyond, 503 with a reason")
	fs.DurationVar(&l.readHeaderTimeout, "read-header-timeout", 10*time.Second, "time a client has to send its request headers")
	fs.DurationVar(&l.readTimeout, "read-timeout", time.Minute, "time a client has to send its whole request, body included (WebSockets are exempt once upgraded)")
	fs.DurationVar(&l.writeTimeout, "write-timeout", 2*time.Minute, "time an answer may take to write (WebSockets are exempt once upgraded)")
	fs.DurationVar(&l.httpIdleTimeout, "http-idle-timeout", 2*time.Minute, "how long an idle keep-alive connection stays open")
	l.maxHeaderBytes = 64 << 10
	fs.Var(&l.maxHeaderBytes, "max-header-bytes", "largest request header block: bytes, KiB or MiB (431 beyond)")
	fs.BoolVar(&l.accessLog, "access-log", false, "log every request once answered (method, path, query with credentials redacted, status, bytes, duration, remote, user agent)")
	fs.StringVar(&l.logFormat, "log-format", "auto", "log format: json, text, or auto (text on a terminal, else json)")
}

func (l limits) validate() error {
	switch {
	case !(l.ingestRate >= 0 && l.ingestRequests >= 0) || math.IsInf(l.ingestRate, 0) || math.IsInf(l.ingestRequests, 0):
		// Written so that NaN fails too.
		return errors.New("-ingest-rate and -ingest-requests must be finite and not negative (0: no limit)")
	case l.maxSubscribers <= 0:
		return errors.New("-max-subscribers must be positive")
	case l.readHeaderTimeout <= 0 || l.readTimeout <= 0 || l.writeTimeout <= 0 || l.httpIdleTimeout <= 0:
		return errors.New("-read-header-timeout, -read-timeout, -write-timeout and -http-idle-timeout must be positive")
	case l.readHeaderTimeout > l.readTimeout:
		return errors.New("-read-header-timeout must not exceed -read-timeout")
	case l.maxHeaderBytes > 1<<20:
		return errors.New("-max-header-bytes must be at most 1MiB")
	}
	switch l.logFormat {
	case "auto", "json", "text":
	default:
		return fmt.Errorf("-log-format %q: want json, text or auto", l.logFormat)
	}
	return nil
}

// newHTTPServer returns the server of handler with every client limit set.
// Upgraded WebSockets are exempt from the read and write timeouts (the
// hijack clears the connection's deadlines; the hub and ingest set their
// own), and the /data answers set their own write deadline.
func newHTTPServer(l limits, handler http.Handler, base context.Context, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: l.readHeaderTimeout,
		ReadTimeout:       l.readTimeout,
		WriteTimeout:      l.writeTimeout,
		IdleTimeout:       l.httpIdleTimeout,
		MaxHeaderBytes:    int(l.maxHeaderBytes),
		// Requests are not cancelled by the signal: ingest must answer
		// what it took, and the drain decides when they end.
		BaseContext: func(net.Listener) context.Context { return base },
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// newLogger logs as text on a terminal and as JSON lines elsewhere, unless
// format says which. Both handlers quote and escape what clients send
// (newlines, escape codes), so a client cannot forge a log line. Any
// secret (the ingest token given directly) found in a logged string is
// replaced by REDACTED, whichever code logged it.
func newLogger(w io.Writer, format string, secrets ...string) *slog.Logger {
	opt := &slog.HandlerOptions{ReplaceAttr: redactSecrets(secrets)}
	text := format == "text"
	if format == "auto" || format == "" {
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				text = true
			}
		}
	}
	if text {
		return slog.New(slog.NewTextHandler(w, opt))
	}
	return slog.New(slog.NewJSONHandler(w, opt))
}

// redactSecrets returns a ReplaceAttr that blanks each secret in string and
// error values, or nil when there is none.
func redactSecrets(secrets []string) func([]string, slog.Attr) slog.Attr {
	var list []string
	for _, s := range secrets {
		if s != "" {
			list = append(list, s)
		}
	}
	if len(list) == 0 {
		return nil
	}
	scrub := func(s string) string {
		for _, secret := range list {
			s = strings.ReplaceAll(s, secret, "REDACTED")
		}
		return s
	}
	return func(_ []string, a slog.Attr) slog.Attr {
		switch a.Value.Kind() {
		case slog.KindString:
			a.Value = slog.StringValue(scrub(a.Value.String()))
		case slog.KindAny:
			if err, ok := a.Value.Any().(error); ok {
				a.Value = slog.StringValue(scrub(err.Error()))
			}
		}
		return a
	}
}
