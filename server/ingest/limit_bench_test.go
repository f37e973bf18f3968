package ingest

import (
	"crypto/sha256"
	"testing"
	"time"
)

// BenchmarkLimiter measures the rate limit's cost per request: the check
// before the body is read plus the reservation of its events, for one
// token shared by every goroutine (the worst case: one lock).
func BenchmarkLimiter(b *testing.B) {
	l := newLimiter(Limit{EventsPerSecond: 1e12, RequestsPerSecond: 1e12}, time.Now)
	key := sha256.Sum256([]byte(token))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if l.check(key) != 0 || l.reserve(key, 1000) != 0 {
				b.Fatal("limited")
			}
		}
	})
}
