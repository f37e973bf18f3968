package hub

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"fleetpulse/shared/wire"
)

func TestLiveUpdates(t *testing.T) {
	t.Parallel()
	h, srv := newServer(t, Options{})
	h.SetSnapshot(wire.AppendSnapshot(nil, 0, nil, nil))
	all := dial(t, wsURL(srv, ""))
	onlyA := dial(t, wsURL(srv, "vehicle_id=A"))
	w1 := publish(h, 1)
	open, _, _ := window(2)
	live := wire.AppendLive(nil, 1, &open.Fleet, open.Vehicles)
	h.PublishLive(open, live)
	expect(t, all, wire.AppendSnapshot(nil, 0, nil, nil), w1, live)
	read(t, onlyA) // snapshot
	read(t, onlyA) // window 1, filtered
	var got wire.Window
	if err := json.Unmarshal(read(t, onlyA), &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != wire.TypeLive || got.Final || got.Seq != 1 || len(got.Vehicles) != 1 || got.Vehicles[0].VehicleID != "A" {
		t.Fatalf("filtered live message: %+v", got)
	}
	w2 := publish(h, 2)
	expect(t, all, w2)
}

func TestLiveNeverCountsAgainstASubscriber(t *testing.T) {
	t.Parallel()
	s := &subscriber{wake: make(chan struct{}, 1)}
	live := func(n byte) item { return item{msg: []byte{n}, live: true} }
	if !s.offerLive(live(1), 2) || !s.offerLive(live(2), 2) || len(s.q) != 1 || s.q[0].msg[0] != 2 {
		t.Fatalf("a queued live update was not replaced: %v", s.q)
	}
	// A final window supersedes the unsent live update.
	now := time.Now()
	if v := s.queue(item{seq: 1, msg: []byte("w1")}, nil, now, 2, time.Second); v != queued || len(s.q) != 1 || s.q[0].live {
		t.Fatalf("final after live: %v, queue %v", v, s.q)
	}
	// A full queue skips live updates, without counting it as behind.
	s.queue(item{seq: 2, msg: []byte("w2")}, nil, now, 2, time.Second)
	if s.offerLive(live(4), 2) || s.gone || !s.behind.IsZero() {
		t.Fatal("a full queue took a live update, or the subscriber was marked behind")
	}
}

// TestCloseIsBoundedByAStuckSubscriber: a subscriber that stopped reading
// with messages queued cannot hold Close past its grace.
func TestCloseIsBoundedByAStuckSubscriber(t *testing.T) {
	t.Parallel()
	h := New(Options{CloseGrace: 50 * time.Millisecond, QueueLen: 64})
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := dial(t, wsURL(srv, "")) // never reads
	defer c.CloseNow()
	for seq := uint64(1); seq <= 40; seq++ {
		msg, snap := bigWindow(seq, 1<<20)
		h.Publish(seq, nil, msg, snap)
	}
	closed := make(chan struct{})
	go func() {
		h.Close()
		close(closed)
	}()
	<-closed // without the grace, this waits for the 10 s write timeout or for ever
	if h.Len() != 0 {
		t.Fatalf("%d subscribers left after Close", h.Len())
	}
}
