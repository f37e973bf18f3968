package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"fleetpulse/shared/telemetry"
	"fleetpulse/shared/wire"
)

// t0 is the start of window 1; window n is [t0+10s·(n-1), t0+10s·n).
var t0 = time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC)

// window returns final window seq with vehicles A, B and C, its message
// and the snapshot after it.
func window(seq uint64) (w *telemetry.Window, msg, snapshot []byte) {
	start := t0.Add(time.Duration(seq-1) * 10 * time.Second)
	end := start.Add(10 * time.Second)
	w = &telemetry.Window{Fleet: telemetry.FleetRow{
		WindowStart: start, WindowEnd: end, VehiclesActive: 3, Events: 30,
		AvgSpeedKPH: 50.25, MaxSpeedKPH: 90, DistanceKM: 4.2, LateEvents: int64(seq),
	}}
	for i, id := range []string{"A", "B", "C"} {
		w.Vehicles = append(w.Vehicles, telemetry.VehicleRow{
			WindowStart: start, WindowEnd: end, VehicleID: id, Events: 10,
			AvgSpeedKPH: 40 + float64(i), MinSpeedKPH: 10, MaxSpeedKPH: 90, DistanceKM: 1.4,
			LastLat: 52.52, LastLon: 13.405, LastTS: end.Add(-time.Second),
		})
	}
	msg = wire.AppendWindow(nil, seq, &w.Fleet, w.Vehicles)
	snapshot = wire.AppendSnapshot(nil, seq, []telemetry.FleetRow{w.Fleet}, w.Vehicles)
	return w, msg, snapshot
}

// publish publishes window seq and returns its message.
func publish(h *Hub, seq uint64) []byte {
	w, msg, snap := window(seq)
	h.Publish(seq, w, msg, snap)
	return msg
}

func snapshotMsg(seq uint64) []byte {
	_, _, snap := window(seq)
	return snap
}

func newServer(t *testing.T, opt Options) (*Hub, *httptest.Server) {
	t.Helper()
	h := New(opt)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close()
		srv.Close()
	})
	return h, srv
}

func wsURL(srv *httptest.Server, query string) string {
	u := "ws" + strings.TrimPrefix(srv.URL, "http")
	if query != "" {
		u += "?" + query
	}
	return u
}

func dialOpts(t *testing.T, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.SetReadLimit(64 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func dial(t *testing.T, url string) *websocket.Conn { t.Helper(); return dialOpts(t, url, nil) }

func read(t *testing.T, c *websocket.Conn) []byte {
	t.Helper()
	_, b, err := c.Read(t.Context())
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return b
}

// expect reads one message per want and compares the bytes.
func expect(t *testing.T, c *websocket.Conn, want ...[]byte) {
	t.Helper()
	for i, w := range want {
		if got := read(t, c); !bytes.Equal(got, w) {
			t.Fatalf("message %d:\n got %.120s\nwant %.120s", i, got, w)
		}
	}
}

// background reads c in a goroutine, so that pings are answered, and hands
// the messages on. The channel is closed when reading fails; err then
// holds the error.
type background struct {
	msgs chan []byte
	err  error
}

func readInBackground(c *websocket.Conn) *background {
	b := &background{msgs: make(chan []byte, 1024)}
	go func() {
		defer close(b.msgs)
		for {
			_, m, err := c.Read(context.Background())
			if err != nil {
				b.err = err
				return
			}
			b.msgs <- m
		}
	}()
	return b
}

func (b *background) expect(t *testing.T, want ...[]byte) {
	t.Helper()
	for i, w := range want {
		got, ok := <-b.msgs
		if !ok {
			t.Fatalf("message %d: connection ended: %v", i, b.err)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("message %d:\n got %.120s\nwant %.120s", i, got, w)
		}
	}
}

func TestSnapshotThenWindowsInOrder(t *testing.T) {
	t.Parallel()
	h, srv := newServer(t, Options{})
	h.SetSnapshot(wire.AppendSnapshot(nil, 0, nil, nil))
	a := dial(t, wsURL(srv, ""))
	w1 := publish(h, 1)
	b := dial(t, wsURL(srv, ""))
	w2 := publish(h, 2)
	w3 := publish(h, 3)
	expect(t, a, wire.AppendSnapshot(nil, 0, nil, nil), w1, w2, w3)
	expect(t, b, snapshotMsg(1), w2, w3)
	if n := h.Len(); n != 2 {
		t.Fatalf("Len() = %d, want 2", n)
	}
}

func TestResume(t *testing.T) {
	t.Parallel()
	msg := func(seq uint64) []byte {
		_, m, _ := window(seq)
		return m
	}
	// Both items of seq 5 and 6, and not one byte more.
	w5, m5, _ := window(5)
	w6, m6, _ := window(6)
	twoItems := (&item{msg: m5, w: w5}).size() + (&item{msg: m6, w: w6}).size()
	for _, tc := range []struct {
		name  string
		opt   Options
		since string
		want  [][]byte // after windows 1 to 6 and then 7 were published
	}{
		{"latest gets only new windows", Options{ResumeWindows: 3}, "6", [][]byte{msg(7)}},
		{"ring has all after N", Options{ResumeWindows: 3}, "4", [][]byte{msg(5), msg(6), msg(7)}},
		{"ring has exactly all after N", Options{ResumeWindows: 3}, "3", [][]byte{msg(4), msg(5), msg(6), msg(7)}},
		{"N too old for the ring", Options{ResumeWindows: 3}, "2", [][]byte{snapshotMsg(6), msg(7)}},
		{"N zero", Options{ResumeWindows: 3}, "0", [][]byte{snapshotMsg(6), msg(7)}},
		{"N ahead of the hub", Options{ResumeWindows: 3}, "9", [][]byte{snapshotMsg(6), msg(7)}},
		{"byte cap keeps two", Options{ResumeBytes: twoItems}, "4", [][]byte{msg(5), msg(6), msg(7)}},
		{"byte cap drops the oldest", Options{ResumeBytes: twoItems}, "3", [][]byte{snapshotMsg(6), msg(7)}},
		{"default ring keeps all six", Options{}, "0", [][]byte{msg(1), msg(2), msg(3), msg(4), msg(5), msg(6), msg(7)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, srv := newServer(t, tc.opt)
			h.SetSnapshot(wire.AppendSnapshot(nil, 0, nil, nil))
			for seq := uint64(1); seq <= 6; seq++ {
				publish(h, seq)
			}
			c := dial(t, wsURL(srv, "since_seq="+tc.since))
			publish(h, 7)
			expect(t, c, tc.want...)
		})
	}

	t.Run("seq of the start-up snapshot", func(t *testing.T) {
		t.Parallel()
		h, srv := newServer(t, Options{})
		h.SetSnapshot(snapshotMsg(41))
		current := dial(t, wsURL(srv, "since_seq=41"))
		behind := dial(t, wsURL(srv, "since_seq=40"))
		w42 := publish(h, 42)
		expect(t, current, w42)
		expect(t, behind, snapshotMsg(41), w42)
	})

	t.Run("a gap in seq empties the ring", func(t *testing.T) {
		t.Parallel()
		h, srv := newServer(t, Options{})
		publish(h, 1)
		publish(h, 2)
		publish(h, 5) // the caller skipped 3 and 4
		c := dial(t, wsURL(srv, "since_seq=1"))
		expect(t, c, snapshotMsg(5))
	})
}

func TestBadQuery(t *testing.T) {
	t.Parallel()
	_, srv := newServer(t, Options{})
	for _, q := range []string{
		"since_seq=abc", "since_seq=-1", "since_seq=", "since_seq=1&since_seq=2",
		"since_seq=18446744073709551616", "vehicle_id=", "vehicle_id=-x", "vehicle_id=" + strings.Repeat("x", 65),
		strings.Repeat("vehicle_id=a&", MaxVehicleIDs+1),
	} {
		t.Run(q[:min(len(q), 40)], func(t *testing.T) {
			t.Parallel()
			_, resp, err := websocket.Dial(t.Context(), wsURL(srv, q), nil)
			if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("dial: err %v, resp %v; want 400", err, resp)
			}
			var body struct{ Error string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error == "" {
				t.Fatalf("body: %v, %+v; want a JSON error", err, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func TestFilter(t *testing.T) {
	t.Parallel()
	only := func(seq uint64, ids ...string) []byte {
		w, _, _ := window(seq)
		var rows []telemetry.VehicleRow
		for _, r := range w.Vehicles {
			for _, id := range ids {
				if r.VehicleID == id {
					rows = append(rows, r)
				}
			}
		}
		return wire.AppendWindow(nil, seq, &w.Fleet, rows)
	}
	// marked publishes window seq with a message that no encoder would
	// make (a trailing newline): whoever gets exactly these bytes got the
	// shared message, not one encoded for it.
	marked := func(h *Hub, seq uint64) []byte {
		w, msg, snap := window(seq)
		msg = append(msg, '\n')
		h.Publish(seq, w, msg, snap)
		return msg
	}

	t.Run("by query", func(t *testing.T) {
		t.Parallel()
		h, srv := newServer(t, Options{})
		filtered := dial(t, wsURL(srv, "vehicle_id=A&vehicle_id=C&vehicle_id=NOT-THERE"))
		all := dial(t, wsURL(srv, ""))
		m1 := marked(h, 1)
		m2 := marked(h, 2)
		expect(t, filtered, only(1, "A", "C"), only(2, "A", "C"))
		expect(t, all, m1, m2)

		var got wire.Window
		b := only(1, "A", "C")
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		w, _, _ := window(1)
		if len(got.Vehicles) != 2 || got.Fleet.VehiclesActive != w.Fleet.VehiclesActive || got.Fleet.Events != w.Fleet.Events || got.Seq != 1 {
			t.Fatalf("filtered window %+v: want 2 rows and the whole fleet row", got)
		}
	})

	t.Run("by message", func(t *testing.T) {
		t.Parallel()
		h, srv := newServer(t, Options{})
		c := dial(t, wsURL(srv, "vehicle_id=A"))
		in := readInBackground(c)
		all := dial(t, wsURL(srv, ""))
		send := func(msg string) {
			t.Helper()
			if err := c.Write(t.Context(), websocket.MessageText, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			// The server reads its frames in order: once it has answered
			// this ping, it has applied the message.
			if err := c.Ping(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		m1 := marked(h, 1)
		in.expect(t, only(1, "A"))
		send(`{"type":"subscribe","vehicle_ids":["B"]}`)
		m2 := marked(h, 2)
		in.expect(t, only(2, "B"))
		send(`{"type":"subscribe","vehicle_ids":["C","A"],"ignored":1}`)
		m3 := marked(h, 3)
		in.expect(t, only(3, "A", "C"))
		send(`{"type":"subscribe","vehicle_ids":[]}`)
		m4 := marked(h, 4)
		in.expect(t, m4) // every vehicle again: the shared bytes
		send(`{"type":"subscribe","vehicle_ids":["A"]}`)
		send(`{"type":"subscribe"}`)
		m5 := marked(h, 5)
		in.expect(t, m5)
		expect(t, all, m1, m2, m3, m4, m5)
	})

	t.Run("the largest filter fits the read limit", func(t *testing.T) {
		t.Parallel()
		h, srv := newServer(t, Options{})
		c := dial(t, wsURL(srv, ""))
		in := readInBackground(c)
		ids := make([]string, MaxVehicleIDs)
		for i := range ids {
			ids[i] = fmt.Sprintf("%064d", i)
		}
		ids[0] = "B"
		msg, _ := json.Marshal(map[string]any{"type": "subscribe", "vehicle_ids": ids})
		if err := c.Write(t.Context(), websocket.MessageText, msg); err != nil {
			t.Fatal(err)
		}
		if err := c.Ping(t.Context()); err != nil {
			t.Fatal(err)
		}
		publish(h, 1)
		in.expect(t, only(1, "B"))
	})

	t.Run("resume is filtered too", func(t *testing.T) {
		t.Parallel()
		h, srv := newServer(t, Options{})
		publish(h, 1)
		publish(h, 2)
		publish(h, 3)
		c := dial(t, wsURL(srv, "since_seq=1&vehicle_id=B"))
		expect(t, c, only(2, "B"), only(3, "B"))
	})
}

func TestBadClientMessageCloses(t *testing.T) {
	t.Parallel()
	ids := make([]string, MaxVehicleIDs+1)
	for i := range ids {
		ids[i] = "V" + strconv.Itoa(i)
	}
	tooMany, _ := json.Marshal(map[string]any{"type": "subscribe", "vehicle_ids": ids})
	for _, tc := range []struct {
		name string
		typ  websocket.MessageType
		msg  string
		want websocket.StatusCode
	}{
		{"not JSON", websocket.MessageText, `{"type":`, websocket.StatusPolicyViolation},
		{"other type", websocket.MessageText, `{"type":"ping"}`, websocket.StatusPolicyViolation},
		{"ids not strings", websocket.MessageText, `{"type":"subscribe","vehicle_ids":[1]}`, websocket.StatusPolicyViolation},
		{"bad id", websocket.MessageText, `{"type":"subscribe","vehicle_ids":["A","no spaces"]}`, websocket.StatusPolicyViolation},
		{"too many ids", websocket.MessageText, string(tooMany), websocket.StatusPolicyViolation},
		{"binary", websocket.MessageBinary, `{"type":"subscribe","vehicle_ids":["A"]}`, websocket.StatusUnsupportedData},
		{"too big", websocket.MessageText, strings.Repeat(" ", 200<<10), websocket.StatusMessageTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, srv := newServer(t, Options{})
			c := dial(t, wsURL(srv, ""))
			err := c.Write(t.Context(), tc.typ, []byte(tc.msg))
			if err == nil {
				_, _, err = c.Read(t.Context())
			}
			got := websocket.CloseStatus(err)
			if tc.want == websocket.StatusMessageTooBig {
				// coder/websocket closes the connection with unread
				// bytes in it: the client may see a reset before the
				// close frame.
				if err == nil || got != tc.want && got != -1 {
					t.Fatalf("closed with %v (%v), want %v or a reset", got, err, tc.want)
				}
			} else {
				if got != tc.want {
					t.Fatalf("closed with %v (%v), want %v", got, err, tc.want)
				}
				var ce websocket.CloseError
				if !errors.As(err, &ce) || ce.Reason == "" {
					t.Fatalf("close %v has no reason", err)
				}
			}
			h.wg.Wait()
			if h.Len() != 0 {
				t.Fatal("subscriber still registered")
			}
		})
	}
}

func TestCloseDeliversQueuedThenGoingAway(t *testing.T) {
	t.Parallel()
	h, srv := newServer(t, Options{})
	c := dial(t, wsURL(srv, ""))
	last := publish(h, 1)
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		h.Close() // waits for the close handshake: read meanwhile
	}()
	expect(t, c, last)
	_, _, err := c.Read(t.Context())
	if s := websocket.CloseStatus(err); s != websocket.StatusGoingAway {
		t.Fatalf("close status %v (%v), want 1001", s, err)
	}
	<-closed
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after Close: %d, want 503", resp.StatusCode)
	}
}

func TestLimitsAndOrigins(t *testing.T) {
	t.Parallel()
	h, srv := newServer(t, Options{MaxSubscribers: 1, OriginPatterns: []string{"dash.example.com"}})
	ws := wsURL(srv, "")
	first := dial(t, ws)
	_, resp, err := websocket.Dial(t.Context(), ws, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second subscriber over the cap: err %v, resp %v; want 503", err, resp)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	first.Close(websocket.StatusNormalClosure, "")
	h.wg.Wait() // its handler has left
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"https://evil.example.net", false},
		{"https://dash.example.com", true},
		{srv.URL, true}, // same origin
		{"", true},      // services send no Origin
	} {
		t.Run(fmt.Sprintf("origin=%q", tc.origin), func(t *testing.T) {
			hdr := http.Header{}
			if tc.origin != "" {
				hdr.Set("Origin", tc.origin)
			}
			c, _, err := websocket.Dial(t.Context(), ws, &websocket.DialOptions{HTTPHeader: hdr})
			if (err == nil) != tc.ok {
				t.Fatalf("dial with Origin %q: err %v, want ok=%v", tc.origin, err, tc.ok)
			}
			if c != nil {
				c.Close(websocket.StatusNormalClosure, "")
			}
			h.wg.Wait()
		})
	}
}

// bigWindow is a window message of about size bytes that carries seq, and
// a small snapshot for seq; both are enough for order checks.
func bigWindow(seq uint64, size int) (msg, snapshot []byte) {
	msg = fmt.Appendf(nil, `{"type":"window","seq":%d,"pad":"`, seq)
	msg = append(msg, bytes.Repeat([]byte("x"), max(0, size-len(msg)-2))...)
	msg = append(msg, `"}`...)
	return msg, fmt.Appendf(nil, `{"type":"snapshot","seq":%d}`, seq)
}

func envelope(t *testing.T, b []byte) wire.Envelope {
	t.Helper()
	var e wire.Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("decode %.80s: %v", b, err)
	}
	return e
}

// A subscriber that never reads is coalesced, then dropped, while another
// gets every window in order, and Publish never waits.
func TestSlowSubscriberCoalescedThenDropped(t *testing.T) {
	t.Parallel()
	h, srv := newServer(t, Options{QueueLen: 4, WriteTimeout: time.Minute})
	slow := dial(t, wsURL(srv, "")) // reads only at the end
	fast := dial(t, wsURL(srv, ""))
	in := readInBackground(fast)
	seq := uint64(0)
	for h.Dropped() == 0 && seq < 4000 {
		seq++
		msg, snap := bigWindow(seq, 256<<10)
		h.Publish(seq, nil, msg, snap)
		in.expect(t, msg) // in order, each one
	}
	if h.Dropped() != 1 || h.Coalesced() < 1 {
		t.Fatalf("after %d windows: Dropped %d, Coalesced %d; want 1 and at least 1", seq, h.Dropped(), h.Coalesced())
	}
	if h.Len() != 1 {
		t.Fatalf("Len() = %d, want only the fast subscriber", h.Len())
	}
	// The slow one gets what was in flight, in order, then 1008.
	last := uint64(0)
	snapshots := 0
	for {
		_, b, err := slow.Read(t.Context())
		if err != nil {
			if s := websocket.CloseStatus(err); s != websocket.StatusPolicyViolation || !strings.Contains(err.Error(), "subscriber too slow") {
				t.Fatalf("slow subscriber closed with %v (%v), want 1008 subscriber too slow", s, err)
			}
			break
		}
		e := envelope(t, b)
		if e.Seq <= last {
			t.Fatalf("slow subscriber got seq %d after %d", e.Seq, last)
		}
		if e.Type == wire.TypeSnapshot {
			snapshots++
		}
		last = e.Seq
	}
	if snapshots > 1 {
		t.Fatalf("%d coalesced snapshots, want at most 1", snapshots)
	}
	// The fast one is still served.
	msg, snap := bigWindow(seq+1, 100)
	h.Publish(seq+1, nil, msg, snap)
	in.expect(t, msg)
}

// stuck connects a subscriber that never reads and publishes 1 MiB
// windows until its queue has been coalesced once. It returns the last
// seq published.
func stuck(t *testing.T, h *Hub, srv *httptest.Server) uint64 {
	t.Helper()
	dial(t, wsURL(srv, ""))
	seq := uint64(0)
	for h.Coalesced() == 0 {
		if seq == 1000 {
			t.Fatal("never coalesced")
		}
		seq++
		msg, snap := bigWindow(seq, 1<<20)
		h.Publish(seq, nil, msg, snap)
	}
	if h.Dropped() != 0 {
		t.Fatal("dropped before being coalesced")
	}
	return seq
}

func TestSlowSubscriberBounds(t *testing.T) {
	t.Parallel()
	t.Run("second overflow", func(t *testing.T) {
		t.Parallel()
		const queueLen = 4
		h, srv := newServer(t, Options{QueueLen: queueLen, WriteTimeout: time.Minute})
		seq := stuck(t, h, srv)
		// The queue holds the snapshot: queueLen-1 more fit.
		for range queueLen - 1 {
			seq++
			msg, snap := bigWindow(seq, 100)
			h.Publish(seq, nil, msg, snap)
		}
		if h.Dropped() != 0 || h.Len() != 1 {
			t.Fatalf("dropped with room in its queue")
		}
		msg, snap := bigWindow(seq+1, 100)
		h.Publish(seq+1, nil, msg, snap)
		if h.Dropped() != 1 || h.Len() != 0 || h.Coalesced() != 1 {
			t.Fatalf("after the second overflow: Dropped %d, Len %d, Coalesced %d; want 1, 0, 1", h.Dropped(), h.Len(), h.Coalesced())
		}
	})
	t.Run("behind too long", func(t *testing.T) {
		t.Parallel()
		var now atomic.Int64
		now.Store(t0.UnixNano())
		clock := func() time.Time { return time.Unix(0, now.Load()) }
		h, srv := newServer(t, Options{QueueLen: 8, MaxLag: 10 * time.Second, Now: clock, WriteTimeout: time.Minute})
		seq := stuck(t, h, srv)
		now.Add(int64(10 * time.Second))
		msg, snap := bigWindow(seq+1, 100)
		h.Publish(seq+1, nil, msg, snap)
		if h.Dropped() != 0 {
			t.Fatal("dropped at exactly MaxLag")
		}
		now.Add(int64(time.Millisecond))
		msg, snap = bigWindow(seq+2, 100)
		h.Publish(seq+2, nil, msg, snap)
		if h.Dropped() != 1 || h.Len() != 0 {
			t.Fatalf("behind past MaxLag: Dropped %d, Len %d; want 1, 0", h.Dropped(), h.Len())
		}
	})
	t.Run("no snapshot to coalesce into", func(t *testing.T) {
		t.Parallel()
		h, srv := newServer(t, Options{QueueLen: 2, WriteTimeout: time.Minute})
		dial(t, wsURL(srv, ""))
		for seq := uint64(1); h.Dropped() == 0; seq++ {
			if seq == 1000 {
				t.Fatal("never dropped")
			}
			msg, _ := bigWindow(seq, 1<<20)
			h.Publish(seq, nil, msg, nil)
		}
		if h.Coalesced() != 0 {
			t.Fatalf("Coalesced %d without a snapshot", h.Coalesced())
		}
	})
}

func TestPing(t *testing.T) {
	t.Parallel()
	t.Run("keeps an idle connection", func(t *testing.T) {
		t.Parallel()
		h, srv := newServer(t, Options{PingInterval: time.Millisecond, PingTimeout: time.Minute})
		pings := make(chan struct{}, 100)
		c := dialOpts(t, wsURL(srv, ""), &websocket.DialOptions{
			OnPingReceived: func(context.Context, []byte) bool {
				select {
				case pings <- struct{}{}:
				default:
				}
				return true // answer it
			},
		})
		in := readInBackground(c)
		for range 20 {
			<-pings
		}
		w1 := publish(h, 1)
		in.expect(t, w1)
		if h.Len() != 1 {
			t.Fatalf("Len() = %d, want 1", h.Len())
		}
	})
	t.Run("drops a peer that does not answer", func(t *testing.T) {
		t.Parallel()
		h, srv := newServer(t, Options{PingInterval: time.Millisecond, PingTimeout: 20 * time.Millisecond})
		c := dial(t, wsURL(srv, "")) // never reads, so never answers
		h.wg.Wait()                  // its handler has given up
		if h.Len() != 0 {
			t.Fatalf("Len() = %d, want 0", h.Len())
		}
		if _, _, err := c.Read(t.Context()); err == nil {
			t.Fatal("read on a dropped connection succeeded")
		}
	})
}

// After many connects and disconnects of every kind, and Close, no
// goroutine is left behind.
func TestNoGoroutineLeak(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	h := New(Options{PingInterval: 5 * time.Millisecond})
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx := t.Context()
	seq := uint64(1)
	publish(h, seq)
	connect := func(j int) *websocket.Conn {
		url := wsURL(srv, "")
		switch j % 3 {
		case 1:
			url += "?vehicle_id=A"
		case 2:
			url += "?since_seq=0"
		}
		c, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Errorf("dial: %v", err)
			return nil
		}
		if _, _, err := c.Read(ctx); err != nil {
			t.Errorf("first read: %v", err)
			c.CloseNow()
			return nil
		}
		return c
	}

	// 950 come and go, 50 at a time, in four ways.
	const conns, batch = 1000, 50
	for i := 0; i < conns-batch; i += batch {
		var wg sync.WaitGroup
		for j := range batch {
			wg.Go(func() {
				c := connect(j)
				if c == nil {
					return
				}
				defer c.CloseNow()
				switch j % 4 {
				case 0:
					c.Close(websocket.StatusNormalClosure, "")
				case 1:
					c.CloseNow()
				case 2:
					c.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","vehicle_ids":["B"]}`))
					c.Close(websocket.StatusNormalClosure, "")
				case 3:
					c.Write(ctx, websocket.MessageText, []byte(`nonsense`))
					for {
						if _, _, err := c.Read(ctx); err != nil {
							if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
								t.Errorf("after a bad message: %v", err)
							}
							return
						}
					}
				}
			})
		}
		wg.Wait()
		seq++
		publish(h, seq)
	}

	// The last 50 are connected when the hub closes.
	var connected, done sync.WaitGroup
	for j := range batch {
		connected.Add(1)
		done.Go(func() {
			c := connect(j)
			connected.Done()
			if c == nil {
				return
			}
			defer c.CloseNow()
			for {
				if _, _, err := c.Read(ctx); err != nil {
					if websocket.CloseStatus(err) != websocket.StatusGoingAway {
						t.Errorf("at Close: %v", err)
					}
					return
				}
			}
		})
	}
	connected.Wait()
	seq++
	publish(h, seq)
	h.Close()
	done.Wait()
	if h.Len() != 0 {
		t.Fatalf("Len() = %d after Close", h.Len())
	}
}
