// SPDX-License-Identifier: Apache-2.0

package kafka_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers/kafka"

	"github.com/ebbscale/ebb/scalers/scalertest"
)

func TestLagIsTheWholeLogWhenNothingIsCommittedUnderTheEarliestPolicy(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(3)
	c.produce(topic, 13, 12, 12)
	sc := scalertest.NewScaler(t, kafka.NewType(), trigger(md(
		"bootstrapServers", c.addr, "consumerGroup", unique("group"), "topic", topic,
		"offsetResetPolicy", "earliest", "lagThreshold", "100"), nil))
	expectReading(t, sc, 37, true)
}

func TestLagFallsAsTheGroupCommitsOffsets(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(3)
	group := unique("group")
	c.produce(topic, 13, 12, 12)
	sc := scalertest.NewScaler(t, kafka.NewType(), trigger(md(
		"bootstrapServers", c.addr, "consumerGroup", group, "topic", topic,
		"offsetResetPolicy", "earliest", "lagThreshold", "100"), nil))
	expectReading(t, sc, 37, true)

	c.commit(group, topic, map[int32]int64{0: 10, 1: 2})
	expectReading(t, sc, 3+10+12, true)

	c.commit(group, topic, map[int32]int64{0: 13, 1: 12, 2: 12})
	expectReading(t, sc, 0, false)

	c.produce(topic, 0, 0, 4)
	expectReading(t, sc, 4, true)
}

func TestACommittedOffsetBeyondTheLogEndIsNoLag(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(1)
	group := unique("group")
	c.produce(topic, 5)
	c.commit(group, topic, map[int32]int64{0: 50})
	sc := scalertest.NewScaler(t, kafka.NewType(), trigger(md("bootstrapServers", c.addr, "consumerGroup", group, "topic", topic), nil))
	expectReading(t, sc, 0, false)
}

func TestReplicasAreCappedAtOnePerPartitionUnlessIdleConsumersAreAllowed(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(3)
	group := unique("group")
	c.produce(topic, 20, 20, 20)
	c.commit(group, topic, map[int32]int64{0: 0, 1: 0, 2: 0})
	typ := kafka.NewType()
	for _, tc := range []struct {
		name       string
		extra      []string
		metricType v1alpha1.MetricType
		want       float64
	}{
		{"by default, lag 60 at threshold 10 on 3 partitions is capped at 3 × 10", nil, "", 30},
		{"with allowIdleConsumers the value is the whole lag", []string{"allowIdleConsumers", "true"}, "", 60},
		{"a Value metric is never capped", nil, v1alpha1.MetricTypeValue, 60},
		{"under the cap, the value is the lag", []string{"lagThreshold", "25"}, "", 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := md(append([]string{"bootstrapServers", c.addr, "consumerGroup", group, "topic", topic}, tc.extra...)...)
			tr := trigger(m, nil)
			if tc.metricType != "" {
				tr.MetricType = tc.metricType
			}
			expectReading(t, scalertest.NewScaler(t, typ, tr), tc.want, true)
		})
	}
}

func TestLimitToPartitionsWithLagCapsAtThePartitionsThatHaveLag(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(4)
	group := unique("group")
	c.produce(topic, 50, 0, 3, 0)
	c.commit(group, topic, map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0})
	typ := kafka.NewType()
	base := []string{"bootstrapServers", c.addr, "consumerGroup", group, "topic", topic}

	// Two partitions have lag: at most 2 × 10.
	expectReading(t, scalertest.NewScaler(t, typ, trigger(md(append(base, "limitToPartitionsWithLag", "true")...), nil)), 20, true)
	// Without it, the cap is the 4 partitions: lag 53 becomes 4 × 10.
	expectReading(t, scalertest.NewScaler(t, typ, trigger(md(base...), nil)), 40, true)
}

func TestExcludePersistentLagLeavesOutPartitionsWhoseOffsetDidNotMove(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(2)
	group := unique("group")
	c.produce(topic, 10, 10)
	c.commit(group, topic, map[int32]int64{0: 2, 1: 3})
	sc := scalertest.NewScaler(t, kafka.NewType(), trigger(md(
		"bootstrapServers", c.addr, "consumerGroup", group, "topic", topic,
		"excludePersistentLag", "true", "lagThreshold", "100"), nil))

	// First read: nothing seen before, all lag counts.
	expectReading(t, sc, 8+7, true)
	// Partition 1 moves, partition 0 is stuck: only partition 1 counts.
	c.commit(group, topic, map[int32]int64{1: 5})
	expectReading(t, sc, 5, true)
	// Nothing moves: the value is 0, yet the lag still activates (at zero
	// replicas no consumer moves the offsets).
	expectReading(t, sc, 0, true)
	// A partition that catches up has no lag, persistent or not.
	c.commit(group, topic, map[int32]int64{0: 10, 1: 10})
	expectReading(t, sc, 0, false)
	// Partition 0 was caught up at the previous read: its new lag is not
	// persistent...
	c.produce(topic, 4, 0)
	expectReading(t, sc, 4, true)
	// ...until its offset stays put over a read while it has lag.
	expectReading(t, sc, 0, true)
	c.commit(group, topic, map[int32]int64{0: 12})
	expectReading(t, sc, 2, true)
}

func TestAPartitionWithNoCommittedOffsetFollowsTheResetPolicy(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(3)
	group := unique("group")
	c.produce(topic, 10, 20, 30)
	// Partition 0 is committed (lag 4); 1 and 2 are not.
	c.commit(group, topic, map[int32]int64{0: 6})
	// The log of partition 2 starts at 25 now (retention or DeleteRecords).
	if err := c.kfake.DeleteRecords(topic, 2, 25); err != nil {
		t.Fatal(err)
	}
	typ := kafka.NewType()
	for _, tc := range []struct {
		name   string
		extra  []string
		value  float64
		active bool
	}{
		{"earliest counts the records still in the log", []string{"offsetResetPolicy", "earliest"}, 4 + 20 + 5, true},
		{"latest counts 1 per partition by default", []string{"offsetResetPolicy", "latest"}, 4 + 1 + 1, true},
		{"latest is the default policy", nil, 4 + 1 + 1, true},
		{"latest with scaleToZeroOnInvalidOffset counts 0", []string{"scaleToZeroOnInvalidOffset", "true"}, 4, true},
		{"scaleToZeroOnInvalidOffset does not change earliest", []string{"offsetResetPolicy", "earliest", "scaleToZeroOnInvalidOffset", "true"}, 4 + 20 + 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := md(append([]string{"bootstrapServers", c.addr, "consumerGroup", group, "topic", topic, "lagThreshold", "100"}, tc.extra...)...)
			expectReading(t, scalertest.NewScaler(t, typ, trigger(m, nil)), tc.value, tc.active)
		})
	}
}

func TestAGroupThatNeverCommittedReadsZeroUnderLatestWithScaleToZeroOnInvalidOffset(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(3)
	c.produce(topic, 5, 5, 5)
	base := []string{"bootstrapServers", c.addr, "consumerGroup", unique("group"), "topic", topic}
	typ := kafka.NewType()
	expectReading(t, scalertest.NewScaler(t, typ, trigger(md(append(base, "scaleToZeroOnInvalidOffset", "true")...), nil)), 0, false)
	expectReading(t, scalertest.NewScaler(t, typ, trigger(md(base...), nil)), 3, true)
}

func TestWithNoTopicEveryTopicTheGroupCommittedOnIsMeasured(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	a, b, other := c.topic(2), c.topic(3), c.topic(1)
	group := unique("group")
	c.produce(a, 10, 10)
	c.produce(b, 5, 5, 5)
	c.produce(other, 100)
	c.commit(group, a, map[int32]int64{0: 4, 1: 10})
	c.commit(group, b, map[int32]int64{0: 1}) // partitions 1 and 2 of b: no commit
	typ := kafka.NewType()
	base := []string{"bootstrapServers", c.addr, "consumerGroup", group, "allowIdleConsumers", "true"}

	// a: 6 + 0; b: 4 + (1 + 1 under latest); other: not the group's.
	expectReading(t, scalertest.NewScaler(t, typ, trigger(md(base...), nil)), 6+4+2, true)
	// earliest: b's uncommitted partitions count their whole log.
	expectReading(t, scalertest.NewScaler(t, typ, trigger(md(append(base, "offsetResetPolicy", "earliest")...), nil)), 6+4+10, true)
	// The cap counts the partitions of all the group's topics: 5 × 1.
	capped := trigger(md("bootstrapServers", c.addr, "consumerGroup", group, "lagThreshold", "1"), nil)
	expectReading(t, scalertest.NewScaler(t, typ, capped), 5, true)
}

func TestWithNoTopicAGroupWithNoCommittedOffsetsIsAnError(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	group := unique("group")
	sc := scalertest.NewScaler(t, kafka.NewType(), trigger(md("bootstrapServers", c.addr, "consumerGroup", group), nil))
	err := readErr(t, sc)
	if !contains(err.Error(), group, "no committed offsets", "topic") {
		t.Errorf("error %q does not explain that the group has no committed offsets", err)
	}
}

func TestActivationComparesTheTotalLagBeforeTheCap(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(2)
	group := unique("group")
	c.produce(topic, 20, 17)
	c.commit(group, topic, map[int32]int64{0: 0, 1: 0})
	typ := kafka.NewType()
	base := []string{"bootstrapServers", c.addr, "consumerGroup", group, "topic", topic, "lagThreshold", "10"}
	// Lag 37, capped at 2 × 10 = 20, compared with 36 and 37 before the cap.
	expectReading(t, scalertest.NewScaler(t, typ, trigger(md(append(base, "activationLagThreshold", "36")...), nil)), 20, true)
	expectReading(t, scalertest.NewScaler(t, typ, trigger(md(append(base, "activationLagThreshold", "37")...), nil)), 20, false)
}

func TestPartitionLimitationMeasuresOnlyTheListedPartitions(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(6)
	group := unique("group")
	c.produce(topic, 1, 2, 4, 8, 16, 32)
	c.commit(group, topic, map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0})
	sc := scalertest.NewScaler(t, kafka.NewType(), trigger(md(
		"bootstrapServers", c.addr, "consumerGroup", group, "topic", topic,
		"partitionLimitation", "0, 2-3,9", "lagThreshold", "5"), nil))
	// Partitions 0, 2, 3 (9 does not exist): lag 13, under the cap of 3 × 5.
	expectReading(t, sc, 13, true)
	sc2 := scalertest.NewScaler(t, kafka.NewType(), trigger(md(
		"bootstrapServers", c.addr, "consumerGroup", group, "topic", topic,
		"partitionLimitation", "3,4", "lagThreshold", "5"), nil))
	// Partitions 3, 4: lag 24, capped at 2 × 5.
	expectReading(t, sc2, 10, true)
}

func TestAnUnknownTopicIsAnErrorNamingIt(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	sc := scalertest.NewScaler(t, kafka.NewType(), trigger(md("bootstrapServers", c.addr, "consumerGroup", unique("group"), "topic", "no-such-topic"), nil))
	err := readErr(t, sc)
	if !contains(err.Error(), `"no-such-topic"`, "Unknown Topic") {
		t.Errorf("error %q does not name the unknown topic", err)
	}
}

func TestSASLAuthenticatesWithEachMechanism(t *testing.T) {
	for _, tc := range []struct{ sasl, mechanism string }{
		{"plaintext", "PLAIN"},
		{"scram_sha256", "SCRAM-SHA-256"},
		{"scram_sha512", "SCRAM-SHA-512"},
	} {
		t.Run(tc.sasl+" reads with the right password and fails without leaking a wrong one", func(t *testing.T) {
			user, pass := "ebb-user", "s3cr3t-"+unique("pw")
			c := startCluster(t, clusterOpts{mechanism: tc.mechanism, user: user, password: pass})
			topic := c.topic(2)
			c.produce(topic, 3, 4)
			typ := kafka.NewType()
			m := md("bootstrapServers", c.addr, "consumerGroup", unique("group"), "topic", topic, "offsetResetPolicy", "earliest")
			expectReading(t, scalertest.NewScaler(t, typ, trigger(m, map[string]string{"sasl": tc.sasl, "username": user, "password": pass})), 7, true)

			wrong := "wrong-" + unique("pw")
			err := readErr(t, scalertest.NewScaler(t, typ, trigger(m, map[string]string{"sasl": tc.sasl, "username": user, "password": wrong})))
			if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), pass) {
				t.Errorf("error text contains a password: %q", err)
			}
			if !strings.Contains(err.Error(), "SASL") {
				t.Errorf("error %q does not say SASL authentication failed", err)
			}
			if got := typ.OpenConnections(); got != 1 {
				t.Errorf("%d clients open, want 1 (the good credentials'; the bad ones never opened)", got)
			}
		})
	}
}

func TestSASLFromMetadataAndAuthAgree(t *testing.T) {
	user, pass := "meta-user", unique("pw")
	c := startCluster(t, clusterOpts{mechanism: "PLAIN", user: user, password: pass})
	topic := c.topic(1)
	c.produce(topic, 2)
	m := md("bootstrapServers", c.addr, "consumerGroup", unique("group"), "topic", topic, "offsetResetPolicy", "earliest", "sasl", "plaintext")
	expectReading(t, scalertest.NewScaler(t, kafka.NewType(), trigger(m, map[string]string{"username": user, "password": pass})), 2, true)
}

func TestWithoutSASLAClusterThatRequiresItIsAnError(t *testing.T) {
	c := startCluster(t, clusterOpts{mechanism: "PLAIN", user: "u", password: "p"})
	sc := scalertest.NewScaler(t, kafka.NewType(), trigger(md("bootstrapServers", c.addr, "consumerGroup", unique("group"), "topic", "t"), nil))
	readErr(t, sc)
}

func TestAReadOfAHangingBrokerEndsAtItsDeadlineAndTheNextReadRecovers(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(1)
	c.produce(topic, 3)
	typ := kafka.NewType()
	sc := scalertest.NewScaler(t, typ, trigger(md("bootstrapServers", c.addr, "consumerGroup", unique("group"), "topic", topic, "offsetResetPolicy", "earliest"), nil))
	expectReading(t, sc, 3, true)

	// The broker stops answering ListOffsets.
	release := make(chan struct{})
	var released bool
	releaseAll := func() {
		if !released {
			released = true
			close(release)
		}
	}
	t.Cleanup(releaseAll)
	c.kfake.ControlKey(int16(kmsg.ListOffsets), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.kfake.KeepControl()
		select {
		case <-release:
			c.kfake.DropControl()
			return nil, nil, false
		default:
		}
		c.kfake.SleepControl(func() { <-release })
		return nil, nil, false
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	r, err := sc.Read(ctx)
	if err == nil {
		t.Fatalf("Read of a hanging broker = %+v, want an error", r)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Read took %s past a 300ms deadline", took)
	}
	releaseAll()
	scalertest.Eventually(t, 10*time.Second, "reads recover", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		r, err := sc.Read(ctx)
		if err != nil {
			return false, err.Error()
		}
		return r.Value == 3, ""
	})
}

func TestTheBrokerGoingAwayGivesErrorsThenReadsRecoverWhenItIsBack(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	opts := []kfake.Opt{kfake.Ports(port), kfake.DataDir(dir), kfake.SyncWrites()}
	first, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("starting kfake: %v", err)
	}
	c := &cluster{t: t, kfake: first, addr: first.ListenAddrs()[0]}
	c.cl = c.newClient(clusterOpts{})
	topic := unique("topic")
	if err := first.CreateTopic(topic, 3, nil); err != nil {
		t.Fatal(err)
	}
	group := unique("group")
	c.produce(topic, 13, 12, 12)
	c.commit(group, topic, map[int32]int64{0: 3})
	c.cl.Close()

	typ := kafka.NewType()
	sc := scalertest.NewScaler(t, typ, trigger(md("bootstrapServers", c.addr, "consumerGroup", group, "topic", topic, "offsetResetPolicy", "earliest", "lagThreshold", "100"), nil))
	expectReading(t, sc, 10+12+12, true)

	first.Close()
	for i := 0; i < 3; i++ {
		readErr(t, sc)
	}
	if got := typ.BrokerConnections(); got != 0 {
		t.Errorf("%d connections open to a cluster that is gone, want 0", got)
	}

	second, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("restarting kfake on port %d: %v", port, err)
	}
	t.Cleanup(second.Close)
	scalertest.Eventually(t, 15*time.Second, "reads recover once the broker is back", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		r, err := sc.Read(ctx)
		if err != nil {
			return false, err.Error()
		}
		return r.Value == 34 && r.Active, ""
	})
	if got := typ.OpenConnections(); got != 1 {
		t.Errorf("%d clients after recovery, want 1", got)
	}
}

func TestManyTriggersOnOneClusterShareOneClientAndOneConnection(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(3)
	c.produce(topic, 1, 2, 3)
	typ := kafka.NewType()
	var scs []interface{ Close() error }
	for i := 0; i < 50; i++ {
		sc := scalertest.NewScaler(t, typ, trigger(md("bootstrapServers", c.addr, "consumerGroup", unique("group"), "topic", topic, "offsetResetPolicy", "earliest"), nil))
		expectReading(t, sc, 6, true)
		scs = append(scs, sc)
	}
	if got := typ.OpenConnections(); got != 1 {
		t.Errorf("50 triggers opened %d clients, want 1", got)
	}
	if got := typ.BrokerConnections(); got != 1 {
		t.Errorf("50 triggers on a one-broker cluster hold %d TCP connections, want 1", got)
	}
	for _, sc := range scs {
		_ = sc.Close()
	}
	if got, conns := typ.OpenConnections(), typ.BrokerConnections(); got != 0 || conns != 0 {
		t.Errorf("after every trigger closed: %d clients and %d connections open, want 0", got, conns)
	}
}
