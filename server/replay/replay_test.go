package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock is a clock that only waiting moves on.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	waits []time.Duration
}

var clockStart = time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC)

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) wait(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.waits = append(c.waits, d)
	return nil
}

// received is one POST the fake /ingest took: when (by the fake clock) and
// its events.
type received struct {
	At     time.Duration // since clockStart
	Events []map[string]any
}

// fakeIngest imitates POST /ingest: it checks the token, decodes each
// line, answers the contract's counts and records what it got. refuse
// lists Retry-After values to answer 429 with first.
type fakeIngest struct {
	clock  *fakeClock
	mu     sync.Mutex
	got    []received
	refuse []string
}

func (f *fakeIngest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != "/ingest" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if r.Header.Get("Authorization") != "Bearer s3cret" {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"unauthorized"}`)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.refuse) > 0 {
		w.Header().Set("Retry-After", f.refuse[0])
		f.refuse = f.refuse[1:]
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":"busy"}`)
		return
	}
	rec := received{At: f.clock.now().Sub(clockStart)}
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		var e map[string]any
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		if err := dec.Decode(&e); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"bad json"}`)
			return
		}
		rec.Events = append(rec.Events, e)
	}
	f.got = append(f.got, rec)
	json.NewEncoder(w).Encode(map[string]any{"accepted": len(rec.Events), "rejected": 0, "errors": []any{}})
}

// replayFile writes content to a file named name and replays it with args.
func replayFile(t *testing.T, name, content string, refuse []string, args ...string) (*fakeIngest, *fakeClock, string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: clockStart}
	fake := &fakeIngest{clock: clock, refuse: refuse}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	var out, errOut bytes.Buffer
	args = append(append([]string{"-url", srv.URL}, args...), path)
	err := run(t.Context(), args, func(k string) string {
		if k == "FLEETPULSE_INGEST_TOKEN" {
			return "s3cret"
		}
		return ""
	}, &out, &errOut, deps{now: clock.now, wait: clock.wait, http: srv.Client()})
	t.Logf("replay %s:\n%s%s", strings.Join(args, " "), out.String(), errOut.String())
	return fake, clock, out.String() + errOut.String(), err
}

// timeline is what the server got: per request, when and which vehicles.
func timeline(got []received) []string {
	var s []string
	for _, r := range got {
		var ids []string
		for _, e := range r.Events {
			ids = append(ids, e["vehicle_id"].(string))
		}
		s = append(s, r.At.String()+" "+strings.Join(ids, ","))
	}
	return s
}

// A recording: five events over 20 s, two of them at the same time.
const recording = `{"vehicle_id":"A","ts":"2026-01-05T10:00:00Z","lat":52.5,"lon":13.4,"speed_kmh":10}
{"vehicle_id":"B","ts":"2026-01-05T10:00:02Z","lat":52.5,"lon":13.4,"speed_kmh":20}
{"vehicle_id":"C","ts":"2026-01-05T10:00:02Z","lat":52.5,"lon":13.4,"speed_kmh":30}
{"vehicle_id":"D","ts":"2026-01-05T10:00:06Z","lat":52.5,"lon":13.4,"speed_kmh":40}
{"vehicle_id":"E","ts":"2026-01-05T10:00:20Z","lat":52.5,"lon":13.4,"speed_kmh":50}
`

func TestReplayPaces(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"as recorded", []string{"-speed", "1"}, []string{"0s A", "2s B,C", "6s D", "20s E"}},
		{"ten times faster", []string{"-speed", "10"}, []string{"0s A", "200ms B,C", "600ms D", "2s E"}},
		{"half as fast", []string{"-speed", "0.5"}, []string{"0s A", "4s B,C", "12s D", "40s E"}},
		{"as fast as possible", []string{"-speed", "0"}, []string{"0s A,B,C,D,E"}},
		{"as fast as possible, small batches", []string{"-speed", "0", "-batch", "2"}, []string{"0s A,B", "0s C,D", "0s E"}},
		{"batches split at the pace too", []string{"-batch", "1"}, []string{"0s A", "2s B", "2s C", "6s D", "20s E"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake, _, _, err := replayFile(t, "rec.ndjson", recording, nil, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, timeline(fake.got)); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReplayKeepsOrShiftsTimestamps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"as recorded", nil, []string{ms(rec0), ms(rec0.Add(2 * time.Second)), ms(rec0.Add(2 * time.Second)), ms(rec0.Add(6 * time.Second)), ms(rec0.Add(20 * time.Second))}},
		{"shifted to now", []string{"-shift-to-now"}, []string{
			ms(clockStart), ms(clockStart.Add(2 * time.Second)), ms(clockStart.Add(2 * time.Second)),
			ms(clockStart.Add(6 * time.Second)), ms(clockStart.Add(20 * time.Second)),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake, _, _, err := replayFile(t, "rec.ndjson", recording, nil, append(tt.args, "-speed", "0")...)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range fake.got {
				for _, e := range r.Events {
					got = append(got, e["ts"].(json.Number).String())
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ts (-want +got):\n%s", diff)
			}
		})
	}
}

// rec0 is the time of the recording's first event.
var rec0 = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func TestReplayWarnsOfStampsTheServerRejects(t *testing.T) {
	t.Parallel()
	// Six minutes of recording: at 100× the last event goes out 3.6 s
	// after the first, stamped 6 min after it.
	long := recording + `{"vehicle_id":"F","ts":"2026-01-05T10:06:00Z","lat":52.5,"lon":13.4,"speed_kmh":50}` + "\n"
	tests := []struct {
		name, content string
		args          []string
		want          string
	}{
		{"old, as recorded", recording, []string{"-speed", "0"}, "stamped more than 24h0m0s ago"},
		{"shifted, 20 s at once", recording, []string{"-speed", "0", "-shift-to-now"}, ""},
		{"shifted, as recorded", long, []string{"-speed", "1", "-shift-to-now"}, ""},
		{"shifted, 6 min at once", long, []string{"-speed", "0", "-shift-to-now"}, "stamped more than 1m0s ahead of now"},
		{"shifted, 6 min 100× faster", long, []string{"-speed", "100", "-shift-to-now"}, "stamped more than 1m0s ahead of now"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, out, err := replayFile(t, "rec.ndjson", tt.content, nil, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				tt.want = "no warning"
				if !strings.Contains(out, "warning") {
					return
				}
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output lacks %q", tt.want)
			}
		})
	}
}

func TestReplayReadsFormats(t *testing.T) {
	t.Parallel()
	ev := func(id string, ts int64, lat, lon, speed float64, more ...any) map[string]any {
		e := map[string]any{"vehicle_id": id, "ts": num(ts), "lat": num(lat), "lon": num(lon), "speed_kmh": num(speed)}
		for i := 0; i+1 < len(more); i += 2 {
			e[more[i].(string)] = num(more[i+1])
		}
		return e
	}
	tests := []struct {
		name, file, content string
		args                []string
		want                []map[string]any
		wantSkipped         []string
	}{
		{
			name: "ndjson with every field, ms and RFC 3339 ts, blank lines, CRLF, unknown fields",
			file: "a.jsonl",
			content: "{\"vehicle_id\":\"TRUCK-1\",\"ts\":1767607200250,\"lat\":52.52,\"lon\":13.405,\"speed_kmh\":48.3,\"heading_deg\":90,\"fuel_pct\":71.5,\"driver\":\"x\"}\r\n" +
				"\r\n" +
				`{"vehicle_id":"VAN-2","ts":"2026-01-05T11:00:00.5+01:00","lat":-33.9,"lon":151.2,"speed_kmh":0}` + "\n",
			want: []map[string]any{
				ev("TRUCK-1", 1767607200250, 52.52, 13.405, 48.3, "heading_deg", 90, "fuel_pct", 71.5),
				ev("VAN-2", 1767607200500, -33.9, 151.2, 0),
			},
		},
		{
			name:    "ndjson detected by its first byte",
			file:    "recording.log",
			content: "\uFEFF  " + `{"vehicle_id":"A","ts":1767607200000,"lat":1,"lon":2,"speed_kmh":3}` + "\n",
			want:    []map[string]any{ev("A", 1767607200000, 1, 2, 3)},
		},
		{
			name: "ndjson: what replay cannot read is skipped, what the server judges is sent",
			file: "b.ndjson",
			content: `{"vehicle_id":"A","ts":1767607200000,"lat":1,"lon":2,"speed_kmh":3}` + "\n" +
				`{"vehicle_id":"B","lat":1}` + "\n" +
				`not json` + "\n" +
				`{"vehicle_id":"C","ts":1767607200000.5,"lat":1,"lon":2,"speed_kmh":3}` + "\n" +
				`{"vehicle_id":"D","ts":"yesterday","lat":1,"lon":2,"speed_kmh":3}` + "\n" +
				`{"vehicle_id":"E","ts":"2026-01-05T10:00:00","lat":1,"lon":2,"speed_kmh":3}` + "\n" +
				`{"vehicle_id":"F","ts":1767607201000,"lat":"north","lon":2,"speed_kmh":3}` + "\n" +
				`{"vehicle_id":"G","ts":1767607201000,"speed_kmh":999}` + "\n",
			want: []map[string]any{
				ev("A", 1767607200000, 1, 2, 3),
				{"vehicle_id": "G", "ts": num(1767607201000), "speed_kmh": num(999)},
			},
			wantSkipped: []string{
				"line 2: no ts",
				"line 3: not a JSON event: invalid character 'o' in literal null (expecting 'u')",
				"line 4: ts: want RFC 3339 with a zone, or integer Unix milliseconds",
				"line 5: ts: want RFC 3339 with a zone, or integer Unix milliseconds",
				"line 6: ts: want RFC 3339 with a zone, or integer Unix milliseconds",
			},
		},
		{
			name: "csv with the required columns only",
			file: "c.csv",
			content: "vehicle_id,ts,lat,lon,speed_kmh\n" +
				"CAR-1,2026-01-05T10:00:00.000Z,52.5,13.4,50\n" +
				"CAR-2,1767607201000,52.6,13.5,0\n",
			want: []map[string]any{ev("CAR-1", 1767607200000, 52.5, 13.4, 50), ev("CAR-2", 1767607201000, 52.6, 13.5, 0)},
		},
		{
			name: "csv with BOM, CRLF, other order, extra and optional columns, spaces, empty optional",
			file: "d.CSV",
			content: "\uFEFFts, Speed_KMH ,note,vehicle_id,lat,lon,fuel_pct,heading_deg\r\n" +
				"1767607200000,12.5,\"a, b\",BUS-7,52.5,13.4,80,270\r\n" +
				"1767607201000,13,,BUS-7,52.5,13.4,,\r\n",
			want: []map[string]any{
				ev("BUS-7", 1767607200000, 52.5, 13.4, 12.5, "fuel_pct", 80, "heading_deg", 270),
				ev("BUS-7", 1767607201000, 52.5, 13.4, 13),
			},
		},
		{
			name: "csv detected by its first byte",
			file: "export.txt",
			content: "vehicle_id,ts,lat,lon,speed_kmh\n" +
				"CAR-1,1767607200000,52.5,13.4,50\n",
			want: []map[string]any{ev("CAR-1", 1767607200000, 52.5, 13.4, 50)},
		},
		{
			name: "csv: bad numbers and ts are skipped, empty fields left to the server",
			file: "e.csv",
			content: "vehicle_id,ts,lat,lon,speed_kmh\n" +
				"CAR-1,1767607200000,52.5,13.4,fast\n" +
				"CAR-2,,52.5,13.4,1\n" +
				"CAR-3,noon,52.5,13.4,1\n" +
				"CAR-4,1767607200000,NaN,13.4,1\n" +
				",1767607200000,,13.4,1\n" +
				"CAR-6,1767607200000\n",
			want: []map[string]any{
				{"ts": num(1767607200000), "lon": num(13.4), "speed_kmh": num(1)},
				{"vehicle_id": "CAR-6", "ts": num(1767607200000)},
			},
			wantSkipped: []string{
				`line 2: speed_kmh "fast" is not a number`,
				"line 3: no ts",
				"line 4: ts: want RFC 3339 with a zone, or integer Unix milliseconds",
				`line 5: lat "NaN" is not a number`,
			},
		},
		{
			name:    "-format overrides the extension",
			file:    "data.csv",
			content: `{"vehicle_id":"A","ts":1767607200000,"lat":1,"lon":2,"speed_kmh":3}` + "\n",
			args:    []string{"-format", "ndjson"},
			want:    []map[string]any{ev("A", 1767607200000, 1, 2, 3)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake, _, out, err := replayFile(t, tt.file, tt.content, nil, append(tt.args, "-speed", "0")...)
			if err != nil {
				t.Fatal(err)
			}
			var got []map[string]any
			for _, r := range fake.got {
				got = append(got, r.Events...)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			var skipped []string
			if _, list, ok := strings.Cut(out, "skipped lines (first "); ok {
				for l := range strings.Lines(list) {
					if s, ok := strings.CutPrefix(l, "  "); ok {
						skipped = append(skipped, strings.TrimSpace(s))
					}
				}
			}
			if diff := cmp.Diff(tt.wantSkipped, skipped); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
		})
	}
}

// num is v as the fake decodes it.
func num(v any) json.Number {
	b, _ := json.Marshal(v)
	return json.Number(b)
}

func TestReplayHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	fake, clock, out, err := replayFile(t, "rec.ndjson", recording, []string{"1", "0"}, "-speed", "0", "-batch", "3")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Duration{time.Second, 0}, clock.waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"1s A,B,C", "1s D,E"}, timeline(fake.got)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if got := row(t, out, "errors"); got != "429: 2" {
		t.Errorf("errors %q, want 429: 2", got)
	}
}

func TestReplayPacesAfterRetries(t *testing.T) {
	t.Parallel()
	// A 429 that makes the replay late: the events due meanwhile go at
	// once, the later ones on time.
	fake, _, _, err := replayFile(t, "rec.ndjson", recording, []string{"3"}, "-batch", "1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"3s A", "3s B", "3s C", "6s D", "20s E"}, timeline(fake.got)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestReplayErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.ndjson", recording)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no file", nil, "replay: want the FILE to replay, as in: fleetpulse replay [flags] FILE"},
		{"two files", []string{good, good}, `replay: unexpected argument "` + good + `": replay one FILE at a time`},
		{"negative speed", []string{"-speed", "-1", good}, "replay: -speed -1: want 1 for the recorded pace, more to go faster, 0 for as fast as possible"},
		{"NaN speed", []string{"-speed", "NaN", good}, "replay: -speed NaN: want 1"},
		{"zero batch", []string{"-batch", "0", good}, "replay: -batch 0: want 1 to 100000"},
		{"bad format", []string{"-format", "xml", good}, `replay: -format "xml": want auto, ndjson or csv`},
		{"bad url", []string{"-url", "localhost:8080", good}, `replay: -url "localhost:8080": want an http:// or https:// address`},
		{"bad flag after the file", []string{good, "-sped", "2"}, "flag provided but not defined: -sped"},
		{"missing file", []string{filepath.Join(dir, "nope.ndjson")}, "replay: open " + filepath.Join(dir, "nope.ndjson") + ": no such file or directory"},
		{"csv without the columns", []string{write("x.csv", "vehicle,ts,lat\nA,1,2\n")}, "CSV header lacks vehicle_id,lon,speed_kmh: want at least vehicle_id,ts,lat,lon,speed_kmh (and optionally heading_deg,fuel_pct)"},
		{"empty csv", []string{write("empty.csv", "")}, "empty CSV: want a header with at least vehicle_id,ts,lat,lon,speed_kmh"},
		{"no events", []string{write("empty.ndjson", "\n\n")}, "empty.ndjson holds no events"},
		{"only bad lines", []string{write("bad.ndjson", "nope\n")}, "bad.ndjson holds no events"},
		{"line too long", []string{write("long.ndjson", `{"vehicle_id":"`+strings.Repeat("x", 1<<20)+`"}`)}, "line 1 is longer than 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(&fakeIngest{clock: &fakeClock{t: clockStart}})
			defer srv.Close()
			args := tt.args
			if tt.name != "bad url" {
				args = append([]string{"-url", srv.URL}, args...)
			}
			err := run(t.Context(), args, func(string) string { return "s3cret" }, io.Discard, io.Discard, deps{http: srv.Client()})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestReplayFlagsAfterTheFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "rec.ndjson")
	if err := os.WriteFile(path, []byte(recording), 0o644); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: clockStart}
	fake := &fakeIngest{clock: clock}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	err := run(t.Context(), []string{path, "-url", srv.URL, "-speed", "0", "-token", "s3cret"}, func(string) string { return "wrong" },
		io.Discard, io.Discard, deps{now: clock.now, wait: clock.wait, http: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"0s A,B,C,D,E"}, timeline(fake.got)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestReplayWrongToken(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "rec.ndjson")
	if err := os.WriteFile(path, []byte(recording), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(&fakeIngest{clock: &fakeClock{t: clockStart}})
	defer srv.Close()
	var out bytes.Buffer
	err := run(t.Context(), []string{"-url", srv.URL, "-speed", "0", path}, func(string) string { return "wrong" }, &out, io.Discard, deps{http: srv.Client()})
	want := "401 Unauthorized: the token does not match the server's: set -token or FLEETPULSE_INGEST_TOKEN"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want %q", err, want)
	}
	if got := row(t, out.String(), "errors"); got != "401: 1" {
		t.Errorf("errors %q, want 401: 1", got)
	}
}

func TestReplayStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "rec.ndjson")
	if err := os.WriteFile(path, []byte(recording), 0o644); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: clockStart}
	fake := &fakeIngest{clock: clock}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	wait := func(ctx context.Context, d time.Duration) error {
		cancel() // interrupted while waiting for the second event
		return ctx.Err()
	}
	var out bytes.Buffer
	err := run(ctx, []string{"-url", srv.URL, "-token", "s3cret", path}, func(string) string { return "" }, &out, io.Discard, deps{now: clock.now, wait: wait, http: srv.Client()})
	if err != nil {
		t.Fatalf("interrupted replay: %v, want nil", err)
	}
	if !strings.Contains(out.String(), "stopped early: interrupted") {
		t.Errorf("summary does not say the replay was interrupted")
	}
	if got := row(t, out.String(), "sent"); got != "1 events in 1 requests" {
		t.Errorf("sent %q, want 1 events in 1 requests", got)
	}
}

// row returns the value of a row of the summary table.
func row(t *testing.T, out, name string) string {
	t.Helper()
	for line := range strings.Lines(out) {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatalf("no %q in the summary:\n%s", name, out)
	return ""
}
