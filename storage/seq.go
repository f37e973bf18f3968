package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

// stateFile, at the output root, keeps what must survive a restart beyond
// the CSV files: the seq and the end of the last window written.
const stateFile = "state.json"

type state struct {
	Seq     uint64    `json:"seq"`
	Through time.Time `json:"through"`
}

// loadSeq reads the saved seq; a missing file is seq 0.
func (w *Writer) loadSeq() error {
	f, err := w.fs.Open(stateFile)
	if errors.Is(err, fs.ErrNotExist) {
		w.reconcile()
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("load %s: %w", stateFile, err)
	}
	w.seq.Store(s.Seq)
	w.through = s.Through
	w.reconcile()
	return nil
}

// reconcile brings seq and through up to fleet_metrics.csv. Delivery writes
// the CSV files first and state.json after them, so a crash between the two
// leaves fleet rows of windows that state.json does not count yet. Those
// windows were written, so they are final: each counts for seq, and through
// moves to the last of them, so that a restart (replaying the write-ahead
// log, say) never emits one of them again as a second row or seq.
func (w *Writer) reconcile() {
	rows := w.fleet.rows
	if len(rows) == 0 || !rows[len(rows)-1].WindowEnd.After(w.through) {
		return
	}
	i := sort.Search(len(rows), func(i int) bool { return rows[i].WindowEnd.After(w.through) })
	w.seq.Add(uint64(len(rows) - i)) // #nosec G115 -- i <= len(rows): sort.Search returns an index of rows
	w.through = rows[len(rows)-1].WindowEnd
	w.log.Debug("state behind fleet_metrics.csv: carried on from it", "windows", len(rows)-i, "through", w.through)
}

// removeStaleState removes temporary files of state.json that a crash
// during SaveState left at the output root. Only names of that form go:
// the root may hold users' files.
func (w *Writer) removeStaleState() error {
	entries, err := w.readDir(".")
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), "."+stateFile+tempSuffix) {
			if err := w.removeStaleFile(e.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Seq returns the seq last saved with SaveState, or read at Open; 0 when
// there is none.
func (w *Writer) Seq() uint64 { return w.seq.Load() }

// Through returns the end of the last window saved with SaveState, as read
// at Open; zero when there is none. Windows ending at or before it were
// delivered (the last ones perhaps flushed at shutdown): a restarted
// server treats them as final, so that none is emitted twice.
func (w *Writer) Through() time.Time { return w.through }

// SaveState replaces state.json with seq and through, atomically like the
// CSV files, so that a restart carries on.
func (w *Writer) SaveState(seq uint64, through time.Time) error {
	if w.fs == nil {
		return errClosed
	}
	b := []byte(`{"seq":` + strconv.FormatUint(seq, 10) + `,"through":"` + through.UTC().Format(time.RFC3339Nano) + "\"}\n")
	if _, err := w.replace(stateFile, b); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	w.seq.Store(seq)
	return nil
}
