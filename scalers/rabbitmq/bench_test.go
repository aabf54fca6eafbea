// SPDX-License-Identifier: Apache-2.0

package rabbitmq

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
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
				scs[i] = scalertest.NewScaler(b, typ, tr)
			}
			for _, sc := range scs { // every trigger reads once: the pool opens what it needs
				if _, err := scalertest.Read(sc); err != nil {
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

// BenchmarkIdleTriggersCheckedEverySecond builds 1,000 triggers on 1,000
// queues of one vhost, all idle, and checks each once a second at its own
// moment within the second (the scale loop spreads its objects the same way):
// through Probe and through Read. One op is one such second, after a first
// one in which the batches learn which queues are checked. It reports the
// requests that reached the broker in that first second and per second after
// it — for the management API as counted by a reverse proxy in front of it,
// for AMQP the queue.declare queries — and fails on any error.
//
//	go test -run '^$' -bench IdleTriggersCheckedEverySecond -benchtime 5x ./scalers/rabbitmq/
func BenchmarkIdleTriggersCheckedEverySecond(b *testing.B) {
	const triggers = 1000
	requireManagement(b)
	a := newAdmin(b)
	qs := a.queues("idle-bench", triggers)
	want := make(map[string]float64, triggers)
	for _, q := range qs {
		want[q] = 0
	}
	waitForCounts(b, want)
	proxy := newMgmtProxy(b)

	for _, v := range []struct {
		name  string
		host  string
		check func(scalers.Scaler, context.Context) (scalers.Reading, error)
	}{
		{"management API/Probe", proxy.host(), func(sc scalers.Scaler, ctx context.Context) (scalers.Reading, error) {
			return sc.(scalers.Prober).Probe(ctx)
		}},
		{"management API/Read", proxy.host(), scalers.Scaler.Read},
		{"AMQP/Probe", amqpURL, func(sc scalers.Scaler, ctx context.Context) (scalers.Reading, error) {
			return sc.(scalers.Prober).Probe(ctx)
		}},
		{"AMQP/Read", amqpURL, scalers.Scaler.Read},
	} {
		b.Run(v.name, func(b *testing.B) {
			typ := NewType()
			scs := make([]scalers.Scaler, triggers)
			for i, q := range qs {
				tr := trigger(map[string]string{"host": v.host, "queueName": q, "value": "10"}, nil)
				tr.ScaledObject = fmt.Sprintf("worker-%d", i)
				scs[i] = scalertest.NewScaler(b, typ, tr)
			}
			if _, err := scalertest.Read(scs[0]); err != nil { // connect first
				b.Fatal(err)
			}
			requests := func() int64 {
				if v.host == amqpURL {
					return typ.queries.Load()
				}
				return int64(proxy.requests())
			}
			var errs atomic.Int64
			second := func() {
				begin := time.Now()
				var wg sync.WaitGroup
				for j, sc := range scs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						time.Sleep(time.Until(begin.Add(time.Duration(j) * time.Second / triggers)))
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						defer cancel()
						if _, err := v.check(sc, ctx); err != nil {
							if errs.Add(1) == 1 {
								b.Error(err)
							}
						}
					}()
				}
				wg.Wait()
				time.Sleep(time.Until(begin.Add(time.Second)))
			}
			before := requests()
			second() // the first second, while the batches learn which queues are checked
			first := requests() - before
			before = requests()
			start := time.Now()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				second()
			}
			b.StopTimer()
			elapsed := time.Since(start).Seconds()
			n := requests() - before
			b.ReportMetric(float64(first), "requests-first-second")
			b.ReportMetric(float64(n)/elapsed, "requests/s")
			b.ReportMetric(float64(n)/float64(b.N*triggers), "requests/check")
			if errs.Load() > 0 {
				b.Fatalf("%d checks failed", errs.Load())
			}
		})
	}
}
