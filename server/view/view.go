// Package view holds what the server serves from memory: the retained fleet
// rows, the latest per-vehicle rows and their encodings, made once per final
// window and shared by every request and subscriber.
//
// View is safe for concurrent use: one writer (the delivery stage) calls
// Apply, any number of readers call Current. A Current value is immutable.
package view

import (
	"os"
	"slices"
	"sync/atomic"
	"time"

	"fleetpulse/shared/telemetry"
	"fleetpulse/shared/wire"
)

// SnapshotFleetRows is how many of the latest fleet rows a /ws snapshot
// carries; /data/fleet serves all retained rows.
const SnapshotFleetRows = 360

// Current is one immutable state of the view.
type Current struct {
	Seq       uint64
	Fleet     []telemetry.FleetRow   // retained, oldest first
	Latest    []telemetry.VehicleRow // of the latest final window
	Updated   time.Time              // when the latest window was applied
	Watermark time.Time              // the end of the latest window

	// Encodings, made once.
	LatestJSON, LatestCSV []byte
	FleetJSON, FleetCSV   []byte
	Snapshot              []byte // the /ws snapshot message
}

// View is the served state. Create it with New.
type View struct {
	retention time.Duration
	now       func() time.Time
	cur       atomic.Pointer[Current]

	// Buffers for the next window's message and snapshot, made by
	// Commit with every page touched; used by the writer only. They
	// cost memory the size of two window messages (7 MB at 10k
	// vehicles) to keep page faults off the way to subscribers.
	spareMsg, spareSnap []byte
}

// New returns a view that starts from the rows loaded from the files and
// continues seq from seq.
func New(seq uint64, fleet []telemetry.FleetRow, latest []telemetry.VehicleRow, retention time.Duration, now func() time.Time) *View {
	v := &View{retention: retention, now: now}
	c := &Current{Seq: seq, Fleet: fleet, Latest: latest, Updated: now()}
	if n := len(latest); n > 0 {
		c.Watermark = latest[0].WindowEnd
	}
	v.encode(c, nil)
	v.cur.Store(c)
	return v
}

// Current returns the state now.
func (v *View) Current() *Current { return v.cur.Load() }

// Apply makes w the latest final window and returns the new state and the
// /ws window message for it. It is Commit(Prepare(w)).
func (v *View) Apply(w telemetry.Window) (*Current, []byte) {
	n := v.Prepare(w)
	return v.Commit(n), n.Message
}

// Next is a final window applied in part by Prepare: what publishing it to
// /ws subscribers needs, made before the view's other encodings.
type Next struct {
	// Seq is the window's seq.
	Seq uint64
	// Message is the /ws window message.
	Message []byte
	// Snapshot is the /ws snapshot message that includes the window, for
	// subscribers that connect after it.
	Snapshot []byte

	cur  *Current // Seq, rows and Snapshot set
	rows []byte   // the encoded vehicle rows, within Message
}

// Prepare encodes w's /ws window message and the snapshot that includes
// it, and nothing else: the vehicle rows are encoded once and copied into
// both (and later into /data's body). The view does not change until
// Commit: Current still returns the previous window, so /data never serves
// a window before it can be published, and never goes back. The one writer
// calls Prepare and Commit in turn, one window at a time.
func (v *View) Prepare(w telemetry.Window) *Next {
	old := v.cur.Load()
	fleet := make([]telemetry.FleetRow, 0, len(old.Fleet)+1)
	cut := w.Fleet.WindowEnd.Add(-v.retention)
	for _, r := range old.Fleet {
		if !r.WindowEnd.Before(cut) && r.WindowEnd.Before(w.Fleet.WindowEnd) {
			fleet = append(fleet, r)
		}
	}
	fleet = append(fleet, w.Fleet)
	c := &Current{Seq: old.Seq + 1, Fleet: fleet, Latest: slices.Clip(w.Vehicles), Watermark: w.Fleet.WindowEnd}
	// The rows are encoded into the message, and copied from there into
	// the snapshot (and by Commit into /data's body). Only these two big
	// buffers are needed before publishing, and the previous Commit made
	// them ready: under loadgen at 10k vehicles, encoding into fresh
	// buffers took 20 to 80 ms of CPU, 1,400 to 3,400 page faults; into
	// touched ones 3 to 6 ms. Their sizes come from the row count and
	// the previous window's bytes per row (a buffer that grows while
	// encoding is fresh memory again, of twice the size).
	head := len(wire.AppendWindowEncoded(nil, c.Seq, &w.Fleet, nil)) - 1
	perRow := rowBytes
	if n := len(old.Latest); n > 0 {
		perRow = len(old.LatestJSON)/n + 1
	}
	need := head + 2 + perRow*len(c.Latest)
	msg := wire.AppendWindow(take(&v.spareMsg, need), c.Seq, &w.Fleet, c.Latest)
	rows := msg[head : len(msg)-1 : len(msg)-1]
	snapFleet := snapshotFleet(c.Fleet)
	snap := take(&v.spareSnap, len(rows)+64+fleetRowBytes*len(snapFleet))
	c.Snapshot = wire.AppendSnapshotEncoded(snap, c.Seq, snapFleet, rows)
	return &Next{Seq: c.Seq, Message: msg, Snapshot: c.Snapshot, cur: c, rows: rows}
}

// Commit makes the window that n was prepared from the latest: it makes the
// remaining encodings (/data CSV, /data/fleet) and returns the new state,
// which Current returns from then on.
func (v *View) Commit(n *Next) *Current {
	c := n.cur
	prev := v.cur.Load()
	c.Updated = v.now()
	c.LatestJSON = append(append(make([]byte, 0, len(n.rows)+1), n.rows...), '\n')
	c.LatestCSV = AppendLatestCSV(sized(prev.LatestCSV, 0), c.Latest, c.Updated)
	v.encodeFleet(c, prev)
	v.cur.Store(c)
	v.spareMsg = touched(make([]byte, 0, sizeFor(len(n.Message))))
	v.spareSnap = touched(make([]byte, 0, sizeFor(len(c.Snapshot))))
	return c
}

// take returns *spare, emptied, if it has room for need bytes, or else a
// new buffer with room for need and some more; *spare is used once.
func take(spare *[]byte, need int) []byte {
	b := *spare
	*spare = nil
	if cap(b) < need {
		return make([]byte, 0, sizeFor(need))
	}
	return b[:0]
}

// At least the size of an encoded vehicle row (JSON, with a 10-character
// id: about 300 bytes) and of a fleet row (about 250 bytes).
const rowBytes, fleetRowBytes = 384, 320

// touched returns b with a write to every page of its capacity, so that
// the kernel has backed them with memory before b is needed.
func touched(b []byte) []byte {
	b = b[:cap(b)]
	for i := 0; i < len(b); i += pageSize {
		b[i] = 0
	}
	return b[:0]
}

var pageSize = os.Getpagesize()

// encode fills c's encodings. Each buffer starts at about the size of
// prev's: growing a 10k-vehicle encoding from nothing copied and cleared
// about 60 MB per window, a third of the time to encode it.
func (v *View) encode(c, prev *Current) {
	if prev == nil {
		prev = &Current{}
	}
	c.LatestJSON = append(telemetry.AppendVehiclesJSON(sized(prev.LatestJSON, 0), c.Latest), '\n')
	c.LatestCSV = AppendLatestCSV(sized(prev.LatestCSV, 0), c.Latest, c.Updated)
	v.encodeFleet(c, prev)
	c.Snapshot = wire.AppendSnapshot(sized(prev.Snapshot, 0), c.Seq, snapshotFleet(c.Fleet), c.Latest)
}

func (v *View) encodeFleet(c, prev *Current) {
	c.FleetJSON = append(telemetry.AppendFleetJSON(sized(prev.FleetJSON, 512), c.Fleet), '\n')
	c.FleetCSV = AppendFleetCSV(sized(prev.FleetCSV, 256), c.Fleet)
}

// snapshotFleet returns the fleet rows a snapshot carries: the latest
// SnapshotFleetRows.
func snapshotFleet(fleet []telemetry.FleetRow) []telemetry.FleetRow {
	return fleet[max(0, len(fleet)-SnapshotFleetRows):]
}

// sized returns an empty buffer with room for like and extra bytes more,
// and a little slack.
func sized(like []byte, extra int) []byte {
	n := sizeFor(len(like)) + extra
	if n == 0 {
		return nil
	}
	return make([]byte, 0, n)
}

// sizeFor returns n and a little slack.
func sizeFor(n int) int { return n + n/16 }

// AppendLatestCSV appends a header and rows in the layout of
// latest_metrics.csv: the per-vehicle columns and last_updated.
func AppendLatestCSV(b []byte, rows []telemetry.VehicleRow, updated time.Time) []byte {
	b = telemetry.AppendHeader(b, telemetry.LatestColumns)
	for i := range rows {
		b = append(rows[i].AppendCSV(b), ',')
		b = append(telemetry.AppendTime(b, updated), '\n')
	}
	return b
}

// AppendVehiclesCSV appends a header and rows in the per-vehicle layout.
func AppendVehiclesCSV(b []byte, rows []telemetry.VehicleRow) []byte {
	b = telemetry.AppendHeader(b, telemetry.VehicleColumns)
	for i := range rows {
		b = append(rows[i].AppendCSV(b), '\n')
	}
	return b
}

// AppendFleetCSV appends a header and rows in the fleet layout.
func AppendFleetCSV(b []byte, rows []telemetry.FleetRow) []byte {
	b = telemetry.AppendHeader(b, telemetry.FleetColumns)
	for i := range rows {
		b = append(rows[i].AppendCSV(b), '\n')
	}
	return b
}
