// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/ebbscale/ebb/scalers"
)

// clientName is the name Ebb's connections show in CLIENT LIST.
const clientName = "ebb"

// shared is what the two trigger types share: one client per (server,
// database, credentials, TLS settings) and the merging of identical reads.
type shared struct {
	// egress is the operator's policy on the destinations dialled.
	egress  *scalers.Egress
	clients *scalers.Pool[connKey, *client]
	reads   scalers.Coalescer[float64]
	probes  *batcher
	// clientName is CLIENT SETNAME's argument on every connection.
	clientName string
	// queries counts the round trips sent to Redis (a pipeline is one) and
	// dials the TCP connections opened, for tests and benchmarks.
	queries atomic.Int64
	dials   atomic.Int64
}

// ListType is a trigger type that scales on a list's length: redis (one
// server), redis-cluster or redis-sentinel. Build it with NewTypes or
// NewAllTypes; it is safe for concurrent use.
type ListType struct {
	sh   *shared
	topo topology
}

// StreamType is a trigger type that scales on a stream: the pending entries
// or the lag of a consumer group, or the stream's length. It is
// redis-streams (one server), redis-cluster-streams or
// redis-sentinel-streams. Build it with NewTypes or NewAllTypes; it is safe
// for concurrent use.
type StreamType struct {
	sh   *shared
	topo topology
}

var (
	_ scalers.Type   = (*ListType)(nil)
	_ scalers.Type   = (*StreamType)(nil)
	_ scalers.Scaler = (*scaler)(nil)
	_ scalers.Prober = (*scaler)(nil)
)

// NewTypes returns the redis and redis-streams trigger types. They share one
// pool of clients, so list and stream triggers on one Redis server hold one
// client between them.
// They use the default egress policy (tests).
func NewTypes() (*ListType, *StreamType) { return NewTypesWithEgress(scalers.DefaultEgress()) }

// NewTypesWithEgress returns the redis and redis-streams trigger types,
// whose clients connect only where egress allows.
func NewTypesWithEgress(egress *scalers.Egress) (*ListType, *StreamType) {
	ts := NewAllTypesWithEgress(egress)
	return ts.List, ts.Streams
}

// Types are the six Redis trigger types, sharing one pool of clients.
type Types struct {
	List, ClusterList, SentinelList          *ListType
	Streams, ClusterStreams, SentinelStreams *StreamType
}

// All lists the types, for a registry.
func (ts Types) All() []scalers.Type {
	return []scalers.Type{ts.List, ts.Streams, ts.ClusterList, ts.ClusterStreams, ts.SentinelList, ts.SentinelStreams}
}

// NewAllTypesWithEgress returns the six Redis trigger types — redis,
// redis-streams, and their redis-cluster and redis-sentinel variants —
// whose clients connect only where egress allows, every node a cluster or
// the sentinels name included.
func NewAllTypesWithEgress(egress *scalers.Egress) Types {
	return newTypes(newShared(clientName, egress))
}

func newTypes(sh *shared) Types {
	return Types{
		List: &ListType{sh, standalone}, ClusterList: &ListType{sh, cluster}, SentinelList: &ListType{sh, sentinel},
		Streams: &StreamType{sh, standalone}, ClusterStreams: &StreamType{sh, cluster}, SentinelStreams: &StreamType{sh, sentinel},
	}
}

func newShared(name string, egress *scalers.Egress) *shared {
	sh := &shared{clientName: name, egress: egress}
	sh.clients = scalers.NewPool(sh.newClient, (*client).close)
	sh.probes = newBatcher(sh)
	return sh
}

// topologyNames are the suffixes of the type names.
var topologyNames = [...]string{standalone: "", cluster: "-cluster", sentinel: "-sentinel"}

// Name is "redis", "redis-cluster" or "redis-sentinel".
func (t *ListType) Name() string { return "redis" + topologyNames[t.topo] }

// Config returns a zero ListConfig, ClusterListConfig or SentinelListConfig.
func (t *ListType) Config() any {
	switch t.topo {
	case cluster:
		return &ClusterListConfig{}
	case sentinel:
		return &SentinelListConfig{}
	default:
		return &ListConfig{}
	}
}

// Validate parses a trigger's metadata without I/O.
func (t *ListType) Validate(tr scalers.Trigger) error {
	_, err := parse(tr, t.Config().(config))
	return err
}

// New builds a trigger's Scaler. It does no I/O: the client connects on the
// first Read.
func (t *ListType) New(tr scalers.Trigger) (scalers.Scaler, error) {
	p, err := parse(tr, t.Config().(config))
	if err != nil {
		return nil, err
	}
	return t.sh.newScaler(tr, p)
}

// OpenConnections reports how many clients the Redis types hold open, one
// per (server or cluster or master, database, credentials, TLS settings)
// in use. Each client holds at most maxConns TCP connections per server.
func (t *ListType) OpenConnections() int { return t.sh.openClients() }

// Name is "redis-streams", "redis-cluster-streams" or
// "redis-sentinel-streams".
func (t *StreamType) Name() string { return "redis" + topologyNames[t.topo] + "-streams" }

// Config returns a zero StreamConfig, ClusterStreamConfig or
// SentinelStreamConfig.
func (t *StreamType) Config() any {
	switch t.topo {
	case cluster:
		return &ClusterStreamConfig{}
	case sentinel:
		return &SentinelStreamConfig{}
	default:
		return &StreamConfig{}
	}
}

// Validate parses a trigger's metadata without I/O.
func (t *StreamType) Validate(tr scalers.Trigger) error {
	_, err := parse(tr, t.Config().(config))
	return err
}

// New builds a trigger's Scaler. It does no I/O: the client connects on the
// first Read.
func (t *StreamType) New(tr scalers.Trigger) (scalers.Scaler, error) {
	p, err := parse(tr, t.Config().(config))
	if err != nil {
		return nil, err
	}
	return t.sh.newScaler(tr, p)
}

// OpenConnections reports how many clients the Redis types hold open, the
// same count as ListType's.
func (t *StreamType) OpenConnections() int { return t.sh.openClients() }

func (sh *shared) openClients() int {
	_, n := sh.clients.Stats()
	return n
}

// inMetadata reports whether key is given in the trigger's metadata, itself
// or as <key>FromEnv.
func inMetadata(tr scalers.Trigger, key string) bool {
	_, a := tr.Metadata[key]
	_, b := tr.Metadata[key+"FromEnv"]
	return a || b
}

// deferredFor says, at admission (AuthPending), which keys may still come
// from the TriggerAuthentication or the environment.
func deferredFor(tr scalers.Trigger) func(key string) bool {
	// These may also be TriggerAuthentication parameters.
	return scalers.Deferred(tr, "address", "host", "port", "addresses", "hosts", "ports", "sentinelMaster")
}

// config is a trigger type's config struct: it turns itself into a plan.
type config interface {
	plan(tr scalers.Trigger) (plan, error)
}

// parse fills c from the trigger and turns it into a plan.
func parse(tr scalers.Trigger, c config) (plan, error) {
	if err := scalers.ParseMetadata(tr, c); err != nil {
		return plan{}, err
	}
	p, err := c.plan(tr)
	if err == nil && tr.Pin != nil && p.conn.topo != standalone {
		p.conn.pin = strings.Join(tr.Pin.Allowed, "\n")
	}
	return p, scalers.TriggerError(tr, err)
}

func (c *ListConfig) plan(tr scalers.Trigger) (plan, error) {
	return withConn(c.ListKeys.resolve(deferredFor(tr)))(func(p *plan) error { return resolveConn(p, c.Connection, deferredFor(tr)) })
}

func (c *ClusterListConfig) plan(tr scalers.Trigger) (plan, error) {
	return withConn(c.ListKeys.resolve(deferredFor(tr)))(func(p *plan) error { return resolveCluster(p, c.ClusterConnection, deferredFor(tr)) })
}

func (c *SentinelListConfig) plan(tr scalers.Trigger) (plan, error) {
	return withConn(c.ListKeys.resolve(deferredFor(tr)))(func(p *plan) error { return resolveSentinel(p, c.SentinelConnection, deferredFor(tr)) })
}

func (c *StreamConfig) plan(tr scalers.Trigger) (plan, error) {
	return withConn(c.StreamKeys.resolve(setIn(tr), deferredFor(tr)))(func(p *plan) error { return resolveConn(p, c.Connection, deferredFor(tr)) })
}

func (c *ClusterStreamConfig) plan(tr scalers.Trigger) (plan, error) {
	return withConn(c.StreamKeys.resolve(setIn(tr), deferredFor(tr)))(func(p *plan) error { return resolveCluster(p, c.ClusterConnection, deferredFor(tr)) })
}

func (c *SentinelStreamConfig) plan(tr scalers.Trigger) (plan, error) {
	return withConn(c.StreamKeys.resolve(setIn(tr), deferredFor(tr)))(func(p *plan) error { return resolveSentinel(p, c.SentinelConnection, deferredFor(tr)) })
}

// withConn completes a plan of what to read with its connection, unless
// reading it failed already.
func withConn(p plan, err error) func(conn func(*plan) error) (plan, error) {
	return func(conn func(*plan) error) (plan, error) {
		if err != nil {
			return p, err
		}
		return p, conn(&p)
	}
}

// setIn reports whether a key is given in the trigger's metadata.
func setIn(tr scalers.Trigger) func(key string) bool {
	return func(key string) bool { return inMetadata(tr, key) }
}

func (sh *shared) newScaler(tr scalers.Trigger, p plan) (scalers.Scaler, error) {
	if !p.complete { // only at admission, which never builds
		return nil, fmt.Errorf("%s: the connection keys are not resolved", tr)
	}
	return &scaler{
		sh:    sh,
		plan:  p,
		lease: sh.clients.Acquire(p.conn),
		key:   readKey(p),
		metric: scalers.MetricSpec{
			Name:             scalers.MetricName(tr, p.key),
			Target:           p.target,
			ActivationTarget: p.activation,
			Type:             tr.MetricTypeOrDefault(),
		},
	}, nil
}

// readKey identifies a read: the client's key and the query.
func readKey(p plan) string {
	return scalers.CoalesceKey(p.conn.id(), strconv.Itoa(int(p.kind)), p.key, p.group)
}

// scaler reads one trigger's list or stream through the shared client.
type scaler struct {
	sh     *shared
	plan   plan
	metric scalers.MetricSpec
	key    string // coalescing key
	lease  *scalers.Lease[connKey, *client]
	closed atomic.Bool
}

func (s *scaler) Metric() scalers.MetricSpec { return s.metric }

// Read returns the list's length, or the stream's pending entries, lag or
// length, and whether it is above the activation threshold. Triggers reading
// the same thing at the same time share one query. Read gives up at ctx's
// deadline or after the trigger's timeout, whichever comes first.
func (s *scaler) Read(ctx context.Context) (scalers.Reading, error) {
	if s.closed.Load() {
		return scalers.Reading{}, errors.New("redis scaler is closed")
	}
	ctx, cancel := context.WithTimeout(ctx, s.plan.timeout)
	defer cancel()
	v, err := s.sh.reads.Do(ctx, s.key, s.query)
	if err != nil {
		return scalers.Reading{}, err
	}
	return s.reading(v), nil
}

func (s *scaler) reading(v float64) scalers.Reading {
	return scalers.Reading{Value: v, Active: scalers.IsActive(v, s.plan.activation)}
}

func (s *scaler) query(ctx context.Context) (float64, error) {
	c, err := s.lease.Get(ctx)
	if err != nil {
		return 0, s.fail(ctx, err)
	}
	q := queryOf(s.plan)
	s.sh.queries.Add(1)
	v, err := c.read(ctx, q)
	if err != nil {
		return 0, s.fail(ctx, err)
	}
	return v, nil
}

// fail describes a failed read, without credentials. When the read's context
// ended, errors.Is sees it even if the client reported the end in its own
// words.
func (s *scaler) fail(ctx context.Context, err error) error {
	return failure(ctx, s.plan.conn, err)
}

func failure(ctx context.Context, k connKey, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		err = fmt.Errorf("%w (%w)", ctxErr, err)
	}
	return scalers.Redact(fmt.Errorf("redis %s: %w", k.where(), err), k.secrets()...)
}

// Close gives back the scaler's lease; the last lease on a client closes it.
func (s *scaler) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.lease.Release()
	return nil
}
