package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

func TestRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	name := filepath.Join(dir, "app.wasm")
	raw := bytes.Repeat([]byte("fleetpulse "), 10000)
	if err := os.WriteFile(name, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := run([]string{"-quality", "5", name}, &out); err != nil {
		t.Fatal(err)
	}
	read := func(ext string) []byte {
		b, err := os.ReadFile(name + ext)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	br, err := io.ReadAll(brotli.NewReader(bytes.NewReader(read(".br"))))
	if err != nil || !bytes.Equal(br, raw) {
		t.Errorf(".br decodes to %d bytes (%v), want the original", len(br), err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(read(".gz")))
	if err != nil {
		t.Fatal(err)
	}
	if gz, err := io.ReadAll(zr); err != nil || !bytes.Equal(gz, raw) {
		t.Errorf(".gz decodes to %d bytes (%v), want the original", len(gz), err)
	}
	sum := sha256.Sum256(raw)
	if got := strings.TrimSpace(string(read(".sha256"))); got != hex.EncodeToString(sum[:]) {
		t.Errorf(".sha256 %q, want the original's", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("%d files in the folder, want the original and 3 outputs, no temporary ones", len(entries))
	}
	if err := run([]string{"-quality", "12", name}, &out); err == nil {
		t.Error("quality 12 was accepted")
	}
}
