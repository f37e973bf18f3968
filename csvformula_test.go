package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fleetpulse/shared/wire"
)

// formulaTriggers start a cell that a spreadsheet may run as a formula
// (OWASP CSV injection).
const formulaTriggers = "=+-@\t\r"

// checkNoFormula fails if a cell of the CSV document doc could start a
// formula: a cell that starts with a trigger must be a plain number, such
// as a negative coordinate, which spreadsheets read as a number.
func checkNoFormula(t *testing.T, name string, doc []byte) int {
	t.Helper()
	doc = bytes.TrimPrefix(doc, []byte("\xef\xbb\xbf"))
	recs, err := csv.NewReader(bytes.NewReader(doc)).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	cells := 0
	for i, rec := range recs {
		for j, cell := range rec {
			cells++
			if cell == "" || !strings.ContainsRune(formulaTriggers, rune(cell[0])) {
				continue
			}
			if strings.Trim(cell[1:], "0123456789.") != "" || cell[0] != '-' {
				t.Errorf("%s: record %d, column %q: the cell %q could start a formula", name, i+1, recs[0][j], cell)
			}
		}
	}
	return cells
}

// TestCSVCellsCannotStartFormulas ingests hostile vehicle ids (refused)
// and events with negative coordinates, then checks every cell of every
// CSV the server serves and writes.
func TestCSVCellsCannotStartFormulas(t *testing.T) {
	s := startServerEnv(t, map[string]string{"FLEETPULSE_INGEST_TOKEN": testToken}, "-vehicles", "0", "-csv-bom")
	sub := dialWS(t, s.url+"ws")
	defer sub.CloseNow()
	readMsg(t, sub, nil) // the snapshot

	now := time.Now().UnixMilli()
	var body strings.Builder
	for _, id := range []string{"=1+1", "+SUM(A1)", "-2+3+cmd|' /C calc'!A0", "@SUM(1)", "\tA", "\rA", "=HYPERLINK(\"http://evil.example\")", "\uff1d1"} {
		fmt.Fprintf(&body, "{\"vehicle_id\":%q,\"ts\":%d,\"lat\":1,\"lon\":1,\"speed_kmh\":1}\n", id, now)
	}
	for i := range 5 {
		fmt.Fprintf(&body, `{"vehicle_id":"NEG-%d","ts":%d,"lat":-33.8688,"lon":-151.2093,"speed_kmh":0}`+"\n", i, now+int64(i))
	}
	if code := do(t, "POST", s.url+"ingest", map[string]string{"Authorization": "Bearer " + testToken}, body.String()); code != 200 {
		t.Fatalf("ingest: %d", code)
	}
	// Wait for the window that holds the events.
	for {
		var w wire.Window
		if env := readMsg(t, sub, &w); env.Type == wire.TypeWindow && len(w.Vehicles) > 0 {
			if w.Fleet.RejectedEvents != 8 {
				t.Fatalf("%d rejected, want the 8 hostile ids", w.Fleet.RejectedEvents)
			}
			break
		}
	}
	for _, path := range []string{"data?format=csv", "data/fleet?format=csv", "data/history?format=csv"} {
		_, b := getBody(t, s.url+path)
		if n := checkNoFormula(t, path, b); n < 12 {
			t.Fatalf("%s: %d cells, want rows to check: %q", path, n, b)
		}
	}
	s.shutdown(t)
	files := 0
	err := filepath.WalkDir(s.storage, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".csv") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		checkNoFormula(t, p, b)
		return nil
	})
	if err != nil || files < 3 {
		t.Fatalf("%d CSV files checked: %v", files, err)
	}
}
