package api

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"fleetpulse/server/view"
	"fleetpulse/shared/telemetry"
)

// epoch tells this process's ETags from those of an earlier run, whose seq
// may have named other content.
var epoch = func() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

// etag names a response: the view's seq, the path and the parameters that
// shape the body, and whether it is gzipped.
func etag(c *view.Current, r *http.Request, gz bool) string {
	h := fnv.New64a()
	h.Write([]byte(r.URL.Path))
	h.Write([]byte{0})
	h.Write([]byte(r.URL.Query().Encode())) // sorted by key
	s := `"` + epoch + "-" + strconv.FormatUint(c.Seq, 10) + "-" + strconv.FormatUint(h.Sum64(), 36)
	if gz {
		s += "-gz"
	}
	return s + `"`
}

// matches reports whether an If-None-Match header names tag.
func matches(ifNoneMatch, tag string) bool {
	for t := range strings.SplitSeq(ifNoneMatch, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == tag {
			return true
		}
	}
	return false
}

func acceptsGzip(r *http.Request) bool {
	for e := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		name, q, _ := strings.Cut(strings.TrimSpace(e), ";")
		if strings.TrimSpace(name) == "gzip" && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// gzipCache keeps the gzipped bodies of the current seq, so that a body is
// compressed once per window, not once per request.
type gzipCache struct {
	mu  sync.Mutex
	seq uint64
	m   map[string][]byte
}

func (g *gzipCache) get(seq uint64, key string, raw []byte) []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil || g.seq != seq {
		g.seq, g.m = seq, make(map[string][]byte)
	}
	if b, ok := g.m[key]; ok {
		return b
	}
	b := gzipBytes(raw)
	g.m[key] = b
	return b
}

func gzipBytes(raw []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(raw)
	zw.Close()
	return buf.Bytes()
}

// serveRows answers a read of c (nil: not from the view, no validators):
// 304 when the client has it, else the body
// that encode makes (cacheKey != "" marks a body shared by every such
// request, gzipped once), gzipped when the client accepts it.
func serveRows(w http.ResponseWriter, r *http.Request, c *view.Current, gz *gzipCache, csv bool, cacheKey string, encode func() []byte) {
	// A client that does not read cannot hold its answer for ever.
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(writeDeadline))
	h := w.Header()
	if csv {
		h.Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Cache-Control", "no-cache")
	h.Set("Vary", "Accept-Encoding")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "ETag, X-Fleetpulse-Seq, X-Fleetpulse-Window-End")
	zip := acceptsGzip(r)
	// c is nil for answers read from files rather than the view.
	if c != nil {
		h.Set("X-Fleetpulse-Seq", strconv.FormatUint(c.Seq, 10))
		if !c.Watermark.IsZero() {
			h.Set("X-Fleetpulse-Window-End", c.Watermark.UTC().Format(telemetry.TimeLayout))
		}
		if !c.Updated.IsZero() {
			h.Set("Last-Modified", c.Updated.UTC().Format(http.TimeFormat))
		}
		tag := etag(c, r, zip)
		h.Set("ETag", tag)
		if inm := r.Header.Get("If-None-Match"); inm != "" && matches(inm, tag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	var body []byte
	if cacheKey != "" {
		body = encode()
	} else {
		// Bodies built per request: at most a few at a time, so that
		// many slow clients cannot pin much memory.
		select {
		case builds <- struct{}{}:
			defer func() { <-builds }()
		default:
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "too many filtered or history reads at once; retry"})
			return
		}
		body = encode()
	}
	if zip {
		if cacheKey != "" {
			body = gz.get(c.Seq, cacheKey, body)
		} else {
			body = gzipBytes(body)
		}
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// writeDeadline bounds writing one answer.
const writeDeadline = 30 * time.Second

// builds limits the bodies built per request at once.
var builds = make(chan struct{}, 8)

// preflight answers a CORS preflight for the read routes: any origin may
// read, without credentials.
func preflight(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD")
	h.Set("Access-Control-Allow-Headers", "If-None-Match")
	h.Set("Access-Control-Max-Age", "3600")
	w.WriteHeader(http.StatusNoContent)
}
