package rabbitmq

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// BenchmarkThousandTriggersOneBroker builds 1,000 triggers (of 1,000
// ScaledObjects) on one queue of the real broker and reads them round-robin:
// one after another ("sequential": every read reaches the broker) and 100 at a
// time ("concurrent": identical reads in flight share a query). It reports the
// connections the 1,000 triggers opened since the Type was built (AMQP
// connections, or TCP connections of the one management API client, which
// the broker closes after a number of keep-alive requests; it fails unless
// one pooled connection or client is open, and for AMQP one was dialled), the
// broker queries per read, and allocations per read.
//
//	go test -run '^$' -bench ThousandTriggersOneBroker -benchmem ./scalers/rabbitmq/
func BenchmarkThousandTriggersOneBroker(b *testing.B) {
	const triggers = 1000
	for _, p := range protocols {
		b.Run(p.name, func(b *testing.B) {
			p.need(b)
			a := newAdmin(b)
			q := a.queue("bench")
			if p.host == mgmtURL {
				q = a.queueWithStats("bench")
			}
			a.publish(q, 37)
			typ := NewType()
			scs := make([]scalers.Scaler, triggers)
			for i := range scs {
				tr := trigger(map[string]string{"host": p.host, "queueName": q, "value": "10"}, nil)
				tr.ScaledObject = fmt.Sprintf("worker-%d", i)
				scs[i] = newScaler(b, typ, tr)
			}
			for _, sc := range scs { // every trigger reads once: the pool opens what it needs
				if _, err := read(sc); err != nil {
					b.Fatal(err)
				}
			}

			report := func(b *testing.B, queriesBefore int64) {
				b.Helper()
				if open := typ.OpenConnections(); open != 1 {
					b.Fatalf("%d triggers hold %d connections, want 1", triggers, open)
				}
				opened := typ.dials.Load()
				if p.host == amqpURL && opened != 1 {
					b.Fatalf("%d triggers dialled %d AMQP connections, want 1", triggers, opened)
				}
				b.ReportMetric(float64(opened), "connections")
				b.ReportMetric(float64(typ.queries.Load()-queriesBefore)/float64(b.N), "queries/read")
			}

			b.Run("sequential", func(b *testing.B) {
				before := typ.queries.Load()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := scs[i%triggers].Read(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				report(b, before)
			})
			b.Run("concurrent", func(b *testing.B) {
				before := typ.queries.Load()
				b.ReportAllocs()
				b.SetParallelism(50) // 100 readers on 2 cores
				b.ResetTimer()
				var next atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := int(next.Add(1) % triggers)
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						_, err := scs[i].Read(ctx)
						cancel()
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				report(b, before)
			})
		})
	}
}
