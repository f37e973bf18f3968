package tail

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"fleetpulse/shared/telemetry"
	"fleetpulse/shared/wire"
)

func window(seq uint64, end time.Time) []byte {
	f := telemetry.FleetRow{WindowStart: end.Add(-10 * time.Second), WindowEnd: end, VehiclesActive: 2, Events: 20, AvgSpeedKPH: 31.5, MaxSpeedKPH: 50}
	return wire.AppendWindow(nil, seq, &f, nil)
}

// fakeWS imitates /ws: each connection gets a snapshot (unless resuming)
// and then the windows after the requested seq, then drops, so the
// client must reconnect.
func fakeWS(t *testing.T) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var queries []string
	base := time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		first := len(queries) == 1
		mu.Unlock()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		if first {
			c.Write(ctx, websocket.MessageText, wire.AppendSnapshot(nil, 1, nil, nil))
			c.Write(ctx, websocket.MessageText, window(2, base))
			c.Write(ctx, websocket.MessageText, window(3, base.Add(10*time.Second)))
			c.Close(websocket.StatusGoingAway, "restart")
			return
		}
		c.Write(ctx, websocket.MessageText, window(4, base.Add(20*time.Second)))
		c.Close(websocket.StatusNormalClosure, "")
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), queries...) }
}

func TestTailResumesAfterADrop(t *testing.T) {
	t.Parallel()
	srv, queries := fakeWS(t)
	var out, errs bytes.Buffer
	err := Run(t.Context(), []string{"-url", srv.URL, "-format", "json", "-count", "3", "-vehicle-id", "BUS-1"}, &out, &errs)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], `"type":"snapshot"`) || !strings.Contains(lines[3], `"seq":4`) {
		t.Fatalf("output:\n%s", out.String())
	}
	q := queries()
	if len(q) != 2 || q[0] != "vehicle_id=BUS-1" || q[1] != "since_seq=3&vehicle_id=BUS-1" {
		t.Fatalf("queries %q: want the second to resume after seq 3", q)
	}
	if !strings.Contains(errs.String(), "reconnecting") {
		t.Errorf("stderr %q: want a reconnect notice", errs.String())
	}
}

func TestTailTable(t *testing.T) {
	t.Parallel()
	srv, _ := fakeWS(t)
	var out bytes.Buffer
	if err := Run(t.Context(), []string{"-url", srv.URL, "-count", "2"}, &out, new(bytes.Buffer)); err != nil {
		t.Fatal(err)
	}
	want := []string{"snapshot seq 1", "seq", "2      2026-11-27T04:40:00.000Z", "31.50", "3      2026-11-27T04:40:10.000Z"}
	for _, w := range want {
		if !strings.Contains(out.String(), w) {
			t.Errorf("table lacks %q:\n%s", w, out.String())
		}
	}
}

func TestTailFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-format", "xml"}, {"-url", "ftp://x"}, {"-since-seq", "abc"}, {"-url", "nohost"}} {
		if err := Run(context.Background(), args, new(bytes.Buffer), new(bytes.Buffer)); err == nil {
			t.Errorf("Run(%q) accepted bad flags", args)
		}
	}
}
