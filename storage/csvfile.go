package storage

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"fleetpulse/shared/telemetry"
)

// readVehicles parses per-vehicle rows in the layout of cols:
// telemetry.VehicleColumns (history files) or telemetry.LatestColumns
// (latest_metrics.csv, whose last_updated is checked but not kept). The
// input may start with a UTF-8 BOM; its header must equal cols. Errors give
// the line.
func readVehicles(r io.Reader, cols []string) ([]telemetry.VehicleRow, error) {
	var rows []telemetry.VehicleRow
	err := scanVehicles(r, cols, nil, func(row telemetry.VehicleRow) error {
		rows = append(rows, row)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// scanVehicles parses per-vehicle rows as readVehicles does and calls emit
// with each one whose vehicle id keep accepts (nil keeps all). Records that
// keep refuses are skipped before their other fields are parsed. An error
// from emit stops the scan and is returned as it is.
func scanVehicles(r io.Reader, cols []string, keep func(id string) bool, emit func(telemetry.VehicleRow) error) error {
	cr, err := newReader(r, cols)
	if err != nil {
		return err
	}
	for {
		rec, line, err := next(cr, cols)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if keep != nil && !keep(rec[2]) {
			continue
		}
		p := fields{rec: rec, cols: cols}
		row := telemetry.VehicleRow{
			WindowStart: p.time(0),
			WindowEnd:   p.time(1),
			VehicleID:   p.vehicleID(2),
			Events:      p.int(3),
			AvgSpeedKPH: p.float(4),
			MinSpeedKPH: p.float(5),
			MaxSpeedKPH: p.float(6),
			DistanceKM:  p.float(7),
			LastLat:     p.float(8),
			LastLon:     p.float(9),
			LastTS:      p.time(10),
		}
		for i := len(telemetry.VehicleColumns); i < len(cols); i++ {
			p.time(i)
		}
		if p.err != nil {
			return fmt.Errorf("line %d: %w", line, p.err)
		}
		if err := emit(row); err != nil {
			return err
		}
	}
}

// readFleet parses fleet rows in the layout of telemetry.FleetColumns, as
// readVehicles does.
func readFleet(r io.Reader) ([]telemetry.FleetRow, error) {
	cols := telemetry.FleetColumns
	cr, err := newReader(r, cols)
	if err != nil {
		return nil, err
	}
	var rows []telemetry.FleetRow
	for {
		rec, line, err := next(cr, cols)
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		p := fields{rec: rec, cols: cols}
		row := telemetry.FleetRow{
			WindowStart:     p.time(0),
			WindowEnd:       p.time(1),
			VehiclesActive:  p.int(2),
			Events:          p.int(3),
			AvgSpeedKPH:     p.float(4),
			MaxSpeedKPH:     p.float(5),
			DistanceKM:      p.float(6),
			LateEvents:      p.int(7),
			DuplicateEvents: p.int(8),
			RejectedEvents:  p.int(9),
		}
		if p.err != nil {
			return nil, fmt.Errorf("line %d: %w", line, p.err)
		}
		rows = append(rows, row)
	}
}

// newReader skips an optional BOM, reads the header and checks that it is
// exactly cols.
func newReader(r io.Reader, cols []string) (*csv.Reader, error) {
	br := bufio.NewReader(r)
	if b, _ := br.Peek(len(bom)); bytes.Equal(b, bom) {
		br.Discard(len(bom))
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // checked by next, with a clearer message
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("line 1: no header")
	}
	if err != nil {
		return nil, err
	}
	if !slices.Equal(head, cols) {
		return nil, fmt.Errorf("line 1: header %q, want %q",
			strings.Join(head, ","), strings.Join(cols, ","))
	}
	return cr, nil
}

// next reads the next record and checks its field count. It returns io.EOF
// at the end.
func next(cr *csv.Reader, cols []string) ([]string, int, error) {
	rec, err := cr.Read()
	if err != nil {
		return nil, 0, err // a *csv.ParseError names the line
	}
	line, _ := cr.FieldPos(0)
	if len(rec) != len(cols) {
		return nil, line, fmt.Errorf("line %d: %d fields, want %d", line, len(rec), len(cols))
	}
	return rec, line, nil
}

// fields parses the fields of one record, keeping the first error.
type fields struct {
	rec  []string
	cols []string
	err  error
}

func (p *fields) fail(i int, err error) {
	if p.err == nil {
		p.err = fmt.Errorf("%s: %w", p.cols[i], err)
	}
}

func (p *fields) time(i int) time.Time {
	t, err := time.Parse(time.RFC3339, p.rec[i])
	if err != nil {
		p.fail(i, err)
	}
	return t.UTC()
}

func (p *fields) int(i int) int64 {
	n, err := strconv.ParseInt(p.rec[i], 10, 64)
	if err != nil {
		p.fail(i, err)
	}
	return n
}

func (p *fields) float(i int) float64 {
	f, err := strconv.ParseFloat(p.rec[i], 64)
	if err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
		err = fmt.Errorf("%q is not a finite number", p.rec[i])
	}
	if err != nil {
		p.fail(i, err)
	}
	return f
}

// vehicleID returns field i if it is a valid vehicle id. The check keeps a
// foreign file from smuggling a comma or a quote into rows that are later
// written without quoting.
func (p *fields) vehicleID(i int) string {
	s := p.rec[i]
	if !telemetry.ValidVehicleID(s) {
		p.fail(i, fmt.Errorf("invalid vehicle id %q", s))
	}
	return strings.Clone(s) // not a slice of the whole line
}
