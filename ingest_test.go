package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"

	"fleetpulse/shared/wire"
)

const testToken = "end-to-end-token-0123456789"

// TestIngestNothingLostNothingTwice runs concurrent producers over HTTP and
// WebSocket against the real server, with duplicates (retries), invalid
// lines and out-of-order events, then stops the server and checks that
// every accepted event is in a final window, late, or a counted duplicate,
// and every rejected line is counted.
func TestIngestNothingLostNothingTwice(t *testing.T) {
	s := startServerEnv(t, map[string]string{"FLEETPULSE_INGEST_TOKEN": testToken},
		"-vehicles", "0", "-window", "10s", "-lateness", "30s", "-idle-timeout", "1h")

	// A subscriber collects every final window, flushed ones included.
	sub := dialWS(t, s.url+"ws")
	var snap wire.Snapshot
	readMsg(t, sub, &snap)
	windows := make(chan []wire.Window, 1)
	go func() {
		var got []wire.Window
		for {
			_, b, err := sub.Read(context.Background())
			if err != nil {
				windows <- got
				return
			}
			var w wire.Window
			json.Unmarshal(b, &w)
			got = append(got, w)
		}
	}()

	start := time.Now().Add(-2 * time.Second).UnixMilli()
	// event makes producer p's k-th event; ts jitters back up to 1.5 s, so
	// events arrive out of order (but within the lateness).
	event := func(p, k int) string {
		ts := start + int64(k)*10 - int64((k*7919)%1500)
		return fmt.Sprintf(`{"vehicle_id":"P%d-%d","ts":%d,"lat":52.5,"lon":13.4,"speed_kmh":%d}`, p, k%7, ts, k%90)
	}
	batch := func(p, from int) string {
		var b strings.Builder
		for k := from; k < from+50; k++ {
			b.WriteString(event(p, k) + "\n")
		}
		b.WriteString(`{"vehicle_id":"P0-0","ts":"yesterday","lat":0,"lon":0,"speed_kmh":0}` + "\n") // one bad line
		return b.String()
	}

	var mu sync.Mutex
	accepted, rejected := 0, 0
	add := func(a, r int) { mu.Lock(); accepted += a; rejected += r; mu.Unlock() }

	var g errgroup.Group
	for p := range 3 { // HTTP producers
		g.Go(func() error {
			for i := range 20 {
				body := batch(p, i*50)
				sends := 1
				if i%5 == 4 {
					sends = 2 // a retry of an answered request: all duplicates
				}
				for range sends {
					req, _ := http.NewRequest(http.MethodPost, s.url+"ingest", strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+testToken)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						return err
					}
					var a struct{ Accepted, Rejected int }
					err = json.NewDecoder(resp.Body).Decode(&a)
					resp.Body.Close()
					if err != nil || resp.StatusCode != 200 {
						return fmt.Errorf("POST: %d %v", resp.StatusCode, err)
					}
					add(a.Accepted, a.Rejected)
				}
			}
			return nil
		})
	}
	for p := 3; p < 5; p++ { // WebSocket producers
		g.Go(func() error {
			h := http.Header{"Authorization": {"Bearer " + testToken}}
			c, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(s.url, "http")+"ingest", &websocket.DialOptions{HTTPHeader: h})
			if err != nil {
				return err
			}
			defer c.CloseNow()
			msgs := 20
			for i := range msgs {
				if err := c.Write(t.Context(), websocket.MessageText, []byte(batch(p, i*50))); err != nil {
					return err
				}
			}
			// Each message has one bad line, answered in order: once the
			// last answer is in, every message has been taken.
			for range msgs {
				if _, _, err := c.Read(t.Context()); err != nil {
					return err
				}
			}
			add(msgs*50, msgs)
			return c.Close(websocket.StatusNormalClosure, "")
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	// One event 50 s ahead moves the watermark 20 s past start; then ten
	// events stamped at start are late.
	postNDJSON := func(body string) {
		req, _ := http.NewRequest(http.MethodPost, s.url+"ingest", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	postNDJSON(fmt.Sprintf(`{"vehicle_id":"Q-1","ts":%d,"lat":52.5,"lon":13.4,"speed_kmh":1}`, start+50_000))
	var old strings.Builder
	for k := range 10 {
		fmt.Fprintf(&old, `{"vehicle_id":"Q-2","ts":%d,"lat":52.5,"lon":13.4,"speed_kmh":1}`+"\n", start+int64(k))
	}
	postNDJSON(old.String())
	accepted += 11
	s.shutdown(t)
	var got []wire.Window
	select {
	case got = <-windows:
	case <-time.After(10 * time.Second):
		t.Fatal("subscriber not closed after shutdown")
	}
	var events, late, dup, rej int64
	for _, w := range got {
		events += w.Fleet.Events
		late += w.Fleet.LateEvents
		dup += w.Fleet.DuplicateEvents
		rej += w.Fleet.RejectedEvents
	}
	t.Logf("accepted %d = %d in windows + %d late + %d duplicate; rejected %d", accepted, events, late, dup, rej)
	if events+late+dup != int64(accepted) {
		t.Errorf("accepted %d, but windows hold %d, late %d, duplicate %d: %d lost or doubled",
			accepted, events, late, dup, int64(accepted)-events-late-dup)
	}
	// 20 requests or messages per producer and 4 retries per HTTP
	// producer, each with one bad line.
	if want := 5*20 + 3*4; rej != int64(rejected) || rejected != want {
		t.Errorf("rejected: %d answered, %d in fleet rows, want %d both", rejected, rej, want)
	}
	if dup < 3*4*50 {
		t.Errorf("only %d duplicates counted; the retried requests alone hold %d", dup, 3*4*50)
	}
	if late != 10 {
		t.Errorf("%d late, want the 10 stamped behind the watermark", late)
	}
}
