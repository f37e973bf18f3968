// Package wal is the write-ahead log of accepted ingest batches. Append
// writes a batch as one checksummed record and returns once it is fsynced,
// so that a 2xx from /ingest means the events are on disk; Replay reads
// back, at start, what a crash would otherwise lose.
//
// Appends are group-committed: one committer goroutine (Run) takes every
// record that is waiting, writes them with one write and makes them
// durable with one fsync, so N concurrent producers share a sync. The queue
// in front of it is bounded; an Append that finds it full for EnqueueWait
// fails with ErrBusy, and one whose write or fsync failed gets the error:
// never a success for bytes that may not be on disk.
//
// The log is a folder of segment files named by a rising number
// (00000000000000000001.wal). Each starts with an 8-byte magic, then
// records. A new segment starts when the current one would pass
// SegmentBytes, after a failed write, and at every Open (the segments found
// are read-only from then on). Open truncates a torn tail of the last
// segment (a crash during a write); a bad record anywhere else is
// corruption, and Open refuses the folder rather than drop acknowledged
// events silently. Release deletes the segments whose every event is older
// than a cut, i.e. in a window already final and delivered.
package wal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fleetpulse/shared/telemetry"
)

// magic starts every segment file.
var magic = [8]byte{'F', 'P', 'W', 'A', 'L', 0, 0, 1}

const segmentExt = ".wal"

// Errors of Append that callers branch on.
var (
	// ErrClosed means Close was called.
	ErrClosed = errors.New("wal closed")
	// ErrBusy means the commit queue stayed full for EnqueueWait.
	ErrBusy = errors.New("wal busy")
	// ErrFull means the segments on disk add up to MaxBytes: the events
	// already logged are not yet in final windows (is CSV delivery
	// failing?), and more would grow the folder without bound.
	ErrFull = errors.New("wal full")
)

// Options configure a WAL. Zero values take the defaults given.
type Options struct {
	// SegmentBytes is the size at which a new segment starts. Defaults to
	// 16 MiB.
	SegmentBytes int64
	// MaxBytes caps the segments on disk together; Append fails with
	// ErrFull beyond it. Defaults to 1 GiB.
	MaxBytes int64
	// QueueLen is how many Appends may wait for the committer. Defaults to
	// 1024.
	QueueLen int
	// GroupBytes is the most bytes one write and fsync take in. Defaults
	// to 8 MiB.
	GroupBytes int
	// EnqueueWait is how long Append waits for room in the queue.
	// Defaults to 1s.
	EnqueueWait time.Duration
	// Log gets a line per truncated tail, and one when commits start to
	// fail and when they recover. Defaults to discarding them.
	Log *slog.Logger

	// Sync makes a file's written bytes durable. Defaults to
	// (*os.File).Sync; tests replace it to inject fsync failures.
	Sync func(*os.File) error
}

// segment is one file of the log.
type segment struct {
	id    uint64
	size  int64
	maxTS int64 // the greatest event ts in it; MinInt64 when empty
}

// request is one Append waiting for the committer.
type request struct {
	rec   []byte
	maxTS int64
	done  chan error
}

// WAL is a write-ahead log in one folder. Append is safe for concurrent
// use; Run must be running for Appends to complete.
type WAL struct {
	dir string
	opt Options
	log *slog.Logger

	reqs    chan *request
	stopped chan struct{} // closed when Run returns

	// closeMu orders Append's enqueue against Close's close(reqs).
	closeMu sync.RWMutex
	closed  bool

	// mu guards segs; the committer appends to the last one.
	mu    sync.Mutex
	segs  []segment
	old   int // segs[:old] were found by Open: Replay reads them
	total atomic.Int64

	// Only the committer uses these.
	active  *os.File
	wbuf    []byte
	failing bool // the last commit failed: log the first failure and the recovery only

	appends, syncs, bytes, refused atomic.Int64
}

// Open opens the log in dir, making the folder (0700) if needed. It checks
// every segment, truncates a torn tail of the last one, and returns an
// error naming the file and offset of any other bad record. Appends go to
// a new segment.
func Open(dir string, opt Options) (*WAL, error) {
	if opt.SegmentBytes <= 0 {
		opt.SegmentBytes = 16 << 20
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 1 << 30
	}
	if opt.QueueLen <= 0 {
		opt.QueueLen = 1024
	}
	if opt.GroupBytes <= 0 {
		opt.GroupBytes = 8 << 20
	}
	if opt.EnqueueWait <= 0 {
		opt.EnqueueWait = time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Sync == nil {
		opt.Sync = (*os.File).Sync
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open wal %s: %w", dir, err)
	}
	w := &WAL{dir: dir, opt: opt, log: opt.Log, reqs: make(chan *request, opt.QueueLen), stopped: make(chan struct{})}
	ids, err := w.list()
	if err != nil {
		return nil, fmt.Errorf("open wal %s: %w", dir, err)
	}
	for i, id := range ids {
		seg, err := w.check(id, i == len(ids)-1)
		if err != nil {
			return nil, fmt.Errorf("open wal %s: %w", dir, err)
		}
		if seg.size == 0 {
			continue // a torn, empty last segment: removed
		}
		w.segs = append(w.segs, seg)
		w.total.Add(seg.size)
	}
	w.old = len(w.segs)
	return w, nil
}

// list returns the ids of the segment files, in order.
func (w *WAL) list() ([]uint64, error) {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), segmentExt)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		id, err := strconv.ParseUint(name, 10, 64)
		if err != nil || id == 0 {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

func (w *WAL) path(id uint64) string {
	return filepath.Join(w.dir, fmt.Sprintf("%020d%s", id, segmentExt))
}

// check reads segment id through. In the last segment, a bad or partial
// record is a torn tail: the file is truncated before it (and removed when
// not even the magic is whole, its size then reported as 0).
func (w *WAL) check(id uint64, last bool) (segment, error) {
	seg := segment{id: id, maxTS: math.MinInt64}
	name := w.path(id)
	f, err := os.OpenFile(name, os.O_RDWR, 0) // #nosec G304 -- a segment name the log made itself below its own folder
	if err != nil {
		return seg, err
	}
	defer f.Close()
	var events []telemetry.Event
	good, err := scan(f, func(rec []byte) error {
		var err error
		events, err = DecodeRecord(events[:0], rec)
		for i := range events {
			seg.maxTS = max(seg.maxTS, events[i].TS)
		}
		return err
	})
	if err == nil {
		seg.size = good
		return seg, nil
	}
	if !last || errors.Is(err, errIO) {
		return seg, fmt.Errorf("%s at byte %d: %w", filepath.Base(name), good, err)
	}
	fi, statErr := f.Stat()
	if statErr != nil {
		return seg, statErr
	}
	w.log.Warn("wal: truncating a torn tail", "segment", filepath.Base(name), "offset", good, "dropped_bytes", fi.Size()-good)
	if good < int64(len(magic)) {
		if fi.Size() >= int64(len(magic)) {
			// Not a torn magic but a file that is not a segment.
			return seg, fmt.Errorf("%s: not a wal segment", filepath.Base(name))
		}
		f.Close()
		return segment{id: id}, os.Remove(name)
	}
	if err := f.Truncate(good); err != nil {
		return seg, err
	}
	if err := w.opt.Sync(f); err != nil {
		return seg, err
	}
	seg.size = good
	return seg, nil
}

// errIO marks a read error (as opposed to bad bytes) from scan.
var errIO = errors.New("read error")

// scan reads the magic and the records of a segment from r, calling fn
// with each whole record whose checksum holds. It returns the offset after
// the last good record and, if it stopped early, why.
func scan(r io.Reader, fn func(rec []byte) error) (int64, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var m [len(magic)]byte
	if _, err := io.ReadFull(br, m[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, errCorrupt
		}
		return 0, fmt.Errorf("%w: %v", errIO, err)
	}
	if m != magic {
		return 0, errCorrupt
	}
	off := int64(len(magic))
	var rec []byte
	for {
		var h [headerLen]byte
		n, err := io.ReadFull(br, h[:])
		if n == 0 && errors.Is(err, io.EOF) {
			return off, nil
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return off, errCorrupt
			}
			return off, fmt.Errorf("%w: %v", errIO, err)
		}
		plen, sum, err := parseHeader(h[:])
		if err != nil {
			return off, err
		}
		rec = append(rec[:0], h[:]...)
		rec = slices.Grow(rec, plen)[:headerLen+plen]
		if _, err := io.ReadFull(br, rec[headerLen:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return off, errCorrupt
			}
			return off, fmt.Errorf("%w: %v", errIO, err)
		}
		if crc32.Checksum(rec[headerLen:], castagnoli) != sum {
			return off, errCorrupt
		}
		if err := fn(rec); err != nil {
			return off, err
		}
		off += int64(len(rec))
	}
}

// Replay calls fn with the events of every record in the segments found by
// Open, in the order they were appended. The slice is reused after fn
// returns. Call it before Run.
func (w *WAL) Replay(fn func(events []telemetry.Event) error) error {
	w.mu.Lock()
	old := slices.Clone(w.segs[:w.old])
	w.mu.Unlock()
	var events []telemetry.Event
	for _, seg := range old {
		f, err := os.Open(w.path(seg.id))
		if err != nil {
			return fmt.Errorf("replay wal: %w", err)
		}
		_, err = scan(io.LimitReader(f, seg.size), func(rec []byte) error {
			var err error
			if events, err = DecodeRecord(events[:0], rec); err != nil {
				return err
			}
			return fn(events)
		})
		f.Close()
		if err != nil {
			return fmt.Errorf("replay wal %s: %w", filepath.Base(w.path(seg.id)), err)
		}
	}
	return nil
}

// Append writes events as one record and returns nil once it is fsynced.
// It fails with ErrBusy when the queue stays full for EnqueueWait, ErrFull
// when the folder is at MaxBytes, ErrClosed after Close, ctx's error when
// ctx ends first (the record may then still be written: replaying it is
// harmless, as the window stage drops duplicates), or the write or fsync
// error.
func (w *WAL) Append(ctx context.Context, events []telemetry.Event) error {
	if len(events) == 0 {
		return nil
	}
	rec, maxTS := appendRecord(nil, events)
	if len(rec)-headerLen > MaxRecordBytes {
		return fmt.Errorf("wal: batch of %d bytes is over the record limit", len(rec))
	}
	if w.total.Load()+int64(len(rec)) > w.opt.MaxBytes {
		w.refused.Add(1)
		return ErrFull
	}
	r := &request{rec: rec, maxTS: maxTS, done: make(chan error, 1)}
	if err := w.enqueue(ctx, r); err != nil {
		if errors.Is(err, ErrBusy) {
			w.refused.Add(1)
		}
		return err
	}
	select {
	case err := <-r.done:
		return err
	case <-w.stopped:
		select {
		case err := <-r.done:
			return err
		default:
			return ErrClosed
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *WAL) enqueue(ctx context.Context, r *request) error {
	w.closeMu.RLock()
	defer w.closeMu.RUnlock()
	if w.closed {
		return ErrClosed
	}
	select {
	case w.reqs <- r:
		return nil
	default:
	}
	t := time.NewTimer(w.opt.EnqueueWait)
	defer t.Stop()
	select {
	case w.reqs <- r:
		return nil
	case <-t.C:
		return ErrBusy
	case <-w.stopped:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run is the committer: it writes and fsyncs the queued records in groups
// until Close has been called and the queue is empty (then it returns
// nil), or ctx ends (then the waiting Appends fail with ErrClosed).
func (w *WAL) Run(ctx context.Context) error {
	defer close(w.stopped)
	defer w.closeActive()
	group := make([]*request, 0, 64)
	for {
		var r *request
		var ok bool
		select {
		case r, ok = <-w.reqs:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			return nil
		}
		group = append(group[:0], r)
		size := len(r.rec)
	more:
		for size < w.opt.GroupBytes {
			select {
			case r, ok := <-w.reqs:
				if !ok {
					break more
				}
				group = append(group, r)
				size += len(r.rec)
			default:
				break more
			}
		}
		err := w.commit(group, size)
		switch {
		case err != nil && !w.failing:
			w.log.Error("wal: commit failed; ingest answers 503 until it recovers", "err", err)
			w.failing = true
		case err == nil && w.failing:
			w.log.Info("wal: commits recovered")
			w.failing = false
		}
		for _, r := range group {
			r.done <- err
		}
		clear(group)
	}
}

// Close stops taking Appends; Run returns once it has committed those
// already queued.
func (w *WAL) Close() error {
	w.closeMu.Lock()
	defer w.closeMu.Unlock()
	if !w.closed {
		w.closed = true
		close(w.reqs)
	}
	return nil
}

// commit writes a group of records with one write and one fsync.
func (w *WAL) commit(group []*request, size int) error {
	w.mu.Lock()
	last := len(w.segs) - 1
	rotate := w.active == nil || w.segs[last].size+int64(size) > w.opt.SegmentBytes && w.segs[last].size > int64(len(magic))
	w.mu.Unlock()
	if rotate {
		if err := w.rotate(); err != nil {
			return fmt.Errorf("wal: start segment: %w", err)
		}
	}
	b := w.wbuf[:0]
	maxTS := int64(math.MinInt64)
	for _, r := range group {
		b = append(b, r.rec...)
		maxTS = max(maxTS, r.maxTS)
	}
	if cap(b) <= 2*w.opt.GroupBytes {
		w.wbuf = b
	}
	_, err := w.active.Write(b)
	if err == nil {
		err = w.opt.Sync(w.active)
		w.syncs.Add(1)
	}
	w.mu.Lock()
	seg := &w.segs[len(w.segs)-1]
	if err != nil {
		// What reached the file is undefined now: cut it back and go on
		// in a new segment. The records of this group are answered with
		// the error; should some be on disk after all, a replay finds
		// them and the window stage drops any duplicates of retries.
		w.mu.Unlock()
		w.active.Truncate(seg.size)
		w.closeActive()
		return fmt.Errorf("wal: write: %w", err)
	}
	seg.size += int64(len(b))
	seg.maxTS = max(seg.maxTS, maxTS)
	w.mu.Unlock()
	w.total.Add(int64(len(b)))
	w.appends.Add(int64(len(group)))
	w.bytes.Add(int64(len(b)))
	return nil
}

// rotate closes the active segment and starts the next one: the magic,
// fsynced, and the folder fsynced so that the file survives a crash.
func (w *WAL) rotate() error {
	w.closeActive()
	w.mu.Lock()
	id := uint64(1)
	if n := len(w.segs); n > 0 {
		id = w.segs[n-1].id + 1
	}
	w.mu.Unlock()
	f, err := os.OpenFile(w.path(id), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(magic[:]); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := w.opt.Sync(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := syncDir(w.dir); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	w.active = f
	w.mu.Lock()
	w.segs = append(w.segs, segment{id: id, size: int64(len(magic)), maxTS: math.MinInt64})
	w.mu.Unlock()
	w.total.Add(int64(len(magic)))
	return nil
}

func (w *WAL) closeActive() {
	if w.active != nil {
		w.active.Close()
		w.active = nil
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir) // #nosec G304 -- the operator's -wal folder
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Release deletes the segments, other than the one being written, whose
// every event has a ts before cut (Unix ms): events in windows that are
// final and delivered. It returns how many it deleted. Safe to call from
// any goroutine.
func (w *WAL) Release(cut int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	keep := w.segs[:0]
	deleted, oldDeleted := 0, 0
	for i, seg := range w.segs {
		writing := i == len(w.segs)-1 && i >= w.old
		if writing || seg.maxTS >= cut {
			keep = append(keep, seg)
			continue
		}
		if err := os.Remove(w.path(seg.id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			keep = append(keep, seg)
			continue
		}
		w.total.Add(-seg.size)
		deleted++
		if i < w.old {
			oldDeleted++
		}
	}
	w.segs = keep
	w.old -= oldDeleted
	return deleted, errors.Join(errs...)
}

// Stats are running totals of a WAL.
type Stats struct {
	Appends  int64 // records committed
	Refused  int64 // Appends refused with ErrFull or ErrBusy
	Syncs    int64 // fsyncs of commits (one per group)
	Bytes    int64 // record bytes written
	Segments int   // segment files now
	Size     int64 // their sizes added up
}

// Stats returns the running totals.
func (w *WAL) Stats() Stats {
	w.mu.Lock()
	n := len(w.segs)
	w.mu.Unlock()
	return Stats{Appends: w.appends.Load(), Refused: w.refused.Load(), Syncs: w.syncs.Load(), Bytes: w.bytes.Load(), Segments: n, Size: w.total.Load()}
}
