package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"fleetpulse/server/hub"
	"fleetpulse/server/ingest"
	"fleetpulse/server/stream"
	"fleetpulse/server/view"
	"fleetpulse/shared/telemetry"
	"fleetpulse/shared/wire"
	"fleetpulse/storage"
)

// deliverWindow is final window i (from 1) of TestDeliverNoGap: its
// vehicles are named after it, so that a snapshot shows which window it
// holds.
func deliverWindow(i int) telemetry.Window {
	end := time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC).Add(time.Duration(i) * 5 * time.Second)
	w := telemetry.Window{Fleet: telemetry.FleetRow{WindowStart: end.Add(-5 * time.Second), WindowEnd: end, VehiclesActive: 3, Events: 3}}
	for j := range 3 {
		w.Vehicles = append(w.Vehicles, telemetry.VehicleRow{
			WindowStart: w.Fleet.WindowStart, WindowEnd: end, VehicleID: fmt.Sprintf("W%03d-%d", i, j),
			Events: 1, AvgSpeedKPH: 40, MinSpeedKPH: 40, MaxSpeedKPH: 40, LastLat: 52.5, LastLon: 13.4, LastTS: end.Add(-time.Second),
		})
	}
	return w
}

// TestDeliverNoGap runs deliver, which publishes a window before the view
// makes its other encodings, against a real hub while subscribers connect
// at every moment. Each subscriber must get a snapshot holding exactly the
// rows of the window its seq names, then every later window once, in
// order, up to the last; and the state /data serves never goes back.
func TestDeliverNoGap(t *testing.T) {
	t.Parallel()
	const windows, maxSubscribers = 40, 400
	store, err := storage.Open(t.TempDir(), storage.Options{Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	v := view.New(0, nil, nil, time.Hour, time.Now)
	// A queue longer than the run: no subscriber is coalesced, so every
	// window must arrive as its own message.
	subs := hub.New(hub.Options{QueueLen: 2 * windows})
	subs.SetSnapshot(v.Current().Snapshot)
	srv := httptest.NewServer(subs)
	defer srv.Close()
	var stats stream.Stats
	met := newMetrics(&stats, subs, ingest.New(make(chan telemetry.Batch), ingest.Options{}),
		func() int64 { return 0 }, func() int { return 0 }, store.LastGoodWrite)

	in := make(chan telemetry.Window)
	delivered := make(chan error, 1)
	go func() { delivered <- deliver(in, nil, v, subs, store, nil, met, slog.New(slog.DiscardHandler)) }()

	// /data's state, read all along: its seq never goes back.
	stopReading := make(chan struct{})
	dataErr := make(chan error, 1)
	go func() {
		var last uint64
		for {
			select {
			case <-stopReading:
				dataErr <- nil
				return
			default:
			}
			s := v.Current().Seq
			if s < last {
				dataErr <- fmt.Errorf("/data went back from seq %d to %d", last, s)
				return
			}
			last = s
			runtime.Gosched()
		}
	}()

	// Subscribers connect one after another while the windows go out;
	// each one that has its snapshot lets the next window go.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	greeted := make(chan struct{}, 1)
	sending := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var problems []string
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	var connected int
	dialing := make(chan struct{})
	wg.Go(func() {
		defer close(dialing)
		for connected < maxSubscribers {
			select {
			case <-sending:
				return
			default:
			}
			c, _, err := websocket.Dial(ctx, url, nil)
			if err != nil {
				report("dial: %v", err)
				return
			}
			c.SetReadLimit(1 << 20)
			connected++
			wg.Go(func() { follow(ctx, c, windows, greeted, report) })
		}
	})
	for i := 1; i <= windows; i++ {
		in <- deliverWindow(i)
		select {
		case <-greeted:
		case <-ctx.Done():
			t.Fatal("no subscriber got its snapshot")
		}
	}
	// Stop dialing before the hub closes, which refuses new subscribers.
	close(sending)
	<-dialing
	close(in)
	if err := <-delivered; err != nil {
		t.Errorf("deliver: %v", err)
	}
	wg.Wait()
	close(stopReading)
	if err := <-dataErr; err != nil {
		t.Error(err)
	}
	if got := v.Current().Seq; got != windows {
		t.Errorf("/data seq = %d after %d windows", got, windows)
	}
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("%d subscribers", connected)
}

// follow reads one subscriber's messages until the hub closes: a snapshot,
// then the windows after it, each once and in order, up to the last.
func follow(ctx context.Context, c *websocket.Conn, last int, greeted chan<- struct{}, report func(string, ...any)) {
	defer c.CloseNow()
	var seq uint64
	for n := 0; ; n++ {
		_, b, err := c.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusGoingAway {
				report("subscriber after seq %d: %v", seq, err)
			} else if seq != uint64(last) {
				report("subscriber closed at seq %d, want %d", seq, last)
			}
			return
		}
		var env wire.Envelope
		if err := json.Unmarshal(b, &env); err != nil {
			report("bad message: %v", err)
			return
		}
		switch {
		case n == 0 && env.Type == wire.TypeSnapshot:
			var s wire.Snapshot
			if err := json.Unmarshal(b, &s); err != nil {
				report("bad snapshot: %v", err)
				return
			}
			if want := windowIDs(int(s.Seq)); fmt.Sprint(vehicleIDs(s.Vehicles)) != fmt.Sprint(want) {
				report("snapshot seq %d holds vehicles %v, want %v", s.Seq, vehicleIDs(s.Vehicles), want)
			}
			seq = s.Seq
			select {
			case greeted <- struct{}{}:
			default:
			}
		case n > 0 && env.Type == wire.TypeWindow:
			var w wire.Window
			if err := json.Unmarshal(b, &w); err != nil {
				report("bad window: %v", err)
				return
			}
			if w.Seq != seq+1 {
				report("window seq %d after %d", w.Seq, seq)
			}
			if want := windowIDs(int(w.Seq)); fmt.Sprint(vehicleIDs(w.Vehicles)) != fmt.Sprint(want) {
				report("window seq %d holds vehicles %v, want %v", w.Seq, vehicleIDs(w.Vehicles), want)
			}
			seq = w.Seq
		default:
			report("message %d is a %q", n, env.Type)
		}
	}
}

func windowIDs(i int) []string {
	if i == 0 {
		return nil
	}
	return vehicleIDs(deliverWindow(i).Vehicles)
}

func vehicleIDs(rows []telemetry.VehicleRow) []string {
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.VehicleID)
	}
	return ids
}
