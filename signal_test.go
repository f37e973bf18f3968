package main

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestSIGTERMStopsCleanly builds the real binary, stops it with SIGTERM and
// checks the exit code, the time it took, the goodbye to subscribers and
// the files.
func TestSIGTERMStopsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-storage", dir, "-window", "1s", "-lateness", "0s", "-vehicles", "5", "-rate", "10")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdout)
	var url string
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "FleetPulse dashboard: "); ok {
			url = u
			break
		}
	}
	if url == "" {
		t.Fatalf("no URL printed; stderr:\n%s", stderr.String())
	}
	waitReady(t, url+"readyz")
	c := dialWS(t, url+"ws")
	defer c.CloseNow()
	readMsg(t, c, nil) // the snapshot
	readMsg(t, c, nil) // a first window: the pipeline runs

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Once the signal is handled, /readyz never says ready again: 503
	// while draining (the subscriber, not reading now, holds the drain
	// open), then nothing listens.
	draining := 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		resp, err := http.Get(url + "readyz")
		if err != nil {
			break // stopped listening
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusServiceUnavailable:
			draining++
		case draining > 0:
			t.Fatalf("/readyz answered %d after it had answered 503", resp.StatusCode)
		}
		time.Sleep(10 * time.Millisecond) // readiness polling
	}
	if draining == 0 {
		t.Error("/readyz never answered 503 during the drain")
	}
	// The open window is flushed to the subscriber, then Going Away.
	flushed := 0
	for {
		_, b, err := c.Read(t.Context())
		if err != nil {
			if st := websocket.CloseStatus(err); st != websocket.StatusGoingAway {
				t.Fatalf("close status %v (%v), want 1001", st, err)
			}
			break
		}
		if strings.Contains(string(b), `"type":"window"`) {
			flushed++
		}
	}
	if flushed == 0 {
		t.Error("no window reached the subscriber between SIGTERM and Going Away")
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v, want code 0; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after SIGTERM")
	}
	t.Logf("stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	entries, err := os.ReadDir(filepath.Join(dir, "csv"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "fleet_metrics.csv,latest_metrics.csv" {
		t.Fatalf("csv/ holds %v, want the two files and no temporary ones", names)
	}
}
