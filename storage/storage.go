// Package storage writes the CSV files that users' tools (Power BI, Excel,
// scripts) read: csv/latest_metrics.csv, csv/fleet_metrics.csv and one
// history/YYYY-MM-DD/metrics_YYYYMMDDTHHMMSSZ.csv per final window. At start
// it reads the retained rows back, so that a restart carries on.
//
// Every file is replaced atomically, by writing a temporary file beside it and
// renaming that over the target, so a reader polling the files never sees a
// partly written one. Temporary names start with "." and never end in ".csv",
// which keeps them out of folder imports that filter on ".csv" and lets Open
// tell stale ones apart from users' files.
//
// A Writer has one owner goroutine that calls Write and Close; Fleet, Latest
// and Dir are safe to call from any goroutine.
package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
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

// Options configure a Writer.
type Options struct {
	// Retention is how long per-window history files and fleet rows are
	// kept, counted from their window end. Defaults to 168h.
	Retention time.Duration
	// BOM writes a UTF-8 byte order mark at the start of every CSV file:
	// Power Query detects UTF-8 only by it. Files are read back with or
	// without one.
	BOM bool
	// Now is the clock for last_updated and retention. Defaults to time.Now.
	Now func() time.Time
	// Log receives debug messages about housekeeping. Defaults to
	// discarding them. Errors are returned, never logged.
	Log *slog.Logger
}

// Writer writes the CSV files below one output root. Write and Close must
// be called from one goroutine; Fleet, Latest and Dir from any.
type Writer struct {
	dir       string
	root      *os.Root
	retention time.Duration
	bom       bool
	now       func() time.Time
	log       *slog.Logger
	buf       []byte // reused file buffer; only the owner goroutine touches it

	mu     sync.Mutex
	fleet  []telemetry.FleetRow   // sorted by WindowEnd, no two equal; guarded by mu for writes
	latest []telemetry.VehicleRow // never modified in place; guarded by mu
}

// Open opens the output root dir, creating it and its csv/ and history/
// folders (mode 0755) if needed, and checks that it is writable. It removes
// stale temporary files left by a crash and loads the retained fleet rows
// and the latest per-vehicle rows from the files. A missing file is not an
// error; a file that cannot be parsed is, and the error names it and the
// line. The caller closes the Writer.
func Open(dir string, opt Options) (*Writer, error) {
	if opt.Retention < 0 {
		return nil, fmt.Errorf("open storage %s: negative retention %v", dir, opt.Retention)
	}
	w := &Writer{
		dir:       dir,
		retention: opt.Retention,
		bom:       opt.BOM,
		now:       opt.Now,
		log:       opt.Log,
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
	if err := w.open(); err != nil {
		if w.root != nil {
			w.root.Close()
		}
		return nil, fmt.Errorf("open storage %s: %w", dir, err)
	}
	return w, nil
}

func (w *Writer) open() error {
	switch fi, err := os.Stat(w.dir); {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(w.dir, 0o755); err != nil {
			return err
		}
		// MkdirAll's mode is subject to the umask; a gateway running as
		// another user must be able to enter the folders.
		if err := os.Chmod(w.dir, 0o755); err != nil {
			return err
		}
	case err != nil:
		return err
	case !fi.IsDir():
		return errors.New("not a directory")
	}
	root, err := os.OpenRoot(w.dir)
	if err != nil {
		return err
	}
	w.root = root
	for _, d := range []string{csvDir, historyDir} {
		if err := w.mkdir(d); err != nil {
			return err
		}
	}
	if err := w.checkWritable(); err != nil {
		return fmt.Errorf("not writable: %w", err)
	}
	if err := w.removeStale(csvDir, false); err != nil {
		return err
	}
	if err := w.removeStale(historyDir, true); err != nil {
		return err
	}

	cutoff := w.now().Add(-w.retention)
	fleet, err := loadFile(w.root, filepath.Join(csvDir, fleetFile), readFleet)
	if err != nil {
		return err
	}
	for _, r := range fleet {
		if !r.WindowEnd.Before(cutoff) {
			w.fleet = upsert(w.fleet, r)
		}
	}
	w.latest, err = loadFile(w.root, filepath.Join(csvDir, latestFile), func(r io.Reader) ([]telemetry.VehicleRow, error) {
		return readVehicles(r, telemetry.LatestColumns)
	})
	if err != nil {
		return err
	}
	w.log.Debug("storage opened", "dir", w.dir, "fleet_rows", len(w.fleet), "latest_rows", len(w.latest))
	return nil
}

// loadFile parses the file name below root with parse. A missing file gives
// no rows and no error.
func loadFile[T any](root *os.Root, name string, parse func(io.Reader) ([]T, error)) ([]T, error) {
	f, err := root.Open(name)
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

// Fleet returns a copy of the retained fleet rows, oldest first.
func (w *Writer) Fleet() []telemetry.FleetRow {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.fleet)
}

// Latest returns a copy of the per-vehicle rows of the latest window written,
// or loaded by Open.
func (w *Writer) Latest() []telemetry.VehicleRow {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.latest)
}

// Close releases the output root. Write fails after Close; Fleet and Latest
// keep answering from memory.
func (w *Writer) Close() error {
	if w.root == nil {
		return nil
	}
	err := w.root.Close()
	w.root = nil
	return err
}

// Write writes the files of one final window: its history file, a new
// latest_metrics.csv and a new fleet_metrics.csv holding the retained fleet
// rows (a row with the same window end is replaced, so writing a window
// again gives the same files). Then it deletes history files older than the
// retention. On error the files replaced before stay, the one being
// replaced keeps its previous content (no temporary file remains), and
// Latest and Fleet change only once their file has been replaced.
func (w *Writer) Write(win telemetry.Window) error {
	end := win.End().UTC()
	if w.root == nil {
		return fmt.Errorf("write window %s: storage closed", end.Format(telemetry.TimeLayout))
	}
	if err := w.write(&win, end); err != nil {
		return fmt.Errorf("write window %s: %w", end.Format(telemetry.TimeLayout), err)
	}
	return nil
}

func (w *Writer) write(win *telemetry.Window, end time.Time) error {
	if end.IsZero() || !end.After(win.Start()) {
		return errors.New("window end is zero or not after its start")
	}
	now := w.now()
	cutoff := now.Add(-w.retention)
	b := w.buf[:0]
	defer func() { w.buf = b[:0] }()

	// History file of the window.
	day := filepath.Join(historyDir, end.Format(dayLayout))
	if err := w.mkdir(day); err != nil {
		return err
	}
	b = w.appendStart(b, telemetry.VehicleColumns)
	for i := range win.Vehicles {
		b = win.Vehicles[i].AppendCSV(b)
		b = append(b, '\n')
	}
	if err := w.replace(filepath.Join(day, end.Format(historyLayout)), b); err != nil {
		return err
	}

	// latest_metrics.csv.
	b = w.appendStart(b[:0], telemetry.LatestColumns)
	var stamp [32]byte
	updated := telemetry.AppendTime(stamp[:0], now)
	for i := range win.Vehicles {
		b = win.Vehicles[i].AppendCSV(b)
		b = append(b, ',')
		b = append(b, updated...)
		b = append(b, '\n')
	}
	if err := w.replace(filepath.Join(csvDir, latestFile), b); err != nil {
		return err
	}
	latest := slices.Clone(win.Vehicles)
	w.mu.Lock()
	w.latest = latest
	w.mu.Unlock()

	// fleet_metrics.csv: the retained rows with win's row in its place.
	// The file is written from a view of the change; the retained list is
	// changed only once the file is in place.
	fleet := w.fleet
	lo := sort.Search(len(fleet), func(i int) bool { return !fleet[i].WindowEnd.Before(cutoff) })
	at := sort.Search(len(fleet), func(i int) bool { return !fleet[i].WindowEnd.Before(win.Fleet.WindowEnd) })
	keep := !win.Fleet.WindowEnd.Before(cutoff)
	b = w.appendStart(b[:0], telemetry.FleetColumns)
	for i := lo; i <= len(fleet); i++ {
		if i == at && keep {
			b = win.Fleet.AppendCSV(b)
			b = append(b, '\n')
			if i < len(fleet) && fleet[i].WindowEnd.Equal(win.Fleet.WindowEnd) {
				continue
			}
		}
		if i < len(fleet) {
			b = fleet[i].AppendCSV(b)
			b = append(b, '\n')
		}
	}
	if err := w.replace(filepath.Join(csvDir, fleetFile), b); err != nil {
		return err
	}
	w.mu.Lock()
	if keep {
		w.fleet = upsert(w.fleet, win.Fleet)
	}
	w.fleet = dropBefore(w.fleet, cutoff)
	w.mu.Unlock()

	return w.prune(cutoff)
}

// appendStart appends the optional BOM and the header of cols to b.
func (w *Writer) appendStart(b []byte, cols []string) []byte {
	if w.bom {
		b = append(b, bom...)
	}
	return telemetry.AppendHeader(b, cols)
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

// prune deletes the history files whose window end is before cutoff, and
// the date folders they leave empty. Folders dated at or after cutoff hold
// no such file and are not listed. Files that are not history files stay.
func (w *Writer) prune(cutoff time.Time) error {
	days, err := w.readDir(historyDir)
	if err != nil {
		return fmt.Errorf("prune history: %w", err)
	}
	for _, d := range days {
		day, err := time.Parse(dayLayout, d.Name())
		if err != nil || !d.IsDir() || !day.Before(cutoff) {
			continue
		}
		dir := filepath.Join(historyDir, d.Name())
		files, err := w.readDir(dir)
		if err != nil {
			return fmt.Errorf("prune history: %w", err)
		}
		left := len(files)
		for _, f := range files {
			end, err := time.Parse(historyLayout, f.Name())
			if err != nil || !f.Type().IsRegular() || !end.Before(cutoff) {
				continue
			}
			if err := w.root.Remove(filepath.Join(dir, f.Name())); err != nil {
				return fmt.Errorf("prune history: %w", err)
			}
			left--
		}
		if left == 0 {
			if err := w.root.Remove(dir); err != nil {
				return fmt.Errorf("prune history: %w", err)
			}
			w.log.Debug("history folder removed", "dir", dir)
		}
	}
	return nil
}
