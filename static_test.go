package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"testing/fstest"

	"github.com/andybalholm/brotli"
)

func TestNegotiate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header string
		haveBr bool
		want   string
	}{
		{"", true, ""},
		{"gzip, deflate, br, zstd", true, "br"},
		{"gzip, deflate, br", false, "gzip"},
		{"gzip", true, "gzip"},
		{"br;q=0, gzip", true, "gzip"},
		{"br, gzip;q=0", false, ""},
		{"identity", true, ""},
		{"*", true, "br"},
		{"*;q=0.5, br;q=0", true, "gzip"},
		{"GZIP", true, "gzip"},
		{"br;q=0.1, gzip;q=1", true, "br"},
		{"deflate", true, ""},
	} {
		if got := negotiate(tc.header, tc.haveBr); got != tc.want {
			t.Errorf("negotiate(%q, %v) = %q, want %q", tc.header, tc.haveBr, got, tc.want)
		}
	}
}

// webFS is a /web tree with app.wasm and, when sum is not empty, its
// brotli and gzip forms and the checksum file sum.
func webFS(t *testing.T, raw []byte, sum string) fstest.MapFS {
	t.Helper()
	var br, gz bytes.Buffer
	bw := brotli.NewWriterLevel(&br, 5)
	bw.Write(raw)
	bw.Close()
	gw := gzip.NewWriter(&gz)
	gw.Write(raw)
	gw.Close()
	fsys := fstest.MapFS{"web/app.wasm": {Data: raw}, "web/icon.svg": {Data: []byte("<svg/>")}}
	if sum != "" {
		fsys["web/app.wasm.br"] = &fstest.MapFile{Data: br.Bytes()}
		fsys["web/app.wasm.gz"] = &fstest.MapFile{Data: gz.Bytes()}
		fsys["web/app.wasm.sha256"] = &fstest.MapFile{Data: []byte(sum + "\n")}
	}
	return fsys
}

func get(t *testing.T, h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decode(t *testing.T, enc string, body []byte) []byte {
	t.Helper()
	var r io.Reader = bytes.NewReader(body)
	switch enc {
	case "br":
		r = brotli.NewReader(r)
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", enc, err)
	}
	return b
}

// TestStaticPrecompressed: each encoding the client accepts decodes to the
// embedded file, with the headers a browser and a cache need.
func TestStaticPrecompressed(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte("\x00asm fleetpulse wasm "), 5000)
	sum := sha256.Sum256(raw)
	h := newEmbeddedWeb(webFS(t, raw, hex.EncodeToString(sum[:])))
	etags := map[string]bool{}
	for _, tc := range []struct{ accept, enc string }{
		{"gzip, deflate, br, zstd", "br"},
		{"gzip", "gzip"},
		{"", ""},
	} {
		rec := get(t, h, "/web/app.wasm", "Accept-Encoding", tc.accept)
		res := rec.Result()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("Accept-Encoding %q: status %d", tc.accept, res.StatusCode)
		}
		hd := res.Header
		if hd.Get("Content-Encoding") != tc.enc || hd.Get("Content-Type") != "application/wasm" ||
			hd.Get("Vary") != "Accept-Encoding" || hd.Get("Cache-Control") != "no-cache" {
			t.Errorf("Accept-Encoding %q: headers %v", tc.accept, hd)
		}
		if got := decode(t, tc.enc, rec.Body.Bytes()); !bytes.Equal(got, raw) {
			t.Errorf("Accept-Encoding %q: body decodes to %d bytes, not the embedded file", tc.accept, len(got))
		}
		if hd.Get("Content-Length") != strconv.Itoa(rec.Body.Len()) {
			t.Errorf("Accept-Encoding %q: Content-Length %s for %d bytes", tc.accept, hd.Get("Content-Length"), rec.Body.Len())
		}
		etag := hd.Get("ETag")
		if etag == "" || etags[etag] {
			t.Errorf("Accept-Encoding %q: ETag %q missing or shared with another encoding", tc.accept, etag)
		}
		etags[etag] = true
		// Revalidation answers 304 without a body.
		if rec := get(t, h, "/web/app.wasm", "Accept-Encoding", tc.accept, "If-None-Match", etag); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("Accept-Encoding %q, If-None-Match: status %d, %d bytes", tc.accept, rec.Code, rec.Body.Len())
		}
	}
	if rec := get(t, h, "/web/icon.svg", "Accept-Encoding", "br"); rec.Code != http.StatusOK || rec.Header().Get("Content-Encoding") != "" {
		t.Errorf("icon: status %d, encoding %q", rec.Code, rec.Header().Get("Content-Encoding"))
	}
}

// TestStaticStalePrecompressed: compressed files made from another build of
// the file are not served; gzip is then made from the embedded file.
func TestStaticStalePrecompressed(t *testing.T) {
	t.Parallel()
	oldBuild := bytes.Repeat([]byte("old build "), 3000)
	oldSum := sha256.Sum256(oldBuild)
	fsys := webFS(t, oldBuild, hex.EncodeToString(oldSum[:]))
	raw := bytes.Repeat([]byte("new build "), 3000)
	fsys["web/app.wasm"] = &fstest.MapFile{Data: raw}
	h := newEmbeddedWeb(fsys)
	rec := get(t, h, "/web/app.wasm", "Accept-Encoding", "br, gzip")
	if enc := rec.Header().Get("Content-Encoding"); enc != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip made from the embedded file", enc)
	}
	if got := decode(t, "gzip", rec.Body.Bytes()); !bytes.Equal(got, raw) {
		t.Fatal("the stale gzip was served")
	}
}

// TestStaticBuiltSizes: the real build's app.wasm is served brotli
// compressed, under 2 MB, and decodes to the embedded file.
func TestStaticBuiltSizes(t *testing.T) {
	if _, err := fs.Stat(web, "web/app.wasm.br"); err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("FLEETPULSE_BROWSER_TEST") != "" {
			t.Fatal("web/app.wasm.br is not built: make wasm writes it")
		}
		t.Skip("web/app.wasm.br is not built (make wasm)")
	}
	raw, _ := fs.ReadFile(web, "web/app.wasm")
	rec := get(t, newEmbeddedWeb(web), "/web/app.wasm", "Accept-Encoding", "gzip, deflate, br, zstd")
	if enc := rec.Header().Get("Content-Encoding"); enc != "br" {
		t.Fatalf("Content-Encoding %q, want br: is web/app.wasm.sha256 from this build? run make wasm", enc)
	}
	if n := rec.Body.Len(); n >= 2<<20 {
		t.Errorf("app.wasm is %d bytes brotli-compressed, over the 2 MiB budget", n)
	}
	if got := decode(t, "br", rec.Body.Bytes()); !bytes.Equal(got, raw) {
		t.Error("app.wasm.br does not decode to the embedded app.wasm")
	}
	t.Logf("app.wasm: %d bytes raw, %d brotli", len(raw), rec.Body.Len())
}
