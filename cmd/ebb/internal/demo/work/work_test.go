// SPDX-License-Identifier: Apache-2.0

package work

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestPace(t *testing.T) {
	for name, tc := range map[string]struct {
		rate     float64
		offer    int // items take finds at most per call; -1: unlimited
		min, max int
	}{
		"takes rate items per second":            {rate: 100, offer: -1, min: 35, max: 65},
		"takes nothing at rate 0":                {rate: 0, offer: -1, min: 0, max: 0},
		"saves up nothing when work runs short":  {rate: 100, offer: 1, min: 1, max: 25},
		"takes a fraction of an item in a while": {rate: 4, offer: -1, min: 1, max: 3},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			defer cancel()
			total := 0
			Pace(ctx, 20*time.Millisecond,
				func(context.Context) (float64, bool) { return tc.rate, true },
				func(_ context.Context, n int) (int, error) {
					if n < 1 {
						t.Errorf("take(%d), want at least 1", n)
					}
					if tc.offer >= 0 {
						n = min(n, tc.offer)
					}
					total += n
					return n, nil
				},
				func(err error) { t.Errorf("report(%v)", err) })
			if total < tc.min || total > tc.max {
				t.Errorf("took %d in 0.5 s, want %d to %d", total, tc.min, tc.max)
			}
		})
	}
	t.Run("reports take's errors and goes on", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		var reported atomic.Int32
		Pace(ctx, 20*time.Millisecond,
			func(context.Context) (float64, bool) { return 100, true },
			func(context.Context, int) (int, error) { return 0, errors.New("broker down") },
			func(error) { reported.Add(1) })
		if reported.Load() < 3 {
			t.Errorf("reported %d errors in 0.2 s, want one per tick", reported.Load())
		}
	})
}

// TestKafkaGroupMembersDrainTheTopic runs two members of a group against an
// in-process broker: together they take every record and commit it.
func TestKafkaGroupMembersDrainTheTopic(t *testing.T) {
	ctx := t.Context()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "jobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	broker := cluster.ListenAddrs()[0]
	const records = 200
	produce(t, broker, records)

	var taken atomic.Int64
	var wg sync.WaitGroup
	members := make([]*KafkaGroup, 2)
	for i := range members {
		g, err := NewKafkaGroup(ctx, KafkaGroupOptions{Broker: broker, Topic: "jobs", Group: "worker"})
		if err != nil {
			t.Fatal(err)
		}
		members[i] = g
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, g := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && committed(t, broker) < records {
				n, _ := g.Take(ctx, 50) // a rebalance may fail a commit: taken again
				taken.Add(int64(n))
			}
		}()
	}
	wg.Wait()
	for _, g := range members {
		g.Close()
	}
	if got := committed(t, broker); got != records {
		t.Fatalf("committed %d of %d records in 30 s (taken %d)", got, records, taken.Load())
	}
	if taken.Load() < records {
		t.Errorf("taken %d, want at least %d", taken.Load(), records)
	}
}

func produce(t *testing.T, broker string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.DefaultProduceTopic("jobs"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Value: fmt.Appendf(nil, "job %d", i)}
	}
	if err := cl.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// committed is the sum of group worker's committed offsets on topic jobs.
func committed(t *testing.T, broker string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = "worker"
	res, err := req.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, rt := range res.Topics {
		for _, rp := range rt.Partitions {
			if rp.Offset > 0 {
				sum += rp.Offset
			}
		}
	}
	return sum
}
