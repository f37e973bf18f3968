package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
)

// WebSocket ingest answers rejected lines only, so the sender learns what
// the server has taken in from pings: the server answers a ping when it
// reads it, after it has handled the messages before it (for a server that
// handles each message before it reads the next, as FleetPulse's does). A
// message counts as sent once a pong confirms it. Until then it is kept,
// and resent on a new connection if this one breaks: a server that cannot
// keep up closes with 1013, and the message it could not take, and every
// one after, were not taken in. Resending the others is safe too: the
// server drops duplicates.

// wsWindow is how many messages may await confirmation; the sender waits
// for a pong before it writes more.
const wsWindow = 8

// wsConn is a WebSocket ingest connection and the goroutine that reads the
// server's answers on it.
type wsConn struct {
	c    *websocket.Conn
	done chan struct{} // closed when the reader has stopped
	// closed is the close status the server sent, or -1; set before done
	// is closed.
	closed websocket.StatusCode
}

// wsMsg is a written message that awaits confirmation.
type wsMsg struct {
	body  []byte
	lines int
	maxTS int64     // its greatest ts, Unix ms
	start time.Time // when it was first written
}

// pong is the outcome of a ping: when it ended, and how many of the
// unconfirmed messages were written before it.
type pong struct {
	mark int
	at   time.Time
	err  error
}

// wsSender is the state of one connection's loop.
type wsSender struct {
	l       *loader
	conn    *wsConn
	unacked []*wsMsg // in the order written; the first written are on conn
	written int      // unacked[:written] are written on conn
	free    [][]byte // bodies of confirmed messages, for reuse
	pinging bool
	pongs   chan pong // the ping in flight reports here
	attempt int       // failures since the last confirmation
}

func (l *loader) workWS(ctx context.Context, gen *generator) error {
	s := &wsSender{l: l, pongs: make(chan pong, 1)}
	defer s.close()
	var sent int64 // events generated, for pacing
	done := false
	for {
		if s.pinging {
			select {
			case p := <-s.pongs:
				if err := s.confirm(ctx, p); err != nil {
					return err
				}
			default:
			}
		}
		if done && len(s.unacked) == 0 {
			return errDone
		}
		if s.conn == nil {
			if err := s.connect(ctx); err != nil {
				return err
			}
			continue
		}
		switch {
		case s.written < len(s.unacked):
			// Write the next message, or write again what a broken
			// connection may have lost.
			m := s.unacked[s.written]
			if m.start.IsZero() {
				m.start = l.deps.now()
				l.marks.sent(m.maxTS, m.start)
			}
			if err := s.conn.c.Write(ctx, websocket.MessageText, m.body); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if err := s.broken(ctx, err); err != nil {
					return err
				}
				continue
			}
			s.written++
			if !s.pinging {
				s.ping(ctx)
			}
		case done || len(s.unacked) >= wsWindow:
			// Wait for the server to confirm.
			if !s.pinging {
				s.ping(ctx)
			}
			select {
			case p := <-s.pongs:
				if err := s.confirm(ctx, p); err != nil {
					return err
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		default:
			n, err := l.next(ctx, sent)
			if errors.Is(err, errDone) {
				done = true
				continue
			}
			if err != nil {
				return err
			}
			var body []byte
			if k := len(s.free); k > 0 {
				body, s.free = s.free[k-1], s.free[:k-1]
			} else {
				body = make([]byte, 0, l.cfg.batch*160)
			}
			body = gen.appendBatch(body, n, l.deps.now().UnixMilli())
			s.unacked = append(s.unacked, &wsMsg{body: body, lines: n, maxTS: gen.maxTS})
			sent += int64(n)
		}
	}
}

// ping starts a ping that confirms the messages written so far.
func (s *wsSender) ping(ctx context.Context) {
	s.pinging = true
	mark, c := s.written, s.conn.c
	go func() {
		err := c.Ping(ctx)
		s.pongs <- pong{mark: mark, at: s.l.deps.now(), err: err}
	}()
}

// confirm takes the outcome of a ping: on a pong the messages it covers
// count as sent; on a failure the connection is broken.
func (s *wsSender) confirm(ctx context.Context, p pong) error {
	s.pinging = false
	if p.err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s.conn == nil {
			return nil
		}
		return s.broken(ctx, p.err)
	}
	for _, m := range s.unacked[:p.mark] {
		s.l.stats.answer("ok", p.at.Sub(m.start))
		s.l.stats.took(int64(m.lines), 0, 0)
		s.free = append(s.free, m.body[:0])
	}
	s.unacked = append(s.unacked[:0], s.unacked[p.mark:]...)
	s.written -= p.mark
	s.attempt = 0
	return nil
}

// broken drops a failed connection, so that the unconfirmed messages are
// written again on the next, after a backoff; it returns an error when a
// new connection would fare no better.
func (s *wsSender) broken(ctx context.Context, err error) error {
	s.conn.c.CloseNow()
	<-s.conn.done
	status := s.conn.closed
	s.conn = nil
	if s.pinging {
		// The ping has failed too, or confirms what it covers.
		if perr := s.confirm(ctx, <-s.pongs); perr != nil {
			return perr
		}
	}
	s.written = 0
	switch status {
	case websocket.StatusMessageTooBig:
		m := s.unacked[0]
		return &StatusError{Code: int(status), Msg: fmt.Sprintf("the server closed the connection: a message of %d events (%d bytes) is too big: lower -batch", m.lines, len(m.body))}
	case websocket.StatusPolicyViolation, websocket.StatusUnsupportedData:
		return &StatusError{Code: int(status), Msg: fmt.Sprintf("the server closed the connection with %d", status)}
	}
	kind := "ws write"
	if status >= 0 {
		kind = "ws close " + strconv.Itoa(int(status))
	}
	s.l.stats.fail(kind, err)
	s.attempt++
	return s.l.client.pause(ctx, backoff(s.attempt-1))
}

// connect dials, waiting as the server asks when it refuses.
func (s *wsSender) connect(ctx context.Context) error {
	if s.attempt > s.l.client.MaxRetries {
		return fmt.Errorf("gave up after %d retries (last: %s)", s.l.client.MaxRetries, s.l.stats.last())
	}
	c, wait, err := s.l.dial(ctx, s.attempt)
	if err != nil {
		return err
	}
	if c == nil {
		s.attempt++
		return s.l.client.pause(ctx, wait)
	}
	s.conn, s.written = c, 0
	return nil
}

// close ends the connection, after the reader and any ping.
func (s *wsSender) close() {
	if s.conn == nil {
		return
	}
	if s.conn.c.Close(websocket.StatusNormalClosure, "done") != nil {
		s.conn.c.CloseNow()
	}
	<-s.conn.done
	if s.pinging {
		<-s.pongs
	}
}

// dial opens a connection. It returns nil and how long to wait when the
// server asks to try again later or cannot be reached, and an error when
// trying again is no use.
func (l *loader) dial(ctx context.Context, attempt int) (*wsConn, time.Duration, error) {
	h := http.Header{}
	if l.cfg.token != "" {
		h.Set("Authorization", "Bearer "+l.cfg.token)
	}
	c, resp, err := websocket.Dial(ctx, l.client.URL, &websocket.DialOptions{
		HTTPClient:      l.deps.http,
		HTTPHeader:      h,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		if resp == nil || resp.StatusCode == http.StatusSwitchingProtocols {
			l.stats.fail("ws dial", err)
			return nil, backoff(attempt), nil
		}
		l.stats.refused(strconv.Itoa(resp.StatusCode))
		switch code := resp.StatusCode; {
		case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
			return nil, retryAfter(resp.Header.Get("Retry-After"), l.deps.now(), attempt), nil
		case code >= 500:
			return nil, backoff(attempt), nil
		default:
			var a answer
			var raw []byte
			if resp.Body != nil {
				raw, _ = io.ReadAll(resp.Body)
				_ = json.Unmarshal(raw, &a)
			}
			return nil, 0, &StatusError{Code: code, Msg: "WebSocket handshake: " + fatalMessage(code, l.client.URL, 0, 0, serverSays(a.Error, raw))}
		}
	}
	// Rejection answers are small; allow a batch's worth of them.
	c.SetReadLimit(1 << 20)
	conn := &wsConn{c: c, done: make(chan struct{}), closed: -1}
	go conn.read(l.stats) // #nosec G118 -- it ends when the connection closes; a cancelled read context would close the connection itself
	return conn, 0, nil
}

// read counts the server's answers until the connection ends. Reading is
// also what lets pongs in.
func (w *wsConn) read(stats *Stats) {
	defer close(w.done)
	for {
		_, data, err := w.c.Read(context.Background())
		if err != nil {
			w.closed = websocket.CloseStatus(err)
			return
		}
		for line := range bytes.Lines(data) {
			var a struct {
				Line   int     `json:"line"`
				Reason *string `json:"reason"`
				Error  string  `json:"error"`
			}
			if json.Unmarshal(line, &a) != nil {
				continue
			}
			switch {
			case a.Reason != nil:
				stats.reject(a.Line, *a.Reason, true)
			case a.Error != "":
				stats.reject(0, "server: "+a.Error, false)
			}
		}
	}
}
