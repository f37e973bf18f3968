package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
)

// stateFile, at the output root, keeps what must survive a restart beyond
// the CSV files: the seq of the last final window.
const stateFile = "state.json"

type state struct {
	Seq uint64 `json:"seq"`
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
	return nil
}

// Seq returns the seq last saved with SaveSeq, or read at Open; 0 when
// there is none.
func (w *Writer) Seq() uint64 { return w.seq.Load() }

// SaveSeq replaces state.json with seq, atomically like the CSV files, so
// that /ws seq carries on after a restart.
func (w *Writer) SaveSeq(seq uint64) error {
	if w.fs == nil {
		return errClosed
	}
	if _, err := w.replace(stateFile, []byte(`{"seq":`+strconv.FormatUint(seq, 10)+"}\n")); err != nil {
		return fmt.Errorf("save seq: %w", err)
	}
	w.seq.Store(seq)
	return nil
}
