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
// the timer first and stops it at the end, and returns the allocations per
// read. Read the source's own counters (connections, queries) before and
// after it.
func ReadRounds(b *testing.B, scs []scalers.Scaler) (allocsPerRead float64) {
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
	return float64(after.Mallocs-before.Mallocs) / float64(b.N*len(scs))
}
