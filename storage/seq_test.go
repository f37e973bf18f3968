package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	if err := w.SaveSeq(41); err != nil {
		t.Fatal(err)
	}
	if err := w.SaveSeq(42); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Seq() != 42 {
		t.Fatalf("after reopen Seq() = %d, want 42", w.Seq())
	}
	os.WriteFile(filepath.Join(dir, stateFile), []byte("{oops"), 0o644)
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), stateFile) {
		t.Fatalf("corrupt state: %v, want an error naming %s", err, stateFile)
	}
}
