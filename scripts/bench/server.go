package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is one bin/fleetpulse process with its own storage folder.
type server struct {
	cmd  *exec.Cmd
	url  string
	dir  string
	done chan error
}

// start runs the server on a free loopback port with the simulator off and
// ingest enabled without the per-token rate limit (the bench measures
// capacity), and waits until it says where it listens.
func (b *bench) start(ctx context.Context, args ...string) (*server, error) {
	dir, err := os.MkdirTemp("", "fleetpulse-bench-")
	if err != nil {
		return nil, err
	}
	args = append([]string{"-addr", "127.0.0.1:0", "-vehicles", "0", "-storage", filepath.Join(dir, "storage"),
		"-ingest-rate", "0", "-ingest-requests", "0"}, args...)
	fmt.Fprintf(b.log, "bench: %s %s\n", b.bin, strings.Join(args, " "))
	cmd := exec.Command(b.bin, args...)
	cmd.Env = append(os.Environ(), "FLEETPULSE_INGEST_TOKEN="+token)
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, dir: dir, done: make(chan error, 1)}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "FleetPulse dashboard: "); ok {
				urls <- strings.TrimSuffix(u, "/")
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { s.done <- cmd.Wait(); logf.Close() }()
	select {
	case s.url = <-urls:
		return s, nil
	case err := <-s.done:
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		os.RemoveAll(dir)
		return nil, fmt.Errorf("server exited at start: %v: %s", err, bytes.TrimSpace(log))
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, fmt.Errorf("server did not start within 30 s")
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
}

// stop ends the server with SIGTERM, as a deployment would, and removes
// its folder.
func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	os.RemoveAll(s.dir)
}

// cpuSeconds is the server's user plus system CPU time so far.
func (s *server) cpuSeconds() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	// utime and stime are fields 14 and 15 of the line, 12 and 13 here.
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat")
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc stat")
	}
	const clockTicks = 100 // USER_HZ on Linux
	return (u + st) / clockTicks, nil
}

// memMB returns VmRSS and VmHWM in MB (10^6 bytes).
func (s *server) memMB() (rss, hwm float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rss = kb * 1024 / 1e6
		case "VmHWM":
			hwm = kb * 1024 / 1e6
		}
	}
	return rss, hwm, nil
}

// loadgen runs `fleetpulse loadgen` against s and returns its summary.
func (b *bench) loadgen(ctx context.Context, s *server, args ...string) ([]byte, error) {
	args = append([]string{"loadgen", "-url", s.url}, args...)
	fmt.Fprintf(b.log, "bench: %s %s\n", b.bin, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, b.bin, args...)
	cmd.Env = append(os.Environ(), "FLEETPULSE_INGEST_TOKEN="+token)
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, b.log)
	cmd.Stderr = b.log
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("loadgen %s: %w", strings.Join(args[1:], " "), err)
	}
	return out.Bytes(), nil
}

func (b *bench) dur(quick, full string) string {
	if b.full {
		return full
	}
	return quick
}

// ingest measures sustained ingest over one WebSocket and over HTTP, with
// 10k vehicles, and the server's CPU and memory meanwhile.
func (b *bench) ingest(ctx context.Context) error {
	for _, tr := range []struct {
		transport, name, aim string
		min                  float64
	}{
		{"ws", "one WebSocket", ">= 1 M", 1e6},
		{"http", "HTTP NDJSON", ">= 0.5 M", 0.5e6},
	} {
		s, err := b.start(ctx)
		if err != nil {
			return err
		}
		cpu0, _ := s.cpuSeconds()
		out, err := b.loadgen(ctx, s, "-transport", tr.transport, "-vehicles", "10000", "-batch", "1000", "-duration", b.dur("10s", "60s"))
		cpu1, _ := s.cpuSeconds()
		_, hwm, _ := s.memMB()
		s.stop()
		if err != nil {
			return err
		}
		rate, err := number(out, "accepted/s")
		if err != nil {
			return err
		}
		accepted, err := number(out, "accepted")
		if err != nil {
			return err
		}
		b.add("ingest, "+tr.name+", 10k vehicles (e2e)", rate, "events/s", tr.aim, atLeast(tr.min))
		if accepted > 0 {
			b.add("server CPU per million events, "+tr.transport, (cpu1-cpu0)/(accepted/1e6), "CPU s", "", nil)
		}
		b.add("server peak resident, 10k vehicles, ingest "+tr.transport+" at full speed", hwm, "MB", "", nil)
	}
	return nil
}

// latency measures window-to-subscriber latency with 10k vehicles at one
// event per second each and 1,000 /ws subscribers, then GET /data.
func (b *bench) latency(ctx context.Context) error {
	s, err := b.start(ctx, "-window", "5s", "-lateness", "1s")
	if err != nil {
		return err
	}
	defer s.stop()
	common := []string{"-transport", "ws", "-vehicles", "10000", "-rate", "10000", "-batch", "100", "-lateness", "1s", "-slide", "5s"}
	out, err := b.loadgen(ctx, s, append(common, "-subscribers", "1000", "-sub-vehicles", "1", "-duration", b.dur("21s", "61s"))...)
	if err != nil {
		return err
	}
	p50, p99, err := quantiles(out, "window latency")
	if err != nil {
		return err
	}
	b.add("window to subscriber p50, 10k vehicles, 1,000 subscribers of 1 vehicle", p50, "ms", "", nil)
	b.add("window to subscriber p99, 10k vehicles, 1,000 subscribers of 1 vehicle", p99, "ms", "< 50", below(50))
	_, hwm, _ := s.memMB()
	b.add("server peak resident, 10k vehicles, 1,000 subscribers", hwm, "MB", "", nil)

	subs := b.dur("100", "1000")
	out, err = b.loadgen(ctx, s, append(common, "-subscribers", subs, "-duration", b.dur("16s", "31s"))...)
	if err != nil {
		return err
	}
	p50, p99, err = quantiles(out, "window latency")
	if err != nil {
		return err
	}
	b.add("window to subscriber p50, 10k vehicles, "+subs+" subscribers of every vehicle", p50, "ms", "", nil)
	b.add("window to subscriber p99, 10k vehicles, "+subs+" subscribers of every vehicle", p99, "ms", "", nil)

	out, err = b.loadgen(ctx, s, "-transport", "data", "-conns", "2", "-duration", b.dur("5s", "20s"))
	if err != nil {
		return err
	}
	rate, err := number(out, "requests/s")
	if err != nil {
		return err
	}
	b.add("GET /data, 10k vehicles, gzip, 2 clients (e2e)", rate, "req/s", "", nil)
	return nil
}

// memory measures resident memory with 100k vehicles at one event per
// second each, after the windows have turned over a few times.
func (b *bench) memory(ctx context.Context) error {
	s, err := b.start(ctx)
	if err != nil {
		return err
	}
	defer s.stop()
	if _, err := b.loadgen(ctx, s, "-transport", "ws", "-vehicles", "100000", "-rate", "100000", "-batch", "1000", "-duration", b.dur("35s", "120s")); err != nil {
		return err
	}
	rss, hwm, err := s.memMB()
	if err != nil {
		return err
	}
	b.add("server resident, 100k vehicles at 1 event/s", rss, "MB", "< 300", below(300))
	b.add("server peak resident, 100k vehicles at 1 event/s", hwm, "MB", "< 300", below(300))
	return nil
}
