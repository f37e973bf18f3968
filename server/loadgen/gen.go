package loadgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
)

// The synthetic fleet drives in a box around Hamburg's centre (the
// simulator drives in Berlin, so the two are easy to tell apart on a map).
const (
	centreLat = 53.5511
	centreLon = 9.9937
	boxLat    = 0.08 // degrees either side of the centre
	boxLon    = 0.13
	kmPerDeg  = 111.195
)

// compass holds the 16 headings a car can take: the text of heading_deg
// and the unit vector, so that moving needs no trigonometry.
var compass = func() (c [16]struct {
	text        []byte
	north, east float64
}) {
	for i := range c {
		deg := float64(i) * 22.5
		c[i].text = strconv.AppendFloat(nil, deg, 'f', -1, 64)
		c[i].north = math.Cos(deg * math.Pi / 180)
		c[i].east = math.Sin(deg * math.Pi / 180)
	}
	return c
}()

// lonKM is the km per degree of longitude at the centre.
var lonKM = kmPerDeg * math.Cos(centreLat*math.Pi/180)

// car is one synthetic vehicle.
type car struct {
	prefix   []byte // {"vehicle_id":"LOAD-000001","ts":
	lastTS   int64  // Unix ms of its latest event; ts strictly rise
	lat, lon float64
	speedKPH float64
	fuelPct  float64
	heading  int // index into compass
}

// generator makes plausible events for its share of the fleet and writes
// them straight into NDJSON: only the numbers are formatted per event, by
// hand, so that generating never bounds the load. It is not safe for
// concurrent use; each connection has its own.
type generator struct {
	cars  []car
	next  int    // the car of the next event: round robin
	rng   uint64 // xorshift64 state, never 0
	maxTS int64  // the greatest ts generated so far, Unix ms
}

// newGenerator returns a generator for the vehicles numbered first,
// first+step, ... up to and including last (numbers from 1), placed by seed.
func newGenerator(first, step, last int, seed uint64) *generator {
	g := &generator{rng: seed*0x9e3779b97f4a7c15 + uint64(first) | 1} // #nosec G115 G404 -- first is a non-negative car number; load, not secrets
	for n := first; n <= last; n += step {
		r := rand.New(rand.NewPCG(seed, uint64(n))) // #nosec G115 G404 -- n is a non-negative car number; seeded, reproducible load
		g.cars = append(g.cars, car{
			prefix:   fmt.Appendf(nil, `{"vehicle_id":"LOAD-%06d","ts":`, n),
			lat:      centreLat + (r.Float64()*2-1)*boxLat,
			lon:      centreLon + (r.Float64()*2-1)*boxLon,
			speedKPH: 20 + 50*r.Float64(),
			fuelPct:  20 + 80*r.Float64(),
			heading:  r.IntN(len(compass)),
		})
	}
	return g
}

func (g *generator) rand() uint64 {
	g.rng ^= g.rng << 13
	g.rng ^= g.rng >> 7
	g.rng ^= g.rng << 17
	return g.rng
}

// appendBatch appends n events, one line each, to b, round robin over the
// cars, stamped nowMS or, where a car has sent that already, just after.
func (g *generator) appendBatch(b []byte, n int, nowMS int64) []byte {
	for range n {
		c := &g.cars[g.next]
		if g.next++; g.next == len(g.cars) {
			g.next = 0
		}
		ts := max(nowMS, c.lastTS+1)
		g.maxTS = max(g.maxTS, ts)
		g.move(c, ts)
		b = appendEvent(b, c, ts)
	}
	return b
}

// move drives c on to ts: along its heading at its speed, with a little
// random change of both, turning back at the edge of the box.
func (g *generator) move(c *car, ts int64) {
	if c.lastTS > 0 {
		km := c.speedKPH * float64(min(ts-c.lastTS, 60_000)) / 3.6e6
		h := &compass[c.heading]
		c.lat += km * h.north / kmPerDeg
		c.lon += km * h.east / lonKM
		c.fuelPct -= km * 0.15
		if c.fuelPct < 5 {
			c.fuelPct = 100 // refuelled
		}
	}
	c.lastTS = ts
	r := g.rand()
	c.speedKPH += (45-c.speedKPH)*0.05 + (float64(r&0xff)/255-0.5)*6
	c.speedKPH = min(max(c.speedKPH, 0), 110)
	switch r >> 58 { // 1 in 64 each
	case 0:
		c.heading = (c.heading + 4) % 16 // right turn
	case 1:
		c.heading = (c.heading + 12) % 16 // left turn
	case 2:
		c.speedKPH = 0 // a red light
	}
	if math.Abs(c.lat-centreLat) > boxLat || math.Abs(c.lon-centreLon) > boxLon {
		c.lat = min(max(c.lat, centreLat-boxLat), centreLat+boxLat)
		c.lon = min(max(c.lon, centreLon-boxLon), centreLon+boxLon)
		c.heading = (c.heading + 8) % 16 // turn back
	}
}

func appendEvent(b []byte, c *car, ts int64) []byte {
	b = append(b, c.prefix...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, `,"lat":`...)
	b = appendFixed(b, c.lat, 6)
	b = append(b, `,"lon":`...)
	b = appendFixed(b, c.lon, 6)
	b = append(b, `,"speed_kmh":`...)
	b = appendFixed(b, c.speedKPH, 1)
	b = append(b, `,"heading_deg":`...)
	b = append(b, compass[c.heading].text...)
	b = append(b, `,"fuel_pct":`...)
	b = appendFixed(b, c.fuelPct, 1)
	return append(b, '}', '\n')
}

var pow10 = [...]float64{1, 10, 100, 1e3, 1e4, 1e5, 1e6}

// appendFixed appends v with places decimals (at most 6), as
// strconv.AppendFloat(b, v, 'f', places, 64) would for the values here,
// several times faster.
func appendFixed(b []byte, v float64, places int) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	n := uint64(v*pow10[places] + 0.5)
	scale := uint64(pow10[places])
	b = strconv.AppendUint(b, n/scale, 10)
	if places == 0 {
		return b
	}
	var frac [6]byte
	f := n % scale
	for i := places - 1; i >= 0; i-- {
		frac[i] = byte('0' + f%10)
		f /= 10
	}
	b = append(b, '.')
	return append(b, frac[:places]...)
}
