// SPDX-License-Identifier: Apache-2.0

package kafka_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ebbscale/ebb/scalers/kafka"

	"github.com/ebbscale/ebb/scalers/scalertest"
)

func TestAPeerThatIsNotKafkaIsAPromptErrorNotAHugeAllocation(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_, _ = bufio.NewReader(conn).ReadByte()
				_, _ = conn.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
			}()
		}
	}()
	sc := scalertest.NewScaler(t, kafka.NewType(), trigger(md("bootstrapServers", l.Addr().String(), "consumerGroup", "g", "topic", "t"), nil))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err = sc.Read(ctx)
	if err == nil || !contains(err.Error(), "does not answer like a Kafka broker") {
		t.Fatalf("Read = %v, want an error saying the peer is not a Kafka broker", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Read took %s", took)
	}
}

func TestAPartitionLeaderMovingBetweenReadsIsFollowedWithinOneRead(t *testing.T) {
	c := startCluster(t, clusterOpts{brokers: 3})
	topic := c.topic(3)
	group := unique("group")
	c.produce(topic, 5, 6, 7)
	c.commit(group, topic, map[int32]int64{0: 1, 1: 1, 2: 1})
	sc := scalertest.NewScaler(t, kafka.NewType(), trigger(md("bootstrapServers", c.addr, "consumerGroup", group, "topic", topic, "lagThreshold", "100"), nil))
	expectReading(t, sc, 4+5+6, true)

	// Within the metadata cache's life, every leader moves.
	for p := int32(0); p < 3; p++ {
		to := (c.kfake.LeaderFor(topic, p) + 1) % 3
		if err := c.kfake.MoveTopicPartition(topic, p, to); err != nil {
			t.Fatal(err)
		}
	}
	expectReading(t, sc, 4+5+6, true)
}

func TestACoordinatorMovingBetweenReadsIsFollowedWithinOneRead(t *testing.T) {
	c := startCluster(t, clusterOpts{brokers: 3})
	topic := c.topic(1)
	c.produce(topic, 9)
	typ := kafka.NewType()
	groups := make([]string, 6)
	for i := range groups {
		groups[i] = unique("group")
		c.commit(groups[i], topic, map[int32]int64{0: int64(i)})
	}
	read := func() {
		t.Helper()
		for i, g := range groups {
			sc := scalertest.NewScaler(t, typ, trigger(md("bootstrapServers", c.addr, "consumerGroup", g, "topic", topic, "lagThreshold", "100"), nil))
			expectReading(t, sc, float64(9-i), true)
		}
	}
	read()
	before := map[string]int32{}
	for _, g := range groups {
		before[g] = c.kfake.CoordinatorFor(g)
	}
	moved := 0
	for attempt := 0; attempt < 10 && moved == 0; attempt++ {
		c.kfake.RehashCoordinators()
		for _, g := range groups {
			if c.kfake.CoordinatorFor(g) != before[g] {
				moved++
			}
		}
	}
	if moved == 0 {
		t.Fatal("kfake did not move any coordinator")
	}
	c.cl.Close()
	rc := countRequests(c)
	read()
	if got := rc.take()[int16(kmsg.FindCoordinator)]; got != moved {
		t.Errorf("%d FindCoordinator requests after %d coordinators moved, want %d (cached otherwise)", got, moved, moved)
	}
}

func TestAConnectionTheBrokerDroppedIsReplacedWithoutAFailedRead(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(2)
	c.produce(topic, 3, 4)
	typ := kafka.NewType()
	sc := scalertest.NewScaler(t, typ, trigger(md("bootstrapServers", c.addr, "consumerGroup", unique("group"), "topic", topic, "offsetResetPolicy", "earliest"), nil))
	expectReading(t, sc, 7, true)

	// The broker drops the connection on the next request it gets.
	c.kfake.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		return nil, errors.New("connection dropped by the test"), true
	})
	expectReading(t, sc, 7, true)
	if got := typ.BrokerConnections(); got != 1 {
		t.Errorf("%d connections after the replacement, want 1", got)
	}
}
