package loadgen

import (
	"fmt"
	"io"
	"maps"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// maxReasons bounds the distinct rejection reasons Stats keeps.
const maxReasons = 20

// Stats counts what a producer sent and what the server answered. It is
// safe for concurrent use.
type Stats struct {
	mu       sync.Mutex
	requests int64 // HTTP requests or WebSocket messages, retries included
	sent     int64 // events in batches the server took in, each once
	accepted int64
	rejected int64
	// answers counts every answer by status ("200", "429") or failure
	// ("transport", "ws close 1011").
	answers map[string]int64
	lastAns string
	retries int64
	waited  time.Duration // waiting out Retry-After and backoff
	reasons []reason
	latency histogram
	// ws is set by the WebSocket transport: the server answers only
	// rejected lines, so accepted is sent minus rejected, and latency runs
	// from a message's write to the pong that confirms it.
	ws bool
}

type reason struct {
	text  string
	count int64
	line  int
}

// NewStats returns empty Stats.
func NewStats() *Stats { return &Stats{answers: map[string]int64{}} }

// answer counts a request answered with status after d.
func (s *Stats) answer(status string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	s.answers[status]++
	s.lastAns = status
	s.latency.add(d)
}

// refused counts a WebSocket handshake answered with status.
func (s *Stats) refused(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[status]++
	s.lastAns = status
}

// fail counts a request that got no answer, under kind ("transport").
func (s *Stats) fail(kind string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ws {
		s.requests++
	}
	s.answers[kind]++
	s.lastAns = kind + ": " + err.Error()
}

// last returns the latest answer's status, or the latest failure.
func (s *Stats) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastAns
}

func (s *Stats) retry(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retries++
	s.waited += d
}

// took counts a batch of lines events that the server took in, of which
// it accepted accepted and rejected rejected.
func (s *Stats) took(lines, accepted, rejected int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent += lines
	s.accepted += accepted
	s.rejected += rejected
}

// reject records why the server rejected a line: the counts come from the
// answers, which list at most the first 20 errors of each batch.
func (s *Stats) reject(line int, text string, count bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if count {
		s.rejected++
	}
	for i := range s.reasons {
		if s.reasons[i].text == text {
			s.reasons[i].count++
			return
		}
	}
	if len(s.reasons) < maxReasons {
		s.reasons = append(s.reasons, reason{text: text, count: 1, line: line})
	}
}

// Totals is a snapshot of Stats.
type Totals struct {
	Requests, Sent, Accepted, Rejected, Retries int64
	// Answers counts the answers by status ("200", "429") or failure
	// ("transport").
	Answers map[string]int64
}

// Totals returns the counts so far.
func (s *Stats) Totals() Totals {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := Totals{Requests: s.requests, Sent: s.sent, Accepted: s.accepted, Rejected: s.rejected, Retries: s.retries, Answers: maps.Clone(s.answers)}
	if s.ws {
		t.Accepted = max(0, s.sent-s.rejected)
	}
	return t
}

// Row is a row of the summary table that the caller adds at its top.
type Row struct{ Name, Value string }

// Print writes the summary table: the rows given, what was sent and
// answered, the rate of accepted events over elapsed and the latency
// percentiles; then the first rejection reasons.
func (s *Stats) Print(w io.Writer, elapsed time.Duration, rows ...Row) error {
	t := s.Totals()
	s.mu.Lock()
	defer s.mu.Unlock()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r.Name, r.Value)
	}
	unit := "requests"
	if s.ws {
		unit = "messages"
	}
	fmt.Fprintf(tw, "sent\t%d events in %d %s\n", t.Sent, t.Requests, unit)
	accNote, rejNote := "", ""
	if s.ws {
		// The server answers rejected lines only, and of those at most
		// 20 a message.
		accNote = " (sent − rejected: WebSocket ingest answers rejected lines only)"
		if t.Rejected > 0 {
			accNote = " (at most: sent − rejected)"
			rejNote = " (at least: WebSocket ingest answers at most 20 rejected lines a message)"
		}
	}
	fmt.Fprintf(tw, "accepted\t%d%s\n", t.Accepted, accNote)
	fmt.Fprintf(tw, "rejected\t%d%s\n", t.Rejected, rejNote)
	fmt.Fprintf(tw, "errors\t%s\n", formatErrors(t.Answers))
	if t.Retries > 0 {
		fmt.Fprintf(tw, "retries\t%d, waited %s\n", t.Retries, s.waited.Round(time.Millisecond))
	}
	fmt.Fprintf(tw, "elapsed\t%s\n", elapsed.Round(time.Millisecond))
	rate := 0.0
	if elapsed > 0 {
		rate = float64(t.Accepted) / elapsed.Seconds()
	}
	fmt.Fprintf(tw, "accepted/s\t%.0f\n", rate)
	what := "request latency"
	if s.ws {
		what = "message latency"
	}
	if s.latency.n > 0 {
		fmt.Fprintf(tw, "%s\tp50 %s, p99 %s\n", what, s.latency.quantile(0.5), s.latency.quantile(0.99))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.reasons) > 0 {
		const shown = 5
		fmt.Fprintf(w, "rejection reasons (first %d; answers list at most 20 per batch):\n", min(shown, len(s.reasons)))
		for _, r := range s.reasons[:min(shown, len(s.reasons))] {
			if r.line > 0 {
				fmt.Fprintf(w, "  %d× %s (e.g. line %d of a batch)\n", r.count, r.text, r.line)
			} else {
				fmt.Fprintf(w, "  %d× %s\n", r.count, r.text)
			}
		}
	}
	return nil
}

// formatErrors lists every answer but success (200, or "ok" for a
// WebSocket write) by status, such as "429: 2, transport: 1", or "none".
func formatErrors(answers map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(answers)) {
		if k != "200" && k != "ok" {
			parts = append(parts, k+": "+strconv.FormatInt(answers[k], 10))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// histogram keeps durations in microseconds in log-linear buckets: exact
// below 64 µs, then 32 buckets per power of two (within about 3 %). Its
// memory is bounded whatever the number of requests.
type histogram struct {
	counts [64 + 58*32]int64
	n      int64
}

func bucketOf(us uint64) int {
	if us < 64 {
		return int(us)
	}
	shift := bits.Len64(us) - 6                    // us>>shift is in [32, 64)
	return 64 + (shift-1)*32 + int(us>>shift) - 32 // #nosec G115 -- us>>shift is below 64
}

// bucketMid returns the middle of bucket i in microseconds.
func bucketMid(i int) float64 {
	if i < 64 {
		return float64(i)
	}
	shift := (i-64)/32 + 1
	low := uint64((i-64)%32+32) << shift
	return float64(low) + float64(uint64(1)<<shift)/2
}

func (h *histogram) add(d time.Duration) {
	us := uint64(max(0, d.Microseconds()))
	h.counts[min(bucketOf(us), len(h.counts)-1)]++
	h.n++
}

// quantile returns the q-quantile (nearest rank), rounded for printing.
func (h *histogram) quantile(q float64) time.Duration {
	rank := max(1, int64(math.Ceil(q*float64(h.n))))
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			d := time.Duration(bucketMid(i) * float64(time.Microsecond))
			switch {
			case d >= time.Second:
				return d.Round(time.Millisecond)
			case d >= time.Millisecond:
				return d.Round(10 * time.Microsecond)
			}
			return d.Round(time.Microsecond)
		}
	}
	return 0
}
