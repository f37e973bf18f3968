package cluster

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"fleetpulse/server/stream"
	"fleetpulse/shared/telemetry"
)

// genEvents returns n events of vehicles driving about, stamped from t0 on
// at about rate per second per vehicle, arriving up to jitter out of order.
func genEvents(seed uint64, vehicles, n int, jitter time.Duration) []telemetry.Event {
	r := rand.New(rand.NewPCG(seed, 7))
	t0 := time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC).UnixMilli()
	type car struct{ lat, lon float64 }
	cars := make([]car, vehicles)
	for i := range cars {
		cars[i] = car{52 + r.Float64(), 13 + r.Float64()}
	}
	out := make([]telemetry.Event, 0, n)
	seen := map[string]bool{}
	for i := 0; len(out) < n; i++ {
		v := r.IntN(vehicles)
		c := &cars[v]
		c.lat += (r.Float64() - 0.5) / 1000
		c.lon += (r.Float64() - 0.5) / 1000
		ts := t0 + int64(i)*1000/int64(vehicles) - r.Int64N(jitter.Milliseconds()+1)
		id := fmt.Sprintf("TRUCK-%04d", v)
		if k := fmt.Sprint(id, ts); seen[k] {
			continue
		} else {
			seen[k] = true
		}
		out = append(out, telemetry.Event{
			VehicleID: id, TS: ts, Lat: c.lat, Lon: c.lon,
			SpeedKPH: r.Float64() * 120, HeadingDeg: math.NaN(), FuelPct: math.NaN(),
		})
	}
	return out
}

// singleProcess is the reference: one stream.Processor over every event in
// arrival order, flushed at the end by the watermark.
func singleProcess(t *testing.T, c stream.Config, events []telemetry.Event, end int64) []telemetry.Window {
	t.Helper()
	p, err := stream.New(c)
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		if o := p.Add(&events[i]); o != stream.Accepted {
			t.Fatalf("reference: event %d %v", i, o)
		}
	}
	return append(p.Emit(), p.AdvanceTo(end)...)
}

func partitionOf(id string, n int) int32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int32(h.Sum32() % uint32(n))
}

type rec struct{ key, value []byte }

// memLog runs the cluster core behind an in-memory log: events are
// partitioned by vehicle id, each partition is processed by a Part, and
// its partials and marks go through their record encoding to a Merger.
// crash, when set, is consulted after each step; when it says so for a
// partition, that partition's Part is dropped after writing its partials
// but before its checkpoint, and a new one resumes from the last
// checkpoint, replaying the partition's log.
type memLog struct {
	t       *testing.T
	cfg     stream.Config
	events  [][]rec // per partition
	parts   []*Part
	commits []Checkpoint
	windows []rec
}

func newMemLog(t *testing.T, c stream.Config, n int) *memLog {
	m := &memLog{t: t, cfg: c, events: make([][]rec, n), parts: make([]*Part, n), commits: make([]Checkpoint, n)}
	for i := range m.parts {
		m.parts[i] = m.resume(int32(i))
	}
	return m
}

// resume builds partition id's Part from its committed checkpoint, through
// the metadata's text, and replays its log from there.
func (m *memLog) resume(id int32) *Part {
	c := m.commits[id]
	from, err := ParseCheckpoint(c.Offset, c.Metadata())
	if err != nil {
		m.t.Fatal(err)
	}
	p, err := NewPart(id, m.cfg, from)
	if err != nil {
		m.t.Fatal(err)
	}
	for off := from.Offset; off < int64(len(m.events[id])); off++ {
		m.feed(p, off)
	}
	return p
}

func (m *memLog) feed(p *Part, off int64) {
	r := m.events[p.ID][off]
	var e telemetry.Event
	if err := DecodeEvent(r.key, r.value, &e); err != nil {
		m.t.Fatal(err)
	}
	if o := p.Add(off, &e); o != stream.Accepted && o != stream.Duplicate {
		m.t.Fatalf("partition %d offset %d: %v", p.ID, off, o)
	}
}

func (m *memLog) produce(e *telemetry.Event) {
	id := partitionOf(e.VehicleID, len(m.parts))
	m.events[id] = append(m.events[id], rec{[]byte(e.VehicleID), AppendEvent(nil, e)})
	m.feed(m.parts[id], int64(len(m.events[id])-1))
}

// step writes each partition's partials and mark, then commits, unless
// crash says to drop the partition in between.
func (m *memLog) step(crash func(int32) bool) {
	for i, p := range m.parts {
		for _, w := range p.Take() {
			m.windows = append(m.windows, rec{PartialKey(p.ID, w.End), AppendPartial(nil, &w)})
		}
		mk := p.Mark()
		m.windows = append(m.windows, rec{MarkKey(p.ID), AppendMark(nil, &mk)})
		if crash != nil && crash(p.ID) {
			m.parts[i] = m.resume(p.ID)
			continue
		}
		m.commits[i] = p.Checkpoint()
	}
}

func (m *memLog) advance(wm int64) {
	for _, p := range m.parts {
		p.AdvanceTo(wm)
	}
	m.step(nil)
}

// merged reads the windows log whole and returns the final windows and how
// often each partial key was written with different bytes.
func (m *memLog) merged() ([]telemetry.Window, map[string]int) {
	mg := NewMerger(len(m.parts), math.MinInt64, 1000)
	var out []telemetry.Window
	seen := map[string][]byte{}
	conflicts := map[string]int{}
	for _, r := range m.windows {
		if prev, ok := seen[string(r.key)]; ok && r.key[0] == 'w' && string(prev) != string(r.value) {
			conflicts[string(r.key)]++
		}
		seen[string(r.key)] = r.value
		rec, err := DecodeRecord(r.key, r.value)
		if err != nil {
			m.t.Fatalf("record %q: %v", r.key, err)
		}
		if err := mg.Apply(rec); err != nil {
			m.t.Fatal(err)
		}
		out = append(out, mg.Ready()...)
	}
	return out, conflicts
}

func TestMemLogEqualsSingleProcess(t *testing.T) {
	t.Parallel()
	configs := map[string]stream.Config{
		"tumbling": {Window: 10 * time.Second, Lateness: 5 * time.Second, TripGap: 30 * time.Second},
		"sliding":  {Window: 10 * time.Second, Slide: 5 * time.Second, Lateness: 3 * time.Second, TripGap: 20 * time.Second},
	}
	for name, c := range configs {
		for _, parts := range []int{1, 3, 8} {
			for _, crashes := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%d_partitions/crashes=%v", name, parts, crashes), func(t *testing.T) {
					t.Parallel()
					events := genEvents(uint64(parts), 6, 4000, c.Lateness/2)
					end := events[len(events)-1].TS + time.Hour.Milliseconds()
					want := singleProcess(t, c, events, end)
					m := newMemLog(t, c, parts)
					r := rand.New(rand.NewPCG(9, uint64(parts)))
					var crash func(int32) bool
					crashed := 0
					if crashes {
						crash = func(int32) bool {
							if r.IntN(10) == 0 {
								crashed++
								return true
							}
							return false
						}
					}
					for i := range events {
						m.produce(&events[i])
						if i%37 == 0 {
							m.step(crash)
						}
					}
					m.advance(end)
					got, conflicts := m.merged()
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("merged windows differ from one process (-want +got):\n%s", diff)
					}
					if len(conflicts) > 0 {
						t.Errorf("a replay wrote different bytes for %v", conflicts)
					}
					if crashes && crashed == 0 {
						t.Fatal("no crash happened")
					}
					if len(want) < 50 {
						t.Fatalf("only %d windows: too few to show anything", len(want))
					}
				})
			}
		}
	}
}
