// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// kafkaSource is an in-process Kafka broker (kfake, the real protocol) on
// loopback with topic jobs, one partition per replica the ScaledObject may
// have (the kafka trigger never asks for more replicas than partitions),
// and consumer group worker. The consumer consumes by committing offsets;
// the lag is the records produced and not yet committed.
type kafkaSource struct {
	cluster *kfake.Cluster
	cl      *kgo.Client
	topic   string
	group   string

	mu        sync.Mutex
	ends      []int64 // log end offset per partition
	committed []int64 // committed offset per partition
	next      int     // partition the next consumed record comes from
	// remote says the group's members are pods (ebb demo --cluster): the
	// committed offsets are read from the broker, not kept here.
	remote bool
}

func newKafkaSource(ctx context.Context, partitions int32) (_ *kafkaSource, retErr error) {
	if partitions < 1 {
		partitions = 1
	}
	s := &kafkaSource{
		topic:     "jobs",
		group:     "worker",
		ends:      make([]int64, partitions),
		committed: make([]int64, partitions),
	}
	var err error
	if s.cluster, err = kfake.NewCluster(kfake.NumBrokers(1)); err != nil { // listens on 127.0.0.1
		return nil, fmt.Errorf("start the in-process Kafka broker: %w", err)
	}
	defer func() {
		if retErr != nil {
			_ = s.Close()
		}
	}()
	if err := s.cluster.CreateTopic(s.topic, partitions, nil); err != nil {
		return nil, fmt.Errorf("create topic %s: %w", s.topic, err)
	}
	if s.cl, err = kgo.NewClient(
		kgo.SeedBrokers(s.cluster.ListenAddrs()...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxVersions(kversion.V4_0_0()), // OffsetCommit by topic name
		kgo.RetryTimeout(10*time.Second),
	); err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	// The group exists and has consumed nothing: offset 0 everywhere.
	if err := s.commit(ctx, s.committed); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *kafkaSource) Describe() string {
	return fmt.Sprintf("Kafka (in-process kfake broker at %s), topic %s with %d partitions, consumer group %s;\n"+
		"             the trigger's value is capped at partitions × target: more replicas than partitions would idle",
		s.cluster.ListenAddrs()[0], s.topic, len(s.ends), s.group)
}

func (s *kafkaSource) Unit() Unit { return Unit{"record", "records"} }

func (s *kafkaSource) Trigger(_ string, target int) (v1alpha1.Trigger, []client.Object) {
	return v1alpha1.Trigger{
		Type: "kafka",
		Name: s.topic,
		Metadata: map[string]string{
			"bootstrapServers": s.cluster.ListenAddrs()[0],
			"consumerGroup":    s.group,
			"topic":            s.topic,
			"lagThreshold":     strconv.Itoa(target),
		},
	}, nil
}

// Produce writes n records round-robin over the partitions.
func (s *kafkaSource) Produce(ctx context.Context, n int) error {
	parts := int32(len(s.ends))
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: s.topic, Partition: int32(i) % parts, Value: fmt.Appendf(nil, "job %d", i)}
	}
	res := s.cl.ProduceSync(ctx, recs...)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range res {
		if r.Err == nil {
			s.ends[r.Record.Partition] = max(s.ends[r.Record.Partition], r.Record.Offset+1)
		}
	}
	if err := res.FirstErr(); err != nil {
		return fmt.Errorf("produce to %s: %w", s.topic, err)
	}
	return nil
}

// Consume commits up to n more records, taken from the partitions with lag
// in turn, as the group's members would.
func (s *kafkaSource) Consume(ctx context.Context, n int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	offsets := append([]int64(nil), s.committed...)
	took := 0
	for idle := 0; took < n && idle < len(offsets); s.next = (s.next + 1) % len(offsets) {
		if offsets[s.next] < s.ends[s.next] {
			offsets[s.next]++
			took++
			idle = 0
		} else {
			idle++
		}
	}
	if took == 0 {
		return 0, nil
	}
	if err := s.commit(ctx, offsets); err != nil {
		return 0, err
	}
	s.committed = offsets
	return took, nil
}

func (s *kafkaSource) Depth(ctx context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.remote {
		committed, err := s.fetchCommitted(ctx)
		if err != nil {
			return 0, err
		}
		s.committed = committed
	}
	var lag int64
	for p := range s.ends {
		lag += s.ends[p] - s.committed[p]
	}
	return lag, nil
}

// commit commits offsets[p] on every partition p, as a consumer outside any
// group generation does.
func (s *kafkaSource) commit(ctx context.Context, offsets []int64) error {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = s.group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = s.topic
	for p, off := range offsets {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = int32(p), off
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := req.RequestWith(ctx, s.cl)
	if err != nil {
		return fmt.Errorf("commit offsets of group %s: %w", s.group, err)
	}
	var errs []error
	for _, rt := range res.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				errs = append(errs, fmt.Errorf("commit offset of %s/%d: %w", rt.Topic, rp.Partition, err))
			}
		}
	}
	return errors.Join(errs...)
}

// fetchCommitted reads the group's committed offsets from the broker, one
// per partition (a partition without one counts as 0).
func (s *kafkaSource) fetchCommitted(ctx context.Context) ([]int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = s.group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = s.topic
	for p := range s.ends {
		rt.Partitions = append(rt.Partitions, int32(p))
	}
	req.Topics = append(req.Topics, rt)
	res, err := req.RequestWith(ctx, s.cl)
	if err != nil {
		return nil, fmt.Errorf("read the offsets of group %s: %w", s.group, err)
	}
	if err := kerr.ErrorForCode(res.ErrorCode); err != nil {
		return nil, fmt.Errorf("read the offsets of group %s: %w", s.group, err)
	}
	out := make([]int64, len(s.ends))
	for _, t := range res.Topics {
		for _, p := range t.Partitions {
			if t.Topic == s.topic && int(p.Partition) < len(out) && p.Offset > 0 {
				out[p.Partition] = p.Offset
			}
		}
	}
	return out, nil
}

func (s *kafkaSource) Close() error {
	if s.cl != nil {
		s.cl.Close()
	}
	s.cluster.Close()
	return nil
}
