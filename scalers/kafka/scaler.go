// SPDX-License-Identifier: Apache-2.0

package kafka

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

// Type is the kafka trigger type. It owns one client per cluster (bootstrap
// servers, credentials and TLS settings), shared by all its triggers, merges
// identical reads (same cluster, group and topic) in flight, and answers the
// activation probes of all triggers on a cluster in batches (see probe.go).
type Type struct {
	clients *scalers.Pool[clusterKey, *client]
	reads   scalers.Coalescer[[]TopicOffsets]
	conns   atomic.Int32 // open TCP connections of all clients

	probes       probers
	probeBatches atomic.Int64     // batches started, for tests and benchmarks
	now          func() time.Time // the clock of probe results and interest
	egress       *scalers.Egress  // the operator's policy on the destinations dialled
}

var (
	_ scalers.Type   = (*Type)(nil)
	_ scalers.Scaler = (*scaler)(nil)
	_ scalers.Prober = (*scaler)(nil)
)

// NewType returns the kafka trigger type under the default egress policy
// (tests).
func NewType() *Type { return NewTypeWithEgress(scalers.DefaultEgress()) }

// NewTypeWithEgress returns the kafka trigger type, whose clients connect
// (to bootstrap servers and to the brokers they name) only where egress
// allows.
func NewTypeWithEgress(egress *scalers.Egress) *Type {
	t := &Type{now: time.Now, egress: egress}
	t.clients = scalers.NewPool(func(ctx context.Context, k clusterKey) (*client, error) {
		return newClient(ctx, k, &t.conns, egress)
	}, (*client).close)
	return t
}

// Name is "kafka".
func (t *Type) Name() string { return "kafka" }

// ApacheKafka is the trigger type of KEDA's newer Kafka scaler
// (apache-kafka). Its keys are a subset of kafka's, with the same meaning,
// so Ebb serves it as another name of the kafka trigger.
const ApacheKafka = "apache-kafka"

// Alias returns t under another trigger type name, for the registry: its
// triggers share t's clients, merged reads and probe batches with t's own.
func (t *Type) Alias(name string) scalers.Type { return alias{Type: t, name: name} }

// alias is a Type under another name.
type alias struct {
	*Type
	name string
}

func (a alias) Name() string { return a.name }

// Config returns a zero Config.
func (t *Type) Config() any { return &Config{} }

// Validate parses the trigger's metadata without I/O.
func (t *Type) Validate(tr scalers.Trigger) error {
	_, err := parse(tr)
	return err
}

// authOnly are the keys that may come only from a TriggerAuthentication;
// set in metadata (where anyone who reads the ScaledObject sees them) they
// are an error, not silently ignored.
var authOnly = []string{"username", "password", "clientId", "clientSecret", "ca", "cert", "key", "keyPassword"}

func parse(tr scalers.Trigger) (*Config, error) {
	for _, k := range authOnly {
		if _, ok := tr.Metadata[k]; ok {
			return nil, &scalers.FieldError{Trigger: tr.String(), Key: k, Msg: "may only come from a TriggerAuthentication, not from metadata"}
		}
	}
	var cfg Config
	if err := scalers.ParseMetadata(tr, &cfg); err != nil {
		return nil, err
	}
	if !tr.AuthPending {
		if err := cfg.validateResolved(); err != nil {
			return nil, scalers.TriggerError(tr, err)
		}
	}
	return &cfg, nil
}

// OpenConnections is the number of open cluster clients (one per cluster
// and set of credentials in use).
func (t *Type) OpenConnections() int {
	_, open := t.clients.Stats()
	return open
}

// BrokerConnections is the number of open TCP connections of all clients:
// at most one per broker of each cluster in use.
func (t *Type) BrokerConnections() int { return int(t.conns.Load()) }

// New builds the trigger's Scaler. It does no I/O.
func (t *Type) New(tr scalers.Trigger) (scalers.Scaler, error) {
	cfg, err := parse(tr)
	if err != nil {
		return nil, err
	}
	parts, _ := cfg.partitions() // validated by parse
	detail := cfg.Topic
	if detail == "" {
		detail = cfg.ConsumerGroup
	}
	key := cfg.clusterKey()
	earliest := cfg.OffsetResetPolicy == "earliest"
	return &scaler{
		typ:        t,
		cfg:        cfg,
		key:        key,
		lease:      t.clients.Acquire(key),
		prober:     t.probes.acquire(t, key),
		probeKey:   probeKey{group: cfg.ConsumerGroup, topic: cfg.Topic, earliest: earliest},
		trigger:    tr.String(),
		partitions: parts,
		earliest:   earliest,
		readKey:    key.id() + "\x00" + cfg.ConsumerGroup + "\x00" + cfg.Topic + "\x00" + strconv.FormatBool(earliest),
		metric: scalers.MetricSpec{
			Name:             scalers.MetricName(tr, detail),
			Target:           float64(cfg.LagThreshold),
			ActivationTarget: float64(cfg.ActivationLagThreshold),
			Type:             tr.MetricTypeOrDefault(),
		},
	}, nil
}

type scaler struct {
	typ        *Type
	cfg        *Config
	key        clusterKey
	lease      *scalers.Lease[clusterKey, *client]
	prober     *prober
	probeKey   probeKey
	trigger    string
	partitions []int32 // partitionLimitation, sorted; nil for all
	earliest   bool
	readKey    string
	metric     scalers.MetricSpec

	mu   sync.Mutex // guards prev and gen
	prev map[topicPartition]seenOffset
	gen  uint64
}

type topicPartition struct {
	topic     string
	partition int32
}

// seenOffset is a partition's committed offset and lag at the read gen.
type seenOffset struct {
	offset, lag int64
	gen         uint64
}

func (s *scaler) Metric() scalers.MetricSpec { return s.metric }

// Read measures the group's lag. Identical reads of other triggers in flight
// are shared.
func (s *scaler) Read(ctx context.Context) (scalers.Reading, error) {
	s.prober.read(s.probeKey)
	topics, err := s.typ.reads.Do(ctx, s.readKey, s.fetch)
	if err != nil {
		return scalers.Reading{}, s.readError(err)
	}
	return s.evaluate(topics), nil
}

// Probe is Read answered from a batch that reads the offsets of every
// trigger probed on the cluster together (see probe.go): a result at most
// probeMaxAge old, turned into a Reading by the same rules as Read's.
func (s *scaler) Probe(ctx context.Context) (scalers.Reading, error) {
	r, err := s.prober.probe(ctx, s.probeKey)
	if err == nil && r.alone {
		return s.Read(ctx)
	}
	if err == nil {
		err = r.err
	}
	if err != nil {
		return scalers.Reading{}, s.readError(err)
	}
	return s.evaluate(r.topics), nil
}

// readError is err, the failure of a read or probe, naming the trigger,
// the group and the topic, without credentials.
func (s *scaler) readError(err error) error {
	what := "all its topics"
	if s.cfg.Topic != "" {
		what = fmt.Sprintf("topic %q", s.cfg.Topic)
	}
	return scalers.Redact(fmt.Errorf("%s: reading the lag of consumer group %q on %s: %w", s.trigger, s.cfg.ConsumerGroup, what, err), s.key.secrets()...)
}

func (s *scaler) fetch(ctx context.Context) ([]TopicOffsets, error) {
	c, err := s.lease.Get(ctx)
	if err != nil {
		return nil, err
	}
	res, err := c.offsets(ctx, map[string][]string{s.cfg.ConsumerGroup: {s.cfg.Topic}}, s.earliest)
	if err != nil {
		if isConnError(err) {
			s.lease.Invalidate(ctx, c, func(a, b *client) bool { return a == b })
		}
		return nil, err
	}
	g := res[s.cfg.ConsumerGroup]
	return g.Topics, g.Err
}

// evaluate turns offsets into a reading:
//
//   - a partition's lag is LogEnd − Committed (never negative); with no
//     committed offset it is LogEnd − LogStart under the earliest policy,
//     and under the latest policy 1, or 0 with scaleToZeroOnInvalidOffset;
//   - with excludePersistentLag, a partition that had lag at the previous
//     read, still has, and whose committed offset has not moved since is
//     left out of the value (not out of the activation);
//   - for AverageValue, the value is capped at (partitions × lagThreshold)
//     unless allowIdleConsumers, or at (partitions with lag ×
//     lagThreshold) with limitToPartitionsWithLag, so that the HPA never
//     asks for more replicas than there are partitions to consume;
//   - the trigger is active when the total lag, before exclusion and cap,
//     is above activationLagThreshold.
func (s *scaler) evaluate(topics []TopicOffsets) scalers.Reading {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	var total, counted, partitions, withLag int64
	seen := 0
	for _, t := range topics {
		for _, p := range t.Partitions {
			if s.partitions != nil {
				if _, ok := slices.BinarySearch(s.partitions, p.Partition); !ok {
					continue
				}
			}
			partitions++
			lag, ok := p.Lag()
			if !ok {
				lag = s.invalidOffsetLag(p)
			}
			total += lag
			if ok && s.cfg.ExcludePersistentLag {
				seen++
				if s.persistent(topicPartition{t.Topic, p.Partition}, p.Committed, lag) {
					continue
				}
			}
			counted += lag
			if lag > 0 {
				withLag++
			}
		}
	}
	if s.cfg.ExcludePersistentLag && len(s.prev) > seen {
		for k, v := range s.prev {
			if v.gen != s.gen {
				delete(s.prev, k)
			}
		}
	}
	value := counted
	if s.metric.Type == v1alpha1.MetricTypeAverageValue && (!s.cfg.AllowIdleConsumers || s.cfg.LimitToPartitionsWithLag) {
		limit := partitions
		if s.cfg.LimitToPartitionsWithLag {
			limit = withLag
		}
		if limit == 0 || s.cfg.LagThreshold <= math.MaxInt64/limit { // else no lag reaches the cap
			value = min(value, limit*s.cfg.LagThreshold)
		}
	}
	return scalers.Reading{
		Value:  float64(value),
		Active: scalers.IsActive(float64(total), s.metric.ActivationTarget),
	}
}

func (s *scaler) invalidOffsetLag(p PartitionOffsets) int64 {
	switch {
	case s.earliest && p.LogStart >= 0:
		return max(p.LogEnd-p.LogStart, 0)
	case s.earliest:
		return max(p.LogEnd, 0)
	case s.cfg.ScaleToZeroOnInvalidOffset:
		return 0
	default:
		return 1
	}
}

// persistent records a partition's committed offset and lag, and says
// whether its lag is persistent: it had lag at the previous read, still has,
// and its committed offset has not moved since. The caller holds mu.
func (s *scaler) persistent(tp topicPartition, committed, lag int64) bool {
	if s.prev == nil {
		s.prev = map[topicPartition]seenOffset{}
	}
	before, seen := s.prev[tp]
	s.prev[tp] = seenOffset{offset: committed, lag: lag, gen: s.gen}
	return seen && before.offset == committed && before.lag > 0 && lag > 0
}

func (s *scaler) Close() error {
	s.typ.probes.release(s.prober)
	s.lease.Release()
	return nil
}

// Cluster is a Kafka cluster and the credentials to read it with, as a
// trigger gives them. It is comparable. It holds credentials: its String
// shows only the bootstrap servers.
type Cluster struct{ key clusterKey }

func (c Cluster) String() string   { return "kafka cluster " + c.key.servers }
func (c Cluster) GoString() string { return c.String() }

// ClusterOf returns the cluster a trigger reads.
func (t *Type) ClusterOf(tr scalers.Trigger) (Cluster, error) {
	cfg, err := parse(tr)
	if err != nil {
		return Cluster{}, err
	}
	return Cluster{key: cfg.clusterKey()}, nil
}

// Lags reads the offsets of several consumer groups on one cluster with as
// few requests as the protocol allows: one Metadata request for the topics
// not cached, one OffsetFetch per group (two for a group given no topics: the
// first learns its topics), one ListOffsets per partition leader for the log
// end offsets of all partitions of all topics, and one more per leader for
// the log start offsets of partitions some group has not committed on.
//
// groups maps a consumer group to its topics; no topics (or "") means every
// topic the group has committed offsets for. The result has an entry per
// group, with the group's own error if only that group failed; err is a
// failure of the cluster. It reuses the cluster's pooled client when a
// trigger holds one. Errors never contain a credential.
func (t *Type) Lags(ctx context.Context, cl Cluster, groups map[string][]string) (map[string]GroupOffsets, error) {
	lease := t.clients.Acquire(cl.key)
	defer lease.Release()
	secrets := cl.key.secrets()
	c, err := lease.Get(ctx)
	if err != nil {
		return nil, scalers.Redact(fmt.Errorf("%s: %w", cl, err), secrets...)
	}
	res, err := c.offsets(ctx, groups, true)
	if err != nil {
		if isConnError(err) {
			lease.Invalidate(ctx, c, func(a, b *client) bool { return a == b })
		}
		return nil, scalers.Redact(fmt.Errorf("%s: %w", cl, err), secrets...)
	}
	for g, r := range res {
		if r.Err != nil {
			r.Err = scalers.Redact(r.Err, secrets...)
			res[g] = r
		}
	}
	return res, nil
}
