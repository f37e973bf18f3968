package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// brokerEnv makes the test binary run as a Kafka broker (kfake) instead
// of running tests, so kfake stays a test dependency and the broker is a
// process of its own.
const brokerEnv = "FLEETPULSE_TEST_KFAKE"

func TestMain(m *testing.M) {
	if os.Getenv(brokerEnv) != "" {
		os.Exit(runBroker())
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// runBroker serves kfake on a free port, prints its address and runs until
// stdin closes (the test ended or died) or a signal comes.
func runBroker() int {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(12))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	fmt.Println("KFAKE", strings.Join(c.ListenAddrs(), ","))
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	select {
	case <-done:
	case <-sig:
	}
	return 0
}

// clusterProc is a child process whose stderr lines the test can wait on.
type clusterProc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	more  chan struct{} // closed and replaced on every new line
}

// startProc starts bin with args and env, waits for it to print prefix on
// stdout and returns it with the rest of that line.
func startProc(t *testing.T, bin string, env []string, prefix string, args ...string) (*clusterProc, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &clusterProc{cmd: cmd, more: make(chan struct{})}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", filepath.Base(bin), strings.Join(p.snapshot(), "\n"))
		}
	})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.more)
			p.more = make(chan struct{})
			p.mu.Unlock()
		}
	}()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			go io.Copy(io.Discard, stdout)
			return p, rest
		}
	}
	t.Fatalf("%s did not print %q", bin, prefix)
	return nil, ""
}

func (p *clusterProc) snapshot() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

// waitLine waits until a stderr line from index from on satisfies match and
// returns the index after it.
func (p *clusterProc) waitLine(t *testing.T, from int, within time.Duration, match func(string) bool) int {
	t.Helper()
	timeout := time.After(within)
	for {
		p.mu.Lock()
		for i := from; i < len(p.lines); i++ {
			if match(p.lines[i]) {
				p.mu.Unlock()
				return i + 1
			}
		}
		from = len(p.lines)
		more := p.more
		p.mu.Unlock()
		select {
		case <-more:
		case <-timeout:
			t.Fatalf("no matching log line within %v", within)
		}
	}
}

// clusterEvents returns NDJSON batches of n events of 20 vehicles, one a
// second each, stamped in the minute before now, in arrival order a
// little out of order.
func clusterEvents(now time.Time, batches int) [][]byte {
	r := rand.New(rand.NewPCG(3, 4))
	base := now.Truncate(5 * time.Second).Add(-70 * time.Second)
	var lines []string
	for s := range 45 {
		for v := range 20 {
			ts := base.Add(time.Duration(s)*time.Second + time.Duration(v*37)*time.Millisecond)
			lines = append(lines, fmt.Sprintf(`{"vehicle_id":"VAN-%02d","ts":%d,"lat":%.6f,"lon":%.6f,"speed_kmh":%.3f}`,
				v, ts.UnixMilli(), 48.1+float64(v)/100+float64(s)/5000+r.Float64()/10000, 11.5+float64(s)/4000, r.Float64()*110))
		}
	}
	// Swap neighbours now and then: arrival order is not ts order.
	for i := 0; i+1 < len(lines); i += 7 {
		lines[i], lines[i+1] = lines[i+1], lines[i]
	}
	out := make([][]byte, batches)
	per := (len(lines) + batches - 1) / batches
	for i := range out {
		out[i] = []byte(strings.Join(lines[min(i*per, len(lines)):min((i+1)*per, len(lines))], "\n"))
	}
	return out
}

func postIngest(t *testing.T, url, token string, body []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", url+"ingest", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a struct{ Accepted, Rejected int }
	if resp.StatusCode != 200 || json.Unmarshal(b, &a) != nil || a.Rejected != 0 {
		t.Fatalf("ingest: %d %s", resp.StatusCode, b)
	}
}

// historyRows returns /data/history decoded, for counting.
func historyRows(t *testing.T, url string) ([]map[string]any, []byte) {
	t.Helper()
	_, b := getBody(t, url+"data/history")
	var rows []map[string]any
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatalf("history: %v: %s", err, b)
	}
	return rows, b
}

// TestClusterProcessesKill9 runs a kfake broker, two processors and one
// serving node (which also ingests) as separate processes, kills one
// processor with SIGKILL in the middle of the events, and checks that the
// survivor takes its partitions over within the session timeout plus 1 s
// and that /data/history equals that of one process fed the same events.
func TestClusterProcessesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs four processes")
	}
	bin := buildBinary(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	_, brokers := startProc(t, exe, []string{brokerEnv + "=1"}, "KFAKE ", "-test.run=^$")
	brokers = strings.TrimSpace(brokers)

	const token = "cluster-test-token"
	common := []string{"-addr", "127.0.0.1:0", "-window", "5s", "-lateness", "1s", "-idle-timeout", "4s", "-vehicles", "0", "-kafka", brokers}
	start := func(roles string) (*clusterProc, string) {
		p, url := startProc(t, bin, []string{"FLEETPULSE_INGEST_TOKEN=" + token}, "FleetPulse dashboard: ",
			append(slices.Clone(common), "-storage", t.TempDir(), "-roles", roles)...)
		waitReady(t, url+"readyz")
		return p, url
	}
	p1, _ := start("process")
	p2, p2URL := start("process")
	_, serveURL := start("ingest,serve")
	// Both processors own partitions before any event arrives.
	assigned := func(l string) bool {
		return strings.Contains(l, "partitions assigned") && !strings.Contains(l, `"partitions":null`) && !strings.Contains(l, `"partitions":[]`)
	}
	p1.waitLine(t, 0, time.Minute, assigned)
	n2 := p2.waitLine(t, 0, time.Minute, assigned)

	now := time.Now()
	batches := clusterEvents(now, 6)
	for _, b := range batches[:3] {
		postIngest(t, serveURL, token, b)
	}
	// Mid-window: p1 dies without a word to the broker.
	if err := p1.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	for _, b := range batches[3:] {
		postIngest(t, serveURL, token, b)
	}
	p2.waitLine(t, n2, 30*time.Second, func(l string) bool {
		return assigned(l) && strings.Contains(l, `"owned":12`)
	})
	took := time.Since(killed)
	if took > 7*time.Second {
		t.Errorf("the survivor took its partitions over %v after the kill; want within session timeout (6s) + 1s", took)
	}
	t.Logf("the survivor took over %v after the kill", took.Round(time.Millisecond))
	if _, m := getBody(t, p2URL+"metrics"); !bytes.Contains(m, []byte("\nfleetpulse_kafka_partitions_owned 12\n")) {
		t.Errorf("the survivor's /metrics does not say it owns all 12 partitions:\n%s", m)
	}

	// The reference: one process, the same events.
	ref := startServer(t, "-window", "5s", "-lateness", "1s", "-idle-timeout", "4s", "-vehicles", "0", "-ingest-token", token)
	for _, b := range batches {
		postIngest(t, ref.url, token, b)
	}
	wantWindows := 45 / 5
	waitFor := func(url string) []byte {
		deadline := time.Now().Add(time.Minute)
		for {
			rows, body := historyRows(t, url)
			ends := map[any]bool{}
			for _, r := range rows {
				ends[r["window_end"]] = true
			}
			if len(ends) >= wantWindows {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d windows", url, len(ends), wantWindows)
			}
			time.Sleep(100 * time.Millisecond) // readiness polling
		}
	}
	want := waitFor(ref.url)
	got := waitFor(serveURL)
	if !bytes.Equal(want, got) {
		t.Errorf("serving node's /data/history differs from one process's:\nwant %s\ngot  %s", want, got)
	}
}

func TestClusterFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"roles without kafka", []string{"-roles", "process"}, nil, "-roles needs -kafka"},
		{"exactly-once without kafka", []string{"-exactly-once"}, nil, "-exactly-once needs -kafka"},
		{"unknown role", []string{"-kafka", "127.0.0.1:1", "-roles", "ingest,cook"}, nil, `unknown role "cook"`},
		{"no role", []string{"-kafka", "127.0.0.1:1", "-roles", ","}, nil, "at least one"},
		{"broker without port", []string{"-kafka", "localhost"}, nil, "want host:port"},
		{"roles from env", nil, map[string]string{"FLEETPULSE_ROLES": "process"}, "-roles needs -kafka"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseConfig(%v) = %v, want an error mentioning %q", tc.args, err, tc.want)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		c, err := parseConfig(nil, func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.kafka) != 0 || c.roles != allRoles || c.kafkaPrefix != "fleetpulse" || c.group != "fleetpulse" || c.exactlyOnce {
			t.Fatalf("defaults: %+v", c)
		}
	})
	t.Run("processor node", func(t *testing.T) {
		t.Parallel()
		c, err := parseConfig([]string{"-kafka", "k1:9092, k2:9092", "-roles", "process", "-exactly-once", "-group", "g2"}, func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.kafka, []string{"k1:9092", "k2:9092"}) || c.roles != (roles{process: true}) || !c.exactlyOnce || c.group != "g2" {
			t.Fatalf("parsed %+v", c)
		}
		if c.vehicles != 0 {
			t.Fatalf("a node without the ingest role simulates %d vehicles", c.vehicles)
		}
	})
}
