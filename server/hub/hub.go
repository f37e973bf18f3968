// Package hub fans final windows out to WebSocket subscribers of /ws.
//
// Publish never waits for a subscriber: every message is encoded once by the
// caller and queued, shared, on each subscriber's bounded queue; a subscriber
// whose queue is full is disconnected with close code 1008. The hub owns one
// goroutine per connection (its HTTP handler); Close waits for all of them.
package hub

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Options configure a Hub.
type Options struct {
	// OriginPatterns are extra allowed Origin hosts (path.Match patterns)
	// besides the server's own host.
	OriginPatterns []string
	// QueueLen is how many messages a subscriber may lag behind before it
	// is disconnected. Defaults to 16.
	QueueLen int
	// MaxSubscribers caps connected subscribers; more get 503. Defaults to
	// 10000.
	MaxSubscribers int
	// WriteTimeout bounds one message write. Defaults to 10s.
	WriteTimeout time.Duration
	// Log gets connection errors. Defaults to discarding them.
	Log *slog.Logger
}

// Hub is the set of /ws subscribers. Create it with New.
type Hub struct {
	opt Options

	mu       sync.Mutex
	subs     map[*subscriber]struct{}
	snapshot []byte
	closing  bool
	done     chan struct{}
	wg       sync.WaitGroup
}

type subscriber struct {
	msgs chan []byte
	slow chan struct{} // closed when the queue overflowed
}

// New returns an empty Hub.
func New(opt Options) *Hub {
	if opt.QueueLen <= 0 {
		opt.QueueLen = 16
	}
	if opt.MaxSubscribers <= 0 {
		opt.MaxSubscribers = 10000
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = 10 * time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	return &Hub{opt: opt, subs: make(map[*subscriber]struct{}), done: make(chan struct{})}
}

// SetSnapshot sets the message a new subscriber gets first.
func (h *Hub) SetSnapshot(snapshot []byte) {
	h.mu.Lock()
	h.snapshot = snapshot
	h.mu.Unlock()
}

// Publish queues msg for every subscriber and makes snapshot the message new
// subscribers get first, atomically: a subscriber sees the snapshot that
// includes msg, or the one before it followed by msg. Neither slice may be
// changed afterwards.
func (h *Hub) Publish(msg, snapshot []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.snapshot = snapshot
	for s := range h.subs {
		select {
		case s.msgs <- msg:
		default:
			// Too far behind: disconnect it rather than wait.
			delete(h.subs, s)
			close(s.slow)
		}
	}
}

// Len returns the number of connected subscribers.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

var errBusy = errors.New("too many subscribers")

// subscribe registers a subscriber whose queue starts with the current
// snapshot.
func (h *Hub) subscribe() (*subscriber, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return nil, http.ErrServerClosed
	}
	if len(h.subs) >= h.opt.MaxSubscribers {
		return nil, errBusy
	}
	s := &subscriber{msgs: make(chan []byte, h.opt.QueueLen+1), slow: make(chan struct{})}
	if h.snapshot != nil {
		s.msgs <- h.snapshot
	}
	h.subs[s] = struct{}{}
	h.wg.Add(1)
	return s, nil
}

func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// ServeHTTP accepts a WebSocket subscriber and writes its messages until it
// goes away, falls behind, or the hub closes.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, err := h.subscribe()
	if err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":"` + err.Error() + `"}` + "\n"))
		return
	}
	defer h.wg.Done()
	defer h.unsubscribe(s)
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: h.opt.OriginPatterns})
	if err != nil {
		// Accept has answered the client.
		return
	}
	defer c.CloseNow()
	// Subscribers only listen; CloseRead handles their control frames.
	ctx := c.CloseRead(context.Background())
	for {
		select {
		case msg := <-s.msgs:
			if err := h.write(ctx, c, msg); err != nil {
				return
			}
		case <-s.slow:
			c.Close(websocket.StatusPolicyViolation, "subscriber too slow")
			return
		case <-ctx.Done():
			return
		case <-h.done:
			// Deliver what is queued (the flushed windows), then say
			// goodbye.
			for {
				select {
				case msg := <-s.msgs:
					if err := h.write(ctx, c, msg); err != nil {
						return
					}
				default:
					c.Close(websocket.StatusGoingAway, "server shutting down")
					return
				}
			}
		}
	}
}

func (h *Hub) write(ctx context.Context, c *websocket.Conn, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, h.opt.WriteTimeout)
	defer cancel()
	return c.Write(ctx, websocket.MessageText, msg)
}

// Close disconnects every subscriber with Going Away, after the messages
// already queued for it, refuses new ones, and waits for their handlers.
func (h *Hub) Close() error {
	h.mu.Lock()
	if !h.closing {
		h.closing = true
		close(h.done)
	}
	h.mu.Unlock()
	h.wg.Wait()
	return nil
}
