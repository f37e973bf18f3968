package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSeqSurvivesReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w.Seq() != 0 {
		t.Fatalf("fresh Seq() = %d", w.Seq())
	}
	end := time.Date(2026, 11, 27, 4, 40, 10, 0, time.UTC)
	if err := w.SaveState(41, end.Add(-10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := w.SaveState(42, end); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Seq() != 42 || !w.Through().Equal(end) {
		t.Fatalf("after reopen Seq() = %d, Through() = %v; want 42 and %v", w.Seq(), w.Through(), end)
	}
	os.WriteFile(filepath.Join(dir, stateFile), []byte("{oops"), 0o644)
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), stateFile) {
		t.Fatalf("corrupt state: %v, want an error naming %s", err, stateFile)
	}
}
