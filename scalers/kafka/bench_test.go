package kafka_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/kafka"
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
		scs[i] = newScaler(b, typ, trigger(md("bootstrapServers", c.addr, "consumerGroup", groups[i], "topic", topic, "offsetResetPolicy", "earliest"), nil))
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
