// Package sim is the simulated fleet: vehicles that drive a road grid around
// a city centre, accelerate and brake, stop at junctions, obey speed limits
// and burn fuel. With Faults set, it also misbehaves on purpose: late,
// duplicate, out-of-order and malformed readings, and vehicles offline.
//
// A Fleet is deterministic: the same seed and the same sequence of Step
// calls give the same events, with or without Faults. It is not safe for
// concurrent use; Run owns it while it runs.
package sim

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"fleetpulse/shared/telemetry"
)

// The road grid: a square of blocks around Berlin's centre. Every fourth
// street is an arterial road with a higher limit.
const (
	centerLat    = 52.5200
	centerLon    = 13.4050
	gridN        = 24    // junctions per side
	blockM       = 250.0 // metres between junctions
	metresPerDeg = 111_195.0
)

type kind struct {
	prefix    string
	topKPH    float64 // the vehicle's own top speed
	accelMS2  float64
	brakeMS2  float64
	fuelPerKM float64 // percent of the tank per km
}

var kinds = []kind{
	{"TRUCK", 60, 0.8, 2.0, 0.35},
	{"VAN", 70, 1.5, 3.0, 0.2},
	{"CAR", 80, 2.5, 4.0, 0.12},
}

type vehicle struct {
	id        string
	k         *kind
	rng       *rand.Rand
	x, y      int     // junction the vehicle left
	dx, dy    int     // direction of travel, one of them ±1
	progressM float64 // metres along the current block
	speedMS   float64
	waitS     float64 // time left standing at a junction
	fuelPct   float64
	// driver scales the speed limit: some drive below it, a few above.
	driver float64
	// offlineSteps is how many more Steps the vehicle stays offline.
	offlineSteps int
}

// Fleet is a set of simulated vehicles.
type Fleet struct {
	vehicles []vehicle
	// faults, drawn from frng, which only draws while there are faults:
	// a fleet without them is exactly the fleet it always was.
	faults    Faults
	frng      *rand.Rand
	held      []held
	malformed int64
	// lastTS is the stamp of the last step: each step is stamped later,
	// so that two steps read within one millisecond (a stalled ticker
	// catching up) never look like duplicates.
	lastTS int64
	// malformedTotal counts what TakeMalformed handed out, for metrics.
	malformedTotal atomic.Int64
}

// New returns n vehicles placed on the grid by seed.
func New(n int, seed uint64) *Fleet {
	// The fault stream is one no vehicle uses (they use 0 to n-1).
	f := &Fleet{vehicles: make([]vehicle, n), frng: rand.New(rand.NewPCG(seed, math.MaxUint64))} // #nosec G404 -- a seeded, reproducible simulation
	for i := range f.vehicles {
		r := rand.New(rand.NewPCG(seed, uint64(i))) // #nosec G404 -- a seeded, reproducible simulation
		k := &kinds[i%len(kinds)]
		v := vehicle{
			id:      fmt.Sprintf("%s-%04d", k.prefix, i+1),
			k:       k,
			rng:     r,
			x:       r.IntN(gridN),
			y:       r.IntN(gridN),
			fuelPct: 40 + 60*r.Float64(),
			driver:  0.85 + 0.2*r.Float64(),
		}
		v.turn()
		v.progressM = r.Float64() * blockM
		v.speedMS = limitKPH(v.x, v.y, v.dx) / 3.6 * r.Float64()
		f.vehicles[i] = v
	}
	return f
}

// Len returns the number of vehicles.
func (f *Fleet) Len() int { return len(f.vehicles) }

// limitKPH is the speed limit of the street through junction (x, y) running
// along dx (dx != 0: east-west).
func limitKPH(x, y, dx int) float64 {
	line := x
	if dx != 0 {
		line = y
	}
	if line%4 == 0 {
		return 60
	}
	return 40
}

// turn picks the next direction at a junction: no U-turns, and never off the
// grid.
func (v *vehicle) turn() {
	dirs := [4][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}}
	for range 16 {
		d := dirs[v.rng.IntN(4)]
		if d[0] == -v.dx && d[1] == -v.dy && (v.dx != 0 || v.dy != 0) {
			continue
		}
		nx, ny := v.x+d[0], v.y+d[1]
		if nx < 0 || ny < 0 || nx >= gridN || ny >= gridN {
			continue
		}
		v.dx, v.dy = d[0], d[1]
		return
	}
	v.dx, v.dy = -v.dx, -v.dy // a dead end: turn round
	if v.dx == 0 && v.dy == 0 {
		v.dx = 1
	}
}

// step advances v by dt seconds.
func (v *vehicle) step(dt float64) {
	if v.waitS > 0 {
		v.waitS -= dt
		v.speedMS = 0
		return
	}
	limit := min(limitKPH(v.x, v.y, v.dx)*v.driver, v.k.topKPH) / 3.6
	// Brake so as to reach a junction at walking pace.
	left := blockM - v.progressM
	approach := 4.0 // m/s at the junction
	stopDist := (v.speedMS*v.speedMS - approach*approach) / (2 * v.k.brakeMS2)
	switch {
	case left <= stopDist && v.speedMS > approach:
		v.speedMS = max(approach, v.speedMS-v.k.brakeMS2*dt)
	case v.speedMS < limit*0.97:
		v.speedMS = min(limit, v.speedMS+v.k.accelMS2*dt)
	case v.speedMS > limit*1.03:
		v.speedMS = max(limit, v.speedMS-v.k.brakeMS2*dt)
	default:
		// Cruising: drift around the chosen speed; nobody holds it exactly.
		v.speedMS += (limit-v.speedMS)*0.2 + (v.rng.Float64()-0.5)*0.6*min(dt, 1)
	}
	moved := v.speedMS * dt
	v.progressM += moved
	v.fuelPct = max(0, v.fuelPct-moved/1000*v.k.fuelPerKM)
	for v.progressM >= blockM {
		v.progressM -= blockM
		v.x += v.dx
		v.y += v.dy
		v.turn()
		// Traffic lights and deliveries: some junctions mean a stop.
		switch p := v.rng.Float64(); {
		case v.fuelPct < 10:
			v.waitS, v.fuelPct = 120, 100 // refuel
		case p < 0.02:
			v.waitS = 30 + 90*v.rng.Float64() // a delivery
		case p < 0.3:
			v.waitS = 5 + 25*v.rng.Float64() // a red light
		}
		if v.waitS > 0 {
			v.progressM, v.speedMS = 0, 0
			break
		}
	}
}

func (v *vehicle) position() (lat, lon float64) {
	half := float64(gridN-1) / 2
	eastM := (float64(v.x)-half)*blockM + float64(v.dx)*v.progressM
	northM := (float64(v.y)-half)*blockM + float64(v.dy)*v.progressM
	lat = centerLat + northM/metresPerDeg
	lon = centerLon + eastM/(metresPerDeg*math.Cos(centerLat*math.Pi/180))
	return lat, lon
}

func (v *vehicle) headingDeg() float64 {
	switch {
	case v.dy > 0:
		return 0
	case v.dx > 0:
		return 90
	case v.dy < 0:
		return 180
	}
	return 270
}

// Step advances every vehicle by dt and appends one event per vehicle,
// stamped at now, to buf. With Faults set, some of those are dropped, held
// back or doubled, and the held-back events that are due by now follow
// them; TakeMalformed counts the malformed ones. Each step is stamped at
// least a millisecond after the one before.
func (f *Fleet) Step(now time.Time, dt time.Duration, buf []telemetry.Event) []telemetry.Event {
	ts := max(now.UnixMilli(), f.lastTS+1)
	f.lastTS = ts
	faulty := f.faults.any()
	var dups []telemetry.Event
	for i := range f.vehicles {
		v := &f.vehicles[i]
		v.step(dt.Seconds())
		lat, lon := v.position()
		ev := telemetry.Event{
			VehicleID:  v.id,
			TS:         ts,
			Lat:        lat,
			Lon:        lon,
			SpeedKPH:   math.Round(v.speedMS*3.6*10) / 10,
			HeadingDeg: v.headingDeg(),
			FuelPct:    math.Round(v.fuelPct*10) / 10,
		}
		if faulty {
			buf, dups = f.faulty(v, ev, ts, dt, buf, dups)
			continue
		}
		buf = append(buf, ev)
	}
	if len(f.held) > 0 {
		buf = f.release(ts, buf)
	}
	return append(buf, dups...)
}

// Run steps the fleet rate times a second by the clock now and sends each
// step's events, with the count of malformed ones as Rejected, as one batch
// to out, until ctx is done. It does not close out, which other producers
// share.
func (f *Fleet) Run(ctx context.Context, rate float64, now func() time.Time, out chan<- telemetry.Batch) error {
	if len(f.vehicles) == 0 || rate <= 0 {
		return nil
	}
	period := time.Duration(float64(time.Second) / rate)
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		batch := f.Step(now(), period, make([]telemetry.Event, 0, len(f.vehicles)))
		select {
		case out <- telemetry.Batch{Events: batch, Rejected: f.TakeMalformed()}:
		case <-ctx.Done():
			return nil
		}
	}
}
