package ingest

import (
	"context"
	"errors"
	"net/http"
	"os"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"

	"fleetpulse/server/wal"
	"fleetpulse/shared/telemetry"
)

// openWAL runs a real write-ahead log in a temporary folder whose fsync
// fails while failing is set.
func openWAL(t *testing.T, dir string, failing *atomic.Bool) *wal.WAL {
	t.Helper()
	w, err := wal.Open(dir, wal.Options{Sync: func(f *os.File) error {
		if failing.Load() {
			return errors.New("injected fsync failure")
		}
		return f.Sync()
	}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	t.Cleanup(func() { w.Close(); <-done })
	return w
}

// TestWALBeforeTheAnswer: with a write-ahead log, a 200 means the events
// are in it; an fsync failure gives 503 with Retry-After (WebSocket: close
// 1013), and nothing reaches the window stage.
func TestWALBeforeTheAnswer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var failing atomic.Bool
	w := openWAL(t, dir, &failing)
	_, srv, out := newIngest(t, 4, Options{WAL: w})

	r := post(t, srv.URL, "Bearer "+token, line("VAN-1", now)+"\n"+line("VAN-2", now)+"\n")
	if r.status != http.StatusOK || r.answer.Accepted != 2 {
		t.Fatalf("POST: %d %s", r.status, r.raw)
	}
	<-out
	if st := w.Stats(); st.Appends != 1 || st.Syncs != 1 {
		t.Fatalf("after a 200 the log has %d appends, %d fsyncs; want 1 and 1", st.Appends, st.Syncs)
	}

	failing.Store(true)
	r = post(t, srv.URL, "Bearer "+token, line("VAN-3", now)+"\n")
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("POST with a failing fsync: %d %s, want 503 with Retry-After", r.status, r.raw)
	}
	c, _, err := dialIngest(t, srv.URL, "Bearer "+token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(t.Context(), websocket.MessageText, []byte(line("VAN-4", now))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(t.Context()); websocket.CloseStatus(err) != websocket.StatusTryAgainLater {
		t.Fatalf("WebSocket message with a failing fsync: %v, want close 1013", err)
	}
	select {
	case b := <-out:
		t.Fatalf("a batch that is not durable reached the stage: %+v", b)
	default:
	}

	// What got the 200 is on disk: a fresh open of the folder replays it.
	failing.Store(false)
	w.Close()
	w2, err := wal.Open(dir, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	w2.Replay(func(ev []telemetry.Event) error {
		for _, e := range ev {
			ids = append(ids, e.VehicleID)
		}
		return nil
	})
	if len(ids) != 2 || ids[0] != "VAN-1" || ids[1] != "VAN-2" {
		t.Fatalf("replayed %v, want [VAN-1 VAN-2]", ids)
	}
}
