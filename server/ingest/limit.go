package ingest

import (
	"crypto/sha256"
	"math"
	"sync"
	"time"
)

// Limit is a rate per ingest token. A zero field means no limit of that
// kind.
type Limit struct {
	// EventsPerSecond is the sustained rate of valid events. The bucket
	// holds one second's worth; a request larger than that is admitted
	// when the bucket is full and leaves it in debt, so that any request
	// within the body limits can pass and the long-run rate still holds.
	EventsPerSecond float64
	// RequestsPerSecond is the sustained rate of POST requests and
	// WebSocket messages; the bucket holds one second's worth, at least 1.
	RequestsPerSecond float64
}

// limiter keeps a pair of token buckets per ingest token. A request is first
// checked without taking anything (before its body is read), then reserved
// once its events are counted, and refunded when it is refused later on, so
// that nothing of a refused request counts. It is safe for concurrent use.
type limiter struct {
	lim Limit
	now func() time.Time

	mu      sync.Mutex
	buckets map[[sha256.Size]byte]*buckets
}

type buckets struct {
	events, requests float64 // may go below zero: debt
	at               time.Time
}

// maxBuckets bounds the map; only valid tokens get a bucket, so this is
// reached only with a very large, often rotated token file.
const maxBuckets = 10_000

func newLimiter(lim Limit, now func() time.Time) *limiter {
	return &limiter{lim: lim, now: now, buckets: make(map[[sha256.Size]byte]*buckets)}
}

func (l *limiter) enabled() bool {
	return l.lim.EventsPerSecond > 0 || l.lim.RequestsPerSecond > 0
}

func (l *limiter) eventCap() float64   { return max(l.lim.EventsPerSecond, 1) }
func (l *limiter) requestCap() float64 { return max(l.lim.RequestsPerSecond, 1) }

// bucket returns key's buckets refilled to now; l.mu is held.
func (l *limiter) bucket(key [sha256.Size]byte) *buckets {
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			// Full buckets carry no state worth keeping.
			for k, o := range l.buckets {
				l.refill(o, now)
				if o.events >= l.eventCap() && o.requests >= l.requestCap() {
					delete(l.buckets, k)
				}
			}
		}
		b = &buckets{events: l.eventCap(), requests: l.requestCap(), at: now}
		l.buckets[key] = b
		return b
	}
	l.refill(b, now)
	return b
}

func (l *limiter) refill(b *buckets, now time.Time) {
	dt := now.Sub(b.at).Seconds()
	if dt <= 0 {
		return // the clock went back: no refill, no harm
	}
	b.at = now
	b.events = min(l.eventCap(), b.events+dt*l.lim.EventsPerSecond)
	b.requests = min(l.requestCap(), b.requests+dt*l.lim.RequestsPerSecond)
}

// wait returns how long a request of events events (0: not yet known)
// must wait; b is refilled and l.mu is held.
func (l *limiter) wait(b *buckets, events int) time.Duration {
	var secs float64
	if r := l.lim.RequestsPerSecond; r > 0 && b.requests < 1 {
		secs = (1 - b.requests) / r
	}
	if r := l.lim.EventsPerSecond; r > 0 {
		need := min(float64(max(events, 1)), l.eventCap())
		if b.events < need {
			secs = max(secs, (need-b.events)/r)
		}
	}
	return time.Duration(secs * float64(time.Second))
}

// check reports how long the holder of key must wait before a request may
// pass; 0 means it may try now. It takes nothing.
func (l *limiter) check(key [sha256.Size]byte) time.Duration {
	if !l.enabled() {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.wait(l.bucket(key), 0)
}

// reserve takes one request and events events from key's buckets, or
// returns how long to wait and takes nothing.
func (l *limiter) reserve(key [sha256.Size]byte, events int) time.Duration {
	if !l.enabled() {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key)
	if d := l.wait(b, events); d > 0 {
		return d
	}
	if l.lim.RequestsPerSecond > 0 {
		b.requests--
	}
	if l.lim.EventsPerSecond > 0 {
		b.events -= float64(events)
	}
	return 0
}

// refund gives back what reserve took, for a request refused after it.
func (l *limiter) refund(key [sha256.Size]byte, events int) {
	if !l.enabled() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key)
	if l.lim.RequestsPerSecond > 0 {
		b.requests = min(l.requestCap(), b.requests+1)
	}
	if l.lim.EventsPerSecond > 0 {
		b.events = min(l.eventCap(), b.events+float64(events))
	}
}

// retryAfter is d in whole seconds for a Retry-After header, at least 1.
func retryAfter(d time.Duration) int {
	return int(max(1, math.Ceil(d.Seconds())))
}
