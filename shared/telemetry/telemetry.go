// Package telemetry holds the event and row types that the server and the
// browser client share, with their JSON and CSV encodings.
//
// It does no I/O and builds for js/wasm. Column names are declared once here;
// the order of the CSV columns is part of the product contract and must never
// change silently, because Power BI fixes a file's columns when a report is
// built.
package telemetry

import (
	"math"
	"time"
)

// Event is one validated telemetry reading of one vehicle.
type Event struct {
	// VehicleID matches ^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$.
	VehicleID string
	// TS is the event time in Unix milliseconds.
	TS int64
	// Lat and Lon are WGS 84 degrees.
	Lat, Lon float64
	// SpeedKPH is in km/h, in [0, 400].
	SpeedKPH float64
	// HeadingDeg is in [0, 360); NaN when the producer sent none.
	HeadingDeg float64
	// FuelPct is in [0, 100]; NaN when the producer sent none.
	FuelPct float64
}

// Time returns the event time.
func (e *Event) Time() time.Time { return time.UnixMilli(e.TS).UTC() }

// Batch is what producers (the simulator, ingest) hand to the window stage:
// validated events, and how many lines were rejected before them, which the
// next fleet row counts.
type Batch struct {
	Events   []Event
	Rejected int64
	// Recycle, when not nil, takes Events back once the consumer is done
	// with them, so that the producer can reuse the memory; the consumer
	// must keep no reference into Events after calling it.
	Recycle func([]Event)
}

// VehicleRow is the aggregate of one vehicle over one window.
type VehicleRow struct {
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	VehicleID   string    `json:"vehicle_id"`
	Events      int64     `json:"events"`
	AvgSpeedKPH float64   `json:"avg_speed_kmh"`
	MinSpeedKPH float64   `json:"min_speed_kmh"`
	MaxSpeedKPH float64   `json:"max_speed_kmh"`
	DistanceKM  float64   `json:"distance_km"`
	LastLat     float64   `json:"last_lat"`
	LastLon     float64   `json:"last_lon"`
	LastTS      time.Time `json:"last_ts"`
}

// FleetRow is the fleet-wide aggregate of one window. The three counters
// count what happened since the previous fleet row.
type FleetRow struct {
	WindowStart     time.Time `json:"window_start"`
	WindowEnd       time.Time `json:"window_end"`
	VehiclesActive  int64     `json:"vehicles_active"`
	Events          int64     `json:"events"`
	AvgSpeedKPH     float64   `json:"avg_speed_kmh"`
	MaxSpeedKPH     float64   `json:"max_speed_kmh"`
	DistanceKM      float64   `json:"distance_km"`
	LateEvents      int64     `json:"late_events"`
	DuplicateEvents int64     `json:"duplicate_events"`
	RejectedEvents  int64     `json:"rejected_events"`
}

// EarthRadiusKM is the mean Earth radius the distances use.
const EarthRadiusKM = 6371.0088

// HaversineKM returns the great-circle distance between two points in km.
func HaversineKM(lat1, lon1, lat2, lon2 float64) float64 {
	return HaversineCosKM(lat1, lon1, CosLat(lat1), lat2, lon2, CosLat(lat2))
}

// CosLat returns the cosine of a latitude in degrees, for HaversineCosKM.
func CosLat(lat float64) float64 { return math.Cos(lat * (math.Pi / 180)) }

// HaversineCosKM is HaversineKM with the cosines of both latitudes given,
// for callers that keep them: a point's cosine is then computed once, not
// once per distance. It returns exactly what HaversineKM returns.
func HaversineCosKM(lat1, lon1, cosLat1, lat2, lon2, cosLat2 float64) float64 {
	const rad = math.Pi / 180
	s1 := math.Sin((lat2 - lat1) * rad / 2)
	s2 := math.Sin((lon2 - lon1) * rad / 2)
	a := s1*s1 + cosLat1*cosLat2*s2*s2
	return 2 * EarthRadiusKM * math.Asin(math.Sqrt(min(a, 1)))
}

// Window is one final window's output: the fleet row, whose WindowStart and
// WindowEnd bound the window, and one row per vehicle seen in it, sorted by
// vehicle id.
type Window struct {
	Fleet    FleetRow
	Vehicles []VehicleRow
}

// Start returns the window's inclusive start.
func (w *Window) Start() time.Time { return w.Fleet.WindowStart }

// End returns the window's exclusive end.
func (w *Window) End() time.Time { return w.Fleet.WindowEnd }
