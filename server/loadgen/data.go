package loadgen

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"
)

// runData is -transport data: -conns clients ask for -data-path, each as
// soon as its previous answer has been read whole, until -duration has
// passed, and the summary gives the answers per second and their latency.
// Answers are asked for gzipped, as a dashboard or BI tool would, and read
// without being decompressed.
func runData(ctx context.Context, cfg config, d deps, stdout io.Writer) error {
	u, err := url.Parse(cfg.base)
	if err != nil {
		return fmt.Errorf("loadgen: -url %q: %w", cfg.base, err)
	}
	target := u.Scheme + "://" + u.Host + cfg.dataPath
	fmt.Fprintf(stdout, "loadgen: GET %s, %d connections, gzip, for %s\n", target, cfg.conns, cfg.duration)
	var (
		mu      sync.Mutex
		lat     histogram
		answers = map[string]int64{}
		bytes   int64
	)
	start := d.now()
	deadline := start.Add(cfg.duration)
	rctx, cancel := context.WithTimeout(ctx, cfg.duration+15*time.Second)
	defer cancel()
	g, gctx := errgroup.WithContext(rctx)
	for range cfg.conns {
		g.Go(func() error {
			for d.now().Before(deadline) {
				req, err := http.NewRequestWithContext(gctx, http.MethodGet, target, nil)
				if err != nil {
					return err
				}
				req.Header.Set("Accept-Encoding", "gzip")
				t0 := d.now()
				resp, err := d.http.Do(req)
				if err != nil {
					if gctx.Err() != nil {
						return gctx.Err()
					}
					return fmt.Errorf("GET %s: %w", target, err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				took := d.now().Sub(t0)
				if err != nil {
					return fmt.Errorf("GET %s: reading the answer: %w", target, err)
				}
				mu.Lock()
				lat.add(took)
				answers[strconv.Itoa(resp.StatusCode)]++
				bytes += n
				mu.Unlock()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("GET %s: %s", target, resp.Status)
				}
			}
			return nil
		})
	}
	err = g.Wait()
	elapsed := d.now().Sub(start)
	if ctx.Err() != nil && err != nil {
		fmt.Fprintln(stdout, "stopped early: interrupted")
		err = nil
	}
	mu.Lock()
	defer mu.Unlock()
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	ok := answers["200"]
	fmt.Fprintf(tw, "answers\t%d, errors: %s\n", lat.n, formatErrors(answers))
	fmt.Fprintf(tw, "elapsed\t%s\n", elapsed.Round(time.Millisecond))
	rate, size := 0.0, int64(0)
	if elapsed > 0 {
		rate = float64(ok) / elapsed.Seconds()
	}
	if lat.n > 0 {
		size = bytes / lat.n
	}
	fmt.Fprintf(tw, "requests/s\t%.0f\n", rate)
	fmt.Fprintf(tw, "answer size\t%d bytes (gzip)\n", size)
	if lat.n > 0 {
		fmt.Fprintf(tw, "request latency\tp50 %s, p99 %s\n", lat.quantile(0.5), lat.quantile(0.99))
	}
	if ferr := tw.Flush(); ferr != nil && err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	return nil
}
