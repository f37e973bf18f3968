package main

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// embeddedWeb serves /web/ from the embedded assets for go-app, with the
// big files gzipped once, on first request, and kept: app.wasm is about
// 8 MB raw and 2.3 MB gzipped, which is what a fresh browser waits for.
type embeddedWeb struct {
	files http.Handler
	fsys  fs.FS

	mu   sync.Mutex
	gzip map[string][]byte // path -> gzipped content, made on first request
}

func newEmbeddedWeb(fsys fs.FS) *embeddedWeb {
	return &embeddedWeb{files: http.FileServerFS(fsys), fsys: fsys, gzip: make(map[string][]byte)}
}

// Resolve leaves locations as they are: /web/... is served from here.
func (*embeddedWeb) Resolve(location string) string {
	if location == "" {
		return "/"
	}
	return location
}

// precompressed are the files served gzipped when the client accepts it.
var precompressed = map[string]string{
	"/web/app.wasm":               "application/wasm",
	"/web/echarts/echarts.min.js": "text/javascript; charset=utf-8",
	"/web/app.css":                "text/css; charset=utf-8",
}

func (e *embeddedWeb) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	typ, ok := precompressed[r.URL.Path]
	if !ok || !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		e.files.ServeHTTP(w, r)
		return
	}
	body, err := e.gzipped(r.URL.Path)
	if err != nil {
		e.files.ServeHTTP(w, r) // not built: let the file server answer
		return
	}
	h := w.Header()
	h.Set("Content-Type", typ)
	h.Set("Content-Encoding", "gzip")
	h.Set("Vary", "Accept-Encoding")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method != http.MethodHead {
		w.Write(body) // #nosec G705 -- an embedded asset, gzipped at start; no client input
	}
}

func (e *embeddedWeb) gzipped(path string) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if b, ok := e.gzip[path]; ok {
		return b, nil
	}
	raw, err := fs.ReadFile(e.fsys, strings.TrimPrefix(path, "/"))
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	zw.Write(raw)
	zw.Close()
	e.gzip[path] = buf.Bytes()
	return buf.Bytes(), nil
}
