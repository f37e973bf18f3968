package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Client posts NDJSON batches to a FleetPulse /ingest endpoint and records
// the answers in its Stats. It resends a batch the server could not take
// (429 or 503, after Retry-After; other 5xx and failed connections, after a
// backoff): the server drops duplicates, so resending is safe. Post may be
// called from several goroutines at once; set the fields before the first
// call and leave them alone after it.
type Client struct {
	// URL is the ingest endpoint, such as http://localhost:8080/ingest.
	URL string
	// Token is sent as "Authorization: Bearer <Token>" when not empty.
	Token string
	// HTTP sends the requests. Defaults to NewHTTPClient(1).
	HTTP *http.Client
	// Stats receives the counts. Defaults to NewStats().
	Stats *Stats
	// Wait sleeps for d or until ctx is done. Defaults to a timer; tests
	// make it instant.
	Wait func(ctx context.Context, d time.Duration) error
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// Deadline, when not zero, is when Post stops waiting to retry: it
	// returns ErrDeadline rather than wait past it.
	Deadline time.Time
	// MaxRetries is how often Post tries one batch again before it gives
	// up. Defaults to 20.
	MaxRetries int

	once sync.Once // fills in the defaults
}

// ErrDeadline is returned by Post when a retry would have to wait past the
// Client's Deadline; the batch is then not sent.
var ErrDeadline = errors.New("deadline reached")

// StatusError is an answer after which more batches are pointless, such as
// 401 or 413. Its message says what to change.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return e.Msg }

// Retry-After values beyond this are taken as this.
const maxRetryAfter = time.Minute

// NewHTTPClient returns an HTTP client for conns parallel connections to
// one server, without compression (NDJSON over loopback does not need it).
func NewHTTPClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		DisableCompression:    true,
	}}
}

// IngestURL returns the /ingest endpoint of the server at base (such as
// http://localhost:8080); a base that ends in /ingest already is kept.
// ws and wss are taken as http and https.
func IngestURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("-url %q: want a server address such as http://localhost:8080", base)
	}
	switch u.Scheme {
	case "http", "https":
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return "", fmt.Errorf("-url %q: want an http:// or https:// address", base)
	}
	if u.Host == "" {
		return "", fmt.Errorf("-url %q: want a server address such as http://localhost:8080", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(u.Path, "/ingest") {
		u.Path += "/ingest"
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

// answer is the JSON body of an /ingest answer.
type answer struct {
	Accepted *int64 `json:"accepted"`
	Rejected *int64 `json:"rejected"`
	Errors   []struct {
		Line   int    `json:"line"`
		Reason string `json:"reason"`
	} `json:"errors"`
	Error string `json:"error"`
}

func (c *Client) defaults() { c.once.Do(c.setDefaults) }

func (c *Client) setDefaults() {
	if c.HTTP == nil {
		c.HTTP = NewHTTPClient(1)
	}
	if c.Stats == nil {
		c.Stats = NewStats()
	}
	if c.Wait == nil {
		c.Wait = Sleep
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 20
	}
}

// ServerFlags adds -url and -token, the flags every producer tool shares,
// to fs. Call the returned function after fs.Parse: it falls back to
// FLEETPULSE_INGEST_TOKEN (through getenv) when -token was not given.
func ServerFlags(fs *flag.FlagSet, base, token *string, getenv func(string) string) (afterParse func()) {
	fs.StringVar(base, "url", "http://localhost:8080", "server `address`; /ingest is added")
	fs.StringVar(token, "token", "", "ingest bearer `token` (default: env FLEETPULSE_INGEST_TOKEN)")
	return func() {
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "token" })
		if !set {
			*token = getenv("FLEETPULSE_INGEST_TOKEN")
		}
	}
}

// Sleep waits for d or until ctx is done, whichever comes first.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Post sends body, an NDJSON batch of lines events, until the server takes
// it in (200, or 400 when it rejected every line) or it is no use trying:
// then it returns a *StatusError (such as a 401 or 413), ErrDeadline, the
// error of ctx, or the last failure after MaxRetries retries.
func (c *Client) Post(ctx context.Context, body []byte, lines int) error {
	c.defaults()
	for attempt := 0; ; attempt++ {
		wait, err := c.post(ctx, body, lines, attempt)
		if err != nil || wait < 0 {
			return err
		}
		if attempt >= c.MaxRetries {
			return fmt.Errorf("gave up on a batch after %d retries (last: %s)", c.MaxRetries, c.Stats.last())
		}
		if err := c.pause(ctx, wait); err != nil {
			return err
		}
	}
}

// pause waits d before a retry, unless that would pass the deadline.
func (c *Client) pause(ctx context.Context, d time.Duration) error {
	if !c.Deadline.IsZero() && c.Now().Add(d).After(c.Deadline) {
		return ErrDeadline
	}
	c.Stats.retry(d)
	return c.Wait(ctx, d)
}

// backoff is the wait before retry n (from 0) when the server said nothing
// of when: 100 ms, doubling, at most 5 s.
func backoff(n int) time.Duration {
	return min(100*time.Millisecond<<min(n, 6), 5*time.Second)
}

// post makes attempt number attempt (from 0). It returns how long to wait
// before the next, or -1 when the batch needs none.
func (c *Client) post(ctx context.Context, body []byte, lines, attempt int) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return -1, fmt.Errorf("post %s: %w", c.URL, err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	start := c.Now()
	resp, err := c.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return -1, ctx.Err()
		}
		c.Stats.fail("transport", err)
		return backoff(attempt), nil
	}
	var a answer
	raw, readErr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	took := c.Now().Sub(start)
	status := strconv.Itoa(resp.StatusCode)
	if readErr != nil {
		c.Stats.fail("transport", readErr)
		return backoff(attempt), nil
	}
	c.Stats.answer(status, took)
	jsonErr := json.Unmarshal(raw, &a)

	switch code := resp.StatusCode; {
	case code == http.StatusOK || code == http.StatusBadRequest:
		if jsonErr != nil || a.Accepted == nil || a.Rejected == nil {
			if code == http.StatusBadRequest {
				// Not the /ingest answer: no line passed, say why.
				c.Stats.took(int64(lines), 0, int64(lines))
				c.Stats.reject(0, "400 "+serverSays(a.Error, raw), false)
				return -1, nil
			}
			return -1, &StatusError{Code: code, Msg: fmt.Sprintf("%s answered 200 without the /ingest counts: is -url a FleetPulse server?", c.URL)}
		}
		c.Stats.took(int64(lines), *a.Accepted, *a.Rejected)
		for _, e := range a.Errors {
			c.Stats.reject(e.Line, e.Reason, false)
		}
		return -1, nil
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return retryAfter(resp.Header.Get("Retry-After"), c.Now(), attempt), nil
	case code >= 500:
		return backoff(attempt), nil
	}
	return -1, &StatusError{Code: resp.StatusCode, Msg: fatalMessage(resp.StatusCode, c.URL, len(body), lines, serverSays(a.Error, raw))}
}

// serverSays returns the server's error message for quoting, trimmed.
func serverSays(msg string, raw []byte) string {
	if msg == "" {
		msg = strings.TrimSpace(string(raw))
	}
	if len(msg) > 200 {
		msg = strings.ToValidUTF8(msg[:200], "") + "…"
	}
	return msg
}

// fatalMessage says what a status that ends the run means and what to do.
func fatalMessage(code int, u string, size, lines int, says string) string {
	var m string
	switch code {
	case http.StatusUnauthorized:
		m = "401 Unauthorized: the token does not match the server's: set -token or FLEETPULSE_INGEST_TOKEN"
	case http.StatusForbidden:
		m = "403 Forbidden: ingest is not enabled on the server: start it with -ingest-token (or FLEETPULSE_INGEST_TOKEN)"
	case http.StatusRequestEntityTooLarge:
		m = fmt.Sprintf("413 Content Too Large: a batch of %d events (%d bytes) exceeds the server's -max-body: lower -batch", lines, size)
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		m = fmt.Sprintf("%d %s from %s: is -url a FleetPulse server?", code, http.StatusText(code), u)
	default:
		m = fmt.Sprintf("%d %s from %s", code, http.StatusText(code), u)
	}
	if says != "" {
		m += fmt.Sprintf(" (server: %q)", says)
	}
	return m
}

// retryAfter reads a Retry-After header: seconds or an HTTP date. Without
// one, it returns the backoff of attempt.
func retryAfter(h string, now time.Time, attempt int) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return backoff(attempt)
	}
	if s, err := strconv.Atoi(h); err == nil {
		return min(time.Duration(max(s, 0))*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(h); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return backoff(attempt)
}
