package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Window-to-subscriber latency. With -subscribers N, loadgen holds N /ws
// subscribers open while it sends. For every final window a subscriber
// reads, the latency runs from the moment the window could first close to
// the moment that subscriber has read the whole message. A window is final
// once the watermark (greatest accepted ts − lateness) reaches its end, so
// the earliest moment is when loadgen wrote the first batch carrying an
// event stamped at or after window_end + lateness: the marks below keep,
// for each second of event time, when that batch was written. Loadgen
// stamps events with its wall clock, so this is also when such an event
// existed at all. The server's -lateness must be given as -lateness here.

// maxMarks bounds the seconds of event time the marks keep: a run lasts at
// most maxDuration.
const maxMarks = int(maxDuration/time.Second) + 60

// marks records, for each second of event time, when the first batch with
// an event stamped in or after that second was written. It is safe for
// concurrent use.
type marks struct {
	mu    sync.Mutex
	first map[int64]time.Time // Unix second -> earliest write
	top   int64               // greatest second marked
}

func newMarks() *marks { return &marks{first: map[int64]time.Time{}} }

// sent records that a batch whose greatest ts is maxTS (Unix ms) was
// written at at.
func (m *marks) sent(maxTS int64, at time.Time) {
	if m == nil {
		return
	}
	sec := floorDiv(maxTS, 1000)
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.first) == 0 {
		m.top = sec - 1
	}
	for s := max(m.top+1, sec-int64(maxMarks)); s <= sec && len(m.first) < maxMarks; s++ {
		m.first[s] = at
	}
	m.top = max(m.top, sec)
	// A batch of another connection may reach a marked second with an
	// earlier write.
	if t, ok := m.first[sec]; ok && at.Before(t) {
		m.first[sec] = at
	}
}

// closable returns when the first event stamped at or after ms (Unix ms)
// was written, to the second: the earliest moment a window whose end plus
// lateness is ms could close.
func (m *marks) closable(ms int64) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.first[-floorDiv(-ms, 1000)] // the second at or after ms
	return t, ok
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// delivery is one final window read by one subscriber.
type delivery struct {
	endMS int64
	at    time.Time
}

// subscribers is the set of /ws subscribers of a run and what they read.
type subscribers struct {
	mu         sync.Mutex
	deliveries []delivery
	messages   int64 // every message read, snapshots and live ones too
	bytes      int64
	dropped    int // closed with 1008: too slow
	failed     map[string]int
	connected  int
	filterSize int // vehicle ids per subscriber, 0 for all
	// latest is, per connection, the greatest window_end read; changed is
	// signalled (capacity 1) after each final window read.
	latest  map[*websocket.Conn]int64
	changed chan struct{}
}

func newSubscribers(filterSize int) *subscribers {
	return &subscribers{latest: map[*websocket.Conn]int64{}, changed: make(chan struct{}, 1), filterSize: filterSize}
}

// caughtUp reports whether every open subscriber has read a final window
// ending at or after endMS.
func (s *subscribers) caughtUp(endMS int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.latest {
		if e < endMS {
			return false
		}
	}
	return true
}

// maxDeliveries bounds what a run keeps: enough for an hour of 10 s windows
// at 1,000 subscribers.
const maxDeliveries = 1 << 20

// subscribeURL returns the /ws address of the server at base, with k
// vehicle ids for subscriber i when k > 0.
func subscribeURL(base string, i, k, vehicles int) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/ingest") + "/ws"
	u.RawQuery, u.Fragment = "", ""
	if k > 0 {
		q := url.Values{}
		for j := range k {
			q.Add("vehicle_id", vehicleID((i*k+j)%vehicles+1))
		}
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// vehicleID is the id of synthetic vehicle n (from 1).
func vehicleID(n int) string { return fmt.Sprintf("LOAD-%06d", n) }

// connectSubscribers opens -subscribers subscribers, a few at a time, and
// reads each one's snapshot. It returns the open connections; a subscriber that
// could not connect is counted as failed.
func (l *loader) connectSubscribers(ctx context.Context, subs *subscribers) ([]*websocket.Conn, error) {
	conns := make([]*websocket.Conn, l.cfg.subscribers)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	var firstErr error
	var errOnce sync.Once
	for i := range conns {
		u, err := subscribeURL(l.cfg.base, i, l.cfg.subVehicles, l.cfg.vehicles)
		if err != nil {
			return nil, err
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: l.deps.http, CompressionMode: websocket.CompressionDisabled})
			if err != nil {
				subs.fail("dial", err)
				errOnce.Do(func() { firstErr = err })
				return
			}
			// A window of 100k vehicles is about 30 MB.
			c.SetReadLimit(256 << 20)
			// The server greets with a snapshot: latency is measured
			// from then on, not while the snapshots go out.
			_, r, err := c.Reader(ctx)
			if err == nil {
				_, err = io.Copy(io.Discard, r)
			}
			if err != nil {
				c.CloseNow()
				subs.fail("snapshot", err)
				errOnce.Do(func() { firstErr = err })
				return
			}
			conns[i] = c
		})
	}
	wg.Wait()
	open := conns[:0]
	for _, c := range conns {
		if c != nil {
			open = append(open, c)
		}
	}
	subs.mu.Lock()
	subs.connected = len(open)
	for _, c := range open {
		subs.latest[c] = -1 << 62
	}
	subs.mu.Unlock()
	if len(open) == 0 && firstErr != nil {
		return nil, fmt.Errorf("no subscriber could connect: %w", firstErr)
	}
	return open, nil
}

func (s *subscribers) fail(kind string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		s.failed = map[string]int{}
	}
	s.failed[kind]++
}

// read reads c's messages until it closes, and notes when each final window
// has been read whole. It parses only the head of a message.
func (s *subscribers) read(c *websocket.Conn, now func() time.Time) {
	var head [512]byte
	for {
		_, r, err := c.Reader(context.Background())
		if err != nil {
			s.mu.Lock()
			if websocket.CloseStatus(err) == websocket.StatusPolicyViolation {
				s.dropped++
			}
			delete(s.latest, c)
			s.mu.Unlock()
			s.signal()
			return
		}
		n, err := io.ReadFull(r, head[:])
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = nil
		}
		var rest int64
		if err == nil {
			rest, err = io.Copy(io.Discard, r)
		}
		at := now()
		if err != nil {
			continue // the next Reader call reports the closed connection
		}
		endMS, final := windowEnd(head[:n])
		s.mu.Lock()
		s.messages++
		s.bytes += int64(n) + rest
		if final {
			if len(s.deliveries) < maxDeliveries {
				s.deliveries = append(s.deliveries, delivery{endMS: endMS, at: at})
			}
			s.latest[c] = max(s.latest[c], endMS)
		}
		s.mu.Unlock()
		if final {
			s.signal()
		}
	}
}

func (s *subscribers) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// windowEnd reads a /ws message's head: for a final window message, its
// window_end in Unix ms. The server writes "type" first and window_end
// before the rows, so the head of the message is enough.
func windowEnd(head []byte) (int64, bool) {
	if !bytes.HasPrefix(head, []byte(`{"type":"window"`)) {
		return 0, false
	}
	const key = `"window_end":"`
	i := bytes.Index(head, []byte(key))
	if i < 0 {
		return 0, false
	}
	rest := head[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return 0, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:j]))
	if err != nil {
		return 0, false
	}
	return t.UnixMilli(), true
}

// result computes the latencies against m, for lateness.
func (s *subscribers) result(m *marks, lateness time.Duration) (h histogram, windows, unmatched int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[int64]bool{}
	for _, d := range s.deliveries {
		seen[d.endMS] = true
		from, ok := m.closable(d.endMS + lateness.Milliseconds())
		if !ok {
			unmatched++
			continue
		}
		h.add(d.at.Sub(from))
	}
	return h, len(seen), unmatched
}

// rows are the summary rows of the subscribers.
func (s *subscribers) rows(m *marks, lateness time.Duration) []Row {
	h, windows, unmatched := s.result(m, lateness)
	s.mu.Lock()
	defer s.mu.Unlock()
	what := "every vehicle"
	switch k := s.filterSize; {
	case k == 1:
		what = "1 vehicle each"
	case k > 1:
		what = strconv.Itoa(k) + " vehicles each"
	}
	failed := "none"
	if len(s.failed) > 0 {
		failed = fmt.Sprint(s.failed)
	}
	rows := []Row{
		{"subscribers", fmt.Sprintf("%d connected (%s), %d dropped as too slow (1008), failures: %s", s.connected, what, s.dropped, failed)},
		{"windows", fmt.Sprintf("%d final windows read %d times (%d messages, %d bytes in all)", windows, len(s.deliveries), s.messages, s.bytes)},
	}
	if h.n > 0 {
		rows = append(rows, Row{"window latency", fmt.Sprintf("p50 %s, p99 %s, max %s over %d deliveries", h.quantile(0.5), h.quantile(0.99), h.quantile(1), h.n)})
	} else {
		rows = append(rows, Row{"window latency", "none measured: no final window closed during the run"})
	}
	if unmatched > 0 {
		rows = append(rows, Row{"unmatched", fmt.Sprintf("%d deliveries of windows that closed without a batch of this run", unmatched)})
	}
	return rows
}
