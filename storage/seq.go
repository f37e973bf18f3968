package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
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
