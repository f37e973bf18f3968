package ingest

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"fleetpulse/shared/telemetry"
)

// FuzzBearer checks the Authorization header parser. Seeds live in
// testdata/fuzz/FuzzBearer. The invariants: it never panics; it accepts
// only the Bearer scheme (any case) followed by a space, and returns the
// rest trimmed, which is what a producer meant as its token.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer abc", "BEARER  abc  ", "Bearer", "Bearer ", "Basic abc", "Bearerabc",
		"Bearer\tabc", " Bearer abc", "Bearer a b", "Bearer \xff\xfe", "Bearer \x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := bearer(h)
		if !ok {
			if tok != "" {
				t.Fatalf("bearer(%q) refused but returned %q", h, tok)
			}
			return
		}
		if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
			t.Fatalf("bearer(%q) accepted another scheme", h)
		}
		if tok != strings.TrimSpace(h[7:]) {
			t.Fatalf("bearer(%q) = %q", h, tok)
		}
	})
}

// FuzzTokenFile checks the token file parser. Seeds live in
// testdata/fuzz/FuzzTokenFile. The invariants: it never panics; a file it
// accepts makes exactly its token lines (trimmed, not blank, not comments)
// valid, and nothing else among its lines; a file with a short token is
// refused with the line number, never with the token.
func FuzzTokenFile(f *testing.F) {
	for _, s := range []string{
		"", "# producers\nabcdefghijklmnopq\n", "abcdefghijklmnopq\r\nrstuvwxyz0123456\r\n", "short\n",
		"  padded-token-0123456789  \n\n# comment-token-0123456789\n", "\xef\xbb\xbfbom-token-0123456789\n",
		"tab\ttoken\t0123456789\n", "#\n#\n", "abcdefghijklmnopq\x00\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content []byte) {
		path := filepath.Join(dir, "tokens")
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		tok, err := NewTokens("", path, clock)
		var want []string
		for line := range strings.Lines(string(content)) {
			line = strings.TrimSpace(line)
			if line != "" && !strings.HasPrefix(line, "#") {
				want = append(want, line)
			}
		}
		if err != nil {
			for _, w := range want {
				if len(w) >= minTokenLen && strings.Contains(err.Error(), w) {
					t.Fatalf("the error %q shows a token", err)
				}
			}
			if !slices.ContainsFunc(want, func(w string) bool { return len(w) < minTokenLen }) && len(content) < 64<<10 {
				t.Fatalf("refused a file of long tokens %q: %v", content, err)
			}
			return
		}
		if tok.Enabled() != (len(want) > 0) {
			t.Fatalf("Enabled() = %v for %d tokens", tok.Enabled(), len(want))
		}
		for _, w := range want {
			if !tok.Valid(w) {
				t.Fatalf("the token %q of the file is not valid", w)
			}
			if len(w) < minTokenLen {
				t.Fatalf("a short token %q was accepted", w)
			}
		}
		for line := range strings.Lines(string(content)) {
			if s := strings.TrimSpace(line); (s == "" || strings.HasPrefix(s, "#")) && tok.Valid(s) && !slices.Contains(want, s) {
				t.Fatalf("the comment or blank line %q is a valid token", s)
			}
		}
	})
}

// FuzzIngestBody checks the NDJSON body decoder of POST /ingest and of
// WebSocket messages. Seeds live in testdata/fuzz/FuzzIngestBody. The
// invariants: it never panics; every non-blank line is either accepted or
// rejected, once; rejected lines are listed in order with a known reason
// and a line number within the body; accepted events have valid vehicle
// ids, which cannot start a CSV formula.
func FuzzIngestBody(f *testing.F) {
	f.Add([]byte(line("A", now) + "\n\n" + line("B", now) + "\r\nnot json\n"))
	f.Add([]byte(line("=1+1", now) + "\n" + line("A", now.Add(48*3600e9))))
	f.Add([]byte("\r\n\r\n\n"))
	f.Add([]byte("{\"vehicle_id\":\"A\",\"ts\":1,\"lat\":1,\"lon\":1,\"speed_kmh\":1}\n" + strings.Repeat("x", 300)))
	in := New(make(chan telemetry.Batch), Options{Now: clock, MaxLineBytes: 256, MaxLines: 50})
	reasons := append(slices.Clone(telemetry.Reasons), ReasonLineTooLong)
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := in.decode(body, true)
		lines := bytes.Split(body, []byte{'\n'})
		if len(body) > 0 && body[len(body)-1] == '\n' {
			lines = lines[:len(lines)-1]
		}
		if err != nil {
			if len(lines) <= 50 {
				t.Fatalf("decode refused %d lines: %v", len(lines), err)
			}
			return
		}
		nonBlank := 0
		for _, l := range lines {
			if len(bytes.TrimSpace(bytes.TrimSuffix(l, []byte{'\r'}))) > 0 {
				nonBlank++
			}
		}
		if got := len(res.batch.Events) + res.rejected; got != nonBlank {
			t.Fatalf("%d accepted + %d rejected for %d non-blank lines of %q", len(res.batch.Events), res.rejected, nonBlank, body)
		}
		if len(res.errors) != res.rejected {
			t.Fatalf("%d errors listed for %d rejected", len(res.errors), res.rejected)
		}
		prev := 0
		for _, e := range res.errors {
			if e.Line <= prev || e.Line > len(lines) || !slices.Contains(reasons, e.Reason) {
				t.Fatalf("error %+v after line %d of %d", e, prev, len(lines))
			}
			prev = e.Line
		}
		for _, e := range res.batch.Events {
			if !telemetry.ValidVehicleID(e.VehicleID) || strings.ContainsAny(e.VehicleID[:1], "=+-@\t\r") {
				t.Fatalf("accepted the vehicle id %q", e.VehicleID)
			}
		}
	})
}
