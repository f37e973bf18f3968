package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"fleetpulse/shared/telemetry"
)

// ErrTooManyRows is returned by History when more rows match than the
// caller allows: the caller should ask for a narrower range.
var ErrTooManyRows = errors.New("too many history rows")

// histFile is one history file in the index that the Writer keeps, so that
// retention, the size cap and History need not list the folders.
type histFile struct {
	end  time.Time // the window end, which names the file
	size int64     // bytes
}

// historyName returns the name below the root of the history file of the
// window ending at end.
func historyName(end time.Time) string {
	return filepath.Join(historyDir, end.Format(dayLayout), end.Format(historyLayout))
}

// addHistory records the history file of the window ending at end, of size
// bytes, replacing an entry for the same end.
func (w *Writer) addHistory(end time.Time, size int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.hist
	if n := len(h); n == 0 || h[n-1].end.Before(end) {
		w.hist = append(h, histFile{end, size}) // the common case: a newer window
		w.histBytes += size
		return
	}
	i := sort.Search(len(h), func(i int) bool { return !h[i].end.Before(end) })
	if h[i].end.Equal(end) {
		w.histBytes += size - h[i].size
		h[i].size = size
		return
	}
	w.hist = slices.Insert(h, i, histFile{end, size})
	w.histBytes += size
}

// loadHistory lists history/ into the index. On the way it removes stale
// temporary files anywhere below it, and date folders dated before cutoff
// that are empty. Files whose name is not that of a history file in the
// folder of its date are not ours: they stay and are not indexed.
func (w *Writer) loadHistory(cutoff time.Time) error {
	entries, err := w.readDir(historyDir)
	if err != nil {
		return err
	}
	var idx []histFile
	var total int64
	for _, e := range entries {
		name := filepath.Join(historyDir, e.Name())
		if !e.IsDir() {
			if e.Type().IsRegular() && isTemp(e.Name()) {
				if err := w.removeStaleFile(name); err != nil {
					return err
				}
			}
			continue
		}
		day, dayErr := time.Parse(dayLayout, e.Name())
		files, err := w.readDir(name)
		if err != nil {
			return err
		}
		left := 0
		for _, f := range files {
			p := filepath.Join(name, f.Name())
			switch {
			case f.IsDir():
				if err := w.removeStale(p, true); err != nil {
					return err
				}
			case f.Type().IsRegular() && isTemp(f.Name()):
				if err := w.removeStaleFile(p); err != nil {
					return err
				}
				continue
			case dayErr == nil && f.Type().IsRegular():
				end, err := time.Parse(historyLayout, f.Name())
				if err != nil || end.Format(historyLayout) != f.Name() || end.Format(dayLayout) != e.Name() {
					break
				}
				fi, err := w.fs.Stat(p)
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					return err
				}
				idx = append(idx, histFile{end, fi.Size()})
				total += fi.Size()
			}
			left++
		}
		if left == 0 && dayErr == nil && day.Before(cutoff) {
			if err := w.retry(false, func() error { return w.fs.Remove(name) }); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			w.log.Debug("history folder removed", "dir", name)
		}
	}
	slices.SortFunc(idx, func(a, b histFile) int { return a.end.Compare(b.end) })
	w.mu.Lock()
	w.hist, w.histBytes = idx, total
	w.mu.Unlock()
	return nil
}

// removeStaleFile removes the temporary file name left by a crash.
func (w *Writer) removeStaleFile(name string) error {
	err := w.retry(false, func() error { return w.fs.Remove(name) })
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale temporary file: %w", err)
	}
	w.log.Debug("stale temporary file removed", "file", name)
	return nil
}

// prune deletes the history files whose window end is before cutoff and
// then, while the history files add up to more than the size cap, the
// oldest ones, never the newest; and the date folders they leave empty.
// It works from the index: nothing is listed unless a date folder may have
// become empty. A file that is already gone counts as deleted; one that
// cannot be deleted stops the pruning and stays in the index, so the next
// Write tries again.
func (w *Writer) prune(cutoff time.Time) error {
	h, total := w.hist, w.histBytes // only the owner changes them
	n := 0
	for n < len(h) && h[n].end.Before(cutoff) {
		total -= h[n].size
		n++
	}
	for w.maxBytes > 0 && total > w.maxBytes && n < len(h)-1 {
		total -= h[n].size
		n++
	}
	if n == 0 {
		return nil
	}
	var err error
	done, freed := 0, int64(0)
	for ; done < n; done++ {
		name := historyName(h[done].end)
		err = w.retry(false, func() error { return w.fs.Remove(name) })
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("prune history: %w", err)
			break
		}
		err = nil
		freed += h[done].size
	}
	removed := h[:done]
	w.mu.Lock()
	// Reslicing is O(1); the next append that outgrows the array copies
	// only the entries left.
	w.hist = h[done:]
	w.histBytes -= freed
	w.mu.Unlock()

	// The date folders of the removed files are empty of ours unless the
	// oldest file left is in the same one.
	keep := ""
	if len(w.hist) > 0 {
		keep = w.hist[0].end.Format(dayLayout)
	}
	last := ""
	for _, f := range removed {
		day := f.end.Format(dayLayout)
		if day == last || day == keep {
			continue
		}
		last = day
		if rerr := w.removeDayIfEmpty(filepath.Join(historyDir, day)); rerr != nil && err == nil {
			err = fmt.Errorf("prune history: %w", rerr)
		}
	}
	return err
}

// removeDayIfEmpty removes the date folder dir unless something is left in
// it (a file that is not ours, or a temporary file of a Write under way).
func (w *Writer) removeDayIfEmpty(dir string) error {
	left, err := w.readDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil || len(left) > 0 {
		return err
	}
	err = w.retry(false, func() error { return w.fs.Remove(dir) })
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	w.log.Debug("history folder removed", "dir", dir)
	return nil
}

// History returns the per-vehicle rows of the retained windows with
// window_start >= from and window_end <= to, oldest window first, in the
// order of their history file (by vehicle id). A zero from or to sets no
// bound. vehicleIDs keeps only the rows of those vehicles; nil keeps all.
// When more than maxRows rows match, it returns ErrTooManyRows and no rows;
// maxRows <= 0 sets no limit.
//
// It reads the history files that the Writer's index names, through the
// output root, and is safe to call concurrently with Write: a file that
// retention deleted in between is skipped. Windows whose history file
// could not be written, or was deleted by the size cap, have no rows here.
// A file that cannot be parsed is an error that names it.
func (w *Writer) History(from, to time.Time, vehicleIDs map[string]bool, maxRows int) ([]telemetry.VehicleRow, error) {
	w.mu.Lock()
	h := w.hist
	// A window that starts at or after from ends after it.
	lo := sort.Search(len(h), func(i int) bool { return h[i].end.After(from) })
	if cutoff := w.now().Add(-w.retention); from.Before(cutoff) {
		lo = sort.Search(len(h), func(i int) bool { return !h[i].end.Before(cutoff) })
	}
	hi := len(h)
	if !to.IsZero() {
		hi = sort.Search(len(h), func(i int) bool { return h[i].end.After(to) })
	}
	var ends []time.Time
	for i := lo; i < hi; i++ {
		ends = append(ends, h[i].end)
	}
	w.mu.Unlock()

	var keep func(string) bool
	if vehicleIDs != nil {
		keep = func(id string) bool { return vehicleIDs[id] }
	}
	rows := []telemetry.VehicleRow{}
	emit := func(r telemetry.VehicleRow) error {
		if r.WindowStart.Before(from) || (!to.IsZero() && r.WindowEnd.After(to)) {
			return nil
		}
		if maxRows > 0 && len(rows) == maxRows {
			return ErrTooManyRows
		}
		rows = append(rows, r)
		return nil
	}

	w.rootMu.RLock()
	defer w.rootMu.RUnlock()
	if w.fs == nil {
		return nil, fmt.Errorf("read history: %w", errClosed)
	}
	for _, end := range ends {
		name := historyName(end)
		f, err := w.fs.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted by retention since the index was read
		}
		if err != nil {
			return nil, fmt.Errorf("read history: %w", err)
		}
		err = scanVehicles(f, telemetry.VehicleColumns, keep, emit)
		f.Close()
		if errors.Is(err, ErrTooManyRows) {
			return nil, ErrTooManyRows
		}
		if err != nil {
			return nil, fmt.Errorf("read history %s: %w", filepath.ToSlash(name), err)
		}
	}
	return rows, nil
}
