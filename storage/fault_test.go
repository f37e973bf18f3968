package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"fleetpulse/shared/telemetry"
)

// faults decides which file operations fail. fail is called before each
// operation with its name and the slash path it works on (the target for a
// rename); an error it returns is injected in place of the operation's
// outcome, wrapped the way os wraps real ones.
//
// Operations: "create" (a new temporary file), "open", "write", "chmod"
// (of an open file, or of a new folder), "sync" (of a file), "syncdir" (of
// a folder), "close", "rename", "remove", "mkdir", "stat", "readdir".
type faults struct {
	mu   sync.Mutex
	fail func(op, name string) error
	// noSync makes syncs of files and folders succeed without syncing,
	// for tests that write thousands of windows.
	noSync bool
}

func (f *faults) check(op, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail == nil {
		return nil
	}
	return f.fail(op, filepath.ToSlash(name))
}

// set replaces the decision; nil lets everything through.
func (f *faults) set(fail func(op, name string) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fail
}

// layer returns the hook that wraps the real file layer.
func (f *faults) layer() func(fsys) fsys {
	return func(inner fsys) fsys { return faultFS{inner, f} }
}

type faultFS struct {
	fsys
	f *faults
}

func (l faultFS) OpenFile(name string, flag int, perm fs.FileMode) (file, error) {
	op := "open"
	if flag&os.O_CREATE != 0 {
		op = "create"
	}
	if err := l.f.check(op, name); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	f, err := l.fsys.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{file: f, name: name, f: l.f, syncOp: "sync"}, nil
}

func (l faultFS) Open(name string) (file, error) {
	if err := l.f.check("open", name); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	f, err := l.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	// The Writer opens read-only only to read, list or sync folders.
	return &faultFile{file: f, name: name, f: l.f, syncOp: "syncdir"}, nil
}

func (l faultFS) Mkdir(name string, perm fs.FileMode) error {
	if err := l.f.check("mkdir", name); err != nil {
		return &fs.PathError{Op: "mkdir", Path: name, Err: err}
	}
	return l.fsys.Mkdir(name, perm)
}

func (l faultFS) Chmod(name string, perm fs.FileMode) error {
	if err := l.f.check("chmod", name); err != nil {
		return &fs.PathError{Op: "chmod", Path: name, Err: err}
	}
	return l.fsys.Chmod(name, perm)
}

func (l faultFS) Rename(oldname, newname string) error {
	if err := l.f.check("rename", newname); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	return l.fsys.Rename(oldname, newname)
}

func (l faultFS) Remove(name string) error {
	if err := l.f.check("remove", name); err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	return l.fsys.Remove(name)
}

func (l faultFS) Stat(name string) (fs.FileInfo, error) {
	if err := l.f.check("stat", name); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return l.fsys.Stat(name)
}

type faultFile struct {
	file
	name   string
	f      *faults
	syncOp string
}

// Write writes half of p before it fails, as a disk that fills up does.
func (ff *faultFile) Write(p []byte) (int, error) {
	if err := ff.f.check("write", ff.name); err != nil {
		n, _ := ff.file.Write(p[:len(p)/2])
		return n, &fs.PathError{Op: "write", Path: ff.name, Err: err}
	}
	return ff.file.Write(p)
}

func (ff *faultFile) Chmod(mode fs.FileMode) error {
	if err := ff.f.check("chmod", ff.name); err != nil {
		return &fs.PathError{Op: "chmod", Path: ff.name, Err: err}
	}
	return ff.file.Chmod(mode)
}

func (ff *faultFile) Sync() error {
	if ff.f.noSync {
		return nil
	}
	if err := ff.f.check(ff.syncOp, ff.name); err != nil {
		return &fs.PathError{Op: "sync", Path: ff.name, Err: err}
	}
	return ff.file.Sync()
}

// Close closes the file in any case, so no descriptor leaks.
func (ff *faultFile) Close() error {
	err := ff.file.Close()
	if ferr := ff.f.check("close", ff.name); ferr != nil {
		return &fs.PathError{Op: "close", Path: ff.name, Err: ferr}
	}
	return err
}

func (ff *faultFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if err := ff.f.check("readdir", ff.name); err != nil {
		return nil, &fs.PathError{Op: "readdirent", Path: ff.name, Err: err}
	}
	return ff.file.ReadDir(n)
}

// sleeps records the waits of the retries instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
}

func (s *sleeps) take() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.d
	s.d = nil
	return d
}

// faultHooks returns hooks that route the file layer through f, record the
// retry waits in s, and take the Windows error codes for sharing
// violations on every platform, so that the retries are tested here.
func faultHooks(f *faults, s *sleeps) *hooks {
	return &hooks{layer: f.layer(), sleep: s.sleep, sharing: windowsSharingViolation}
}

// target is a file kind as the fault tests name it, with the test for the
// slash paths of its operations.
type target struct {
	name    string
	matches func(name string) bool
}

var targets = []target{
	{"history", func(name string) bool { return strings.HasPrefix(name, "history/2") }},
	{"latest", func(name string) bool { return strings.Contains(name, "latest_metrics.csv") }},
	{"fleet", func(name string) bool { return strings.Contains(name, "fleet_metrics.csv") }},
}

// allWaits are the waits of a rename refused until the retries give up.
var allWaits = []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond, 160 * time.Millisecond}

// TestWriteFaults fails each operation of each file's replacement with each
// kind of error while one window is written, then lets the disk work again.
// The failing Write must return an error that wraps the cause, leave no
// temporary file, keep the last good content of the file it failed on (and
// what Latest and Fleet return in line with the files), and the next Write
// must succeed with every fleet row in place: also the failed window's,
// including when its fleet_metrics.csv was renamed into place but the
// folder could not be synced.
func TestWriteFaults(t *testing.T) {
	t.Parallel()
	causes := []struct {
		name string
		err  error
	}{
		{"disk full", syscall.ENOSPC},
		{"read-only", syscall.EROFS},
		{"vanished folder", syscall.ENOENT},
		{"sharing violation", errorSharingViolation},
		{"lock violation", errorLockViolation},
	}
	ops := []string{"mkdir", "create", "write", "chmod", "sync", "close", "rename", "syncdir"}
	for _, tg := range targets {
		for _, op := range ops {
			if op == "mkdir" && tg.name != "history" {
				continue // csv/ exists since Open
			}
			if op == "syncdir" && runtime.GOOS == "windows" {
				continue // folders are not synced there
			}
			for _, cause := range causes {
				t.Run(fmt.Sprintf("%s/%s/%s", tg.name, op, cause.name), func(t *testing.T) {
					t.Parallel()
					testWriteFault(t, tg, op, cause.err)
				})
			}
		}
	}
}

func testWriteFault(t *testing.T, tg target, op string, cause error) {
	dir := t.TempDir()
	var f faults
	var s sleeps
	now := t0
	w := open(t, dir, Options{Now: func() time.Time { return now }, hooks: faultHooks(&f, &s)})
	opened := w.LastGoodWrite()
	if !opened.Equal(t0) {
		t.Errorf("LastGoodWrite after Open = %v, want the clock at Open %v", opened, t0)
	}
	w1 := window(t0, "A", "B")
	w2 := window(t0.Add(10*time.Second), "A", "B", "C")
	w3 := window(t0.Add(20*time.Second), "B")
	now = w1.End().Add(time.Second)
	write(t, w, w1)

	armed := false // for syncdir: the rename of the target happened
	f.set(func(o, name string) error {
		if o == "rename" && tg.matches(name) {
			armed = true
		}
		if op == "syncdir" {
			if o == "syncdir" && armed {
				armed = false
				return cause
			}
			return nil
		}
		if o == op && tg.matches(name) {
			return cause
		}
		return nil
	})
	now = w2.End().Add(time.Second)
	err := w.Write(w2)
	if !errors.Is(err, cause) {
		t.Fatalf("Write = %v, want an error wrapping %v", err, cause)
	}
	if !strings.HasPrefix(err.Error(), "write window 2026-11-27T04:40:10.000Z: ") {
		t.Errorf("error %q does not name the window", err)
	}
	wantWaits := []time.Duration(nil)
	if op == "rename" && windowsSharingViolation(cause, true) {
		wantWaits = allWaits
	}
	if diff := cmp.Diff(wantWaits, s.take()); diff != "" {
		t.Errorf("retry waits (-want +got):\n%s", diff)
	}

	// The rename of the failing file happened only when syncing its
	// folder failed: then readers see the new content, and so does the
	// Writer.
	renamed := op == "syncdir"
	wantLatest, wantFleet := w2.Vehicles, []telemetry.FleetRow{w1.Fleet, w2.Fleet}
	wantHistory := []time.Time{w1.End(), w2.End()}
	switch {
	case tg.name == "latest" && !renamed:
		wantLatest = w1.Vehicles
	case tg.name == "fleet" && !renamed:
		wantFleet = wantFleet[:1]
	case tg.name == "history" && !renamed:
		wantHistory = wantHistory[:1]
	}
	if diff := cmp.Diff(wantLatest, w.Latest()); diff != "" {
		t.Errorf("Latest() after the failure (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantFleet, w.Fleet()); diff != "" {
		t.Errorf("Fleet() after the failure (-want +got):\n%s", diff)
	}
	assertHistoryEnds(t, w, wantHistory)
	assertFilesMatch(t, dir, w)
	assertNoTemp(t, dir)
	if got := w.LastGoodWrite(); !got.Equal(w1.End().Add(time.Second)) {
		t.Errorf("LastGoodWrite after the failure = %v, want the time of the last good one", got)
	}

	// The cause goes away: the next Write succeeds and catches up.
	f.set(nil)
	now = w3.End().Add(time.Second)
	write(t, w, w3)
	if diff := cmp.Diff(w3.Vehicles, w.Latest()); diff != "" {
		t.Errorf("Latest() after recovery (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]telemetry.FleetRow{w1.Fleet, w2.Fleet, w3.Fleet}, w.Fleet()); diff != "" {
		t.Errorf("Fleet() after recovery (-want +got):\n%s", diff)
	}
	assertHistoryEnds(t, w, append(wantHistory, w3.End()))
	assertFilesMatch(t, dir, w)
	assertNoTemp(t, dir)
	if got := w.LastGoodWrite(); !got.Equal(now) {
		t.Errorf("LastGoodWrite after recovery = %v, want %v", got, now)
	}
	if s := s.take(); len(s) != 0 {
		t.Errorf("retries while nothing failed: %v", s)
	}
}

// assertHistoryEnds checks the window ends of the Writer's history index.
func assertHistoryEnds(t *testing.T, w *Writer, want []time.Time) {
	t.Helper()
	var got []time.Time
	w.mu.Lock()
	for _, h := range w.hist {
		got = append(got, h.end)
	}
	w.mu.Unlock()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history files (-want +got):\n%s", diff)
	}
}

// TestSharingViolationRetries has a rename of latest_metrics.csv refused,
// as Windows does while Excel holds the file open: a few refusals are
// waited out with growing waits; past the bound the Write fails, the old
// file stays, and the other files still get the window.
func TestSharingViolationRetries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		cause   error
		refused int // renames refused before one goes through
		wantErr bool
		waits   []time.Duration
	}{
		{"three refusals", errorSharingViolation, 3, false, allWaits[:3]},
		{"lock violation", errorLockViolation, 1, false, allWaits[:1]},
		{"access denied on rename", errorAccessDenied, 2, false, allWaits[:2]},
		{"as many as the bound", errorSharingViolation, shareRetries, false, allWaits},
		{"one more than the bound", errorSharingViolation, shareRetries + 1, true, allWaits},
		{"held open for good", errorSharingViolation, 1000, true, allWaits},
		{"not a sharing violation", syscall.EBUSY, 1, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var f faults
			var s sleeps
			w := open(t, dir, Options{Now: clock(t0.Add(time.Minute)), hooks: faultHooks(&f, &s)})
			w1, w2 := window(t0, "A"), window(t0.Add(10*time.Second), "B", "C")
			write(t, w, w1)
			before := readFile(t, filepath.Join(dir, "csv", latestFile))

			refused := 0
			f.set(func(op, name string) error {
				if op == "rename" && strings.HasSuffix(name, "csv/"+latestFile) && refused < tc.refused {
					refused++
					return tc.cause
				}
				return nil
			})
			err := w.Write(w2)
			if diff := cmp.Diff(tc.waits, s.take()); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("Write: %v", err)
				}
				if diff := cmp.Diff(w2.Vehicles, w.Latest()); diff != "" {
					t.Errorf("Latest() (-want +got):\n%s", diff)
				}
				assertFilesMatch(t, dir, w)
				assertNoTemp(t, dir)
				return
			}
			if !errors.Is(err, tc.cause) {
				t.Fatalf("Write = %v, want an error wrapping %v", err, tc.cause)
			}
			if got := readFile(t, filepath.Join(dir, "csv", latestFile)); string(got) != string(before) {
				t.Errorf("latest_metrics.csv changed:\n%s", got)
			}
			if diff := cmp.Diff([]telemetry.FleetRow{w1.Fleet, w2.Fleet}, w.Fleet()); diff != "" {
				t.Errorf("Fleet() (-want +got): the other files must still get the window:\n%s", diff)
			}
			assertFilesMatch(t, dir, w)
			assertNoTemp(t, dir)
		})
	}
}

func TestWindowsSharingViolation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		err    error
		rename bool
		want   bool
	}{
		{"sharing violation", errorSharingViolation, false, true},
		{"lock violation", errorLockViolation, false, true},
		{"access denied on rename", errorAccessDenied, true, true},
		{"access denied on remove", errorAccessDenied, false, false},
		{"wrapped in a LinkError", &os.LinkError{Op: "rename", Old: "a", New: "b", Err: errorSharingViolation}, true, true},
		{"wrapped twice", fmt.Errorf("x: %w", &fs.PathError{Op: "remove", Path: "a", Err: errorLockViolation}), false, true},
		{"another code", syscall.Errno(2), true, false},
		{"no code", errors.New("sharing violation"), true, false},
		{"nil", nil, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := windowsSharingViolation(tc.err, tc.rename); got != tc.want {
				t.Errorf("windowsSharingViolation(%v, %v) = %v, want %v", tc.err, tc.rename, got, tc.want)
			}
			want := tc.want && runtime.GOOS == "windows"
			if got := isSharingViolation(tc.err, tc.rename); got != want {
				t.Errorf("isSharingViolation(%v, %v) = %v, want %v on %s", tc.err, tc.rename, got, want, runtime.GOOS)
			}
		})
	}
}

// TestTempFileRemovedLater fails a write and then the removal of its
// temporary file: the next Write removes it.
func TestTempFileRemovedLater(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var f faults
	var s sleeps
	w := open(t, dir, Options{Now: clock(t0.Add(time.Minute)), hooks: faultHooks(&f, &s)})
	f.set(func(op, name string) error {
		switch {
		case op == "write" && strings.Contains(name, latestFile):
			return syscall.ENOSPC
		case op == "remove" && strings.Contains(name, latestFile):
			return syscall.EIO
		}
		return nil
	})
	if err := w.Write(window(t0, "A")); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Write = %v, want ENOSPC", err)
	}
	var temps []string
	for _, name := range listFiles(t, dir) {
		if isTemp(filepath.Base(name)) {
			temps = append(temps, name)
		}
	}
	if len(temps) != 1 || !strings.HasPrefix(temps[0], "csv/.latest_metrics.csv.tmp") {
		t.Fatalf("temporary files %q, want the one of latest_metrics.csv", temps)
	}
	f.set(nil)
	write(t, w, window(t0.Add(10*time.Second), "B"))
	assertNoTemp(t, dir)
	assertFilesMatch(t, dir, w)
}

// TestFleetRowsOfFailedWindowsCatchUp keeps fleet_metrics.csv failing for a
// few windows (a sync client holding it, say): the rows wait in memory and
// all go into the file when it works again, except those that have aged
// out of the retention meanwhile.
func TestFleetRowsOfFailedWindowsCatchUp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var f faults
	var s sleeps
	var now time.Time
	w := open(t, dir, Options{Retention: time.Minute, Now: func() time.Time { return now }, hooks: faultHooks(&f, &s)})
	var wins []telemetry.Window
	for i := range 10 {
		wins = append(wins, window(t0.Add(time.Duration(i)*10*time.Second), "A"))
	}
	now = wins[0].End()
	write(t, w, wins[0])
	f.set(func(op, name string) error {
		if op == "create" && strings.Contains(name, fleetFile) {
			return syscall.EROFS
		}
		return nil
	})
	for _, win := range wins[1:8] {
		now = win.End()
		if err := w.Write(win); !errors.Is(err, syscall.EROFS) {
			t.Fatalf("Write = %v, want EROFS", err)
		}
	}
	if diff := cmp.Diff([]telemetry.FleetRow{wins[0].Fleet}, w.Fleet()); diff != "" {
		t.Errorf("Fleet() while failing (-want +got):\n%s", diff)
	}
	f.set(nil)
	now = wins[8].End()
	write(t, w, wins[8])
	// The retention of a minute keeps the windows ending at or after
	// wins[2]'s end.
	var want []telemetry.FleetRow
	for _, win := range wins[2:9] {
		want = append(want, win.Fleet)
	}
	if diff := cmp.Diff(want, w.Fleet()); diff != "" {
		t.Errorf("Fleet() after recovery (-want +got):\n%s", diff)
	}
	assertFilesMatch(t, dir, w)
	assertNoTemp(t, dir)
}

// TestVanishedRoot deletes the whole output root for real. Writes fail (and
// do not make it again) until it is back, then recover by themselves, with
// every retained fleet row, into the new folder.
func TestVanishedRoot(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out")
	var now time.Time
	w := open(t, dir, Options{Now: func() time.Time { return now }})
	var wins []telemetry.Window
	for i := range 4 {
		wins = append(wins, window(t0.Add(time.Duration(i)*10*time.Second), "A", "B"))
	}
	now = wins[0].End()
	write(t, w, wins[0])

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for _, win := range wins[1:3] {
		now = win.End()
		if err := w.Write(win); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Write = %v, want an error wrapping fs.ErrNotExist", err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the Writer made the output root again: %v", err)
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	now = wins[3].End()
	write(t, w, wins[3])
	var want []telemetry.FleetRow
	for _, win := range wins {
		want = append(want, win.Fleet)
	}
	if diff := cmp.Diff(want, w.Fleet()); diff != "" {
		t.Errorf("Fleet() (-want +got):\n%s", diff)
	}
	assertHistoryEnds(t, w, []time.Time{wins[3].End()})
	assertFilesMatch(t, dir, w)
	rows, err := w.History(time.Time{}, time.Time{}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wins[3].Vehicles, rows); diff != "" {
		t.Errorf("History() (-want +got):\n%s", diff)
	}
}

// TestVanishedFolders deletes csv/ or history/ for real: the next Write
// fails on those files, the one after makes the folder again.
func TestVanishedFolders(t *testing.T) {
	t.Parallel()
	for _, folder := range []string{csvDir, historyDir} {
		t.Run(folder, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var now time.Time
			w := open(t, dir, Options{Now: func() time.Time { return now }})
			w1, w2, w3 := window(t0, "A"), window(t0.Add(10*time.Second), "B"), window(t0.Add(20*time.Second), "C")
			now = w1.End()
			write(t, w, w1)
			if err := os.RemoveAll(filepath.Join(dir, folder)); err != nil {
				t.Fatal(err)
			}
			now = w2.End()
			if err := w.Write(w2); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Write = %v, want an error wrapping fs.ErrNotExist", err)
			}
			now = w3.End()
			write(t, w, w3)
			if diff := cmp.Diff([]telemetry.FleetRow{w1.Fleet, w2.Fleet, w3.Fleet}, w.Fleet()); diff != "" {
				t.Errorf("Fleet() (-want +got):\n%s", diff)
			}
			assertFilesMatch(t, dir, w)
			assertNoTemp(t, dir)
		})
	}
}

// TestPruneFailure has the deletion of an expired history file refused
// until the bound of retries: the window's files are written all the same
// (LastGoodWrite moves on), the error is returned, and the next Write
// deletes the file.
func TestPruneFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var f faults
	var s sleeps
	var now time.Time
	w := open(t, dir, Options{Retention: 15 * time.Second, Now: func() time.Time { return now }, hooks: faultHooks(&f, &s)})
	w1, w2, w3 := window(t0, "A"), window(t0.Add(10*time.Second), "B"), window(t0.Add(20*time.Second), "C")
	now = w1.End()
	write(t, w, w1)
	f.set(func(op, name string) error {
		if op == "remove" && strings.HasSuffix(name, "metrics_20261127T044000Z.csv") {
			return errorSharingViolation
		}
		return nil
	})
	now = w2.End().Add(10 * time.Second) // w1 has expired
	err := w.Write(w2)
	if !errors.Is(err, errorSharingViolation) || !strings.Contains(err.Error(), "prune history") {
		t.Fatalf("Write = %v, want a prune error wrapping the sharing violation", err)
	}
	if diff := cmp.Diff(allWaits, s.take()); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if got := w.LastGoodWrite(); !got.Equal(now) {
		t.Errorf("LastGoodWrite = %v, want %v: the window's files are in place", got, now)
	}
	assertHistoryEnds(t, w, []time.Time{w1.End(), w2.End()})
	f.set(nil)
	now = w3.End().Add(5 * time.Second)
	write(t, w, w3)
	assertHistoryEnds(t, w, []time.Time{w2.End(), w3.End()})
	assertFilesMatch(t, dir, w)
}
