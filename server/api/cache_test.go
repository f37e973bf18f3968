package api_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"testing"
)

func TestConditionalGzipAndCORS(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	for _, target := range []string{"/data", "/data?format=csv", "/data?vehicle_id=BUS-1", "/data/fleet", "/data/fleet?format=csv&since=2026-11-27T04:40:30Z"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			plain := s.get(t, target)
			tag := plain.header.Get("ETag")
			if tag == "" || plain.header.Get("Last-Modified") == "" || plain.header.Get("Access-Control-Allow-Origin") != "*" {
				t.Fatalf("headers %v: want ETag, Last-Modified and CORS", plain.header)
			}
			// The client has it: 304 without a body.
			nm := s.doHeader(t, http.MethodGet, target, http.Header{"If-None-Match": {tag}, "Accept-Encoding": {"identity"}})
			if nm.status != http.StatusNotModified || len(nm.body) != 0 {
				t.Fatalf("If-None-Match: %d with %d bytes, want 304 and none", nm.status, len(nm.body))
			}
			// gzip when asked, the same content, its own ETag.
			zr := s.doHeader(t, http.MethodGet, target, http.Header{"Accept-Encoding": {"gzip, deflate"}})
			if zr.header.Get("Content-Encoding") != "gzip" || zr.header.Get("ETag") == tag {
				t.Fatalf("gzip answer: encoding %q, ETag %q (plain %q)", zr.header.Get("Content-Encoding"), zr.header.Get("ETag"), tag)
			}
			r, err := gzip.NewReader(bytes.NewReader(zr.body))
			if err != nil {
				t.Fatal(err)
			}
			unz, _ := io.ReadAll(r)
			if !bytes.Equal(unz, plain.body) {
				t.Fatal("gzipped body differs from the plain one")
			}
			// A stale tag gets the body.
			if old := s.doHeader(t, http.MethodGet, target, http.Header{"If-None-Match": {`"0-0-0"`}, "Accept-Encoding": {"identity"}}); old.status != 200 {
				t.Fatalf("stale If-None-Match: %d, want 200", old.status)
			}
		})
	}
	pre := s.doHeader(t, http.MethodOptions, "/data", http.Header{"Origin": {"https://bi.example.com"}, "Access-Control-Request-Method": {"GET"}})
	if pre.status != http.StatusNoContent || pre.header.Get("Access-Control-Allow-Origin") != "*" || pre.header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("preflight: %d %v", pre.status, pre.header)
	}
}
