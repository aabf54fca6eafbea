// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/ebbscale/ebb/scalers/scalertest"
)

// BenchmarkRead reads list triggers of the real Redis: one trigger read after
// another ("sequential", every read a round trip), 1,000 triggers on one
// list read 100 at a time ("concurrent-same-list": identical reads in flight
// share a command), and 1,000 triggers on 1,000 lists read 100 at a time
// ("reads-1000-lists", a round trip each on the client's connections) or
// probed 100 at a time ("probes-1000-lists": probes that arrive together
// share a pipeline).
// It reports round trips per read and the TCP connections opened, and fails
// unless the triggers share one client.
//
//	go test -run '^$' -bench BenchmarkRead -benchmem ./scalers/redis/
func BenchmarkRead(b *testing.B) {
	a := newAdmin(b)
	report := func(b *testing.B, lists *ListType, before int64) {
		b.Helper()
		if n := lists.OpenConnections(); n != 1 {
			b.Fatalf("the triggers hold %d clients, want 1", n)
		}
		b.ReportMetric(float64(lists.sh.queries.Load()-before)/float64(b.N), "roundtrips/read")
		b.ReportMetric(float64(lists.sh.dials.Load()), "connections")
	}

	b.Run("sequential", func(b *testing.B) {
		lists, _, _ := testTypes(b)
		sc := newScaler(b, lists, listTrigger(map[string]string{"address": redisAddr, "listName": a.list(10)}, nil))
		scalertest.MustRead(b, sc)
		before := lists.sh.queries.Load()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := sc.Read(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		report(b, lists, before)
	})

	b.Run("concurrent-same-list", func(b *testing.B) {
		lists, _, _ := testTypes(b)
		list := a.list(10)
		scs := make([]*scaler, 1000)
		for i := range scs {
			tr := listTrigger(map[string]string{"address": redisAddr, "listName": list}, nil)
			tr.ScaledObject = fmt.Sprintf("worker-%d", i)
			scs[i] = newScaler(b, lists, tr)
		}
		scalertest.MustRead(b, scs[0])
		before := lists.sh.queries.Load()
		var next atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(50) // 100 readers on 2 cores
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := scs[next.Add(1)%int64(len(scs))].Read(context.Background()); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		report(b, lists, before)
	})

	manyLists := func(b *testing.B, lists *ListType) []*scaler {
		scs := make([]*scaler, 1000)
		for i := range scs {
			scs[i] = newScaler(b, lists, listTrigger(map[string]string{"address": redisAddr, "listName": a.list(1)}, nil))
		}
		scalertest.MustRead(b, scs[0])
		return scs
	}
	for _, mode := range []struct {
		name string
		call func(sc *scaler) error
	}{
		{"reads-1000-lists", func(sc *scaler) error { _, err := sc.Read(context.Background()); return err }},
		{"probes-1000-lists", func(sc *scaler) error { _, err := sc.Probe(context.Background()); return err }},
	} {
		b.Run(mode.name, func(b *testing.B) {
			lists, _, _ := testTypes(b)
			scs := manyLists(b, lists)
			before := lists.sh.queries.Load()
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(50)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := mode.call(scs[next.Add(1)%int64(len(scs))]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			report(b, lists, before)
		})
	}
}
