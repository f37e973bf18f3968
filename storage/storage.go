// Package storage writes the CSV files that users' tools (Power BI, Excel,
// scripts) read: csv/latest_metrics.csv, csv/fleet_metrics.csv and one
// history/YYYY-MM-DD/metrics_YYYYMMDDTHHMMSSZ.csv per final window. At start
// it reads the retained rows back, so that a restart carries on, and it
// serves the retained history files to History.
//
// Every file is replaced atomically, by writing a temporary file beside it and
// renaming that over the target, so a reader polling the files never sees a
// partly written one. Temporary names start with "." and never end in ".csv",
// which keeps them out of folder imports that filter on ".csv" and lets Open
// tell stale ones apart from users' files.
//
// A failed write (a full disk, a read-only or vanished folder, a file held
// open on Windows) never leaves a torn file: each file keeps its last good
// content until a later Write replaces it, and the Writer recovers by
// itself once the cause is gone. Every file operation below the output
// root goes through an os.Root.
//
// A Writer has one owner goroutine that calls Write and Close; Fleet,
// Latest, History, LastGoodWrite and Dir are safe to call from any
// goroutine, concurrently with Write.
package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fleetpulse/shared/telemetry"
)

// DefaultRetention is the retention used when Options.Retention is 0.
const DefaultRetention = 168 * time.Hour

// Folder and file names below the output root.
const (
	csvDir     = "csv"
	historyDir = "history"
	latestFile = "latest_metrics.csv"
	fleetFile  = "fleet_metrics.csv"

	dayLayout     = "2006-01-02"
	historyLayout = "metrics_20060102T150405Z.csv"
)

// bom is the UTF-8 byte order mark.
var bom = []byte{0xEF, 0xBB, 0xBF}

// errClosed is returned by Write and History after Close.
var errClosed = errors.New("storage closed")

// Options configure a Writer.
type Options struct {
	// Retention is how long per-window history files and fleet rows are
	// kept, counted from their window end. Defaults to 168h.
	Retention time.Duration
	// MaxHistoryBytes caps the total size of the history files. After
	// applying the retention, Write deletes the oldest history files until
	// the sizes of those left add up to at most this; the newest one is
	// always kept, even when it alone is larger. The cap does not touch
	// fleet_metrics.csv, whose rows stay for the whole retention. Files in
	// history/ that are not history files of ours do not count. 0 means no
	// cap.
	MaxHistoryBytes int64
	// BOM writes a UTF-8 byte order mark at the start of every CSV file:
	// Power Query detects UTF-8 only by it. Files are read back with or
	// without one.
	BOM bool
	// Now is the clock for last_updated, retention and LastGoodWrite. It
	// must be safe for concurrent use: History calls it too. Defaults to
	// time.Now.
	Now func() time.Time
	// Log receives debug messages about housekeeping. Defaults to
	// discarding them. Errors are returned, never logged.
	Log *slog.Logger

	// hooks are for tests only: they inject faults and time.
	hooks *hooks
}

// hooks let tests replace what the Writer does to the outside world.
type hooks struct {
	layer   func(fsys) fsys                   // wraps each fsys the Writer opens
	sleep   func(time.Duration)               // waits between retries
	sharing func(err error, rename bool) bool // replaces isSharingViolation
}

// Writer writes the CSV files below one output root. Write and Close must
// be called from one goroutine; the other methods from any.
type Writer struct {
	dir       string
	retention time.Duration
	maxBytes  int64
	now       func() time.Time
	log       *slog.Logger
	layer     func(fsys) fsys
	sleep     func(time.Duration)
	sharing   func(error, bool) bool
	heads     [3][]byte // optional BOM and header of each file kind

	// Only the owner goroutine uses these, except fs (below).
	body    []byte               // reused: the window's per-vehicle CSV lines
	latestB []byte               // reused: the body of latest_metrics.csv
	pending []telemetry.FleetRow // fleet rows not in fleet_metrics.csv yet, sorted
	orphans []string             // temporary files a failed Write could not remove
	suspect bool                 // the last Write missed a file or folder: check the folders first

	// rootMu guards fs: History holds it for reading while it reads
	// files; the owner holds it for writing to swap or close fs. The
	// owner reads fs without it.
	rootMu sync.RWMutex
	fs     fsys

	seq     atomic.Uint64 // see Seq
	through time.Time     // see Through; read at Open only

	mu        sync.Mutex // guards what follows; the owner changes it only under mu
	fleet     fleetState
	latest    []telemetry.VehicleRow // never modified in place
	hist      []histFile             // the history files, sorted by end
	histBytes int64                  // the sum of hist's sizes
	lastGood  time.Time
}

// File kinds, the index of heads.
const (
	historyKind = iota
	latestKind
	fleetKind
)

// Open opens the output root dir, creating it and its csv/ and history/
// folders (mode 0755) if needed, and checks that it is writable. It removes
// stale temporary files left by a crash, loads the retained fleet rows and
// the latest per-vehicle rows from the files, and lists the history files.
// A missing file is not an error; a file that cannot be parsed is, and the
// error names it and the line. The caller closes the Writer.
func Open(dir string, opt Options) (*Writer, error) {
	switch {
	case opt.Retention < 0:
		return nil, fmt.Errorf("open storage %s: negative retention %v", dir, opt.Retention)
	case opt.MaxHistoryBytes < 0:
		return nil, fmt.Errorf("open storage %s: negative history size cap %d", dir, opt.MaxHistoryBytes)
	}
	w := &Writer{
		dir:       dir,
		retention: opt.Retention,
		maxBytes:  opt.MaxHistoryBytes,
		now:       opt.Now,
		log:       opt.Log,
		sleep:     time.Sleep,
		sharing:   isSharingViolation,
	}
	if h := opt.hooks; h != nil {
		w.layer = h.layer
		if h.sleep != nil {
			w.sleep = h.sleep
		}
		if h.sharing != nil {
			w.sharing = h.sharing
		}
	}
	if w.retention == 0 {
		w.retention = DefaultRetention
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	for kind, cols := range [...][]string{historyKind: telemetry.VehicleColumns, latestKind: telemetry.LatestColumns, fleetKind: telemetry.FleetColumns} {
		if opt.BOM {
			w.heads[kind] = append(w.heads[kind], bom...)
		}
		w.heads[kind] = telemetry.AppendHeader(w.heads[kind], cols)
	}
	if err := w.open(); err != nil {
		if w.fs != nil {
			w.fs.Close()
		}
		return nil, fmt.Errorf("open storage %s: %w", dir, err)
	}
	return w, nil
}

func (w *Writer) open() error {
	switch fi, err := os.Stat(w.dir); {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(w.dir, 0o755); err != nil { // #nosec G301 -- the contract: a BI gateway running as another user enters the folders
			return err
		}
		// MkdirAll's mode is subject to the umask; a gateway running as
		// another user must be able to enter the folders.
		if err := os.Chmod(w.dir, 0o755); err != nil { // #nosec G302 -- the contract: a BI gateway running as another user reads the files
			return err
		}
	case err != nil:
		return err
	case !fi.IsDir():
		return errors.New("not a directory")
	}
	f, err := w.openFS()
	if err != nil {
		return err
	}
	w.fs = f
	for _, d := range []string{csvDir, historyDir} {
		if _, err := w.mkdir(d); err != nil {
			return err
		}
	}
	if err := w.checkWritable(); err != nil {
		return fmt.Errorf("not writable: %w", err)
	}
	if err := w.removeStale(csvDir, false); err != nil {
		return err
	}
	if err := w.removeStaleState(); err != nil {
		return err
	}

	now := w.now()
	cutoff := now.Add(-w.retention)
	if err := w.loadHistory(cutoff); err != nil {
		return err
	}
	loaded, err := loadFile(w.fs, filepath.Join(csvDir, fleetFile), readFleet)
	if err != nil {
		return err
	}
	var fleet []telemetry.FleetRow
	for _, r := range loaded {
		if !r.WindowEnd.Before(cutoff) {
			fleet = upsert(fleet, r)
		}
	}
	w.fleet = newFleetState(fleet)
	w.latest, err = loadFile(w.fs, filepath.Join(csvDir, latestFile), func(r io.Reader) ([]telemetry.VehicleRow, error) {
		return readVehicles(r, telemetry.LatestColumns)
	})
	if err != nil {
		return err
	}
	if err := w.loadSeq(); err != nil {
		return err
	}
	w.lastGood = now
	w.log.Debug("storage opened", "dir", w.dir, "fleet_rows", len(fleet), "latest_rows", len(w.latest),
		"history_files", len(w.hist), "history_bytes", w.histBytes)
	return nil
}

// loadFile parses the file name below the root with parse. A missing file
// gives no rows and no error.
func loadFile[T any](fsys fsys, name string, parse func(io.Reader) ([]T, error)) ([]T, error) {
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := parse(f)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	return rows, nil
}

// Dir returns the output root as it was passed to Open.
func (w *Writer) Dir() string { return w.dir }

// Fleet returns a copy of the fleet rows in fleet_metrics.csv: the retained
// ones, oldest first. The rows of windows whose write failed join them with
// the next fleet_metrics.csv that is written.
func (w *Writer) Fleet() []telemetry.FleetRow {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.fleet.rows)
}

// Latest returns a copy of the per-vehicle rows in latest_metrics.csv: those
// of the latest window written, or loaded by Open.
func (w *Writer) Latest() []telemetry.VehicleRow {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.latest)
}

// LastGoodWrite returns the clock's time (Options.Now) at the last Write
// that put its window into all three files: the history file, a new
// latest_metrics.csv and a new fleet_metrics.csv, each durably in place.
// Before the first such Write it is the time Open returned, when the
// folders had just been found writable, so that now minus LastGoodWrite
// (the age of the files) grows from start-up if writes fail from the
// beginning. A failure of retention alone (a history file that could not be
// deleted) makes Write return an error but does not hold it back, since
// the files are fresh; nor does a window too old to be retained, which gets
// no history file.
func (w *Writer) LastGoodWrite() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastGood
}

// Close releases the output root. Write and History fail after Close;
// Fleet, Latest and LastGoodWrite keep answering from memory. Fleet rows of
// failed writes that no fleet_metrics.csv took in are lost.
func (w *Writer) Close() error {
	w.rootMu.Lock()
	defer w.rootMu.Unlock()
	if w.fs == nil {
		return nil
	}
	err := w.fs.Close()
	w.fs = nil
	return err
}

// Write writes the files of one final window: its history file, a new
// latest_metrics.csv and a new fleet_metrics.csv holding the retained fleet
// rows (a row with the same window end is replaced, so writing a window
// again gives the same files). Then it deletes the history files older than
// the retention and, beyond Options.MaxHistoryBytes, the oldest ones.
//
// Each of the three files is replaced on its own: one that cannot be (a
// full disk, a file held open on Windows past the bounded retries) keeps
// its previous content, no temporary file of it remains, and the others
// still get the window. Latest and Fleet change only once their file has
// been replaced. A window whose fleet row could not be written is kept in
// memory (within the retention) and goes into the next fleet_metrics.csv
// that is written; its history file is not written again. After a Write
// that failed on a missing file or folder, the next one first checks the
// folders: it makes csv/ and history/ again if they are gone, and opens
// the output root again if it was deleted and made anew (it never makes
// the root itself again: a missing mount point would then fill the disk
// below it).
//
// The error wraps the causes, so that errors.Is finds syscall.ENOSPC,
// syscall.EROFS, fs.ErrNotExist and the like.
func (w *Writer) Write(win telemetry.Window) error {
	end := win.End().UTC()
	if w.fs == nil {
		return fmt.Errorf("write window %s: %w", end.Format(telemetry.TimeLayout), errClosed)
	}
	if end.IsZero() || !end.After(win.Start()) {
		return fmt.Errorf("write window %s: window end is zero or not after its start", end.Format(telemetry.TimeLayout))
	}
	err := w.write(&win, end)
	// Only a vanished file or folder needs the folders checked next time;
	// a full disk or a file held open recovers by itself.
	w.suspect = errors.Is(err, fs.ErrNotExist)
	if err != nil {
		return fmt.Errorf("write window %s: %w", end.Format(telemetry.TimeLayout), err)
	}
	return nil
}

func (w *Writer) write(win *telemetry.Window, end time.Time) error {
	now := w.now()
	cutoff := now.Add(-w.retention)
	if w.suspect {
		if err := w.check(cutoff); err != nil {
			w.keepPending(win.Fleet, cutoff)
			return err
		}
	}
	if len(w.orphans) > 0 {
		w.removeOrphans()
	}

	// The window's per-vehicle lines, formatted once for two files.
	b := w.body[:0]
	for i := range win.Vehicles {
		b = win.Vehicles[i].AppendCSV(b)
		b = append(b, '\n')
	}
	w.body = b

	var errs []error
	complete := true
	if !end.Before(cutoff) { // a window past the retention gets no history file
		if err := w.writeHistory(end); err != nil {
			errs = append(errs, err)
			complete = false
		}
	}
	if err := w.writeLatest(win.Vehicles, now); err != nil {
		errs = append(errs, err)
		complete = false
	}
	if err := w.writeFleet(win.Fleet, cutoff); err != nil {
		errs = append(errs, err)
		complete = false
	}
	if complete {
		w.mu.Lock()
		w.lastGood = now
		w.mu.Unlock()
	}
	if err := w.prune(cutoff); err != nil {
		errs = append(errs, err)
	}
	return joinErrors(errs)
}

// writeHistory writes the history file of the window ending at end from
// w.body and records it in the index once it is in place.
func (w *Writer) writeHistory(end time.Time) error {
	day := filepath.Join(historyDir, end.Format(dayLayout))
	if _, err := w.mkdir(day); err != nil {
		return err
	}
	name := filepath.Join(day, end.Format(historyLayout))
	replaced, err := w.replace(name, w.heads[historyKind], w.body)
	if replaced {
		w.addHistory(end, int64(len(w.heads[historyKind])+len(w.body)))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.ToSlash(name), err)
	}
	return nil
}

// writeLatest writes latest_metrics.csv from w.body, each line with
// last_updated = now.
func (w *Writer) writeLatest(vehicles []telemetry.VehicleRow, now time.Time) error {
	var stamp [32]byte
	updated := telemetry.AppendTime(stamp[:0], now)
	b := w.latestB[:0]
	for rest := w.body; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		b = append(b, rest[:i]...)
		b = append(b, ',')
		b = append(b, updated...)
		b = append(b, '\n')
		rest = rest[i+1:]
	}
	w.latestB = b
	name := filepath.Join(csvDir, latestFile)
	replaced, err := w.replace(name, w.heads[latestKind], b)
	if replaced {
		latest := slices.Clone(vehicles)
		w.mu.Lock()
		w.latest = latest
		w.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.ToSlash(name), err)
	}
	return nil
}

// writeFleet writes fleet_metrics.csv: the retained rows with row and the
// pending rows in their places. The file is written from a new state; the
// Writer takes it only once the file is in place. Otherwise row waits with
// the pending rows for the next try.
func (w *Writer) writeFleet(row telemetry.FleetRow, cutoff time.Time) error {
	add := []telemetry.FleetRow{row}
	if len(w.pending) > 0 {
		add = append(slices.Clone(w.pending), row) // row last: it wins over a pending row of the same end
	}
	next := w.fleet.next(add, cutoff)
	name := filepath.Join(csvDir, fleetFile)
	replaced, err := w.replace(name, w.heads[fleetKind], next.body())
	if replaced {
		w.mu.Lock()
		w.fleet = next
		w.mu.Unlock()
		w.pending = nil
	} else {
		w.keepPending(row, cutoff)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.ToSlash(name), err)
	}
	return nil
}

// keepPending adds r to the fleet rows that the next fleet_metrics.csv
// must take in, and forgets those past the retention.
func (w *Writer) keepPending(r telemetry.FleetRow, cutoff time.Time) {
	w.pending = dropBefore(upsert(w.pending, r), cutoff)
}

// check runs before a Write that follows one that failed on a missing file
// or folder. It opens the output root again if the folder at its path is
// not the one open (it was deleted, or moved away, and made again), makes
// csv/ and history/ again if they are gone, and lists the history files
// again when history/ is new. A missing output root is an error: it is not
// made again.
func (w *Writer) check(cutoff time.Time) error {
	fi, err := os.Stat(w.dir)
	if err != nil {
		return fmt.Errorf("output root: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("output root: %s is not a directory", w.dir)
	}
	reopened := false
	if cur, err := w.fs.Stat("."); err != nil || !os.SameFile(fi, cur) {
		f, err := w.openFS()
		if err != nil {
			return fmt.Errorf("output root: %w", err)
		}
		w.rootMu.Lock()
		old := w.fs
		w.fs = f
		w.rootMu.Unlock()
		old.Close()
		w.orphans = nil // they were in the old folder
		reopened = true
		w.log.Debug("output root opened again", "dir", w.dir)
	}
	if _, err := w.mkdir(csvDir); err != nil {
		return err
	}
	created, err := w.mkdir(historyDir)
	if err != nil {
		return err
	}
	if created || reopened {
		return w.loadHistory(cutoff)
	}
	return nil
}

// fleetState is the retained fleet rows together with their CSV lines, so
// that writing fleet_metrics.csv copies bytes rather than formatting every
// retained row again for every window. A state is never changed once made:
// next builds a new one, which may share arrays with it, but only writes
// past their ends.
type fleetState struct {
	rows  []telemetry.FleetRow // sorted by WindowEnd, no two equal
	lines []byte               // the CSV lines of rows from off[0] on, each ending in '\n'
	off   []int                // off[i] is where the line of rows[i] starts in lines
}

// newFleetState formats rows, which must be sorted by WindowEnd.
func newFleetState(rows []telemetry.FleetRow) fleetState {
	s := fleetState{rows: rows, off: make([]int, len(rows))}
	for i := range rows {
		s.off[i] = len(s.lines)
		s.lines = rows[i].AppendCSV(s.lines)
		s.lines = append(s.lines, '\n')
	}
	return s
}

// body returns the CSV lines of the rows.
func (s fleetState) body() []byte {
	if len(s.rows) == 0 {
		return nil
	}
	return s.lines[s.off[0]:]
}

// next returns the state without the rows that end before cutoff and with
// the rows of add put in their places (in order: a later one replaces an
// earlier one with the same end). Rows of add that end before cutoff are
// left out.
func (s fleetState) next(add []telemetry.FleetRow, cutoff time.Time) fleetState {
	lo := sort.Search(len(s.rows), func(i int) bool { return !s.rows[i].WindowEnd.Before(cutoff) })
	rows, off, lines := s.rows[lo:], s.off[lo:], s.lines
	if len(add) == 1 && !add[0].WindowEnd.Before(cutoff) &&
		(len(rows) == 0 || rows[len(rows)-1].WindowEnd.Before(add[0].WindowEnd)) {
		// The common case: one newer window. Append its line.
		switch {
		case len(rows) == 0:
			lines = nil
		case off[0] > len(lines)/2:
			// Most of lines belongs to dropped rows: copy the rest to a
			// new array, so that lines never grows without bound. The
			// copy costs as much as the appends since the last one.
			live := make([]byte, len(lines)-off[0], 2*(len(lines)-off[0]))
			copy(live, lines[off[0]:])
			shifted := make([]int, len(off), 2*len(off))
			for i, o := range off {
				shifted[i] = o - off[0]
			}
			lines, off = live, shifted
		}
		off = append(off, len(lines))
		lines = add[0].AppendCSV(lines)
		lines = append(lines, '\n')
		return fleetState{rows: append(rows, add[0]), lines: lines, off: off}
	}
	merged := slices.Clone(rows)
	for _, r := range add {
		if !r.WindowEnd.Before(cutoff) {
			merged = upsert(merged, r)
		}
	}
	return newFleetState(merged)
}

// upsert puts r into rows, which are sorted by WindowEnd, replacing a row
// with the same WindowEnd. It may change rows in place.
func upsert(rows []telemetry.FleetRow, r telemetry.FleetRow) []telemetry.FleetRow {
	if n := len(rows); n == 0 || rows[n-1].WindowEnd.Before(r.WindowEnd) {
		return append(rows, r) // the common case: a newer window
	}
	i := sort.Search(len(rows), func(i int) bool { return !rows[i].WindowEnd.Before(r.WindowEnd) })
	if rows[i].WindowEnd.Equal(r.WindowEnd) {
		rows[i] = r
		return rows
	}
	return slices.Insert(rows, i, r)
}

// dropBefore removes the rows whose WindowEnd is before cutoff.
func dropBefore(rows []telemetry.FleetRow, cutoff time.Time) []telemetry.FleetRow {
	lo := sort.Search(len(rows), func(i int) bool { return !rows[i].WindowEnd.Before(cutoff) })
	if lo == 0 {
		return rows
	}
	// Reslicing is O(1); the next append that outgrows the array copies
	// only the retained rows.
	return rows[lo:]
}

// joinErrors returns nil, the one error of errs, or an error that wraps
// them all and reads "first; second".
func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return multiError(errs)
}

type multiError []error

func (m multiError) Error() string {
	s := make([]string, len(m))
	for i, err := range m {
		s[i] = err.Error()
	}
	return strings.Join(s, "; ")
}

func (m multiError) Unwrap() []error { return m }
