package replay

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// event is one recorded event as it is sent on. Fields the recording left
// out stay nil and are left out again, so that the server, not replay,
// judges them; only ts must be readable, for pacing.
type event struct {
	VehicleID  *string  `json:"vehicle_id,omitempty"`
	TS         int64    `json:"ts"` // Unix ms
	Lat        *float64 `json:"lat,omitempty"`
	Lon        *float64 `json:"lon,omitempty"`
	SpeedKPH   *float64 `json:"speed_kmh,omitempty"`
	HeadingDeg *float64 `json:"heading_deg,omitempty"`
	FuelPct    *float64 `json:"fuel_pct,omitempty"`
}

// source yields a recording's events in file order.
type source interface {
	// next returns the next event. A line it cannot read is returned as
	// a *lineError, after which next may be called again; any other error
	// ends the file (io.EOF at its end).
	next() (event, error)
}

// lineError is a line replay skips, and why.
type lineError struct {
	line   int
	reason string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.reason) }

// Formats of a recording.
const (
	formatNDJSON = "ndjson"
	formatCSV    = "csv"
)

// detect returns the format of the file name with first bytes head: by
// extension, else by the first byte that is not a space: '{' is NDJSON,
// anything else CSV.
func detect(name string, head []byte) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return formatCSV
	case ".ndjson", ".jsonl", ".json":
		return formatNDJSON
	}
	head = bytes.TrimLeft(bytes.TrimPrefix(head, bom), " \t\r\n")
	if len(head) > 0 && head[0] == '{' {
		return formatNDJSON
	}
	return formatCSV
}

var bom = []byte("\uFEFF")

// maxLine bounds a line of NDJSON.
const maxLine = 1 << 20

type ndjsonSource struct {
	sc   *bufio.Scanner
	line int
}

func newNDJSON(r io.Reader) *ndjsonSource {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	return &ndjsonSource{sc: sc}
}

// recorded is an NDJSON line as read: ts may be a string or a number.
type recorded struct {
	event
	TS json.RawMessage `json:"ts"`
}

func (s *ndjsonSource) next() (event, error) {
	for s.sc.Scan() {
		s.line++
		b := s.sc.Bytes()
		if s.line == 1 {
			b = bytes.TrimPrefix(b, bom)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var r recorded
		if err := json.Unmarshal(b, &r); err != nil {
			return event{}, &lineError{s.line, "not a JSON event: " + jsonProblem(err)}
		}
		if len(r.TS) == 0 || string(r.TS) == "null" {
			return event{}, &lineError{s.line, "no ts"}
		}
		ts, err := parseJSONTime(r.TS)
		if err != nil {
			return event{}, &lineError{s.line, err.Error()}
		}
		e := r.event
		e.TS = ts
		return e, nil
	}
	if err := s.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return event{}, fmt.Errorf("line %d is longer than %d bytes", s.line+1, maxLine)
		}
		return event{}, err
	}
	return event{}, io.EOF
}

// jsonProblem says briefly what is wrong with a line.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s is a JSON %s", te.Field, te.Value)
	}
	return err.Error()
}

const tsWant = "ts: want RFC 3339 with a zone, or integer Unix milliseconds"

func parseJSONTime(raw json.RawMessage) (int64, error) {
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, errors.New(tsWant)
		}
		return parseTime(s)
	}
	ms, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, errors.New(tsWant)
	}
	return ms, nil
}

// parseTime reads RFC 3339 with a zone, or integer Unix milliseconds.
func parseTime(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, errors.New(tsWant)
	}
	return t.UnixMilli(), nil
}

// csvColumns are the columns replay reads; the first five are required.
var csvColumns = []string{"vehicle_id", "ts", "lat", "lon", "speed_kmh", "heading_deg", "fuel_pct"}

const csvRequired = 5

type csvSource struct {
	r   *csv.Reader
	col [7]int // index of each of csvColumns in a record, or -1
}

func newCSV(r io.Reader) (*csvSource, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // short records are reported per line
	cr.LazyQuotes = true
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty CSV: want a header with at least " + strings.Join(csvColumns[:csvRequired], ","))
	}
	if err != nil {
		return nil, fmt.Errorf("CSV header: %w", err)
	}
	s := &csvSource{r: cr}
	for i := range s.col {
		s.col[i] = -1
	}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\uFEFF")
		}
		h = strings.ToLower(strings.TrimSpace(h))
		for j, c := range csvColumns {
			if h == c && s.col[j] < 0 {
				s.col[j] = i
			}
		}
	}
	var missing []string
	for j, c := range csvColumns[:csvRequired] {
		if s.col[j] < 0 {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("CSV header lacks %s: want at least %s (and optionally heading_deg,fuel_pct)",
			strings.Join(missing, ","), strings.Join(csvColumns[:csvRequired], ","))
	}
	return s, nil
}

func (s *csvSource) next() (event, error) {
	rec, err := s.r.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return event{}, fmt.Errorf("CSV line %d: %w", pe.Line, pe.Err)
		}
		return event{}, err
	}
	line, _ := s.r.FieldPos(0)
	field := func(j int) string {
		if i := s.col[j]; i >= 0 && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var e event
	if id := field(0); id != "" {
		e.VehicleID = &id
	}
	ts := field(1)
	if ts == "" {
		return event{}, &lineError{line, "no ts"}
	}
	if e.TS, err = parseTime(ts); err != nil {
		return event{}, &lineError{line, err.Error()}
	}
	for j, dst := range []**float64{&e.Lat, &e.Lon, &e.SpeedKPH, &e.HeadingDeg, &e.FuelPct} {
		v := field(j + 2)
		if v == "" {
			continue // left out: the server says whether it needs it
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return event{}, &lineError{line, fmt.Sprintf("%s %q is not a number", csvColumns[j+2], v)}
		}
		*dst = &f
	}
	return e, nil
}
