//go:build linux

package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"fleetpulse/shared/telemetry"
)

// tmpfsEnv switches TestDiskFullTmpfs to its part inside the mount
// namespace; its value is the folder to mount the tmpfs on.
const tmpfsEnv = "FLEETPULSE_TEST_TMPFS_DIR"

// TestDiskFullTmpfs fills a real disk: a 256 KiB tmpfs, mounted in a mount
// namespace of its own so that nothing outside sees it. Windows are written
// until one fails with ENOSPC; the files must then still parse whole (the
// latest_metrics.csv a reader finds is a complete one) and no temporary
// file may be left. Once a filler file is deleted, the next Write succeeds
// and fleet_metrics.csv takes in the failed window's row too.
//
// It needs root and unshare(1); it runs the test binary again inside
// "unshare -m", and skips where that or the mount is refused.
func TestDiskFullTmpfs(t *testing.T) {
	if dir := os.Getenv(tmpfsEnv); dir != "" {
		fillTmpfs(t, dir)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skipf("needs unshare(1) to mount a tmpfs in a namespace of its own: %v", err)
	}
	if _, err := exec.LookPath("mount"); err != nil {
		t.Skipf("needs mount(8): %v", err)
	}
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(unshare, "-m", "--", os.Args[0], "-test.run=^TestDiskFullTmpfs$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), tmpfsEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	switch s := string(out); {
	case !strings.Contains(s, "=== RUN   TestDiskFullTmpfs"):
		t.Skipf("unshare -m refused (%v):\n%s", err, out)
	case strings.Contains(s, "--- SKIP: TestDiskFullTmpfs"):
		t.Skipf("skipped inside the mount namespace:\n%s", out)
	case err != nil:
		t.Fatalf("inside the mount namespace (%v):\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(line, ".go:") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

// fillTmpfs is the part of TestDiskFullTmpfs inside the mount namespace.
func fillTmpfs(t *testing.T, dir string) {
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount a tmpfs: %v: %s", err, out)
	}
	// The mount goes with the namespace when this process exits.
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 128<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "storage")
	var now time.Time
	w := open(t, root, Options{Now: func() time.Time { return now }})

	// 100 vehicles: history files of 13 KB that pile up until the disk
	// is full.
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprintf("TRUCK-%04d", i)
	}
	var wins []telemetry.Window
	var writeErr error
	for i := range 100 {
		win := window(t0.Add(time.Duration(i)*10*time.Second), ids...)
		wins = append(wins, win)
		now = win.End().Add(5 * time.Second)
		if writeErr = w.Write(win); writeErr != nil {
			break
		}
	}
	if !errors.Is(writeErr, syscall.ENOSPC) {
		t.Fatalf("after %d windows: Write = %v, want ENOSPC", len(wins), writeErr)
	}
	t.Logf("the disk was full at window %d: %v", len(wins), writeErr)
	failed := wins[len(wins)-1]

	// A reader finds whole files: latest_metrics.csv is that of the last
	// window written whole, or of the failed one if that file got in.
	b, err := os.ReadFile(filepath.Join(root, "csv", latestFile))
	if err != nil {
		t.Fatal(err)
	}
	latest, err := readVehicles(bytes.NewReader(b), telemetry.LatestColumns)
	if err != nil {
		t.Fatalf("latest_metrics.csv is not whole: %v", err)
	}
	got := vehiclesCSV(latest)
	if d1, d2 := cmp.Diff(vehiclesCSV(wins[len(wins)-2].Vehicles), got), cmp.Diff(vehiclesCSV(failed.Vehicles), got); d1 != "" && d2 != "" {
		t.Errorf("latest_metrics.csv holds neither of the last two windows (-last good +file):\n%s", d1)
	}
	assertFilesMatch(t, root, w)
	assertNoTemp(t, root)
	if again := w.Write(window(failed.End().Add(10*time.Second), ids...)); !errors.Is(again, syscall.ENOSPC) {
		t.Fatalf("Write on a full disk = %v, want ENOSPC", again)
	}
	wins = append(wins, window(failed.End().Add(10*time.Second), ids...))
	assertNoTemp(t, root)

	// Space comes back: the next Write succeeds, with every fleet row.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	next := window(wins[len(wins)-1].End().Add(10*time.Second), ids...)
	wins = append(wins, next)
	now = next.End().Add(5 * time.Second)
	if err := w.Write(next); err != nil {
		t.Fatalf("Write after space came back: %v", err)
	}
	if diff := cmp.Diff(next.Vehicles, w.Latest()); diff != "" {
		t.Errorf("Latest() (-want +got):\n%s", diff)
	}
	var want []telemetry.FleetRow
	for _, win := range wins {
		want = append(want, win.Fleet)
	}
	if diff := cmp.Diff(want, w.Fleet()); diff != "" {
		t.Errorf("Fleet() (-want +got):\n%s", diff)
	}
	assertFilesMatch(t, root, w)
	assertNoTemp(t, root)
	if got := w.LastGoodWrite(); !got.Equal(now) {
		t.Errorf("LastGoodWrite = %v, want %v", got, now)
	}
}
