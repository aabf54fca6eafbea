// SPDX-License-Identifier: Apache-2.0

package kafka_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/kafka"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// BenchmarkThousandTriggersOnOneCluster reads 1,000 kafka triggers, each on
// its own consumer group of one 3-partition topic, against one broker. It
// reports the clients and TCP connections they hold (1 and 1) and the Kafka
// requests per read, besides time and allocations per read.
func BenchmarkThousandTriggersOnOneCluster(b *testing.B) {
	const triggers = 1000
	c := startCluster(b, clusterOpts{})
	topic := c.topic(3)
	c.produce(topic, 10, 20, 30)
	groups := make([]string, triggers)
	for i := range groups {
		groups[i] = fmt.Sprintf("bench-group-%d", i)
		if i%2 == 0 {
			c.commit(groups[i], topic, map[int32]int64{0: 5, 1: 5, 2: 5})
		}
	}
	c.cl.Close()
	typ := kafka.NewType()
	scs := make([]scalers.Scaler, triggers)
	for i := range scs {
		scs[i] = scalertest.NewScaler(b, typ, trigger(md("bootstrapServers", c.addr, "consumerGroup", groups[i], "topic", topic, "offsetResetPolicy", "earliest"), nil))
		read(b, scs[i]) // warm: coordinator and metadata cached, connection open
	}
	var requests atomic.Int64
	c.kfake.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		c.kfake.KeepControl()
		requests.Add(1)
		return nil, nil, false
	})
	report := func(b *testing.B, reads int) {
		b.ReportMetric(float64(typ.OpenConnections()), "clients")
		b.ReportMetric(float64(typ.BrokerConnections()), "tcp-conns")
		b.ReportMetric(float64(requests.Load())/float64(reads), "requests/read")
	}

	b.Run("sequential reads", func(b *testing.B) {
		requests.Store(0)
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := scs[i%triggers].Read(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		report(b, b.N)
	})

	b.Run("parallel reads", func(b *testing.B) {
		requests.Store(0)
		var next atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				if _, err := scs[next.Add(1)%triggers].Read(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		report(b, b.N)
	})

	b.Run("Lags of all 1000 groups in one call", func(b *testing.B) {
		cl, err := typ.ClusterOf(trigger(md("bootstrapServers", c.addr, "consumerGroup", "any"), nil))
		if err != nil {
			b.Fatal(err)
		}
		query := make(map[string][]string, triggers)
		for _, g := range groups {
			query[g] = []string{topic}
		}
		requests.Store(0)
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := typ.Lags(ctx, cl, query); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		report(b, b.N*triggers)
	})
}

// BenchmarkThousandIdleTriggersProbedEverySecond calls 1,000 kafka triggers,
// each on its own consumer group of one 3-partition topic (half of the groups
// never committed, under the earliest policy), every second, from a goroutine
// each, as the scale loop calls triggers at zero replicas: with Probe
// (batched per cluster) or with Read. As in the loop, a trigger's next call
// is one second after its previous call returned. The first calls are spread
// evenly over a second (each trigger has its own phase, as objects come to
// the loop at different times) or all at once. One iteration is one round of
// calls; three rounds run before the measure, so that the probes' periods are
// known. It reports the
// Kafka requests per second the broker receives, by kind, the probe batches
// per second, and the calls' latency (on 2 cores, the latency includes
// waiting for a CPU behind the other 999 triggers and the broker).
func BenchmarkThousandIdleTriggersProbedEverySecond(b *testing.B) {
	const (
		triggers = 1000
		interval = time.Second
	)
	c := startCluster(b, clusterOpts{})
	topic := c.topic(3)
	c.produce(topic, 10, 20, 30)
	groups := make([]string, triggers)
	for i := range groups {
		groups[i] = fmt.Sprintf("idle-group-%d", i)
		if i%2 == 0 {
			c.commit(groups[i], topic, map[int32]int64{0: 10, 1: 20, 2: 30})
		}
	}
	c.cl.Close()
	rc := countRequests(c)

	for _, mode := range []struct {
		name           string
		probe, aligned bool
	}{
		{"Probe, calls spread over the second", true, false},
		{"Read, calls spread over the second", false, false},
		{"Probe, calls all at once", true, true},
		{"Read, calls all at once", false, true},
	} {
		b.Run(mode.name, func(b *testing.B) {
			typ := kafka.NewType()
			scs := make([]scalers.Scaler, triggers)
			for i := range scs {
				scs[i] = scalertest.NewScaler(b, typ, trigger(md("bootstrapServers", c.addr, "consumerGroup", groups[i], "topic", topic, "offsetResetPolicy", "earliest"), nil))
				read(b, scs[i]) // warm: coordinator and metadata cached, connection open
			}
			call := func(ctx context.Context, sc scalers.Scaler) (scalers.Reading, error) {
				if mode.probe {
					return sc.(scalers.Prober).Probe(ctx)
				}
				return sc.Read(ctx)
			}
			// run calls every trigger n times, a second after its previous
			// call returned, and returns the calls' latencies and the number
			// that failed. It is used once: the triggers keep their phases
			// from the warm-up to the measure.
			type result struct {
				lat    []time.Duration
				failed int
			}
			rounds := make([]chan int, triggers)
			results := make(chan result, triggers)
			t0 := time.Now().Add(10 * time.Millisecond)
			for i, sc := range scs {
				rounds[i] = make(chan int)
				next := t0
				if !mode.aligned {
					next = t0.Add(interval * time.Duration(i) / triggers)
				}
				go func() {
					for n := range rounds[i] {
						var r result
						for k := 0; k < n; k++ {
							time.Sleep(time.Until(next))
							ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
							start := time.Now()
							_, err := call(ctx, sc)
							end := time.Now()
							cancel()
							r.lat = append(r.lat, end.Sub(start))
							if err != nil {
								r.failed++
							}
							next = end.Add(interval)
						}
						results <- r
					}
				}()
			}
			defer func() {
				for _, ch := range rounds {
					close(ch)
				}
			}()
			run := func(n int) ([]time.Duration, int) {
				for _, ch := range rounds {
					ch <- n
				}
				var all []time.Duration
				failed := 0
				for range triggers {
					r := <-results
					all = append(all, r.lat...)
					failed += r.failed
				}
				slices.Sort(all)
				return all, failed
			}

			run(3)
			rc.take()
			batches := kafka.ProbeBatches(typ)
			b.ResetTimer()
			lat, failed := run(b.N)
			b.StopTimer()
			secs := float64(b.N) * interval.Seconds()
			got := rc.take()
			if failed > 0 {
				b.Errorf("%d of %d calls failed", failed, len(lat))
			}
			total := 0
			for _, n := range got {
				total += n
			}
			b.ReportMetric(float64(total)/secs, "requests/s")
			b.ReportMetric(float64(got[int16(kmsg.OffsetFetch)])/secs, "OffsetFetch/s")
			b.ReportMetric(float64(got[int16(kmsg.ListOffsets)])/secs, "ListOffsets/s")
			b.ReportMetric(float64(kafka.ProbeBatches(typ)-batches)/secs, "batches/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
