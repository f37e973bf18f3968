package hub

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// BenchmarkPublish fans one window message out to subscribers connected
// over loopback, whose clients read in goroutines of their own. One op is
// one Publish plus its delivery to every subscriber: the next Publish
// waits for that, so that no subscriber falls behind. It reports:
//
//   - ns/op: Publish until every subscriber has the whole message;
//   - publish-ns/op: the Publish call alone, which is all the caller waits;
//   - p50-us, p99-us: from Publish to a client having read the whole
//     message, over every subscriber and message;
//   - server-B/sub: the heap and stack the server side of one idle
//     subscriber takes (measured with bare TCP clients, so the clients'
//     memory is left out).
func BenchmarkPublish(b *testing.B) {
	for _, size := range []int{2 << 10, 200 << 10} {
		for _, n := range []int{100, 1000} {
			b.Run(fmt.Sprintf("msg=%dKB/subs=%d", size>>10, n), func(b *testing.B) {
				benchPublish(b, size, n)
			})
		}
	}
}

func benchPublish(b *testing.B, size, n int) {
	h := New(Options{MaxSubscribers: n})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close()

	perSub := serverBytesPerSubscriber(b, h, srv, n)

	msg, _ := bigWindow(1, size)
	var stamp atomic.Int64 // when the message in flight was published
	var delivered sync.WaitGroup
	latencies := make([][]time.Duration, n)
	var readers sync.WaitGroup
	defer readers.Wait()
	for i := range n {
		c, _, err := websocket.Dial(context.Background(), wsURL(srv, ""), nil)
		if err != nil {
			b.Fatalf("dial: %v", err)
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		readers.Go(func() {
			for {
				_, r, err := c.Reader(context.Background())
				if err != nil {
					return
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					return
				}
				latencies[i] = append(latencies[i], time.Duration(time.Now().UnixNano()-stamp.Load()))
				delivered.Done()
			}
		})
	}

	var inPublish time.Duration
	ops := 0
	for seq := uint64(1); b.Loop(); seq++ {
		delivered.Add(n)
		start := time.Now()
		stamp.Store(start.UnixNano())
		h.Publish(seq, nil, msg, nil)
		inPublish += time.Since(start)
		delivered.Wait()
		ops++
	}
	if h.Dropped() != 0 || h.Coalesced() != 0 {
		b.Fatalf("Dropped %d, Coalesced %d: the benchmark must not overrun its subscribers", h.Dropped(), h.Coalesced())
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	b.ReportMetric(perSub, "server-B/sub")
	b.ReportMetric(float64(inPublish.Nanoseconds())/float64(ops), "publish-ns/op")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-us")
}

// serverBytesPerSubscriber connects n bare TCP clients that do the
// WebSocket handshake and nothing else, and returns how much the heap and
// stacks grew per subscriber. It closes them again before returning.
func serverBytesPerSubscriber(b *testing.B, h *Hub, srv *httptest.Server, n int) float64 {
	b.Helper()
	addr := strings.TrimPrefix(srv.URL, "http://")
	goroutines := runtime.NumGoroutine()
	before := memInUse()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			b.Fatalf("handshake: %v %v", resp, err)
		}
		conns = append(conns, c)
	}
	// Each handler starts its reader just after the handshake: wait for
	// them all (the one poll in this package, for readiness only).
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() < goroutines+2*n; {
		if time.Now().After(deadline) {
			b.Fatalf("%d goroutines, want %d", runtime.NumGoroutine(), goroutines+2*n)
		}
		runtime.Gosched()
	}
	after := memInUse()
	for _, c := range conns {
		c.Close()
	}
	h.wg.Wait()
	return float64(after-before) / float64(n)
}

func memInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
