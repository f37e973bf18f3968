package ingest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"fleetpulse/shared/telemetry"
)

// benchBody is an NDJSON batch of n events of 10,000 vehicles, about 140
// bytes a line, like `fleetpulse loadgen` sends.
func benchBody(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `{"vehicle_id":"LOAD-%06d","ts":%d,"lat":53.551123,"lon":9.993712,"speed_kmh":48.3,"heading_deg":90,"fuel_pct":71.5}`+"\n",
			i%10_000+1, now.UnixMilli()-int64(i))
	}
	return b.Bytes()
}

// drain takes batches off out until stop is closed, then until want
// (sent on stop's companion) events have arrived in all.
func drain(out <-chan telemetry.Batch, want <-chan int, done chan<- struct{}) {
	got, target := 0, -1
	for target < 0 || got < target {
		select {
		case b := <-out:
			got += len(b.Events)
			if b.Recycle != nil {
				b.Recycle(b.Events) // as the window stage does
			}
		case target = <-want:
			want = nil
		}
	}
	close(done)
}

// BenchmarkServeWS sends 1,000-event messages over one real WebSocket
// connection on loopback and waits until every event reached the stage's
// channel: the server's read path (frame reading, decoding, validation).
func BenchmarkServeWS(b *testing.B) {
	_, srv, out := newIngest(b, 64, Options{})
	body := benchBody(1000)
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws"+srv.URL[len("http"):]+"/ingest", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	want, done := make(chan int, 1), make(chan struct{})
	go drain(out, want, done)
	sent := 0
	b.SetBytes(int64(len(body)))
	start := time.Now()
	for b.Loop() {
		if err := c.Write(ctx, websocket.MessageText, body); err != nil {
			b.Fatal(err)
		}
		sent += 1000
	}
	want <- sent
	<-done
	b.ReportMetric(float64(sent)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkServeHTTP posts 1,000-event NDJSON bodies, one request at a
// time, through a real loopback connection.
func BenchmarkServeHTTP(b *testing.B) {
	_, srv, out := newIngest(b, 64, Options{})
	body := benchBody(1000)
	client := srv.Client()
	want, done := make(chan int, 1), make(chan struct{})
	go drain(out, want, done)
	b.SetBytes(int64(len(body)))
	sent := 0
	start := time.Now()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/ingest", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
		sent += 1000
	}
	want <- sent
	<-done
	b.ReportMetric(float64(sent)/time.Since(start).Seconds(), "events/s")
}
