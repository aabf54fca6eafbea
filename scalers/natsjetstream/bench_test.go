// SPDX-License-Identifier: Apache-2.0

package natsjetstream

import (
	"context"
	"testing"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// BenchmarkRead is one trigger read over and over through the NATS protocol:
// every read is one consumer info request to the real server (nothing to
// coalesce with).
func BenchmarkRead(b *testing.B) {
	a := newAdmin(b)
	stream := a.stream("bench")
	consumer, _ := a.pullConsumer(stream, "worker")
	a.publish(stream, 100)
	typ := NewType()
	sc := scalertest.NewScaler(b, typ, trigger(map[string]string{"natsServerURL": natsURL, "stream": stream, "consumer": consumer}, nil))
	benchReads(b, sc, 100)
}

// BenchmarkReadFromTheMonitoringEndpoint is BenchmarkRead through /jsz of a
// server of the benchmark's own, with 20 streams of 5 consumers in the
// account (the answer lists them all).
func BenchmarkReadFromTheMonitoringEndpoint(b *testing.B) {
	srv := startServer(b, serverOptions{})
	a := connectAdmin(b, srv.url())
	var stream, consumer string
	for i := 0; i < 20; i++ {
		stream = a.stream("bench")
		for j := 0; j < 5; j++ {
			consumer, _ = a.pullConsumer(stream, "worker")
		}
	}
	a.publish(stream, 100)
	typ := NewType()
	sc := scalertest.NewScaler(b, typ, trigger(map[string]string{"natsServerMonitoringEndpoint": srv.monitor, "stream": stream, "consumer": consumer}, nil))
	benchReads(b, sc, 100)
}

// benchReads checks that sc reads want, then times b.N reads of it.
func benchReads(b *testing.B, sc scalers.Scaler, want float64) {
	b.Helper()
	wantValue(b, sc, want)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := sc.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkThousandTriggersOnOneConsumer reads 1,000 triggers on one
// consumer, all at once, per iteration. It reports the NATS connections the
// Type opens and the consumer info requests that reach the server per round
// of 1,000 reads; scalertest.ReadRounds adds the time, bytes and allocations
// per read.
func BenchmarkThousandTriggersOnOneConsumer(b *testing.B) {
	a := newAdmin(b)
	stream := a.stream("bench")
	consumer, _ := a.pullConsumer(stream, "worker")
	typ := NewType()
	const triggers = 1000
	scs := make([]scalers.Scaler, triggers)
	for i := range scs {
		tr := trigger(map[string]string{"natsServerURL": natsURL, "stream": stream, "consumer": consumer}, nil)
		tr.Index = i
		scs[i] = scalertest.NewScaler(b, typ, tr)
	}
	scalertest.MustRead(b, scs[0])
	r0 := typ.requests.Load()
	scalertest.ReadRounds(b, scs)
	b.ReportMetric(float64(typ.OpenConnections()), "conns")
	b.ReportMetric(float64(typ.dials.Load()), "dials")
	b.ReportMetric(float64(typ.requests.Load()-r0)/float64(b.N), "requests/round")
}
