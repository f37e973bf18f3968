package wal

import (
	"context"
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkAppend measures durable appends of 100-event batches by N
// concurrent producers on the test's temporary folder (a real fsync per
// group): events/s, and fsyncs per second and per append.
//
//	go test -run '^$' -bench Append -benchtime 3s ./server/wal
func BenchmarkAppend(b *testing.B) {
	for _, producers := range []int{1, 8, 64} { // × GOMAXPROCS goroutines
		b.Run(fmt.Sprintf("producers=%d", producers*runtime.GOMAXPROCS(0)), func(b *testing.B) {
			w, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- w.Run(context.Background()) }()
			ev := batch("TRUCK-0042", 1_764_218_400_000, 100)
			b.SetParallelism(producers)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := w.Append(context.Background(), ev); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			st := w.Stats()
			secs := b.Elapsed().Seconds()
			b.ReportMetric(float64(st.Appends*100)/secs, "events/s")
			b.ReportMetric(float64(st.Syncs)/secs, "fsyncs/s")
			b.ReportMetric(float64(st.Appends)/float64(st.Syncs), "appends/fsync")
			b.ReportMetric(0, "ns/op")
			w.Close()
			<-done
		})
	}
}
