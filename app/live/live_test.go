package live

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"fleetpulse/shared/telemetry"
	"fleetpulse/shared/wire"
)

var t0 = time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC)

func fleetRow(i int) telemetry.FleetRow {
	return telemetry.FleetRow{
		WindowStart:    t0.Add(time.Duration(i) * 10 * time.Second),
		WindowEnd:      t0.Add(time.Duration(i+1) * 10 * time.Second),
		VehiclesActive: 2,
		Events:         20,
		AvgSpeedKPH:    40 + float64(i),
		MaxSpeedKPH:    90,
		DistanceKM:     0.25,
	}
}

func vehicleRow(i int, id string) telemetry.VehicleRow {
	return telemetry.VehicleRow{
		WindowStart: t0.Add(time.Duration(i) * 10 * time.Second),
		WindowEnd:   t0.Add(time.Duration(i+1) * 10 * time.Second),
		VehicleID:   id,
		Events:      10,
		AvgSpeedKPH: 50,
		MinSpeedKPH: 10,
		MaxSpeedKPH: 90,
		DistanceKM:  0.125,
		LastLat:     52.52,
		LastLon:     13.405,
		LastTS:      t0.Add(time.Duration(i+1)*10*time.Second - time.Millisecond),
	}
}

func windowMsg(seq uint64, i int) []byte {
	f := fleetRow(i)
	return wire.AppendWindow(nil, seq, &f, []telemetry.VehicleRow{vehicleRow(i, "TRUCK-1"), vehicleRow(i, "TRUCK-2")})
}

func TestDecode(t *testing.T) {
	t.Parallel()
	snap := wire.AppendSnapshot(nil, 7, []telemetry.FleetRow{fleetRow(0), fleetRow(1)}, []telemetry.VehicleRow{vehicleRow(1, "A")})
	tests := []struct {
		name         string
		msg          string
		wantSnapshot bool
		wantWindow   bool
		wantErr      bool
	}{
		{"snapshot", string(snap), true, false, false},
		{"window", string(windowMsg(8, 2)), false, true, false},
		{"live", `{"type":"live","seq":8,"final":false,"fleet":{"events":3},"vehicles":[]}`, false, true, false},
		{"unknown type is skipped", `{"type":"hello","seq":1}`, false, false, false},
		{"not JSON", `{"type":`, false, false, true},
		{"snapshot with a bad body", `{"type":"snapshot","seq":1,"fleet":{}}`, false, false, true},
		{"window with a bad time", `{"type":"window","seq":1,"window_end":"soon"}`, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := Decode([]byte(tt.msg))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Decode error = %v, want error %v", err, tt.wantErr)
			}
			if (ev.Snapshot != nil) != tt.wantSnapshot || (ev.Window != nil) != tt.wantWindow {
				t.Fatalf("Decode = snapshot %v window %v, want %v %v", ev.Snapshot != nil, ev.Window != nil, tt.wantSnapshot, tt.wantWindow)
			}
		})
	}

	t.Run("fields", func(t *testing.T) {
		t.Parallel()
		ev, err := Decode(snap)
		if err != nil {
			t.Fatal(err)
		}
		s := ev.Snapshot
		if s.Seq != 7 || len(s.Fleet) != 2 || len(s.Vehicles) != 1 || s.Fleet[1].AvgSpeedKPH != 41 || !s.Fleet[1].WindowEnd.Equal(t0.Add(20*time.Second)) {
			t.Fatalf("snapshot decoded as %+v", s)
		}
		ev, err = Decode(windowMsg(9, 3))
		if err != nil {
			t.Fatal(err)
		}
		w := ev.Window
		if w.Seq != 9 || !w.Final || len(w.Vehicles) != 2 || w.Fleet.AvgSpeedKPH != 43 || !w.WindowEnd.Equal(t0.Add(40*time.Second)) {
			t.Fatalf("window decoded as %+v", w)
		}
	})
}

func TestSocketURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		page, path, want string
		wantErr          bool
	}{
		{"http://127.0.0.1:8080/", "/ws", "ws://127.0.0.1:8080/ws", false},
		{"https://fleet.example.org/overview?x=1", "/ws", "wss://fleet.example.org/ws", false},
		{"http://localhost:8080/", "", "ws://localhost:8080/ws", false},
		{"http://localhost/", "/api/ws?compact=1", "ws://localhost/api/ws?compact=1", false},
		{"file:///index.html", "/ws", "", true},
		{"ftp://host/", "/ws", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.page+tt.path, func(t *testing.T) {
			t.Parallel()
			page, err := url.Parse(tt.page)
			if err != nil {
				t.Fatal(err)
			}
			got, err := SocketURL(page, tt.path)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("SocketURL(%q, %q) = %q, %v; want %q, error %v", tt.page, tt.path, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// recordWait is a Feed.Wait that returns at once and remembers the delays.
type recordWait struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (w *recordWait) wait(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.delays = append(w.delays, d)
	w.mu.Unlock()
	return ctx.Err()
}

func next(t *testing.T, events <-chan Event) Event {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("feed closed its channel early")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event from the feed within 10s")
	}
	panic("unreachable")
}

// TestFeedReconnectsAndResumes runs a feed against a real WebSocket server
// that drops the first connection after two messages, and checks the states,
// the messages, the backoff delay and the since_seq of the second dial.
func TestFeedReconnectsAndResumes(t *testing.T) {
	t.Parallel()
	queries := make(chan url.Values, 2)
	var conns int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries <- r.URL.Query()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		mu.Lock()
		conns++
		n := conns
		mu.Unlock()
		ctx := c.CloseRead(context.Background())
		switch n {
		case 1:
			snap := wire.AppendSnapshot(nil, 3, []telemetry.FleetRow{fleetRow(0)}, nil)
			// A big first message checks that the read limit was raised.
			snap = append(snap[:len(snap)-1], `,"pad":"`+strings.Repeat("x", 100<<10)+`"}`...)
			if c.Write(ctx, websocket.MessageText, snap) != nil {
				return
			}
			if c.Write(ctx, websocket.MessageText, windowMsg(4, 1)) != nil {
				return
			}
			c.Close(websocket.StatusPolicyViolation, "too slow")
		default:
			if c.Write(ctx, websocket.MessageText, windowMsg(5, 2)) != nil {
				return
			}
			<-ctx.Done()
		}
	}))
	defer srv.Close()

	rw := &recordWait{}
	f := &Feed{
		URL:     "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws",
		Backoff: Backoff{Min: time.Second, Max: 8 * time.Second},
		Rand:    func() float64 { return 0.5 },
		Wait:    rw.wait,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan Event)
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, events) }()

	if ev := next(t, events); ev.State != Connecting {
		t.Fatalf("first event state %v, want connecting", ev.State)
	}
	if ev := next(t, events); ev.State != Connected || ev.Snapshot != nil || ev.Window != nil {
		t.Fatalf("second event %+v, want bare connected", ev)
	}
	if ev := next(t, events); ev.Snapshot == nil || ev.Snapshot.Seq != 3 || len(ev.Snapshot.Fleet) != 1 {
		t.Fatalf("third event %+v, want snapshot seq 3", ev)
	}
	if ev := next(t, events); ev.Window == nil || ev.Window.Seq != 4 || len(ev.Window.Vehicles) != 2 {
		t.Fatalf("fourth event %+v, want window seq 4", ev)
	}
	ev := next(t, events)
	if ev.State != Reconnecting || ev.Err == nil || ev.RetryIn != 500*time.Millisecond {
		t.Fatalf("fifth event %+v, want reconnecting in 500ms with an error", ev)
	}
	if q := <-queries; q.Has("since_seq") {
		t.Errorf("first dial had since_seq=%s, want none", q.Get("since_seq"))
	}
	if q := <-queries; q.Get("since_seq") != "4" {
		t.Errorf("second dial since_seq=%q, want 4", q.Get("since_seq"))
	}
	if ev := next(t, events); ev.State != Connected {
		t.Fatalf("sixth event %+v, want connected", ev)
	}
	if ev := next(t, events); ev.Window == nil || ev.Window.Seq != 5 {
		t.Fatalf("seventh event %+v, want window seq 5", ev)
	}

	cancel()
	for range events {
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	if f.LastSeq() != 5 {
		t.Errorf("LastSeq = %d, want 5", f.LastSeq())
	}
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if len(rw.delays) != 1 || rw.delays[0] != 500*time.Millisecond {
		t.Errorf("waits %v, want [500ms]", rw.delays)
	}
}

// TestFeedBacksOffWhileDown dials a closed port and checks that the waits
// grow exponentially up to the cap.
func TestFeedBacksOffWhileDown(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens there now

	rw := &recordWait{}
	f := &Feed{
		URL:     "ws" + strings.TrimPrefix(addr, "http") + "/ws",
		Backoff: Backoff{Min: time.Second, Max: 4 * time.Second},
		Rand:    func() float64 { return 0.5 },
		Wait:    rw.wait,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan Event)
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, events) }()

	if ev := next(t, events); ev.State != Connecting {
		t.Fatalf("first event %+v, want connecting", ev)
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 2 * time.Second}
	for i, w := range want {
		ev := next(t, events)
		if ev.State != Reconnecting || ev.Err == nil || ev.RetryIn != w {
			t.Fatalf("retry %d: %+v, want reconnecting in %v with an error", i, ev, w)
		}
	}
	cancel()
	for range events {
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
}

func TestFeedNeedsURL(t *testing.T) {
	t.Parallel()
	events := make(chan Event)
	if err := (&Feed{}).Run(context.Background(), events); err == nil {
		t.Fatal("Run with no URL returned nil")
	}
	if _, ok := <-events; ok {
		t.Fatal("Run with no URL left its channel open")
	}
}
