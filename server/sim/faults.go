package sim

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"fleetpulse/shared/telemetry"
)

// Faults makes a Fleet misbehave the way real producers do, for demos and
// tests of the window stage: late, duplicate, out-of-order and malformed
// readings, and vehicles that drop off the network for a while.
//
// Each share is a fraction of the readings a fault-free fleet would send, in
// [0, 1]; together they add up to at most 1. A reading suffers at most one
// fault. The zero value is a well-behaved fleet. The faults are drawn from
// the fleet's seed, so the same seed, faults and Step calls give the same
// output.
type Faults struct {
	// LateShare of the readings is held back LateBy and only then
	// delivered, stamped with its original time: too late for any open
	// window, so the server counts it late.
	LateShare float64
	// DuplicateShare of the readings is delivered twice: the copy, equal
	// in every field, follows in the same batch.
	DuplicateShare float64
	// OutOfOrderShare of the readings is held back between one step and
	// OutOfOrderBy, and delivered after newer readings of the same vehicle:
	// out of order but within the server's allowed lateness.
	OutOfOrderShare float64
	// MalformedShare of the readings is garbled on the way: it cannot be
	// an Event, so Step drops it and counts it, and Run reports the count
	// as Batch.Rejected.
	MalformedShare float64
	// OfflineShare is the fraction of the time that vehicles spend
	// offline: spells of 10 s to 2 min in which a vehicle drives on but
	// sends nothing, after which it resumes from where it has got to.
	OfflineShare float64

	// LateBy is how long late readings are held back. Defaults to 1m,
	// beyond the server's default 10 s window plus 5 s lateness; raise it
	// for longer windows.
	LateBy time.Duration
	// OutOfOrderBy is the longest that an out-of-order reading is held
	// back. Defaults to 3s, within the server's default 5 s lateness. A
	// held reading is released by the first Step at or after its time, so
	// keep it a step or more below the lateness.
	OutOfOrderBy time.Duration
}

// Defaults of the Faults durations.
const (
	DefaultLateBy       = time.Minute
	DefaultOutOfOrderBy = 3 * time.Second
)

// Offline spells last between these.
const (
	offlineMin = 10 * time.Second
	offlineMax = 2 * time.Minute
)

// faultNames are the keys ParseFaults knows, in the order String writes them.
var faultNames = []string{"late", "duplicate", "out_of_order", "malformed", "offline", "late_by", "out_of_order_by"}

// ParseFaults parses a flag value such as
// "late=0.01,duplicate=0.02,out_of_order=0.05,malformed=0.01,offline=0.02".
// The shares are late, duplicate, out_of_order, malformed and offline;
// late_by and out_of_order_by set the durations (such as late_by=2m). Keys
// left out are zero or default; "" and "none" mean no faults.
func ParseFaults(s string) (Faults, error) {
	var f Faults
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return f, nil
	}
	seen := map[string]bool{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, val, ok := strings.Cut(item, "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if !ok || key == "" || val == "" {
			return Faults{}, fmt.Errorf("faults: %q: want name=value, such as late=0.01", item)
		}
		if seen[key] {
			return Faults{}, fmt.Errorf("faults: %s given twice", key)
		}
		seen[key] = true
		if key == "late_by" || key == "out_of_order_by" {
			d, err := time.ParseDuration(val)
			if err != nil || d <= 0 {
				return Faults{}, fmt.Errorf("faults: %s=%s: want a positive duration, such as 2m", key, val)
			}
			if key == "late_by" {
				f.LateBy = d
			} else {
				f.OutOfOrderBy = d
			}
			continue
		}
		var share *float64
		switch key {
		case "late":
			share = &f.LateShare
		case "duplicate":
			share = &f.DuplicateShare
		case "out_of_order":
			share = &f.OutOfOrderShare
		case "malformed":
			share = &f.MalformedShare
		case "offline":
			share = &f.OfflineShare
		default:
			return Faults{}, fmt.Errorf("faults: unknown fault %q (want one of %s)", key, strings.Join(faultNames, ", "))
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil || math.IsNaN(v) || v < 0 || v > 1 {
			return Faults{}, fmt.Errorf("faults: %s=%s: want a share between 0 and 1, such as 0.01", key, val)
		}
		*share = v
	}
	return f, f.Validate()
}

// Validate reports whether f is usable: every share in [0, 1], their sum at
// most 1, and no negative duration.
func (f Faults) Validate() error {
	shares := []float64{f.LateShare, f.DuplicateShare, f.OutOfOrderShare, f.MalformedShare, f.OfflineShare}
	sum := 0.0
	for i, s := range shares {
		if math.IsNaN(s) || s < 0 || s > 1 {
			return fmt.Errorf("faults: %s share %v: want a share between 0 and 1", faultNames[i], s)
		}
		sum += s
	}
	if sum > 1+1e-9 {
		return fmt.Errorf("faults: the shares add up to %.4g, more than 1", sum)
	}
	if f.LateBy < 0 || f.OutOfOrderBy < 0 {
		return errors.New("faults: durations must not be negative")
	}
	return nil
}

// String writes f as ParseFaults reads it, leaving out what is zero.
func (f Faults) String() string {
	var parts []string
	for i, v := range []float64{f.LateShare, f.DuplicateShare, f.OutOfOrderShare, f.MalformedShare, f.OfflineShare} {
		if v != 0 {
			parts = append(parts, faultNames[i]+"="+strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	if f.LateBy != 0 {
		parts = append(parts, "late_by="+f.LateBy.String())
	}
	if f.OutOfOrderBy != 0 {
		parts = append(parts, "out_of_order_by="+f.OutOfOrderBy.String())
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// Set parses s with ParseFaults, so that *Faults is a flag.Value.
func (f *Faults) Set(s string) error {
	v, err := ParseFaults(s)
	if err != nil {
		return err
	}
	*f = v
	return nil
}

func (f Faults) any() bool {
	return f.LateShare > 0 || f.DuplicateShare > 0 || f.OutOfOrderShare > 0 || f.MalformedShare > 0 || f.OfflineShare > 0
}

// SetFaults makes the following Steps inject f. Readings already held back
// stay held back until their time.
func (f *Fleet) SetFaults(fl Faults) error {
	if err := fl.Validate(); err != nil {
		return err
	}
	if fl.LateBy == 0 {
		fl.LateBy = DefaultLateBy
	}
	if fl.OutOfOrderBy == 0 {
		fl.OutOfOrderBy = DefaultOutOfOrderBy
	}
	f.faults = fl
	return nil
}

// MalformedTotal returns how many malformed readings TakeMalformed has
// handed out in all; safe to call from any goroutine.
func (f *Fleet) MalformedTotal() int64 { return f.malformedTotal.Load() }

// TakeMalformed returns how many malformed readings the Steps since the
// previous call have dropped, and starts counting again from zero.
func (f *Fleet) TakeMalformed() int64 {
	n := f.malformed
	f.malformed = 0
	f.malformedTotal.Add(n)
	return n
}

// held is a reading held back until due (Unix milliseconds).
type held struct {
	due int64
	ev  telemetry.Event
}

// faulty decides the fate of vehicle v's reading ev, stamped ts, in a step
// of dt: it appends ev (once or twice) to buf, holds it back, or drops it.
// dups collects the copies that follow the step's readings.
func (f *Fleet) faulty(v *vehicle, ev telemetry.Event, ts int64, dt time.Duration, buf, dups []telemetry.Event) ([]telemetry.Event, []telemetry.Event) {
	fl := &f.faults
	online := 1.0
	if fl.OfflineShare > 0 {
		if v.offlineSteps > 0 {
			v.offlineSteps--
			return buf, dups
		}
		// A two-state chain: a vehicle goes offline with probability p
		// per step for k steps (this one included, mean m), so it is
		// offline for the share s = pm / (pm + 1 - p) of the steps.
		s := fl.OfflineShare
		mean := (offlineMin + offlineMax).Seconds() / 2
		m := max(1, mean/dt.Seconds())
		p := 1.0
		if s < 1 {
			p = s / (m*(1-s) + s)
		}
		if f.frng.Float64() < p {
			d := offlineMin + time.Duration(f.frng.Int64N(int64(offlineMax-offlineMin)))
			k := max(1, int(math.Round(d.Seconds()/dt.Seconds())))
			v.offlineSteps = k - 1
			return buf, dups
		}
		online = 1 - s
	}
	// The other shares count against all readings, so among those of
	// online vehicles each is share / online.
	u := f.frng.Float64() * online
	switch {
	case u < fl.LateShare:
		f.held = append(f.held, held{due: ts + fl.LateBy.Milliseconds(), ev: ev})
	case u < fl.LateShare+fl.OutOfOrderShare:
		// Released by a later Step, after the vehicle's newer readings.
		hold := time.Duration(f.frng.Int64N(int64(fl.OutOfOrderBy))) + time.Millisecond
		f.held = append(f.held, held{due: ts + hold.Milliseconds(), ev: ev})
	case u < fl.LateShare+fl.OutOfOrderShare+fl.MalformedShare:
		f.malformed++
	case u < fl.LateShare+fl.OutOfOrderShare+fl.MalformedShare+fl.DuplicateShare:
		buf = append(buf, ev)
		dups = append(dups, ev)
	default:
		buf = append(buf, ev)
	}
	return buf, dups
}

// release appends the held readings due by ts to buf, oldest hold first.
func (f *Fleet) release(ts int64, buf []telemetry.Event) []telemetry.Event {
	kept := f.held[:0]
	for _, h := range f.held {
		if h.due <= ts {
			buf = append(buf, h.ev)
		} else {
			kept = append(kept, h)
		}
	}
	clear(f.held[len(kept):])
	f.held = kept
	return buf
}
