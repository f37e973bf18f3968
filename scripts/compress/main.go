// Command compress writes, beside each file named on the command line, its
// brotli (.br) and gzip (.gz) forms and the hex SHA-256 of the original
// (.sha256), for the server to embed and serve precompressed:
//
//	go run ./scripts/compress -quality 9 web/app.wasm web/app.css
//
// The server serves a .br or .gz only when the .sha256 beside it matches the
// embedded original, so a stale file left by an older build is never sent.
// Each output is written to a temporary file and renamed, so an interrupted
// run leaves no half-written file that could be embedded.
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/andybalholm/brotli"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "compress:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("compress", flag.ContinueOnError)
	quality := fs.Int("quality", 9, "brotli quality, 0 (fast) to 11 (smallest)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *quality < brotli.BestSpeed || *quality > brotli.BestCompression {
		return fmt.Errorf("-quality %d is not in [0, 11]", *quality)
	}
	for _, name := range fs.Args() {
		start := time.Now()
		raw, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		br, err := compressBrotli(raw, *quality)
		if err != nil {
			return fmt.Errorf("brotli %s: %w", name, err)
		}
		gz, err := compressGzip(raw)
		if err != nil {
			return fmt.Errorf("gzip %s: %w", name, err)
		}
		sum := sha256.Sum256(raw)
		// The checksum goes last: the server trusts the compressed files
		// only when it matches.
		for _, out := range []struct {
			ext  string
			data []byte
		}{{".br", br}, {".gz", gz}, {".sha256", []byte(hex.EncodeToString(sum[:]) + "\n")}} {
			if err := writeFile(name+out.ext, out.data); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "%s: %d bytes, gzip %d, brotli %d (quality %d), %.1f s\n",
			name, len(raw), len(gz), len(br), *quality, time.Since(start).Seconds())
	}
	return nil
}

func compressBrotli(raw []byte, quality int) ([]byte, error) {
	var buf bytes.Buffer
	w := brotli.NewWriterOptions(&buf, brotli.WriterOptions{Quality: quality, LGWin: 24})
	if _, err := w.Write(raw); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func compressGzip(raw []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(raw); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeFile replaces name with data atomically. The temporary name starts
// with a dot, so go:embed never picks it up.
func writeFile(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
