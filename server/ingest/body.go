package ingest

import (
	"context"
	"io"
	"sync"

	"github.com/coder/websocket"

	"fleetpulse/shared/telemetry"
)

// bodies recycles the buffers that POST bodies and WebSocket messages are
// read into. Reading a 140 KB batch with io.ReadAll allocated and cleared
// about 300 KB per batch, a fifth of the server's CPU under load; a
// recycled buffer is cleared never and grown only until it fits. The pool
// drops buffers at each GC, so what it keeps is bounded by the live load,
// not by the largest body ever seen.
var bodies = sync.Pool{New: func() any { return new([]byte) }}

// getBody returns a recycled buffer with room for at least hint bytes.
func getBody(hint int64) *[]byte {
	p := bodies.Get().(*[]byte)
	if hint > 0 && int64(cap(*p)) < hint {
		*p = make([]byte, 0, hint)
	}
	return p
}

// putBody recycles p. Nothing may keep a reference into it: decoded events
// hold interned or copied strings only.
func putBody(p *[]byte) {
	*p = (*p)[:0]
	bodies.Put(p)
}

// readAll reads r to its end into *p, replacing its contents and growing
// it as needed, and returns what it read.
func readAll(r io.Reader, p *[]byte) ([]byte, error) {
	b := (*p)[:0]
	defer func() { *p = b[:0] }()
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// readMessage reads c's next message into *p, as c.Read would into a new
// slice; the read limit and close handling are c's.
func readMessage(ctx context.Context, c *websocket.Conn, p *[]byte) (websocket.MessageType, []byte, error) {
	typ, r, err := c.Reader(ctx)
	if err != nil {
		return 0, nil, err
	}
	b, err := readAll(r, p)
	return typ, b, err
}

// events recycles the event slices of batches: the window stage hands each
// back through Batch.Recycle once it has folded the events in. A recycled
// slice is warm in the cache and costs the GC nothing; a new 1,000-event
// slice is 64 KB to allocate, clear and later sweep.
var events = sync.Pool{New: func() any { return new([]telemetry.Event) }}

// getEvents returns an empty slice with room for n events.
func getEvents(n int) []telemetry.Event {
	p := events.Get().(*[]telemetry.Event)
	s := *p
	*p = nil
	eventSlices.Put(p)
	if cap(s) < n {
		return make([]telemetry.Event, 0, n)
	}
	return s[:0]
}

// putEvents is Batch.Recycle for ingest's batches.
func putEvents(s []telemetry.Event) {
	clear(s) // keep no vehicle ids alive
	p := eventSlices.Get().(*[]telemetry.Event)
	*p = s[:0]
	events.Put(p)
}

// eventSlices recycles the pointers events holds its slices in, so that
// neither direction allocates.
var eventSlices = sync.Pool{New: func() any { return new([]telemetry.Event) }}
