package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fleetpulse/shared/telemetry"
	"fleetpulse/shared/wire"
)

// crashSeed is the seed of the kill moments; FLEETPULSE_CRASH_SEED
// replays a failing run.
func crashSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("FLEETPULSE_CRASH_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("FLEETPULSE_CRASH_SEED: %v", err)
		}
		seed = s
	}
	t.Logf("kill moments from seed %d (FLEETPULSE_CRASH_SEED=%d replays them)", seed, seed)
	return seed
}

// freeAddr returns a loopback address with a free port, so that every
// restart listens where the producers send.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// windowWatcher records the final windows one /ws subscriber sees, until
// the server goes away.
type windowWatcher struct {
	snapSeq uint64
	done    chan []wire.Window
}

func watchWindows(t *testing.T, url string) *windowWatcher {
	t.Helper()
	c := dialWS(t, url+"ws")
	var snap wire.Snapshot
	readMsg(t, c, &snap)
	w := &windowWatcher{snapSeq: snap.Seq, done: make(chan []wire.Window, 1)}
	go func() {
		defer c.CloseNow()
		var got []wire.Window
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				w.done <- got
				return
			}
			var m wire.Window
			if json.Unmarshal(b, &m) == nil && m.Type == "window" {
				got = append(got, m)
			}
		}
	}()
	return w
}

// TestCrashLoop kills the server with SIGKILL at random moments while the
// simulated fleet fills 1 s windows, and after each kill checks what users'
// tools would read: latest_metrics.csv whole and consistent, the fleet rows
// unique; and that a restart comes up clean: ready, no temporary files, seq
// carrying on from the files, and no window emitted twice.
func TestCrashLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	t.Parallel()
	rng := rand.New(rand.NewPCG(crashSeed(t), 1))
	bin := buildBinary(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	// 500 vehicles make each window's files big enough (about 80 KB) that
	// some kills land in the middle of a write.
	args := []string{"-addr", addr, "-storage", dir, "-window", "1s", "-lateness", "0s", "-vehicles", "500", "-rate", "4"}

	seen := map[int64]uint64{} // window end (ms) -> seq, over every run
	var lastSeq uint64         // the highest seq seen so far
	rowsAtKill := 0            // fleet rows in the files after the last kill
	var stale []string         // temporary files the last kill left
	killsWithTemp := 0
	const kills = 20
	for i := range kills + 1 {
		p := startBinary(t, bin, nil, args...)
		ww := watchWindows(t, p.url)
		// Seq carries on from the files (and never goes back): at least
		// the windows in fleet_metrics.csv when the server died, more if
		// one was delivered since the restart.
		if ww.snapSeq < uint64(rowsAtKill) || ww.snapSeq < lastSeq {
			t.Fatalf("run %d: restart at seq %d; fleet_metrics.csv had %d windows, seq %d was seen before the kill", i, ww.snapSeq, rowsAtKill, lastSeq)
		}
		lastSeq = ww.snapSeq
		// What the kill left is gone (the running server may have
		// temporary files of its own by now).
		for _, f := range stale {
			if _, err := os.Stat(f); !os.IsNotExist(err) {
				t.Fatalf("run %d: temporary file %s left by the kill is still there after the restart", i, f)
			}
		}
		if i == 0 {
			// Let the first window reach the files: from then on
			// latest_metrics.csv must always be there.
			waitForFile(t, filepath.Join(dir, "csv", "latest_metrics.csv"))
		}
		if i == kills {
			p.term(t)
		} else {
			// A random moment within the next 2.5 s, across window
			// boundaries and file writes.
			<-time.After(time.Duration(rng.Int64N(int64(2500 * time.Millisecond))))
			p.kill9(t)
		}
		for _, w := range <-ww.done {
			end := w.WindowEnd.UnixMilli()
			if prev, ok := seen[end]; ok {
				t.Fatalf("run %d: window ending %v emitted twice, as seq %d and %d", i, w.WindowEnd, prev, w.Seq)
			}
			if w.Seq != lastSeq+1 {
				t.Fatalf("run %d: seq %d after %d", i, w.Seq, lastSeq)
			}
			seen[end] = w.Seq
			lastSeq = w.Seq
		}
		stale = tempFiles(t, dir)
		if len(stale) > 0 {
			killsWithTemp++
		}
		checkLatest(t, dir, i)
		rowsAtKill = checkFleet(t, dir, i)
		// A window anyone has seen is on disk.
		if lastSeq > uint64(rowsAtKill) {
			t.Fatalf("run %d: seq %d was sent to subscribers, but fleet_metrics.csv has %d windows", i, lastSeq, rowsAtKill)
		}
	}
	if len(seen) < kills/4 { // most runs see windows; a slow machine fewer
		t.Fatalf("only %d windows in %d runs", len(seen), kills+1)
	}
	if left := tempFiles(t, dir); len(left) > 0 { // after a clean stop
		t.Fatalf("temporary files left after SIGTERM: %v", left)
	}
	t.Logf("%d kills (%d leaving temporary files, all removed at the restart), %d windows, last seq %d", kills, killsWithTemp, len(seen), lastSeq)
}

func waitForFile(t *testing.T, name string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) { // readiness polling
		if _, err := os.Stat(name); err == nil {
			return
		}
	}
	t.Fatalf("%s not written within 15 s", name)
}

// readCSVFile parses a whole CSV file; a torn file fails the parse or the
// column count.
func readCSVFile(t *testing.T, name string) (header []string, rows [][]string) {
	t.Helper()
	b, err := os.ReadFile(name)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("%s does not end in a newline: torn?\n%q", name, b)
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("%s does not parse: %v", name, err)
	}
	if len(recs) == 0 {
		t.Fatalf("%s is empty", name)
	}
	return recs[0], recs[1:]
}

// checkLatest checks latest_metrics.csv: there, the contract header, and
// rows of one window, one per vehicle, with numbers that parse.
func checkLatest(t *testing.T, dir string, run int) {
	t.Helper()
	name := filepath.Join(dir, "csv", "latest_metrics.csv")
	if _, err := os.Stat(name); err != nil {
		t.Fatalf("run %d: latest_metrics.csv missing: %v", run, err)
	}
	head, rows := readCSVFile(t, name)
	if strings.Join(head, ",") != strings.Join(telemetry.LatestColumns, ",") {
		t.Fatalf("run %d: latest_metrics.csv header %v", run, head)
	}
	if len(rows) == 0 {
		t.Fatalf("run %d: latest_metrics.csv has no rows", run)
	}
	ids := map[string]bool{}
	for _, r := range rows {
		if r[0] != rows[0][0] || r[1] != rows[0][1] || r[11] != rows[0][11] {
			t.Fatalf("run %d: rows of different windows or updates in latest_metrics.csv: %v and %v", run, rows[0], r)
		}
		if ids[r[2]] {
			t.Fatalf("run %d: vehicle %s twice in latest_metrics.csv", run, r[2])
		}
		ids[r[2]] = true
		start, err1 := time.Parse(time.RFC3339, r[0])
		end, err2 := time.Parse(time.RFC3339, r[1])
		_, err3 := strconv.ParseInt(r[3], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || end.Sub(start) != time.Second {
			t.Fatalf("run %d: bad row in latest_metrics.csv: %v", run, r)
		}
		for _, c := range r[4:11] {
			if _, err := strconv.ParseFloat(c, 64); err != nil && !strings.Contains(c, "T") {
				t.Fatalf("run %d: bad number %q in latest_metrics.csv row %v", run, c, r)
			}
		}
	}
}

// checkFleet checks fleet_metrics.csv: the contract header, and each
// window once, oldest first. It returns the number of rows.
func checkFleet(t *testing.T, dir string, run int) int {
	t.Helper()
	head, rows := readCSVFile(t, filepath.Join(dir, "csv", "fleet_metrics.csv"))
	if strings.Join(head, ",") != strings.Join(telemetry.FleetColumns, ",") {
		t.Fatalf("run %d: fleet_metrics.csv header %v", run, head)
	}
	prev := ""
	for _, r := range rows {
		if r[1] <= prev {
			t.Fatalf("run %d: fleet_metrics.csv window %s after %s: repeated or out of order", run, r[1], prev)
		}
		prev = r[1]
	}
	return len(rows)
}

// tempFiles lists the temporary files (names starting with ".") below dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(d.Name(), ".") && path != dir {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// TestCrashLoopWAL kills the server with SIGKILL at random moments while
// producers post batches to /ingest with -wal on. A producer retries every
// batch until it gets a 2xx, across restarts. After a clean stop, the
// history CSVs hold every event exactly once: each batch is one vehicle,
// so its events add up to the batch size, never less (lost) or more
// (replayed and retried both counted).
func TestCrashLoopWAL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	t.Parallel()
	rng := rand.New(rand.NewPCG(crashSeed(t), 2))
	bin := buildBinary(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	url := "http://" + addr + "/"
	const token = "crash-token-0123456789abcdef"
	env := []string{"FLEETPULSE_INGEST_TOKEN=" + token}
	args := []string{"-addr", addr, "-storage", dir, "-wal", filepath.Join(dir, "wal"),
		"-window", "1s", "-lateness", "10s", "-vehicles", "0"}

	const perBatch = 10
	var mu sync.Mutex
	acked := map[string]int{} // vehicle (one per batch) -> events acked
	ctx, stopProducers := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Go(func() {
			client := &http.Client{Timeout: 5 * time.Second}
			for k := 0; ctx.Err() == nil; k++ {
				id := fmt.Sprintf("P%d-B%05d", p, k)
				now := time.Now().UnixMilli()
				var body strings.Builder
				for e := range perBatch {
					fmt.Fprintf(&body, `{"vehicle_id":%q,"ts":%d,"lat":52.5,"lon":13.4,"speed_kmh":%d}`+"\n", id, now+int64(e), e)
				}
				// Retry until acknowledged, across kills: a batch once
				// begun is finished even after ctx ends.
				for attempt := 0; ; attempt++ {
					req, _ := http.NewRequest(http.MethodPost, url+"ingest", strings.NewReader(body.String()))
					req.Header.Set("Authorization", "Bearer "+token)
					resp, err := client.Do(req)
					if err == nil {
						resp.Body.Close()
						if resp.StatusCode == http.StatusOK {
							break
						}
						if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusTooManyRequests {
							t.Errorf("batch %s: status %d", id, resp.StatusCode)
							return
						}
					}
					if attempt > 2000 {
						t.Errorf("batch %s never acknowledged: %v", id, err)
						return
					}
					<-time.After(10 * time.Millisecond) // retry back-off
				}
				mu.Lock()
				acked[id] = perBatch
				mu.Unlock()
			}
		})
	}

	const kills = 20
	var p *proc
	for range kills {
		p = startBinary(t, bin, env, args...)
		<-time.After(time.Duration(200+rng.Int64N(int64(1000))) * time.Millisecond) // a random moment
		p.kill9(t)
	}
	p = startBinary(t, bin, env, args...)
	stopProducers()
	wg.Wait() // every batch begun is acknowledged
	p.term(t)
	if t.Failed() {
		return
	}

	got := map[string]int64{}
	files, _ := filepath.Glob(filepath.Join(dir, "history", "*", "metrics_*.csv"))
	for _, f := range files {
		_, rows := readCSVFile(t, f)
		for _, r := range rows {
			n, _ := strconv.ParseInt(r[3], 10, 64)
			got[r[2]] += n
		}
	}
	for id, n := range acked {
		if got[id] != int64(n) {
			t.Errorf("batch %s: %d events in the history, want %d (acknowledged)", id, got[id], n)
		}
	}
	for id, n := range got {
		if _, ok := acked[id]; !ok {
			t.Errorf("batch %s: %d events in the history, but never acknowledged", id, n)
		}
	}
	_, fleet := readCSVFile(t, filepath.Join(dir, "csv", "fleet_metrics.csv"))
	var late, dup int64
	for _, r := range fleet {
		l, _ := strconv.ParseInt(r[7], 10, 64)
		d, _ := strconv.ParseInt(r[8], 10, 64)
		late, dup = late+l, dup+d
	}
	t.Logf("%d kills: %d batches acknowledged, %d vehicles in %d history files; fleet rows count %d late, %d duplicates (retries)",
		kills, len(acked), len(got), len(files), late, dup)
	if len(acked) < kills {
		t.Fatalf("only %d batches acknowledged in %d runs", len(acked), kills+1)
	}
}
