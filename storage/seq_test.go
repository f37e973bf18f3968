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

// TestStateCatchesUpWithFleetFile covers a crash between the CSV writes
// and SaveState: the windows in fleet_metrics.csv that state.json does not
// count yet were delivered, so a restart counts them for seq and treats
// them as final.
func TestStateCatchesUpWithFleetFile(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Truncate(10 * time.Second)
	e1, e2, e3 := now.Add(-30*time.Second), now.Add(-20*time.Second), now.Add(-10*time.Second)
	t.Run("state behind", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		w := open(t, dir, Options{})
		write(t, w, window(e1, "A"))
		if err := w.SaveState(7, e1); err != nil {
			t.Fatal(err)
		}
		write(t, w, window(e2, "A"), window(e3, "B")) // the crash: no SaveState
		w.Close()
		w = open(t, dir, Options{})
		if w.Seq() != 9 || !w.Through().Equal(e3) {
			t.Fatalf("Seq() = %d, Through() = %v; want 9 and %v", w.Seq(), w.Through(), e3)
		}
	})
	t.Run("no state yet", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		w := open(t, dir, Options{})
		write(t, w, window(e1, "A")) // the crash before the first SaveState
		w.Close()
		w = open(t, dir, Options{})
		if w.Seq() != 1 || !w.Through().Equal(e1) {
			t.Fatalf("Seq() = %d, Through() = %v; want 1 and %v", w.Seq(), w.Through(), e1)
		}
	})
	t.Run("state current", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		w := open(t, dir, Options{})
		write(t, w, window(e1, "A"), window(e2, "A"))
		if err := w.SaveState(5, e2); err != nil {
			t.Fatal(err)
		}
		w.Close()
		w = open(t, dir, Options{})
		if w.Seq() != 5 || !w.Through().Equal(e2) {
			t.Fatalf("Seq() = %d, Through() = %v; want 5 and %v", w.Seq(), w.Through(), e2)
		}
	})
}

// TestOpenRemovesStaleStateTemp: a kill during SaveState leaves a
// temporary file of state.json at the root; Open removes it, and nothing
// else of the root.
func TestOpenRemovesStaleStateTemp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stale := filepath.Join(dir, "."+stateFile+tempSuffix+"12345")
	mine := filepath.Join(dir, ".user-notes")
	for _, f := range []string{stale, mine} {
		if err := os.WriteFile(f, []byte("{"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	open(t, dir, Options{})
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale state temp still there: %v", err)
	}
	if _, err := os.Stat(mine); err != nil {
		t.Fatalf("a user's file at the root was touched: %v", err)
	}
}
