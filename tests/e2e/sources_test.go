// SPDX-License-Identifier: Apache-2.0

package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

func unique(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// rabbitSource is a queue, unique to the test, on the machine's RabbitMQ.
// The broker's address reaches the trigger through a Secret and a
// TriggerAuthentication, as credentials should.
type rabbitSource struct {
	conn  *amqp.Connection
	ch    *amqp.Channel
	queue string
}

const rabbitURL = "amqp://guest:guest@127.0.0.1:5672/"

func (s *rabbitSource) setup(t *testing.T, c client.Client, ns string) v1alpha1.Trigger {
	t.Helper()
	return s.declare(t, c, ns)
}

// declare is setup for a benchmark too.
func (s *rabbitSource) declare(t testing.TB, c client.Client, ns string) v1alpha1.Trigger {
	t.Helper()
	var err error
	if s.conn, err = amqp.Dial(rabbitURL); err != nil {
		t.Fatalf("RabbitMQ at 127.0.0.1:5672 (see tests/services.sh): %v", err)
	}
	t.Cleanup(func() { _ = s.conn.Close() })
	if s.ch, err = s.conn.Channel(); err != nil {
		t.Fatal(err)
	}
	s.queue = unique("ebb-e2e")
	if _, err := s.ch.QueueDeclare(s.queue, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if ch, err := s.conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(s.queue, false, false, false)
		}
	})
	ctx := t.Context()
	if err := c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rabbitmq"},
		StringData: map[string]string{"host": rabbitURL},
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &v1alpha1.TriggerAuthentication{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rabbitmq"},
		Spec:       v1alpha1.TriggerAuthenticationSpec{SecretTargetRef: []v1alpha1.KeyRef{{Parameter: "host", Name: "rabbitmq", Key: "host"}}},
	}); err != nil {
		t.Fatal(err)
	}
	return v1alpha1.Trigger{
		Type:              "rabbitmq",
		Metadata:          map[string]string{"queueName": s.queue, "mode": "QueueLength", "value": "10"},
		AuthenticationRef: &v1alpha1.AuthenticationRef{Name: "rabbitmq"},
	}
}

func (s *rabbitSource) publish(t testing.TB, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for i := range n {
		if err := s.ch.PublishWithContext(ctx, "", s.queue, false, false, amqp.Publishing{Body: fmt.Appendf(nil, "job %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func (s *rabbitSource) one(t *testing.T)    { s.publish(t, 1) }
func (s *rabbitSource) burst(t *testing.T)  { s.publish(t, 100) }
func (s *rabbitSource) burstValue() float64 { return 101 }
func (s *rabbitSource) drain(t *testing.T) {
	t.Helper()
	if _, err := s.ch.QueuePurge(s.queue, false); err != nil {
		t.Fatal(err)
	}
}

// kafkaSource is an in-process Kafka cluster (kfake, the real protocol) on
// loopback that the operator process connects to, with a topic of 10
// partitions and a consumer group that has committed offset 0 on each.
type kafkaSource struct {
	cluster *kfake.Cluster
	cl      *kgo.Client
	topic   string
	group   string
}

const kafkaPartitions = 10

func (s *kafkaSource) setup(t *testing.T, _ client.Client, _ string) v1alpha1.Trigger {
	t.Helper()
	var err error
	if s.cluster, err = kfake.NewCluster(kfake.NumBrokers(1)); err != nil { // listens on 127.0.0.1
		t.Fatalf("start the in-process Kafka cluster: %v", err)
	}
	t.Cleanup(s.cluster.Close)
	s.topic, s.group = unique("orders"), unique("workers")
	if err := s.cluster.CreateTopic(s.topic, kafkaPartitions, nil); err != nil {
		t.Fatal(err)
	}
	if s.cl, err = kgo.NewClient(
		kgo.SeedBrokers(s.cluster.ListenAddrs()...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxVersions(kversion.V4_0_0()), // OffsetCommit by topic name
		kgo.RetryTimeout(10*time.Second),
	); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.cl.Close)
	s.commit(t, func(int32) int64 { return 0 })
	return v1alpha1.Trigger{
		Type: "kafka",
		Metadata: map[string]string{
			"bootstrapServers": s.cluster.ListenAddrs()[0],
			"consumerGroup":    s.group,
			"topic":            s.topic,
			"lagThreshold":     "10",
		},
	}
}

// produce writes n records round-robin over the partitions.
func (s *kafkaSource) produce(t *testing.T, n int) {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: s.topic, Partition: int32(i % kafkaPartitions), Value: fmt.Appendf(nil, "order %d", i)}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// commit commits offset(p) on every partition, as a consumer outside any
// generation would.
func (s *kafkaSource) commit(t *testing.T, offset func(p int32) int64) {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = s.group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = s.topic
	for p := range int32(kafkaPartitions) {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, offset(p)
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	res, err := req.RequestWith(ctx, s.cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range res.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				t.Fatalf("commit on partition %d: %v", rp.Partition, err)
			}
		}
	}
}

func (s *kafkaSource) one(t *testing.T)   { s.produce(t, 1) }
func (s *kafkaSource) burst(t *testing.T) { s.produce(t, 100) }

// burstValue: a lag of 101, capped at partitions × lagThreshold so that the
// HPA never asks for more consumers than partitions.
func (s *kafkaSource) burstValue() float64 { return kafkaPartitions * 10 }

// drain commits every partition's log end: the group has consumed it all.
func (s *kafkaSource) drain(t *testing.T) {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = s.topic
	for p := range int32(kafkaPartitions) {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p, -1 // the log end
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	res, err := req.RequestWith(ctx, s.cl)
	if err != nil {
		t.Fatal(err)
	}
	ends := map[int32]int64{}
	for _, rt := range res.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				t.Fatalf("log end of partition %d: %v", rp.Partition, err)
			}
			ends[rp.Partition] = rp.Offset
		}
	}
	s.commit(t, func(p int32) int64 { return ends[p] })
}

// postgresSource is a table, unique to the test, on the machine's
// PostgreSQL (trust authentication on 127.0.0.1 for user postgres,
// database test); the trigger counts its rows.
type postgresSource struct {
	conn  *pgx.Conn
	table string
}

func (s *postgresSource) setup(t *testing.T, _ client.Client, _ string) v1alpha1.Trigger {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var err error
	if s.conn, err = pgx.Connect(ctx, "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable"); err != nil {
		t.Fatalf("PostgreSQL at 127.0.0.1:5432 (see tests/services.sh): %v", err)
	}
	t.Cleanup(func() { _ = s.conn.Close(context.Background()) })
	s.table = "ebb_e2e_" + unique("jobs")[5:]
	s.exec(t, "CREATE TABLE "+s.table+" (id serial PRIMARY KEY, payload text NOT NULL)")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = s.conn.Exec(ctx, "DROP TABLE IF EXISTS "+s.table)
	})
	return v1alpha1.Trigger{
		Type: "postgresql",
		Metadata: map[string]string{
			"host": "127.0.0.1", "port": "5432", "userName": "postgres", "dbName": "test", "sslmode": "disable",
			"query":            "SELECT count(*) FROM " + s.table,
			"targetQueryValue": "10",
		},
	}
}

func (s *postgresSource) exec(t *testing.T, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := s.conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (s *postgresSource) one(t *testing.T) {
	s.exec(t, "INSERT INTO "+s.table+" (payload) VALUES ('job')")
}
func (s *postgresSource) burst(t *testing.T) {
	s.exec(t, "INSERT INTO "+s.table+" (payload) SELECT 'job ' || g FROM generate_series(1, 100) g")
}
func (s *postgresSource) burstValue() float64 { return 101 }
func (s *postgresSource) drain(t *testing.T)  { s.exec(t, "DELETE FROM "+s.table) }
