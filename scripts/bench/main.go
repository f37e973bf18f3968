// Command bench is `make bench`: it runs the Go benchmarks of every hot
// part with a fixed -benchtime, then starts the built server
// (bin/fleetpulse) as a separate process on loopback and drives it with
// `fleetpulse loadgen`, and prints one table: figure, value, unit, aim,
// whether the aim is met.
//
// It is a program of its own, not a subcommand of the server, because it
// runs `go test` and manages server processes: nothing a deployed server
// needs. BENCH_FULL=1 (or -full) runs longer, larger versions. Each
// end-to-end scenario gets a fresh server and storage folder, so that the
// resident memory of one does not carry into the next. The server's CPU
// time and memory come from /proc/PID/stat and /proc/PID/status (Linux).
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// token is the ingest token of the servers the bench starts.
const token = "bench-token-0123456789abcdef"

// figure is one row of the table.
type figure struct {
	name, value, unit, aim, met string
}

type bench struct {
	full    bool
	bin     string
	figures []figure
	log     io.Writer
}

func run() error {
	full := flag.Bool("full", os.Getenv("BENCH_FULL") == "1", "longer and larger runs (also BENCH_FULL=1)")
	bin := flag.String("bin", "bin/fleetpulse", "the server binary to measure (make build)")
	only := flag.String("only", "", "run only the parts whose name contains this: go, ingest, latency, memory, data")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := os.Stat(*bin); err != nil {
		return fmt.Errorf("%s: %w (run make bench, which builds it)", *bin, err)
	}
	b := &bench{full: *full, bin: *bin, log: os.Stderr}
	fmt.Fprintf(b.log, "bench: %s, %d cores, %s, %s, full=%v\n",
		runtime.Version(), runtime.NumCPU(), cpuModel(), time.Now().UTC().Format(time.RFC3339), b.full)
	parts := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"go", b.goBenchmarks},
		{"ingest", b.ingest},
		{"latency", b.latency},
		{"memory", b.memory},
	}
	for _, p := range parts {
		if *only != "" && !strings.Contains(p.name, *only) && !(*only == "data" && p.name == "latency") {
			continue
		}
		if err := p.fn(ctx); err != nil {
			b.print(os.Stdout)
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	b.print(os.Stdout)
	return nil
}

func (b *bench) add(name string, v float64, unit, aim string, met func(float64) bool) {
	f := figure{name: name, value: format(v), unit: unit, aim: aim, met: ""}
	if met != nil {
		f.met = "no"
		if met(v) {
			f.met = "yes"
		}
	}
	b.figures = append(b.figures, f)
}

func (b *bench) note(name, value, unit string) {
	b.figures = append(b.figures, figure{name: name, value: value, unit: unit})
}

func (b *bench) print(w io.Writer) {
	fmt.Fprintf(w, "\nFleetPulse benchmarks, %s, %d cores, %s, %s\n\n", runtime.Version(), runtime.NumCPU(), cpuModel(), time.Now().UTC().Format("2006-01-02 15:04 MST"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\tunit\taim\tmet?")
	for _, f := range b.figures {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.name, f.value, f.unit, f.aim, f.met)
	}
	tw.Flush()
}

func atLeast(x float64) func(float64) bool { return func(v float64) bool { return v >= x } }
func below(x float64) func(float64) bool   { return func(v float64) bool { return v < x } }

// format prints v with three significant digits and a k/M suffix.
func format(v float64) string {
	switch a := abs(v); {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + " M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + " k"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// goBench is one `go test -bench` run and the metrics to take from it.
type goBench struct {
	pkg, pattern, benchtime string
	take                    []take
}

// take maps a benchmark's metric to a figure of the table.
type take struct {
	bench, metric string // the benchmark name (without -N) and its unit
	name, unit    string
	scale         float64
	aim           string
	met           func(float64) bool
}

func (b *bench) goBenchmarks(ctx context.Context) error {
	n := func(quick, full string) string {
		if b.full {
			return full
		}
		return quick
	}
	runs := []goBench{
		{"./shared/telemetry", "^BenchmarkDecode$", n("1000000x", "5000000x"), []take{
			{"BenchmarkDecode/string_ts", "events/s", "decode an event (RFC 3339 ts), one core", "events/s", 1, ">= 3 M", atLeast(3e6)},
		}},
		{"./server/stream", "^BenchmarkProcessor$", n("3x", "10x"), []take{
			{"BenchmarkProcessor/tumbling-10s", "events/s", "windows, tumbling 10 s, one core", "events/s", 1, ">= 10 M", atLeast(10e6)},
			{"BenchmarkProcessor/sliding-60s-5s", "events/s", "windows, sliding 60 s / 5 s, one core", "events/s", 1, ">= 5 M", atLeast(5e6)},
		}},
		{"./server/stream", "^BenchmarkStatePerVehicle$", "1x", []take{
			{"BenchmarkStatePerVehicle", "bytes/vehicle", "window state per vehicle (1 event/s)", "bytes", 1, "< 2,000", below(2000)},
		}},
		{"./server/ingest", "^BenchmarkServe(WS|HTTP)$", n("300x", "2000x"), []take{
			{"BenchmarkServeWS", "events/s", "ingest handler, one WebSocket, in-process", "events/s", 1, "", nil},
			{"BenchmarkServeHTTP", "events/s", "ingest handler, POST NDJSON, in-process", "events/s", 1, "", nil},
		}},
		{"./storage", "^BenchmarkWrite$", n("3x", "10x"), []take{
			{"BenchmarkWrite/vehicles=10000", "ms/window", "CSV files of a 10k-vehicle window", "ms", 1, "< 1,000", below(1000)},
			{"BenchmarkWrite/vehicles=100000", "ms/window", "CSV files of a 100k-vehicle window", "ms", 1, "< 10,000", below(10000)},
		}},
		{"./server/api", "^BenchmarkData$/^10000vehicles$/^cached-gzip$", n("2000x", "20000x"), []take{
			{"BenchmarkData/10000vehicles/cached-gzip", "req/s", "GET /data 10k vehicles, cached gzip, in-process", "req/s", 1, "", nil},
		}},
		{"./server/hub", "^BenchmarkPublish$/msg=2KB/subs=1000", n("20x", "100x"), []take{
			{"BenchmarkPublish/msg=2KB/subs=1000", "p99-us", "hub fan-out 2 KB to 1,000 subscribers, p99", "ms", 1e-3, "< 25", below(25)},
			{"BenchmarkPublish/msg=2KB/subs=1000", "server-B/sub", "hub memory per subscriber", "KB", 1e-3, "< 20", below(20)},
		}},
	}
	for _, r := range runs {
		out, err := b.goTest(ctx, r.pkg, r.pattern, r.benchtime)
		if err != nil {
			return err
		}
		got := parseBench(out)
		for _, t := range r.take {
			v, ok := got[t.bench][t.metric]
			if !ok {
				b.note(t.name, "missing", t.bench+" "+t.metric)
				continue
			}
			b.add(t.name, v*t.scale, t.unit, t.aim, t.met)
		}
	}
	return nil
}

func (b *bench) goTest(ctx context.Context, pkg, pattern, benchtime string) ([]byte, error) {
	args := []string{"test", "-run", "^$", "-bench", pattern, "-benchtime", benchtime, "-count", "1", "-benchmem", pkg}
	fmt.Fprintf(b.log, "bench: go %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "go", args...)
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, b.log)
	cmd.Stderr = b.log
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go test %s: %w", pkg, err)
	}
	return out.Bytes(), nil
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

// parseBench reads `go test -bench` output: benchmark name -> unit -> value.
func parseBench(out []byte) map[string]map[string]float64 {
	got := map[string]map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		fields := strings.Fields(m[3])
		metrics := map[string]float64{}
		for i := 0; i+1 < len(fields); i += 2 {
			if v, err := strconv.ParseFloat(fields[i], 64); err == nil {
				metrics[fields[i+1]] = v
			}
		}
		got[m[1]] = metrics
	}
	return got
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// errNoFigure means loadgen's summary lacked a line the table needs.
var errNoFigure = errors.New("figure not in loadgen's summary")

// field returns the value of the summary line that starts with name.
func field(out []byte, name string) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strings.TrimSpace(rest), nil
		}
	}
	return "", fmt.Errorf("%q: %w", name, errNoFigure)
}

func number(out []byte, name string) (float64, error) {
	s, err := field(out, name)
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(strings.Fields(s)[0], 64)
}

// quantiles reads "p50 1.2ms, p99 3.4ms" from the line name, in ms.
func quantiles(out []byte, name string) (p50, p99 float64, err error) {
	s, err := field(out, name)
	if err != nil {
		return 0, 0, err
	}
	m := regexp.MustCompile(`p50 (\S+), p99 ([^,\s]+)`).FindStringSubmatch(s)
	if m == nil {
		return 0, 0, fmt.Errorf("%s %q: %w", name, s, errNoFigure)
	}
	a, err := time.ParseDuration(strings.TrimSuffix(m[1], ","))
	if err != nil {
		return 0, 0, err
	}
	c, err := time.ParseDuration(m[2])
	if err != nil {
		return 0, 0, err
	}
	return float64(a) / 1e6, float64(c) / 1e6, nil
}
