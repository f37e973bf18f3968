package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// ServeWS serves GET /ingest: a long-lived WebSocket producer. The token is
// taken from the Authorization header of the handshake only (producers are
// not browsers). Each text message is one event or an NDJSON batch, handled
// like a POST body; each rejected line is answered with
// {"line":K,"reason":"..."}, K counting lines within the message (every
// rejected line, as the number of lines is bounded). When the
// window stage cannot take a message within EnqueueWait the connection is
// closed with 1013 (try again later): that message and any sent after it
// were not accepted, and resending them is safe.
func (in *Ingest) ServeWS(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); origin != "" && !originAllowed(origin, in.opt.OriginPatterns) {
		// A browser page: a WebSocket handshake is not subject to CORS,
		// so the Origin is the only guard.
		in.refused(r, "browser origin not allowed")
		writeError(w, http.StatusForbidden, "browser pages may not open WebSocket /ingest unless their origin is allowed (-ingest-origins)")
		return
	}
	key, ok := in.authorize(w, r)
	if !ok {
		return
	}
	// Register under the lock that Close takes, so Close either sees this
	// connection in conns or this handler sees closing.
	in.mu.RLock()
	closing := in.closing
	if !closing {
		in.conns.Add(1)
	}
	in.mu.RUnlock()
	if closing {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "server is shutting down")
		return
	}
	defer in.conns.Done()
	if in.nconns.Add(1) > int64(in.opt.MaxConns) {
		in.nconns.Add(-1)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "too many ingest connections")
		return
	}
	defer in.nconns.Add(-1)

	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: in.opt.OriginPatterns})
	if err != nil {
		return // Accept has answered
	}
	defer c.CloseNow()
	c.SetReadLimit(in.opt.MaxBody)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-in.done:
			// Shutting down: the close handshake ends the read loop.
			c.Close(websocket.StatusGoingAway, "server shutting down")
		case <-ctx.Done():
		}
	}()
	for {
		buf := getBody(0)
		typ, msg, err := readMessage(ctx, c, buf)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) && ce.Code == websocket.StatusMessageTooBig {
				in.opt.Log.Warn("ingest message too big", "remote", r.RemoteAddr)
			}
			return
		}
		if typ != websocket.MessageText {
			c.Close(websocket.StatusUnsupportedData, "send events as text messages")
			return
		}
		res, err := in.decode(msg, true)
		putBody(buf) // the events hold no reference into msg
		if err != nil {
			c.Close(websocket.StatusMessageTooBig, "too many lines in one message")
			return
		}
		if res.rejected == 0 && len(res.batch.Events) == 0 {
			continue
		}
		if d := in.lim.reserve(key, len(res.batch.Events)); d > 0 {
			in.rateLimited.Add(1)
			in.refused(r, "rate limited")
			c.Close(websocket.StatusTryAgainLater, "over this token's ingest rate limit: this message was not accepted; retry after "+strconv.Itoa(retryAfter(d))+" s")
			return
		}
		err = in.send(ctx, &res)
		if err != nil {
			in.lim.refund(key, len(res.batch.Events))
		}
		switch {
		case errors.Is(err, errBusy), errors.Is(err, errNotDurable):
			c.Close(websocket.StatusTryAgainLater, "server busy: this message was not accepted; retry")
			return
		case errors.Is(err, errSink):
			c.Close(websocket.StatusTryAgainLater, "events could not all be stored; retry this message")
			return
		case err != nil:
			c.Close(websocket.StatusGoingAway, "server shutting down")
			return
		}
		// A producer that does not read its answers must not hold the
		// handler: each answer has a deadline.
		wctx, cancelWrite := context.WithTimeout(ctx, 10*time.Second)
		for _, e := range res.errors {
			b, _ := json.Marshal(e)
			if err := c.Write(wctx, websocket.MessageText, b); err != nil {
				cancelWrite()
				return
			}
		}
		cancelWrite()
	}
}

// originAllowed reports whether the host of origin matches one of patterns
// (path.Match, case-insensitive).
func originAllowed(origin string, patterns []string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	host := strings.ToLower(u.Host)
	for _, p := range patterns {
		if ok, err := path.Match(strings.ToLower(p), host); err == nil && ok {
			return true
		}
	}
	return false
}
