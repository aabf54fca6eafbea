// SPDX-License-Identifier: Apache-2.0

package scalertest

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// ReadRounds is the body of a "many triggers on one source" benchmark: b.N
// rounds, each reading every scaler at once and waiting for all. It resets
// the timer first and stops it at the end. A benchmark op is one round of
// len(scs) reads, so ns/op is per round; ReadRounds also reports the cost per
// read, divided by the benchmark rather than by hand: "reads/op" (len(scs)),
// "ns/read" (wall time of the rounds over all their reads), "B/read" and
// "allocs/read" (heap bytes and allocations over all the reads, the
// benchmark's goroutine per read included). Read the source's own counters
// (connections, queries) before and after it.
func ReadRounds(b *testing.B, scs []scalers.Scaler) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		wg.Add(len(scs))
		for _, sc := range scs {
			go func() {
				defer wg.Done()
				if _, err := sc.Read(ctx); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	reads := float64(b.N * len(scs))
	b.ReportMetric(float64(len(scs)), "reads/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/reads, "ns/read")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/reads, "B/read")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/reads, "allocs/read")
}
