// SPDX-License-Identifier: Apache-2.0

package kafka_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

// cluster is an in-process Kafka cluster (kfake, which speaks the real
// protocol) and a franz-go client that produces to it and commits offsets.
type cluster struct {
	t     testing.TB
	kfake *kfake.Cluster
	addr  string // the first broker, host:port
	cl    *kgo.Client
}

// clusterOpts configures startCluster.
type clusterOpts struct {
	brokers int
	// mechanism ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"), user and
	// password of the superuser the test client authenticates as; empty
	// for no SASL.
	mechanism, user, password string
	// serverTLS turns on TLS on the brokers; clientTLS is what the test
	// client then uses.
	serverTLS, clientTLS *tls.Config
	extra                []kfake.Opt
}

// startCluster starts a Kafka cluster for the test and stops it at the end.
// It fails the test, never skips, when the cluster cannot start or be
// reached.
func startCluster(t testing.TB, o clusterOpts) *cluster {
	t.Helper()
	if o.brokers == 0 {
		o.brokers = 1
	}
	opts := append([]kfake.Opt{kfake.NumBrokers(o.brokers)}, o.extra...)
	if o.mechanism != "" {
		opts = append(opts, kfake.EnableSASL(), kfake.Superuser(o.mechanism, o.user, o.password))
	}
	if o.serverTLS != nil {
		opts = append(opts, kfake.TLS(o.serverTLS))
	}
	kc, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("starting the in-process Kafka cluster (kfake): %v", err)
	}
	c := &cluster{t: t, kfake: kc, addr: kc.ListenAddrs()[0]}
	c.cl = c.newClient(o)
	t.Cleanup(func() {
		c.cl.Close()
		kc.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.cl.Ping(ctx); err != nil {
		t.Fatalf("the in-process Kafka cluster at %s is not reachable: %v", c.addr, err)
	}
	return c
}

func (c *cluster) newClient(o clusterOpts) *kgo.Client {
	c.t.Helper()
	kopts := []kgo.Opt{
		kgo.SeedBrokers(c.kfake.ListenAddrs()...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		// OffsetCommit v10 names topics by id; stay on names.
		kgo.MaxVersions(kversion.V4_0_0()),
		kgo.RetryTimeout(10 * time.Second),
	}
	if o.clientTLS != nil {
		kopts = append(kopts, kgo.DialTLSConfig(o.clientTLS))
	}
	if o.mechanism != "" {
		var m sasl.Mechanism
		switch o.mechanism {
		case "PLAIN":
			m = plain.Auth{User: o.user, Pass: o.password}.AsMechanism()
		case "SCRAM-SHA-256":
			m = scram.Auth{User: o.user, Pass: o.password}.AsSha256Mechanism()
		case "SCRAM-SHA-512":
			m = scram.Auth{User: o.user, Pass: o.password}.AsSha512Mechanism()
		}
		kopts = append(kopts, kgo.SASL(m))
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		c.t.Fatalf("kgo client: %v", err)
	}
	return cl
}

// unique returns a name no other test uses.
func unique(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// topic creates a topic with a unique name and deletes it at the end.
func (c *cluster) topic(partitions int32) string {
	c.t.Helper()
	name := unique("topic")
	if err := c.kfake.CreateTopic(name, partitions, nil); err != nil {
		c.t.Fatalf("creating topic %s: %v", name, err)
	}
	c.t.Cleanup(func() { _ = c.kfake.DeleteTopic(name) })
	return name
}

// produce writes counts[p] records to partition p of topic.
func (c *cluster) produce(topic string, counts ...int) {
	c.t.Helper()
	var recs []*kgo.Record
	for p, n := range counts {
		for i := 0; i < n; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(p), Value: []byte(fmt.Sprintf("m%d-%d", p, i))})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		c.t.Fatalf("producing to %s: %v", topic, err)
	}
}

// commit commits offsets[p] for partition p of topic in group, as a consumer
// outside any generation would.
func (c *cluster) commit(group, topic string, offsets map[int32]int64) {
	c.t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group = group
	req.Generation = -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	for p, off := range offsets {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, off
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		c.t.Fatalf("committing offsets of %s on %s: %v", group, topic, err)
	}
	for _, t := range res.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				c.t.Fatalf("committing offsets of %s on %s partition %d: %v", group, topic, p.Partition, err)
			}
		}
	}
}

// trigger is a kafka trigger with the given metadata (key=value pairs) and
// auth parameters.
func trigger(md map[string]string, auth map[string]string) scalers.Trigger {
	return scalers.Trigger{
		Namespace: "default", ScaledObject: "consumer", Index: 0, Name: "kafka-0", Type: "kafka",
		Metadata: md, AuthParams: auth, MetricType: v1alpha1.MetricTypeAverageValue,
	}
}

func read(t testing.TB, sc scalers.Scaler) scalers.Reading {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := sc.Read(ctx)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return r
}

func readErr(t *testing.T, sc scalers.Scaler) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := sc.Read(ctx)
	if err == nil {
		t.Fatalf("Read = %+v, want an error", r)
	}
	if r != (scalers.Reading{}) {
		t.Errorf("Read returned %+v along with its error", r)
	}
	return err
}

func expectReading(t *testing.T, sc scalers.Scaler, value float64, active bool) {
	t.Helper()
	r := read(t, sc)
	if r.Value != value || r.Active != active {
		t.Fatalf("Read = {Value: %v, Active: %v}, want {Value: %v, Active: %v}", r.Value, r.Active, value, active)
	}
}

// freePort returns a loopback port where nothing listens.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func md(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func contains(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func fmtv(v any) string      { return fmt.Sprintf("%v", v) }
func fmtplusv(v any) string  { return fmt.Sprintf("%+v", v) }
func fmtsharpv(v any) string { return fmt.Sprintf("%#v", v) }
