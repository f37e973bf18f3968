package offline

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"fleetpulse/shared/telemetry"
)

func sample(nFleet, nVehicles int) Snapshot {
	t0 := time.Date(2026, 11, 27, 4, 40, 0, 0, time.UTC)
	s := Snapshot{SavedAt: t0.Add(time.Hour + 250*time.Millisecond), Seq: 4242}
	for i := range nFleet {
		start := t0.Add(time.Duration(i) * 10 * time.Second)
		s.Fleet = append(s.Fleet, telemetry.FleetRow{
			WindowStart: start, WindowEnd: start.Add(10 * time.Second), VehiclesActive: 50, Events: int64(500 + i),
			AvgSpeedKPH: 48.312345678 + float64(i), MaxSpeedKPH: 131.1, DistanceKM: 12.0000001,
			LateEvents: 3, DuplicateEvents: 1, RejectedEvents: int64(i),
		})
	}
	end := t0.Add(time.Duration(nFleet) * 10 * time.Second)
	for i := range nVehicles {
		s.Vehicles = append(s.Vehicles, telemetry.VehicleRow{
			WindowStart: end.Add(-10 * time.Second), WindowEnd: end, VehicleID: fmt.Sprintf("TRUCK-%05d", i),
			Events: 10, AvgSpeedKPH: 51.25, MinSpeedKPH: 0, MaxSpeedKPH: 88.123456789, DistanceKM: 0.141421356,
			LastLat: 52.520008 - float64(i)/1e4, LastLon: -13.404954, LastTS: end.Add(-123 * time.Millisecond),
		})
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		fleet, vehic int
	}{{"empty", 0, 0}, {"fleet only", 3, 0}, {"full", 360, 100}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := sample(tc.fleet, tc.vehic)
			b, err := Encode(in, 0)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Decode(b)
			if err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			if len(in.Fleet) == 0 {
				in.Fleet = []telemetry.FleetRow{}
			}
			if len(in.Vehicles) == 0 {
				in.Vehicles = []telemetry.VehicleRow{}
			}
			if !reflect.DeepEqual(in, out) {
				t.Errorf("round trip changed the snapshot:\n in %+v\nout %+v", in, out)
			}
		})
	}
}

func TestEncodeBounded(t *testing.T) {
	t.Parallel()
	in := sample(360, 10000)
	full, err := Encode(in, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(full) > DefaultMaxBytes {
		t.Fatalf("10,000 vehicles take %d bytes, over the default %d", len(full), DefaultMaxBytes)
	}
	const limit = 200 << 10
	b, err := Encode(in, limit)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > limit {
		t.Fatalf("encoded %d bytes, over the limit %d", len(b), limit)
	}
	out, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Fleet) == 0 || out.Fleet[len(out.Fleet)-1] != in.Fleet[len(in.Fleet)-1] {
		t.Error("the newest fleet row was dropped")
	}
	if len(out.Vehicles) == 0 || len(out.Vehicles) >= len(in.Vehicles) || out.Vehicles[0] != in.Vehicles[0] {
		t.Errorf("kept %d of %d vehicles, want a non-empty prefix", len(out.Vehicles), len(in.Vehicles))
	}
	if _, err := Encode(in, 20); err == nil {
		t.Error("a 20 byte limit was met")
	}
}

func TestDataTime(t *testing.T) {
	t.Parallel()
	s := sample(2, 1)
	if got, want := s.DataTime(), s.Vehicles[0].WindowEnd; !got.Equal(want) {
		t.Errorf("DataTime %v, want %v", got, want)
	}
	if !(&Snapshot{}).DataTime().IsZero() {
		t.Error("an empty snapshot has a data time")
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		``, `null`, `{"v":2}`, `{"v":1,"ids":["a"],"rows":[]}`,
		`{"v":1,"fleet":[[1,2,3]]}`, `{"v":1,"ids":["a"],"rows":[[1]]}`, `{"v":1,"fleet":"x"}`,
	} {
		if _, err := Decode([]byte(in)); !errors.Is(err, ErrFormat) {
			t.Errorf("Decode(%q) = %v, want ErrFormat", in, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	b, _ := Encode(sample(2, 2), 0)
	f.Add(b)
	f.Add([]byte(`{"v":1,"fleet":[],"ids":[],"rows":[]}`))
	f.Add([]byte(`{"v":1,"ids":["a"],"rows":[[1,2,3,4,5,6,7,8,9,1e300]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(data)
		if err != nil {
			return
		}
		// What decodes encodes again and reads back the same.
		b, err := Encode(s, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(b); err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", b, err)
		}
	})
}
