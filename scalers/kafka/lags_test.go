// SPDX-License-Identifier: Apache-2.0

package kafka_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ebbscale/ebb/scalers/kafka"

	"github.com/ebbscale/ebb/scalers/scalertest"
)

// requestCounter counts the requests a kfake cluster receives, by key.
type requestCounter struct {
	mu     sync.Mutex
	counts map[int16]int
}

func countRequests(c *cluster) *requestCounter {
	rc := &requestCounter{counts: map[int16]int{}}
	c.kfake.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.kfake.KeepControl()
		rc.mu.Lock()
		rc.counts[req.Key()]++
		rc.mu.Unlock()
		return nil, nil, false
	})
	return rc
}

func (rc *requestCounter) take() map[int16]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := rc.counts
	rc.counts = map[int16]int{}
	return out
}

func TestLagsReadsManyGroupsWithOneRequestPerGroupAndPerLeader(t *testing.T) {
	c := startCluster(t, clusterOpts{brokers: 3})
	a, b := c.topic(6), c.topic(3)
	c.produce(a, 10, 10, 10, 10, 10, 10)
	c.produce(b, 7, 8, 9)
	g1, g2, g3 := unique("g1"), unique("g2"), unique("g3")
	c.commit(g1, a, map[int32]int64{0: 1, 1: 2, 2: 3, 3: 4, 4: 5, 5: 6})
	c.commit(g2, a, map[int32]int64{0: 10})
	c.commit(g3, b, map[int32]int64{1: 8})
	c.cl.Close() // from here on, every request the cluster sees is the scaler's

	leaders := func(topics map[string][]int32) int {
		set := map[int32]bool{}
		for topic, ps := range topics {
			for _, p := range ps {
				set[c.kfake.LeaderFor(topic, p)] = true
			}
		}
		return len(set)
	}
	all := map[string][]int32{a: {0, 1, 2, 3, 4, 5}, b: {0, 1, 2}}
	// Partitions some group has not committed on: a 1-5 (g2), b 0-2 (g2), b 0, 2 (g3).
	uncommitted := map[string][]int32{a: {1, 2, 3, 4, 5}, b: {0, 1, 2}}

	typ := kafka.NewType()
	// A trigger holds the cluster's client, as the scale loop's would.
	holder := scalertest.NewScaler(t, typ, trigger(md("bootstrapServers", c.addr, "consumerGroup", g1, "topic", a), nil))
	cl, err := typ.ClusterOf(trigger(md("bootstrapServers", c.addr, "consumerGroup", g1), nil))
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string][]string{g1: {a}, g2: {a, b}, g3: nil}
	rc := countRequests(c)

	lags := func() map[string]kafka.GroupOffsets {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := typ.Lags(ctx, cl, groups)
		if err != nil {
			t.Fatalf("Lags: %v", err)
		}
		return res
	}

	res := lags()
	got := rc.take()
	// One connection (and so one ApiVersions) per broker contacted: the
	// bootstrap broker (node 0), the partition leaders, the coordinators.
	contacted := map[int32]bool{0: true}
	for topic, ps := range all {
		for _, p := range ps {
			contacted[c.kfake.LeaderFor(topic, p)] = true
		}
	}
	for _, g := range []string{g1, g2, g3} {
		contacted[c.kfake.CoordinatorFor(g)] = true
	}
	wantFirst := map[int16]int{
		int16(kmsg.ApiVersions):     len(contacted),
		int16(kmsg.Metadata):        1,
		int16(kmsg.FindCoordinator): 3,
		int16(kmsg.OffsetFetch):     3,
		int16(kmsg.ListOffsets):     leaders(all) + leaders(uncommitted),
	}
	expectCounts(t, "first call", got, wantFirst)

	lags()
	expectCounts(t, "second call (metadata and coordinators cached, connections open)", rc.take(), map[int16]int{
		int16(kmsg.OffsetFetch): 3,
		int16(kmsg.ListOffsets): leaders(all) + leaders(uncommitted),
	})
	if got := typ.BrokerConnections(); got != len(contacted) {
		t.Errorf("%d TCP connections to a %d-broker cluster, want %d", got, 3, len(contacted))
	}
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}

	want := map[string]map[string][]kafka.PartitionOffsets{
		g1: {a: {{0, 1, 10, -1}, {1, 2, 10, -1}, {2, 3, 10, -1}, {3, 4, 10, -1}, {4, 5, 10, -1}, {5, 6, 10, -1}}},
		g2: {
			a: {{0, 10, 10, -1}, {1, -1, 10, 0}, {2, -1, 10, 0}, {3, -1, 10, 0}, {4, -1, 10, 0}, {5, -1, 10, 0}},
			b: {{0, -1, 7, 0}, {1, -1, 8, 0}, {2, -1, 9, 0}},
		},
		g3: {b: {{0, -1, 7, 0}, {1, 8, 8, -1}, {2, -1, 9, 0}}},
	}
	for g, topics := range want {
		r := res[g]
		if r.Err != nil {
			t.Errorf("group %s: %v", g, r.Err)
			continue
		}
		if len(r.Topics) != len(topics) {
			t.Errorf("group %s: %d topics, want %d", g, len(r.Topics), len(topics))
		}
		for _, to := range r.Topics {
			wantParts := topics[to.Topic]
			if len(to.Partitions) != len(wantParts) {
				t.Errorf("group %s topic %s: %+v, want %+v", g, to.Topic, to.Partitions, wantParts)
				continue
			}
			for i, p := range to.Partitions {
				if p != wantParts[i] {
					t.Errorf("group %s topic %s partition %d: %+v, want %+v", g, to.Topic, p.Partition, p, wantParts[i])
				}
			}
		}
	}
	if lag, ok := res[g1].Topics[0].Partitions[0].Lag(); !ok || lag != 9 {
		t.Errorf("Lag() of g1/a/0 = %d, %v; want 9, true", lag, ok)
	}
}

func TestLagsReportsAGroupsOwnErrorsApartFromTheOthers(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(1)
	c.produce(topic, 3)
	typ := kafka.NewType()
	cl, err := typ.ClusterOf(trigger(md("bootstrapServers", c.addr, "consumerGroup", "g"), nil))
	if err != nil {
		t.Fatal(err)
	}
	ok, missing, empty := unique("ok"), unique("missing-topic"), unique("empty")
	res, err := typ.Lags(context.Background(), cl, map[string][]string{ok: {topic}, missing: {"no-such-topic"}, empty: nil})
	if err != nil {
		t.Fatalf("Lags: %v", err)
	}
	if r := res[ok]; r.Err != nil || len(r.Topics) != 1 || r.Topics[0].Partitions[0].LogEnd != 3 {
		t.Errorf("group on an existing topic: %+v", r)
	}
	if r := res[missing]; r.Err == nil || !contains(r.Err.Error(), "no-such-topic") {
		t.Errorf("group on a missing topic: err = %v, want one naming the topic", r.Err)
	}
	if r := res[empty]; r.Err == nil || !contains(r.Err.Error(), "no committed offsets") {
		t.Errorf("group with no topics and no commits: err = %v", r.Err)
	}
	if got := typ.OpenConnections(); got != 0 {
		t.Errorf("%d clients open after Lags with no trigger holding one, want 0", got)
	}
}

func TestClusterNeverPrintsItsCredentials(t *testing.T) {
	typ := kafka.NewType()
	cl, err := typ.ClusterOf(trigger(md("bootstrapServers", "k:9092", "consumerGroup", "g"), map[string]string{"sasl": "plaintext", "username": "u", "password": "hunter2-secret"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmtv(cl), fmtplusv(cl), fmtsharpv(cl)} {
		if contains(s, "hunter2-secret") {
			t.Errorf("Cluster printed as %q", s)
		}
	}
}

func expectCounts(t *testing.T, what string, got, want map[int16]int) {
	t.Helper()
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d %s requests, want %d", what, got[k], kmsg.NameForKey(k), n)
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok && n > 0 {
			t.Errorf("%s: %d unexpected %s requests", what, n, kmsg.NameForKey(k))
		}
	}
}
