// Package wire defines the messages of the /ws push protocol, shared by the
// server's hub and the browser client.
//
// Every message is one JSON text message with a "type": a Snapshot on
// connect, then a Window per final window. Seq counts final windows with rows
// and rises by one per Window message.
package wire

import (
	"strconv"
	"time"

	"fleetpulse/shared/telemetry"
)

// Message types.
const (
	TypeSnapshot = "snapshot"
	TypeWindow   = "window"
	TypeLive     = "live"
)

// Envelope is the part every message has; decode it first to learn the type.
type Envelope struct {
	Type string `json:"type"`
	Seq  uint64 `json:"seq"`
}

// Snapshot is sent on connect: the fleet rows of the retained windows, oldest
// first, and the per-vehicle rows of the latest final window.
type Snapshot struct {
	Type     string                 `json:"type"`
	Seq      uint64                 `json:"seq"`
	Fleet    []telemetry.FleetRow   `json:"fleet"`
	Vehicles []telemetry.VehicleRow `json:"vehicles"`
}

// Window is sent once per final window (Final true), or as a provisional
// update of the open window (Type live, Final false).
type Window struct {
	Type        string                 `json:"type"`
	Seq         uint64                 `json:"seq"`
	Final       bool                   `json:"final"`
	WindowStart time.Time              `json:"window_start"`
	WindowEnd   time.Time              `json:"window_end"`
	Fleet       telemetry.FleetRow     `json:"fleet"`
	Vehicles    []telemetry.VehicleRow `json:"vehicles"`
}

// AppendSnapshot appends the JSON encoding of a snapshot message.
func AppendSnapshot(b []byte, seq uint64, fleet []telemetry.FleetRow, vehicles []telemetry.VehicleRow) []byte {
	b = appendSnapshotHead(b, seq, fleet)
	b = telemetry.AppendVehiclesJSON(b, vehicles)
	return append(b, '}')
}

// AppendSnapshotEncoded is AppendSnapshot with the vehicle rows already
// encoded, as telemetry.AppendVehiclesJSON gives them: a window's rows are
// encoded once and copied into each message that carries them.
func AppendSnapshotEncoded(b []byte, seq uint64, fleet []telemetry.FleetRow, vehiclesJSON []byte) []byte {
	b = appendSnapshotHead(b, seq, fleet)
	b = append(b, vehiclesJSON...)
	return append(b, '}')
}

func appendSnapshotHead(b []byte, seq uint64, fleet []telemetry.FleetRow) []byte {
	b = append(b, `{"type":"snapshot","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"fleet":`...)
	b = telemetry.AppendFleetJSON(b, fleet)
	return append(b, `,"vehicles":`...)
}

// AppendWindow appends the JSON encoding of a final window message.
func AppendWindow(b []byte, seq uint64, fleet *telemetry.FleetRow, vehicles []telemetry.VehicleRow) []byte {
	return appendWindow(b, TypeWindow, true, seq, fleet, vehicles)
}

// AppendWindowEncoded is AppendWindow with the vehicle rows already
// encoded, as telemetry.AppendVehiclesJSON gives them.
func AppendWindowEncoded(b []byte, seq uint64, fleet *telemetry.FleetRow, vehiclesJSON []byte) []byte {
	b = appendWindowHead(b, TypeWindow, true, seq, fleet)
	b = append(b, vehiclesJSON...)
	return append(b, '}')
}

func appendWindow(b []byte, typ string, final bool, seq uint64, fleet *telemetry.FleetRow, vehicles []telemetry.VehicleRow) []byte {
	b = appendWindowHead(b, typ, final, seq, fleet)
	b = telemetry.AppendVehiclesJSON(b, vehicles)
	return append(b, '}')
}

func appendWindowHead(b []byte, typ string, final bool, seq uint64, fleet *telemetry.FleetRow) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"final":`...)
	b = strconv.AppendBool(b, final)
	b = append(b, `,"window_start":"`...)
	b = telemetry.AppendTime(b, fleet.WindowStart)
	b = append(b, `","window_end":"`...)
	b = telemetry.AppendTime(b, fleet.WindowEnd)
	b = append(b, `","fleet":`...)
	b = fleet.AppendJSON(b)
	return append(b, `,"vehicles":`...)
}

// AppendLive appends the JSON encoding of a provisional update of the open
// window: type "live", final false, and seq the last final window's seq.
// Live messages are never written to files and may be skipped.
func AppendLive(b []byte, seq uint64, fleet *telemetry.FleetRow, vehicles []telemetry.VehicleRow) []byte {
	return appendWindow(b, TypeLive, false, seq, fleet, vehicles)
}
