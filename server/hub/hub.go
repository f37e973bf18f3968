// Package hub fans final windows out to WebSocket subscribers of /ws.
//
// Publish never waits for a subscriber. The caller encodes each window
// message once, and the same bytes go on every subscriber's small bounded
// queue. When a subscriber's queue is full, the hub replaces the whole queue
// with the current snapshot: newer state replaces older. If that subscriber
// overflows again before it has caught up, or is still behind MaxLag after it
// first fell behind, the hub disconnects it with close code 1008.
//
// A client may narrow its window messages to some vehicles. It can pass
// ?vehicle_id= (repeatable) on connect, or send a text message
//
//	{"type":"subscribe","vehicle_ids":["TRUCK-0042","VAN-0007"]}
//
// at any time. An empty or absent list means every vehicle again. Such a
// subscriber's window messages are encoded in its own goroutine from the
// published telemetry.Window, so unfiltered subscribers still share the
// caller's bytes. Snapshots are never filtered. A client that reconnects with
// ?since_seq=N gets the windows after N from a bounded ring of recent ones,
// or the snapshot when the ring does not hold them all.
//
// Close codes: 1001 when the hub closes, after the queued messages; 1008
// "subscriber too slow"; 1008 with the reason for a bad subscribe message;
// 1003 for a binary message; 1009 for a message over ReadLimit. A peer
// that does not answer a ping within PingTimeout is cut off without a close
// frame, because it would not read one.
//
// The hub runs two goroutines per connection: the HTTP handler, which writes
// and pings, and a reader for the client's subscribe messages (and pongs),
// which the handler waits for. Close waits for every handler. A Hub is safe
// for concurrent use.
package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/coder/websocket"

	"fleetpulse/shared/telemetry"
	"fleetpulse/shared/wire"
)

// MaxVehicleIDs is the most vehicle ids one filter may name, by query or by
// subscribe message.
const MaxVehicleIDs = 1000

// Options configure a Hub. The zero value gives the defaults.
type Options struct {
	// OriginPatterns are extra allowed Origin hosts (path.Match patterns)
	// besides the server's own host. Clients without an Origin header
	// are always allowed.
	OriginPatterns []string
	// QueueLen is how many messages may wait for one subscriber. A
	// subscriber whose queue is full gets its queue coalesced into the
	// snapshot; the next overflow disconnects it. Defaults to 16.
	QueueLen int
	// MaxLag is how long a subscriber may stay behind after its queue was
	// coalesced. The hub checks it at each Publish. Defaults to 10s.
	MaxLag time.Duration
	// MaxSubscribers caps connected subscribers; more get 503. Defaults to
	// 10000.
	MaxSubscribers int
	// WriteTimeout bounds one message write. Defaults to 10s.
	WriteTimeout time.Duration
	// CloseGrace bounds Close: subscribers still being written to after
	// it are cut off without a close handshake. Defaults to 3s, so that a
	// stuck subscriber cannot hold up a shutdown.
	CloseGrace time.Duration
	// PingInterval is how often an idle connection is pinged. Defaults to
	// 30s.
	PingInterval time.Duration
	// PingTimeout is how long a ping may wait for its pong before the
	// connection is dropped without a close handshake. Defaults to 10s.
	PingTimeout time.Duration
	// ResumeWindows is how many recent window messages the hub keeps for
	// ?since_seq= resumes. Defaults to 360.
	ResumeWindows int
	// ResumeBytes caps the resume ring: the encoded messages plus their
	// windows' rows, approximately. The oldest are dropped first. Defaults
	// to 64 MiB.
	ResumeBytes int64
	// ReadLimit is the largest message in bytes a client may send. Clients
	// send only subscribe messages, and MaxVehicleIDs ids of 64 bytes take
	// about 66 KB. Defaults to 128 KiB.
	ReadLimit int64
	// Now tells the time for MaxLag. Defaults to time.Now.
	Now func() time.Time
	// Log gets connection events and errors. Defaults to discarding them.
	Log *slog.Logger
}

// Hub is the set of /ws subscribers. Create it with New.
type Hub struct {
	opt       Options
	dropped   atomic.Uint64
	coalesced atomic.Uint64
	refused   atomic.Uint64

	mu       sync.Mutex
	subs     map[*subscriber]struct{}
	snapshot []byte
	seq      uint64 // of the latest window, or of the snapshot
	seqKnown bool
	ring     ring
	closing  bool
	done     chan struct{} // closed by Close
	wg       sync.WaitGroup

	// kill is the parent of every connection's context; cut cancels it
	// when Close's grace has passed.
	kill context.Context
	cut  context.CancelFunc
}

// New returns an empty Hub.
func New(opt Options) *Hub {
	if opt.QueueLen <= 0 {
		opt.QueueLen = 16
	}
	if opt.MaxLag <= 0 {
		opt.MaxLag = 10 * time.Second
	}
	if opt.MaxSubscribers <= 0 {
		opt.MaxSubscribers = 10000
	}
	if opt.CloseGrace <= 0 {
		opt.CloseGrace = 3 * time.Second
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = 10 * time.Second
	}
	if opt.PingInterval <= 0 {
		opt.PingInterval = 30 * time.Second
	}
	if opt.PingTimeout <= 0 {
		opt.PingTimeout = 10 * time.Second
	}
	if opt.ResumeWindows <= 0 {
		opt.ResumeWindows = 360
	}
	if opt.ResumeBytes <= 0 {
		opt.ResumeBytes = 64 << 20
	}
	if opt.ReadLimit <= 0 {
		opt.ReadLimit = 128 << 10
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	kill, cut := context.WithCancel(context.Background())
	return &Hub{
		kill: kill,
		cut:  cut,
		opt:  opt,
		subs: make(map[*subscriber]struct{}),
		ring: ring{max: opt.ResumeWindows, maxBytes: opt.ResumeBytes},
		done: make(chan struct{}),
	}
}

// SetSnapshot sets the message a new subscriber gets first, typically once
// at start-up before any Publish. The hub reads the snapshot's "seq" so
// that a client resuming with ?since_seq= equal to it gets no snapshot. The
// resume ring is emptied unless that seq is the latest published one. The
// slice must not be changed afterwards.
func (h *Hub) SetSnapshot(snapshot []byte) {
	seq, ok := snapshotSeq(snapshot)
	h.mu.Lock()
	defer h.mu.Unlock()
	if !ok || !h.seqKnown || seq != h.seq {
		h.ring.reset()
	}
	h.snapshot, h.seq, h.seqKnown = snapshot, seq, ok
}

// Publish queues msg, the window message with the given seq, for every
// subscriber. It keeps msg and w in the resume ring, and makes snapshot
// the message new subscribers get first. It does all of this atomically: a
// subscriber sees the snapshot that includes msg, or the one before it
// followed by msg.
//
// w is the final window that msg encodes. Filtered subscribers get a
// message encoded from it. If w is nil, they get msg unfiltered. A seq that
// does not follow the previous one by one empties the resume ring first. If
// snapshot is nil, a subscriber whose queue overflows is disconnected at
// once, because there is nothing to coalesce into. The hub never changes
// w, msg or snapshot, and the caller must not change them either.
//
// Publish never blocks on a subscriber.
func (h *Hub) Publish(seq uint64, w *telemetry.Window, msg, snapshot []byte) {
	now := h.opt.Now()
	it := item{seq: seq, msg: msg, w: w, idx: newRowIndex(w)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.seqKnown || seq != h.seq+1 {
		h.ring.reset()
	}
	// The ring keeps no index: it would hold a map per retained window,
	// and resumes are rare enough to test every row.
	kept := it
	kept.idx = nil
	h.ring.push(kept)
	h.seq, h.seqKnown, h.snapshot = seq, true, snapshot
	for s := range h.subs {
		switch s.offer(it, snapshot, now, h.opt.QueueLen, h.opt.MaxLag) {
		case coalesced:
			h.coalesced.Add(1)
		case dropped:
			delete(h.subs, s)
			h.dropped.Add(1)
		}
	}
}

// PublishLive offers a provisional update of the open window (a "live"
// message) to every subscriber. It is best effort: a queued live update is
// replaced by the newer one, and a subscriber with a full queue skips it,
// which never counts against it. w is kept for filtered subscribers.
func (h *Hub) PublishLive(w *telemetry.Window, msg []byte) {
	it := item{seq: h.seqNow(), msg: msg, w: w, idx: newRowIndex(w), live: true}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if s.offerLive(it, h.opt.QueueLen) {
			s.notify()
		}
	}
}

func (h *Hub) seqNow() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seq
}

// offerLive queues a live item, replacing a queued one; it reports whether
// anything was queued.
func (s *subscriber) offerLive(it item, queueLen int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch n := len(s.q); {
	case s.gone:
		return false
	case n > 0 && s.q[n-1].live:
		s.q[n-1] = it
	case n < queueLen:
		s.q = append(s.q, it)
	default:
		return false
	}
	return true
}

// Len returns the number of connected subscribers.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Dropped returns how many subscribers were disconnected for being too slow.
func (h *Hub) Dropped() uint64 { return h.dropped.Load() }

// Coalesced returns how many times a subscriber's full queue was replaced by
// the snapshot.
func (h *Hub) Coalesced() uint64 { return h.coalesced.Load() }

// Refused returns how many subscribers were turned away because
// MaxSubscribers were connected.
func (h *Hub) Refused() uint64 { return h.refused.Load() }

// Close disconnects every subscriber with Going Away, after the messages
// already queued for it. It refuses new subscribers and waits for the
// handlers. It always returns nil.
func (h *Hub) Close() error {
	h.mu.Lock()
	if !h.closing {
		h.closing = true
		close(h.done)
	}
	h.mu.Unlock()
	waited := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(waited)
	}()
	grace := time.NewTimer(h.opt.CloseGrace)
	defer grace.Stop()
	select {
	case <-waited:
	case <-grace.C:
		h.cut()
		<-waited
	}
	return nil
}

// item is one queued message. w is set for window messages. A filtered
// subscriber encodes its own message from w.
type item struct {
	seq  uint64
	msg  []byte
	w    *telemetry.Window
	idx  *rowIndex // w's rows by vehicle id, shared by the subscribers
	live bool      // a provisional update: replaced by the next, skipped when full
}

// rowIndex maps the vehicle ids of a window's rows to their positions. The
// first filtered subscriber that needs it builds it, once per window, so
// that each filtered subscriber looks up its own ids rather than testing
// every row: with 1,000 subscribers of one vehicle each and 10,000 rows,
// 1,000 lookups rather than 10 million.
type rowIndex struct {
	once sync.Once
	w    *telemetry.Window
	pos  map[string]int32
}

// newRowIndex returns the (not yet built) index of w's rows, or nil.
func newRowIndex(w *telemetry.Window) *rowIndex {
	if w == nil {
		return nil
	}
	return &rowIndex{w: w}
}

func (x *rowIndex) build() {
	x.pos = make(map[string]int32, len(x.w.Vehicles))
	for i := range x.w.Vehicles {
		x.pos[x.w.Vehicles[i].VehicleID] = int32(i)
	}
}

// size approximates the memory an item keeps alive, for the ring's cap.
func (it *item) size() int64 {
	n := int64(len(it.msg))
	if it.w != nil {
		n += int64(unsafe.Sizeof(*it.w)) + int64(len(it.w.Vehicles))*int64(unsafe.Sizeof(telemetry.VehicleRow{}))
	}
	return n
}

// ring holds the latest window messages. Their seqs are consecutive.
type ring struct {
	max      int
	maxBytes int64
	buf      []item // circular, allocated on first push
	head, n  int
	bytes    int64
}

func (r *ring) at(i int) *item { return &r.buf[(r.head+i)%len(r.buf)] }

func (r *ring) push(it item) {
	if r.buf == nil {
		r.buf = make([]item, r.max)
	}
	if r.n == len(r.buf) {
		r.pop()
	}
	*r.at(r.n) = it
	r.n++
	r.bytes += it.size()
	for r.n > 0 && r.bytes > r.maxBytes {
		r.pop()
	}
}

func (r *ring) pop() {
	it := r.at(0)
	r.bytes -= it.size()
	*it = item{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
}

func (r *ring) reset() {
	for r.n > 0 {
		r.pop()
	}
}

// after returns the items with seq in (since, last], if the ring holds
// all of them and last is its newest seq.
func (r *ring) after(since, last uint64) ([]item, bool) {
	if r.n == 0 || since >= last || r.at(r.n-1).seq != last {
		return nil, false
	}
	first := r.at(0).seq
	if since+1 < first {
		return nil, false
	}
	k := int(since + 1 - first) // #nosec G115 -- first <= since+1 <= last, all within the ring of r.n items
	items := make([]item, 0, r.n-k)
	for i := k; i < r.n; i++ {
		items = append(items, *r.at(i))
	}
	return items, true
}

// snapshotSeq reads the top-level "seq" of a JSON object. It does not decode
// the values after it.
func snapshotSeq(b []byte) (uint64, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0, false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return 0, false
		}
		if t == "seq" {
			var seq uint64
			if err := dec.Decode(&seq); err != nil {
				return 0, false
			}
			return seq, true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return 0, false
		}
	}
	return 0, false
}

// filter is a set of vehicle ids. A nil *filter means every vehicle.
type filter map[string]struct{}

// newFilter validates ids. It returns nil for an empty list.
func newFilter(ids []string) (filter, error) {
	if len(ids) > MaxVehicleIDs {
		return nil, fmt.Errorf("at most %d vehicle ids", MaxVehicleIDs)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	f := make(filter, len(ids))
	for _, id := range ids {
		if !telemetry.ValidVehicleID(id) {
			return nil, errors.New("vehicle ids must match " + telemetry.VehicleIDPattern)
		}
		f[id] = struct{}{}
	}
	return f, nil
}

// subscribeMessage is what a client may send: which vehicles its window
// messages should carry.
type subscribeMessage struct {
	Type       string   `json:"type"`
	VehicleIDs []string `json:"vehicle_ids"`
}

// parseSubscribe returns the filter a subscribe message asks for. Its
// errors are short enough for a close reason.
func parseSubscribe(b []byte) (filter, error) {
	var m subscribeMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, errors.New("bad subscribe message: want JSON")
	}
	if m.Type != "subscribe" {
		return nil, errors.New(`bad subscribe message: type must be "subscribe"`)
	}
	f, err := newFilter(m.VehicleIDs)
	if err != nil {
		return nil, errors.New("bad subscribe message: " + err.Error())
	}
	return f, nil
}

// connectQuery is what a /ws URL asks for.
type connectQuery struct {
	resume bool
	since  uint64
	filter filter
}

func parseConnect(rawQuery string) (connectQuery, error) {
	var c connectQuery
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return c, errors.New("malformed query string: check its % escapes and separators")
	}
	if vs, ok := q["since_seq"]; ok {
		if len(vs) != 1 {
			return c, errors.New("since_seq given more than once")
		}
		n, err := strconv.ParseUint(vs[0], 10, 64)
		if err != nil {
			return c, errors.New("since_seq must be a whole number, such as 42")
		}
		c.resume, c.since = true, n
	}
	if ids, ok := q["vehicle_id"]; ok {
		f, err := newFilter(ids)
		if err != nil {
			return c, errors.New("vehicle_id: " + err.Error())
		}
		c.filter = f
	}
	return c, nil
}

// subscriber is one connection's queue. Publish fills it, and the
// connection's handler drains it.
type subscriber struct {
	wake   chan struct{} // capacity 1: there is something to look at
	filter atomic.Pointer[filter]

	mu     sync.Mutex
	q      []item
	behind time.Time // when its queue was coalesced; zero once caught up
	gone   bool      // dropped for being slow

	// The reader sets these, then closes bad.
	bad         chan struct{}
	closeCode   websocket.StatusCode
	closeReason string

	// Used by the handler goroutine only.
	buf  []byte
	rows []telemetry.VehicleRow
	at   []int32
}

type verdict int

const (
	queued verdict = iota
	coalesced
	dropped
)

// offer queues it, or coalesces the queue into snapshot, or drops s, and
// wakes s's handler.
func (s *subscriber) offer(it item, snapshot []byte, now time.Time, queueLen int, maxLag time.Duration) verdict {
	v := s.queue(it, snapshot, now, queueLen, maxLag)
	s.notify() // after unlocking, so that the handler does not wait for s.mu
	return v
}

func (s *subscriber) queue(it item, snapshot []byte, now time.Time, queueLen int, maxLag time.Duration) verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.q); n > 0 && s.q[n-1].live {
		// A final window supersedes a provisional update not yet sent.
		s.q[n-1] = item{}
		s.q = s.q[:n-1]
	}
	behind := !s.behind.IsZero()
	switch {
	case behind && now.Sub(s.behind) > maxLag:
		// Still behind long after it fell behind.
	case len(s.q) < queueLen:
		s.q = append(s.q, it)
		return queued
	case !behind && snapshot != nil:
		clear(s.q)
		s.q = append(s.q[:0], item{seq: it.seq, msg: snapshot})
		s.behind = now
		return coalesced
	}
	clear(s.q)
	s.q = s.q[:0]
	s.gone = true
	return dropped
}

func (s *subscriber) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// next returns the oldest queued item, if any, and whether s was dropped.
func (s *subscriber) next() (it item, ok, gone bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone || len(s.q) == 0 {
		return item{}, false, s.gone
	}
	it = s.q[0]
	n := copy(s.q, s.q[1:])
	s.q[n] = item{}
	s.q = s.q[:n]
	return it, true, false
}

// wrote records that a message was written: with an empty queue, s has
// caught up.
func (s *subscriber) wrote() {
	s.mu.Lock()
	if len(s.q) == 0 {
		s.behind = time.Time{}
	}
	s.mu.Unlock()
}

// message returns what to write for it: the shared bytes, or for a window
// and a filtered subscriber, a message of its own.
func (s *subscriber) message(it *item) []byte {
	f := s.filter.Load()
	if it.w == nil || f == nil || *f == nil {
		return it.msg
	}
	rows := s.rows[:0]
	if it.idx != nil && 4*len(*f) < len(it.w.Vehicles) {
		// Few ids among many rows: look them up, and keep the rows'
		// order.
		it.idx.once.Do(it.idx.build)
		at := s.at[:0]
		for id := range *f {
			if i, ok := it.idx.pos[id]; ok {
				at = append(at, i)
			}
		}
		slices.Sort(at)
		for _, i := range at {
			rows = append(rows, it.w.Vehicles[i])
		}
		s.at = at[:0]
	} else {
		for i := range it.w.Vehicles {
			if _, ok := (*f)[it.w.Vehicles[i].VehicleID]; ok {
				rows = append(rows, it.w.Vehicles[i])
			}
		}
	}
	if it.live {
		s.buf = wire.AppendLive(s.buf[:0], it.seq, &it.w.Fleet, rows)
	} else {
		s.buf = wire.AppendWindow(s.buf[:0], it.seq, &it.w.Fleet, rows)
	}
	clear(rows) // keep no strings alive
	s.rows = rows[:0]
	return s.buf
}

// read takes the client's subscribe messages until the connection ends.
// Reading also answers the client's pings and takes the pongs that the
// handler's pings wait for, so it goes on after a bad message, until the
// close handshake that the handler starts.
func (s *subscriber) read(c *websocket.Conn) {
	for {
		typ, b, err := c.Read(context.Background())
		if err != nil {
			return
		}
		if s.closeCode != 0 {
			continue // refused already
		}
		if typ != websocket.MessageText {
			s.refuse(websocket.StatusUnsupportedData, "only text subscribe messages are accepted")
			continue
		}
		f, err := parseSubscribe(b)
		if err != nil {
			s.refuse(websocket.StatusPolicyViolation, err.Error())
			continue
		}
		s.filter.Store(&f)
	}
}

// refuse asks the handler to close the connection with code and reason.
func (s *subscriber) refuse(code websocket.StatusCode, reason string) {
	s.closeCode, s.closeReason = code, reason
	close(s.bad)
}

var (
	errBusy    = errors.New("too many subscribers")
	errClosing = errors.New("server shutting down")
)

// subscribe registers a subscriber. Its queue starts with what the client
// asked for: the windows after since_seq, or nothing when since_seq is the
// latest, or else the snapshot.
func (h *Hub) subscribe(q connectQuery) (*subscriber, error) {
	s := &subscriber{wake: make(chan struct{}, 1), bad: make(chan struct{})}
	if q.filter != nil {
		s.filter.Store(&q.filter)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return nil, errClosing
	}
	if len(h.subs) >= h.opt.MaxSubscribers {
		return nil, errBusy
	}
	if q.resume && h.seqKnown {
		if q.since == h.seq {
			// Up to date: only future windows.
			h.add(s)
			return s, nil
		}
		if items, ok := h.ring.after(q.since, h.seq); ok {
			s.q = items
			h.add(s)
			return s, nil
		}
	}
	// New, too far behind, ahead of us, or the hub does not know.
	if h.snapshot != nil {
		s.q = append(make([]item, 0, h.opt.QueueLen), item{seq: h.seq, msg: h.snapshot})
	}
	h.add(s)
	return s, nil
}

// add registers s; h.mu is held.
func (h *Hub) add(s *subscriber) {
	h.subs[s] = struct{}{}
	h.wg.Add(1)
}

func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// ServeHTTP accepts a WebSocket subscriber and writes its messages until it
// goes away, falls behind, stops answering pings, or the hub closes.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q, err := parseConnect(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s, err := h.subscribe(q)
	if errors.Is(err, errBusy) {
		h.refused.Add(1)
	}
	if err != nil {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	defer h.wg.Done()
	defer h.unsubscribe(s)
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: h.opt.OriginPatterns})
	if err != nil {
		// Accept has answered the client.
		return
	}
	c.SetReadLimit(h.opt.ReadLimit)
	// ctx ends when the reader does, that is when the connection is over:
	// it stops a write or a ping that waits for a peer that has left.
	ctx, cancel := context.WithCancel(h.kill)
	defer cancel()
	// Past Close's grace, cut the connection, whatever it is waiting for.
	defer context.AfterFunc(ctx, func() { c.CloseNow() })()
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer cancel()
		s.read(c)
	}()
	h.serve(ctx, c, s, r.RemoteAddr)
	// Closing the connection ends the reader's Read.
	c.CloseNow()
	<-readDone
}

// serve writes s's messages and pings c until the connection should end.
func (h *Hub) serve(ctx context.Context, c *websocket.Conn, s *subscriber, addr string) {
	log := h.opt.Log.With("remote", addr)
	ping := time.NewTicker(h.opt.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-s.bad:
			log.Debug("ws bad client message", "reason", s.closeReason)
			c.Close(s.closeCode, s.closeReason)
			return
		case <-ctx.Done():
			return // the connection is closed
		default:
		}
		it, ok, gone := s.next()
		if gone {
			log.Info("ws subscriber too slow")
			c.Close(websocket.StatusPolicyViolation, "subscriber too slow")
			return
		}
		if ok {
			if err := h.write(ctx, c, s.message(&it)); err != nil {
				log.Debug("ws write failed", "err", err)
				return
			}
			s.wrote()
			continue
		}
		select {
		case <-h.done:
			// Everything queued (the flushed windows) is delivered.
			c.Close(websocket.StatusGoingAway, "server shutting down")
			return
		default:
		}
		select {
		case <-s.wake:
		case <-h.done:
		case <-s.bad:
		case <-ctx.Done():
		case <-ping.C:
			if err := h.ping(ctx, c); err != nil {
				// The peer is unresponsive or gone: no close handshake.
				log.Debug("ws ping failed", "err", err)
				return
			}
		}
	}
}

func (h *Hub) write(ctx context.Context, c *websocket.Conn, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, h.opt.WriteTimeout)
	defer cancel()
	return c.Write(ctx, websocket.MessageText, msg)
}

func (h *Hub) ping(ctx context.Context, c *websocket.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, h.opt.PingTimeout)
	defer cancel()
	return c.Ping(ctx)
}

// writeError answers a request that was not upgraded.
func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
