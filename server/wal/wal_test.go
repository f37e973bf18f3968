package wal

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"fleetpulse/shared/telemetry"
)

// batch makes n events of vehicle id, ts from ts0 on.
func batch(id string, ts0 int64, n int) []telemetry.Event {
	ev := make([]telemetry.Event, n)
	for i := range ev {
		ev[i] = telemetry.Event{VehicleID: id, TS: ts0 + int64(i)*100, Lat: 52.5 + float64(i)/1e4, Lon: 13.4, SpeedKPH: float64(i % 120),
			HeadingDeg: math.NaN(), FuelPct: math.NaN()}
		if i%2 == 0 {
			ev[i].HeadingDeg = float64(i % 360)
		}
		if i%3 == 0 {
			ev[i].FuelPct = 50
		}
	}
	return ev
}

var equateNaN = cmpopts.EquateNaNs()

// running opens dir, starts Run and stops it at the end of the test.
func running(t *testing.T, dir string, opt Options) *WAL {
	t.Helper()
	w, err := Open(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	t.Cleanup(func() {
		w.Close()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return w
}

// stop closes w and waits for Run, so that the folder can be opened again.
func stop(t *testing.T, w *WAL) {
	t.Helper()
	w.Close()
	<-w.stopped
}

func replayAll(t *testing.T, dir string) [][]telemetry.Event {
	t.Helper()
	w, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got [][]telemetry.Event
	if err := w.Replay(func(ev []telemetry.Event) error {
		got = append(got, append([]telemetry.Event(nil), ev...))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestAppendReplayRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := running(t, dir, Options{})
	want := [][]telemetry.Event{batch("TRUCK-1", 1_700_000_000_000, 5), batch("VAN.2:x-y", -5000, 1), batch("B", 1_700_000_000_000, 1000)}
	for _, b := range want {
		if err := w.Append(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	stop(t, w)
	if diff := cmp.Diff(want, replayAll(t, dir), equateNaN); diff != "" {
		t.Fatalf("replay (-want +got):\n%s", diff)
	}
}

// TestGroupCommit holds the first fsync until every other Append is queued:
// they must all share the second fsync.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	const n = 50
	var syncs atomic.Int64
	first, release := make(chan struct{}), make(chan struct{})
	opt := Options{Sync: func(f *os.File) error {
		if syncs.Add(1) == 2 { // the first is the new segment's magic; the second the first group's
			close(first)
			<-release
		}
		return f.Sync()
	}}
	w := running(t, t.TempDir(), opt)
	errs := make(chan error, n+1)
	go func() { errs <- w.Append(context.Background(), batch("A", 0, 1)) }()
	<-first // the first group is in its fsync
	for i := range n {
		go func() { errs <- w.Append(context.Background(), batch(fmt.Sprintf("P%d", i), 0, 3)) }()
	}
	for len(w.reqs) < n { // readiness: every Append is queued
		time.Sleep(time.Millisecond)
	}
	close(release)
	for range n + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st := w.Stats()
	if st.Appends != n+1 || st.Syncs != 2 {
		t.Fatalf("%d appends took %d fsyncs, want %d in 2", st.Appends, st.Syncs, n+1)
	}
}

func TestTornTailIsTruncated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		tear func(t *testing.T, path string, lastRec int64)
	}{
		{"partial header", func(t *testing.T, path string, last int64) { truncate(t, path, last+5) }},
		{"partial payload", func(t *testing.T, path string, last int64) { truncate(t, path, last+headerLen+10) }},
		{"bad checksum", func(t *testing.T, path string, last int64) { flip(t, path, last+headerLen+20) }},
		{"zero length", func(t *testing.T, path string, last int64) { flip(t, path, last); flip(t, path, last+1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			w := running(t, dir, Options{})
			b1, b2 := batch("A", 1000, 10), batch("B", 2000, 10)
			for _, b := range [][]telemetry.Event{b1, b2} {
				if err := w.Append(t.Context(), b); err != nil {
					t.Fatal(err)
				}
			}
			stop(t, w)
			path := w.path(1)
			rec1, _ := appendRecord(nil, b1)
			lastRec := int64(len(magic) + len(rec1))
			tc.tear(t, path, lastRec)
			if diff := cmp.Diff([][]telemetry.Event{b1}, replayAll(t, dir), equateNaN); diff != "" {
				t.Fatalf("replay (-want +got):\n%s", diff)
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() != lastRec {
				t.Fatalf("segment not truncated to %d: %v, %v", lastRec, fi.Size(), err)
			}
			// Appends go on in a new segment, and a replay sees both.
			w2 := running(t, dir, Options{})
			if err := w2.Append(t.Context(), b2); err != nil {
				t.Fatal(err)
			}
			stop(t, w2)
			if diff := cmp.Diff([][]telemetry.Event{b1, b2}, replayAll(t, dir), equateNaN); diff != "" {
				t.Fatalf("replay after new appends (-want +got):\n%s", diff)
			}
		})
	}
}

// A bad record in a segment other than the last is not a torn write but
// corruption of acknowledged data: Open refuses rather than drop it.
func TestCorruptSealedSegmentRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for range 2 { // two opens: two segments
		w := running(t, dir, Options{})
		if err := w.Append(t.Context(), batch("A", 1000, 10)); err != nil {
			t.Fatal(err)
		}
		stop(t, w)
	}
	flip(t, filepath.Join(dir, fmt.Sprintf("%020d.wal", 1)), int64(len(magic))+headerLen+30)
	_, err := Open(dir, Options{})
	if err == nil || !errors.Is(err, errCorrupt) {
		t.Fatalf("Open = %v, want a corrupt-record error", err)
	}
	t.Log(err)
}

func TestNotASegmentRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "00000000000000000007.wal"), []byte("hello, world: not a wal"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); err == nil {
		t.Fatal("Open took a file that is not a segment")
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000007.wal")); err != nil {
		t.Fatalf("the file was touched: %v", err)
	}
}

func TestRotationAndRelease(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := running(t, dir, Options{SegmentBytes: 2000})
	var want [][]telemetry.Event
	for i := range 20 {
		b := batch("A", int64(i)*10_000, 20) // ts i*10 s .. i*10 s + 1.9 s
		want = append(want, b)
		if err := w.Append(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	st := w.Stats()
	if st.Segments < 5 {
		t.Fatalf("%d segments of at most 2000 bytes for %d bytes", st.Segments, st.Bytes)
	}
	stop(t, w)
	if diff := cmp.Diff(want, replayAll(t, dir), equateNaN); diff != "" {
		t.Fatalf("replay across segments (-want +got):\n%s", diff)
	}

	w2, err := Open(dir, Options{SegmentBytes: 2000})
	if err != nil {
		t.Fatal(err)
	}
	// Everything before 100 s is final: segments holding only such events go.
	n, err := w2.Release(100_000)
	if err != nil || n == 0 {
		t.Fatalf("Release deleted %d segments: %v", n, err)
	}
	var got [][]telemetry.Event
	w2.Replay(func(ev []telemetry.Event) error { got = append(got, append([]telemetry.Event(nil), ev...)); return nil })
	if len(got) < 10 || len(got) == 20 {
		t.Fatalf("replay after Release gives %d batches, want 10 to 19", len(got))
	}
	for i := 10; i < 20; i++ {
		if diff := cmp.Diff(want[i], got[len(got)-20+i], equateNaN); diff != "" {
			t.Fatalf("batch %d lost by Release (-want +got):\n%s", i, diff)
		}
	}
	if st := w2.Stats(); st.Size >= w.Stats().Size {
		t.Fatalf("size %d after release, was %d", st.Size, w.Stats().Size)
	}
	if n, _ := w2.Release(math.MaxInt64); n == 0 || w2.Stats().Segments != 0 {
		t.Fatalf("Release(all) left %d segments", w2.Stats().Segments)
	}
}

// TestReleaseKeepsTheActiveSegment: the segment being written stays even
// when all its events are final.
func TestReleaseKeepsTheActiveSegment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := running(t, dir, Options{})
	if err := w.Append(t.Context(), batch("A", 0, 3)); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Release(math.MaxInt64); n != 0 || err != nil {
		t.Fatalf("Release = %d, %v; want the active segment kept", n, err)
	}
	if err := w.Append(t.Context(), batch("A", 1000, 3)); err != nil {
		t.Fatal(err)
	}
}

func TestSyncErrorFailsTheAppend(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	boom := errors.New("injected fsync failure")
	dir := t.TempDir()
	w := running(t, dir, Options{Sync: func(f *os.File) error {
		if fail.Load() {
			return boom
		}
		return f.Sync()
	}})
	ok1 := batch("A", 0, 3)
	if err := w.Append(t.Context(), ok1); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	if err := w.Append(t.Context(), batch("B", 0, 3)); !errors.Is(err, boom) {
		t.Fatalf("Append with a failing fsync = %v, want it", err)
	}
	// Still failing: starting a new segment fails too.
	if err := w.Append(t.Context(), batch("B", 0, 3)); err == nil {
		t.Fatal("Append succeeded while fsync fails")
	}
	fail.Store(false)
	ok2 := batch("C", 0, 3)
	if err := w.Append(t.Context(), ok2); err != nil {
		t.Fatalf("Append after recovery: %v", err)
	}
	stop(t, w)
	if diff := cmp.Diff([][]telemetry.Event{ok1, ok2}, replayAll(t, dir), equateNaN); diff != "" {
		t.Fatalf("replay (-want +got):\n%s", diff)
	}
}

func TestFullAndBusy(t *testing.T) {
	t.Parallel()
	t.Run("full", func(t *testing.T) {
		t.Parallel()
		w := running(t, t.TempDir(), Options{MaxBytes: 4000})
		var err error
		for i := 0; i < 100 && err == nil; i++ {
			err = w.Append(t.Context(), batch("A", int64(i)*1000, 10))
		}
		if !errors.Is(err, ErrFull) {
			t.Fatalf("Append past MaxBytes = %v, want ErrFull", err)
		}
		if st := w.Stats(); st.Refused != 1 {
			t.Fatalf("Refused = %d, want 1", st.Refused)
		}
		if n, _ := w.Release(math.MaxInt64); n != 0 {
			// the only segment is active
			t.Fatalf("released %d", n)
		}
	})
	t.Run("busy", func(t *testing.T) {
		t.Parallel()
		block, syncing := make(chan struct{}), make(chan struct{})
		var once sync.Once
		w := running(t, t.TempDir(), Options{QueueLen: 1, EnqueueWait: time.Millisecond, Sync: func(f *os.File) error {
			once.Do(func() { close(syncing); <-block })
			return f.Sync()
		}})
		errs := make(chan error, 2)
		go func() { errs <- w.Append(context.Background(), batch("A", 0, 1)) }()
		<-syncing // the committer is stuck in its first fsync
		go func() { errs <- w.Append(context.Background(), batch("A", 1, 1)) }()
		for len(w.reqs) < 1 { // readiness: the queue is full
			time.Sleep(time.Millisecond)
		}
		if err := w.Append(t.Context(), batch("A", 2, 1)); !errors.Is(err, ErrBusy) {
			t.Fatalf("Append with the queue full = %v, want ErrBusy", err)
		}
		close(block)
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatalf("queued Append after the fsync came back: %v", err)
			}
		}
	})
	t.Run("closed", func(t *testing.T) {
		t.Parallel()
		w := running(t, t.TempDir(), Options{})
		stop(t, w)
		if err := w.Append(t.Context(), batch("A", 0, 1)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Append after Close = %v", err)
		}
	})
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0xFF
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
