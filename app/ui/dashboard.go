package ui

import (
	"math"
	"strconv"
	"strings"
	"time"

	"fleetpulse/app/chart"
	"fleetpulse/app/live"
	"fleetpulse/app/offline"
	"fleetpulse/shared/telemetry"
)

// maxFleetRows bounds the fleet series the page keeps, so that its memory
// stays flat however long it runs: 360 windows are an hour of 10 s windows.
const maxFleetRows = 360

// fastestN is how many vehicles the fastest and slowest bar charts show.
const fastestN = 10

// trailLen is how many positions the map's trail keeps per vehicle.
const trailLen = 10

// histogramBinKPH is the width of the speed histogram's bins.
const histogramBinKPH = 10

// status is what the connection indicator says.
type status string

const (
	statusConnecting   status = "connecting"
	statusConnected    status = "connected"
	statusReconnecting status = "reconnecting"
	statusStale        status = "stale"
)

// dashboard is the page's data: plain Go, no DOM, so it is tested natively.
// The overview component changes it only on the UI goroutine.
type dashboard struct {
	state live.State
	// stale is set by the feed's goroutine from its freshness; staleSince
	// is when the last data came then.
	stale      bool
	staleSince time.Time
	// polling is set while the page polls the REST API because the feed
	// is down; polledAt is when the last poll answered.
	polling  bool
	polledAt time.Time
	lastErr  string
	retryIn  time.Duration

	// seq is the seq of the last snapshot or final window applied.
	seq uint64
	// fleet holds the last maxFleetRows fleet rows, oldest first.
	fleet []telemetry.FleetRow
	// vehicles are the per-vehicle rows of the latest final window.
	vehicles []telemetry.VehicleRow

	// trails holds each vehicle's last trailLen positions, oldest first,
	// for the vehicles of the latest window only, so it is bounded by the
	// fleet size. Each update makes a new slice: a slice handed out by
	// mapTrails is never changed afterwards.
	trails map[string][]chart.Point

	// fleetDirty and vehiclesDirty say which chart needs drawing.
	fleetDirty, vehiclesDirty bool

	// restored is set while the page shows a snapshot saved by an earlier
	// visit (a reload, perhaps while the server is down), until live data
	// replaces it.
	restored bool
}

// apply folds one feed event into d.
func (d *dashboard) apply(ev live.Event) {
	d.state = ev.State
	switch {
	case ev.State == live.Reconnecting:
		d.retryIn = ev.RetryIn
		if ev.Err != nil {
			d.lastErr = ev.Err.Error()
		}
	case ev.Err != nil:
		// A message the client could not decode; it was skipped.
		d.lastErr = ev.Err.Error()
	case ev.Snapshot == nil && ev.Window == nil:
		// A new connection.
		d.lastErr, d.retryIn = "", 0
	case ev.Snapshot != nil:
		s := ev.Snapshot
		d.restored = false
		d.seq = s.Seq
		d.fleet = appendBounded(d.fleet[:0], s.Fleet...)
		d.setVehicles(s.Vehicles)
		d.fleetDirty = true
	case ev.Window != nil:
		w := ev.Window
		if !w.Final || w.Seq <= d.seq {
			// A provisional update, or a window already seen (a resume
			// overlaps what the page has).
			return
		}
		d.seq = w.Seq
		d.restored = false
		if last, ok := d.latest(); !ok || w.Fleet.WindowEnd.After(last.WindowEnd) {
			// A window the REST fallback already fetched is not added twice.
			d.fleet = appendBounded(d.fleet, w.Fleet)
			d.fleetDirty = true
		}
		d.setVehicles(w.Vehicles)
	}
}

// applyPoll folds what the REST fallback fetched: the fleet rows newer than
// the page's and the latest window's vehicles. The seq stays, so that the
// feed resumes where it left off and its windows are not counted twice.
func (d *dashboard) applyPoll(fleet []telemetry.FleetRow, vehicles []telemetry.VehicleRow, now time.Time) {
	d.polledAt = now
	last, ok := d.latest()
	for _, r := range fleet {
		if !ok || r.WindowEnd.After(last.WindowEnd) {
			d.fleet = appendBounded(d.fleet, r)
			last, ok = r, true
			d.fleetDirty = true
		}
	}
	if len(vehicles) > 0 && (len(d.vehicles) == 0 || vehicles[0].WindowEnd.After(d.vehicles[0].WindowEnd)) {
		d.setVehicles(vehicles)
	}
	d.restored = false
}

// restore shows s, saved by an earlier visit, until the feed or the REST
// fallback brings live data. The seq is kept for display only: the feed
// starts afresh and gets a full snapshot.
func (d *dashboard) restore(s offline.Snapshot) {
	d.seq = s.Seq
	d.fleet = appendBounded(d.fleet[:0], s.Fleet...)
	d.setVehicles(s.Vehicles)
	d.fleetDirty = true
	d.restored = true
}

// saved returns what the page keeps for an offline reload, taken at now.
func (d *dashboard) saved(now time.Time) offline.Snapshot {
	return offline.Snapshot{SavedAt: now, Seq: d.seq, Fleet: d.fleet, Vehicles: d.vehicles}
}

// dataTime is the end of the newest window the page holds.
func (d *dashboard) dataTime() time.Time {
	s := offline.Snapshot{Fleet: d.fleet, Vehicles: d.vehicles}
	return s.DataTime()
}

// banner is the stale-data banner's text, or "" when the data shown is
// live: "Offline · showing data from 10:41:20 UTC" while the server cannot
// be reached, and a quieter note while a saved snapshot waits for the first
// connection. A REST fallback that answers keeps the data fresh: no banner
// then, the indicator says it polls.
func (d *dashboard) banner(now time.Time) string {
	t := d.dataTime()
	switch {
	case t.IsZero() || d.state == live.Connected:
		return ""
	case d.polling && !d.polledAt.IsZero() && !d.restored:
		return ""
	case d.state == live.Reconnecting:
		return "Offline · showing data from " + formatWhen(t, now)
	case d.restored:
		return "Showing saved data from " + formatWhen(t, now) + " · connecting…"
	default:
		return ""
	}
}

// setVehicles makes rows the latest window's vehicles and moves the trails
// on: a vehicle's new position is appended when it moved, and vehicles
// missing from rows lose their trail.
func (d *dashboard) setVehicles(rows []telemetry.VehicleRow) {
	d.vehicles = rows
	d.vehiclesDirty = true
	next := make(map[string][]chart.Point, len(rows))
	for i := range rows {
		r := &rows[i]
		if r.LastLat == 0 && r.LastLon == 0 && r.LastTS.IsZero() {
			continue // no position in the row
		}
		p := chart.Point{Lat: r.LastLat, Lon: r.LastLon}
		old := d.trails[r.VehicleID]
		if n := len(old); n > 0 && old[n-1] == p {
			next[r.VehicleID] = old
			continue
		}
		keep := old[max(0, len(old)-(trailLen-1)):]
		t := make([]chart.Point, len(keep), len(keep)+1)
		copy(t, keep)
		next[r.VehicleID] = append(t, p)
	}
	d.trails = next
}

// mapTrails returns the trails for the map, in no particular order.
func (d *dashboard) mapTrails() []chart.Trail {
	out := make([]chart.Trail, 0, len(d.trails))
	for id, pts := range d.trails {
		out = append(out, chart.Trail{VehicleID: id, Points: pts})
	}
	return out
}

// splitStopped returns the rows of vehicles that moved in their window
// (average speed above zero) and how many did not. The slowest chart shows
// the moving ones: ten bars of 0 km/h for parked vehicles say nothing.
func splitStopped(rows []telemetry.VehicleRow) (moving []telemetry.VehicleRow, stopped int) {
	moving = make([]telemetry.VehicleRow, 0, len(rows))
	for i := range rows {
		if rows[i].AvgSpeedKPH > 0 {
			moving = append(moving, rows[i])
		} else {
			stopped++
		}
	}
	return moving, stopped
}

// slowestSubtitle says what the slowest chart leaves out.
func slowestSubtitle(rows []telemetry.VehicleRow) string {
	_, stopped := splitStopped(rows)
	s := "Bottom " + strconv.Itoa(fastestN) + " by average speed, latest window"
	switch stopped {
	case 0:
		return s
	case 1:
		return s + " · 1 vehicle stopped"
	default:
		return s + " · " + formatInt(int64(stopped)) + " vehicles stopped"
	}
}

// eventsPerSecond is the latest window's events over its length; false
// without a window.
func (d *dashboard) eventsPerSecond() (float64, bool) {
	last, ok := d.latest()
	if !ok {
		return 0, false
	}
	secs := last.WindowEnd.Sub(last.WindowStart).Seconds()
	if secs <= 0 {
		return 0, false
	}
	return float64(last.Events) / secs, true
}

// fleetSince returns the fleet rows whose window ends within span of the
// newest one, oldest first: the fleet chart's time range.
func (d *dashboard) fleetSince(span time.Duration) []telemetry.FleetRow {
	last, ok := d.latest()
	if !ok || span <= 0 {
		return d.fleet
	}
	from := last.WindowEnd.Add(-span)
	i := len(d.fleet)
	for i > 0 && d.fleet[i-1].WindowEnd.After(from) {
		i--
	}
	return d.fleet[i:]
}

// appendBounded appends rows to s and keeps only the newest maxFleetRows,
// reusing s's array so that a long-running page allocates nothing per window.
func appendBounded(s []telemetry.FleetRow, rows ...telemetry.FleetRow) []telemetry.FleetRow {
	if len(rows) >= maxFleetRows {
		s = s[:0]
		rows = rows[len(rows)-maxFleetRows:]
	}
	if over := len(s) + len(rows) - maxFleetRows; over > 0 {
		s = s[:copy(s, s[over:])]
	}
	if s == nil {
		s = make([]telemetry.FleetRow, 0, maxFleetRows)
	}
	return append(s, rows...)
}

// latest returns the newest fleet row.
func (d *dashboard) latest() (telemetry.FleetRow, bool) {
	if len(d.fleet) == 0 {
		return telemetry.FleetRow{}, false
	}
	return d.fleet[len(d.fleet)-1], true
}

// status returns what the connection indicator shows.
func (d *dashboard) status() status {
	switch d.state {
	case live.Connected:
		if d.stale {
			return statusStale
		}
		return statusConnected
	case live.Reconnecting:
		return statusReconnecting
	default:
		return statusConnecting
	}
}

// statusDetail is the indicator's tooltip: why it is not live.
func (d *dashboard) statusDetail() string {
	switch d.status() {
	case statusReconnecting:
		s := "Connection lost"
		if d.lastErr != "" {
			s += ": " + d.lastErr
		}
		if d.retryIn > 0 {
			s += ". Next try after " + formatWait(d.retryIn) + "."
		}
		return s
	case statusStale:
		return "Connected, but no new window arrived since " + formatClock(d.staleSince) + " UTC. The simulator or producers may be stopped."
	default:
		return d.lastErr
	}
}

// statusText is the indicator's words: colour is never the only signal.
// Only the live state contains the word "connected".
func (d *dashboard) statusText() string {
	switch d.status() {
	case statusConnected:
		return "Live · connected"
	case statusStale:
		if d.staleSince.IsZero() {
			return "Stale · no new window"
		}
		return "Stale since " + formatClock(d.staleSince) + " UTC"
	case statusReconnecting:
		if d.polling && !d.polledAt.IsZero() {
			return "Reconnecting… · polled " + formatClock(d.polledAt) + " UTC"
		}
		return "Reconnecting…"
	default:
		return "Connecting…"
	}
}

// freshness tells when the data went stale: connected, but no new window
// for three window intervals (at least 15 s). The interval is the spacing of
// the last two windows, else the last window's length, else 10 s. It runs in
// the feed's goroutine, apart from the dashboard, with an injected clock.
type freshness struct {
	last     time.Time // when the last snapshot, window or connection came
	interval time.Duration
	lastEnd  time.Time
}

// saw notes an event received at now.
func (f *freshness) saw(ev live.Event, now time.Time) {
	switch {
	case ev.Snapshot != nil:
		f.last = now
		if n := len(ev.Snapshot.Fleet); n > 0 {
			r := ev.Snapshot.Fleet[n-1]
			f.interval = r.WindowEnd.Sub(r.WindowStart)
			if n >= 2 {
				f.interval = r.WindowEnd.Sub(ev.Snapshot.Fleet[n-2].WindowEnd)
			}
			f.lastEnd = r.WindowEnd
		}
	case ev.Window != nil && ev.Window.Final:
		f.last = now
		end := ev.Window.Fleet.WindowEnd
		if d := end.Sub(f.lastEnd); !f.lastEnd.IsZero() && d > 0 {
			f.interval = d
		} else if f.lastEnd.IsZero() {
			f.interval = end.Sub(ev.Window.Fleet.WindowStart)
		}
		if end.After(f.lastEnd) {
			f.lastEnd = end
		}
	case ev.State == live.Connected && ev.Err == nil && ev.Snapshot == nil && ev.Window == nil:
		// A fresh connection: give the server a full period to send.
		f.last = now
	}
}

// limit returns how long without data counts as stale.
func (f *freshness) limit() time.Duration {
	interval := f.interval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	return max(3*interval, 15*time.Second)
}

// stale reports whether nothing new came for longer than limit by now.
func (f *freshness) stale(now time.Time) bool {
	return !f.last.IsZero() && now.Sub(f.last) > f.limit()
}

// formatWait renders a reconnect wait: "0.4 s", "12 s".
func formatWait(d time.Duration) string {
	if d < 10*time.Second {
		return strconv.FormatFloat(math.Ceil(d.Seconds()*10)/10, 'f', 1, 64) + " s"
	}
	return strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10) + " s"
}

// formatInt renders n with thin-space-free comma grouping: 12,345.
func formatInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// formatFloat renders f with the given decimals; NaN and infinities, which a
// row never holds, show as a dash.
func formatFloat(f float64, decimals int) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "—"
	}
	return strconv.FormatFloat(f, 'f', decimals, 64)
}

// formatWhen renders t for a person at now: the UTC time of day when it is
// the same UTC day, else the date too ("Nov 26, 22:40:10 UTC").
func formatWhen(t, now time.Time) string {
	t, now = t.UTC(), now.UTC()
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04:05") + " UTC"
	}
	if t.Year() != now.Year() {
		return t.Format("Jan 2 2006, 15:04:05") + " UTC"
	}
	return t.Format("Jan 2, 15:04:05") + " UTC"
}

// formatClock renders t as a UTC wall-clock time, 04:40:10.
func formatClock(t time.Time) string {
	return t.UTC().Format("15:04:05")
}
