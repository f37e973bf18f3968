package hub

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/coder/websocket"
)

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(t.Context(), "ws"+url[len("http"):], nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.SetReadLimit(64 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func read(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	_, b, err := c.Read(t.Context())
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

func TestSnapshotThenWindowsInOrder(t *testing.T) {
	t.Parallel()
	h := New(Options{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	h.SetSnapshot([]byte("snap0"))
	a := dial(t, srv.URL)
	h.Publish([]byte("w1"), []byte("snap1"))
	b := dial(t, srv.URL)
	h.Publish([]byte("w2"), []byte("snap2"))
	for _, tc := range []struct {
		c    *websocket.Conn
		want []string
	}{{a, []string{"snap0", "w1", "w2"}}, {b, []string{"snap1", "w2"}}} {
		for _, want := range tc.want {
			if got := read(t, tc.c); got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		}
	}
	if n := h.Len(); n != 2 {
		t.Fatalf("Len() = %d, want 2", n)
	}
}

func TestSlowSubscriberIsDisconnected(t *testing.T) {
	t.Parallel()
	h := New(Options{QueueLen: 4})
	srv := httptest.NewServer(h)
	defer srv.Close()
	slow := dial(t, srv.URL) // never reads until the end
	fast := dial(t, srv.URL)
	recv := make(chan struct{})
	go func() {
		defer close(recv)
		for {
			if _, _, err := fast.Read(context.Background()); err != nil {
				return
			}
			recv <- struct{}{}
		}
	}()
	big := bytes.Repeat([]byte("x"), 256<<10)
	published := 0
	// Publish at the fast reader's pace. The slow one's socket buffers
	// fill, then its queue: it is dropped without Publish ever blocking.
	for published < 4000 && h.Len() == 2 {
		h.Publish(big, nil)
		published++
		<-recv
	}
	if h.Len() != 1 {
		t.Fatalf("slow subscriber still connected after %d messages", published)
	}
	for {
		_, _, err := slow.Read(t.Context())
		if err != nil {
			if s := websocket.CloseStatus(err); s != websocket.StatusPolicyViolation {
				t.Fatalf("slow subscriber closed with %v (%v), want 1008", s, err)
			}
			break
		}
	}
	if h.Len() != 1 {
		t.Fatal("the fast subscriber was dropped too")
	}
	h.Close()
}

func TestCloseDeliversQueuedThenGoingAway(t *testing.T) {
	t.Parallel()
	h := New(Options{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := dial(t, srv.URL)
	h.Publish([]byte("last"), nil)
	h.Close()
	if got := read(t, c); got != "last" {
		t.Fatalf("got %q, want the queued window", got)
	}
	_, _, err := c.Read(t.Context())
	if s := websocket.CloseStatus(err); s != websocket.StatusGoingAway {
		t.Fatalf("close status %v (%v), want 1001", s, err)
	}
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
	h := New(Options{MaxSubscribers: 1, OriginPatterns: []string{"dash.example.com"}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close()
	ws := "ws" + srv.URL[len("http"):]
	first := dial(t, srv.URL)
	_ = first
	_, resp, err := websocket.Dial(t.Context(), ws, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second subscriber over the cap: err %v, resp %v; want 503", err, resp)
	}
	first.Close(websocket.StatusNormalClosure, "")
	h.wg.Wait() // its handler has left
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"https://evil.example.net", false},
		{"https://dash.example.com", true},
		{"", true}, // services send no Origin
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
