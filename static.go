package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// embeddedWeb serves /web/ from the embedded assets for go-app. The big
// files are served precompressed: `make wasm echarts` writes a brotli and a
// gzip form beside each (scripts/compress), with the SHA-256 of the original
// they were made from. They are used only when that checksum matches the
// embedded original, so a stale .br from an older build is never sent; a file
// without a valid .gz is gzipped once, on first request, and kept.
//
// app.wasm is about 8 MB raw, 2.2 MB gzip and 1.8 MB brotli: the compressed
// size is what a fresh browser waits for.
type embeddedWeb struct {
	files http.Handler
	fsys  fs.FS

	mu     sync.Mutex
	assets map[string]*asset // by URL path, loaded on first request
}

// asset is one precompressible file in its encodings.
type asset struct {
	typ      string
	raw      []byte
	br, gz   []byte // nil when not available
	etagBase string // from the SHA-256 of raw
}

func newEmbeddedWeb(fsys fs.FS) *embeddedWeb {
	return &embeddedWeb{files: http.FileServerFS(fsys), fsys: fsys, assets: make(map[string]*asset)}
}

// Resolve leaves locations as they are: /web/... is served from here.
func (*embeddedWeb) Resolve(location string) string {
	if location == "" {
		return "/"
	}
	return location
}

// precompressed are the files served with Content-Encoding negotiation, and
// their types.
var precompressed = map[string]string{
	"/web/app.wasm":               "application/wasm",
	"/web/echarts/echarts.min.js": "text/javascript; charset=utf-8",
	"/web/app.css":                "text/css; charset=utf-8",
}

func (e *embeddedWeb) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	typ, ok := precompressed[r.URL.Path]
	if !ok {
		e.files.ServeHTTP(w, r)
		return
	}
	a, err := e.asset(r.URL.Path, typ)
	if err != nil {
		e.files.ServeHTTP(w, r) // not built: let the file server answer
		return
	}
	body, enc := a.raw, ""
	switch negotiate(r.Header.Get("Accept-Encoding"), a.br != nil) {
	case "br":
		body, enc = a.br, "br"
	case "gzip":
		body, enc = a.gz, "gzip"
	}
	h := w.Header()
	h.Set("Content-Type", a.typ)
	h.Set("Vary", "Accept-Encoding")
	// The address carries no version: browsers revalidate each time and
	// get a 304 while the ETag matches. go-app's service worker keeps its
	// own copy per app version, so reloads do not even ask.
	h.Set("Cache-Control", "no-cache")
	etag := a.etagBase
	if enc != "" {
		h.Set("Content-Encoding", enc)
		etag += "-" + enc
		// ServeContent leaves the length of an encoded body to the caller,
		// and a range of compressed bytes helps no browser: send it whole.
		h.Set("Content-Length", strconv.Itoa(len(body)))
		r.Header.Del("Range")
	}
	h.Set("ETag", `"`+etag+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// asset loads path's file and its compressed forms once.
func (e *embeddedWeb) asset(path, typ string) (*asset, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if a, ok := e.assets[path]; ok {
		return a, nil
	}
	name := strings.TrimPrefix(path, "/")
	raw, err := fs.ReadFile(e.fsys, name)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	hexSum := hex.EncodeToString(sum[:])
	a := &asset{typ: typ, raw: raw, etagBase: hexSum[:20]}
	if want, err := fs.ReadFile(e.fsys, name+".sha256"); err == nil && strings.TrimSpace(string(want)) == hexSum {
		a.br, _ = fs.ReadFile(e.fsys, name+".br")
		a.gz, _ = fs.ReadFile(e.fsys, name+".gz")
	}
	if len(a.br) == 0 {
		a.br = nil
	}
	if len(a.gz) == 0 {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
		zw.Write(raw)
		zw.Close()
		a.gz = buf.Bytes()
	}
	e.assets[path] = a
	return a, nil
}

// negotiate picks the response's content coding from an Accept-Encoding
// header: "br" when accepted and available, else "gzip" when accepted, else
// "" (identity). A coding with q=0 is refused; "*" accepts any. Between
// accepted codings the smaller, brotli, wins whatever the q-values say:
// browsers send no preference between them.
func negotiate(header string, haveBr bool) string {
	var br, gz, star, brSet, gzSet bool
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		ok := true
		for p := range strings.SplitSeq(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(k, "q") {
				if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && q <= 0 {
					ok = false
				}
			}
		}
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "br":
			br, brSet = ok, true
		case "gzip", "x-gzip":
			gz, gzSet = ok, true
		case "*":
			star = ok
		}
	}
	if !brSet {
		br = star
	}
	if !gzSet {
		gz = star
	}
	switch {
	case br && haveBr:
		return "br"
	case gz:
		return "gzip"
	default:
		return ""
	}
}

// webDigest returns a short hash of the client files in fsys (app.wasm and
// the precompressed assets): the dashboard's version carries it, so that
// every client build, even from an unchanged commit, makes the service
// worker fetch the new app, and an unchanged build keeps its cache.
func webDigest(fsys fs.FS) string {
	h := sha256.New()
	for _, p := range []string{"/web/app.wasm", "/web/app.css", "/web/echarts/echarts.min.js"} {
		b, _ := fs.ReadFile(fsys, strings.TrimPrefix(p, "/"))
		h.Write([]byte(p))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:10]
}
