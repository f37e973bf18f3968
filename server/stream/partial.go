package stream

import "fleetpulse/shared/telemetry"

// Partial is a mergeable partial aggregate of one vehicle's events over a
// span of event time: what a pane holds, and what several instances of a
// scaled-out deployment can combine. Merging two partials of disjoint,
// consecutive spans gives the partial of their union, as long as they are
// merged in time order.
type Partial struct {
	Events   int64
	SumSpeed float64 // km/h, summed in ts order
	MinSpeed float64
	MaxSpeed float64
	// First and Last are the events with the least and the greatest ts.
	FirstTS, LastTS    int64 // Unix ms
	FirstLat, FirstLon float64
	LastLat, LastLon   float64
	// DistKM sums the distances between consecutive events inside the span
	// that lie at most the trip gap apart.
	DistKM float64

	lastCos float64 // cos(LastLat), kept so each event costs one cosine
}

// add folds e into p; e must be later than every event already in p.
func (p *Partial) add(e *point, tripGapMS int64) {
	cos := telemetry.CosLat(e.lat)
	if p.Events == 0 {
		*p = Partial{
			Events: 1, SumSpeed: e.speed, MinSpeed: e.speed, MaxSpeed: e.speed,
			FirstTS: e.ts, FirstLat: e.lat, FirstLon: e.lon,
			LastTS: e.ts, LastLat: e.lat, LastLon: e.lon, lastCos: cos,
		}
		return
	}
	p.Events++
	p.SumSpeed += e.speed
	p.MinSpeed = min(p.MinSpeed, e.speed)
	p.MaxSpeed = max(p.MaxSpeed, e.speed)
	if e.ts-p.LastTS <= tripGapMS {
		p.DistKM += telemetry.HaversineCosKM(p.LastLat, p.LastLon, p.lastCos, e.lat, e.lon, cos)
	}
	p.LastTS, p.LastLat, p.LastLon, p.lastCos = e.ts, e.lat, e.lon, cos
}

// Merge folds q, whose events are all later than p's, into p. The link
// between p's last event and q's first adds distance when they lie at most
// tripGapMS apart.
func (p *Partial) Merge(q *Partial, tripGapMS int64) {
	link := 0.0
	if p.Events > 0 && q.Events > 0 && q.FirstTS-p.LastTS <= tripGapMS {
		link = telemetry.HaversineKM(p.LastLat, p.LastLon, q.FirstLat, q.FirstLon)
	}
	p.mergeLinked(q, link)
}

// mergeLinked is Merge with the link distance given (0 beyond the gap).
func (p *Partial) mergeLinked(q *Partial, linkKM float64) {
	if q.Events == 0 {
		return
	}
	if p.Events == 0 {
		*p = *q
		return
	}
	p.Events += q.Events
	p.SumSpeed += q.SumSpeed
	p.MinSpeed = min(p.MinSpeed, q.MinSpeed)
	p.MaxSpeed = max(p.MaxSpeed, q.MaxSpeed)
	p.DistKM += q.DistKM
	p.DistKM += linkKM
	p.LastTS, p.LastLat, p.LastLon, p.lastCos = q.LastTS, q.LastLat, q.LastLon, q.lastCos
}
