// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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

// ListType is the redis trigger type: the length of a list. Build it with
// NewTypes; it is safe for concurrent use.
type ListType struct{ sh *shared }

// StreamType is the redis-streams trigger type: the pending entries or the
// lag of a stream's consumer group, or the stream's length. Build it with
// NewTypes; it is safe for concurrent use.
type StreamType struct{ sh *shared }

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
	sh := newShared(clientName, egress)
	return &ListType{sh}, &StreamType{sh}
}

func newShared(name string, egress *scalers.Egress) *shared {
	sh := &shared{clientName: name, egress: egress}
	sh.clients = scalers.NewPool(sh.newClient, (*client).close)
	sh.probes = newBatcher(sh)
	return sh
}

// Name is "redis".
func (t *ListType) Name() string { return "redis" }

// Config returns a zero ListConfig.
func (t *ListType) Config() any { return &ListConfig{} }

// Validate parses a trigger's metadata without I/O.
func (t *ListType) Validate(tr scalers.Trigger) error {
	_, err := parseList(tr)
	return err
}

// New builds a trigger's Scaler. It does no I/O: the client connects on the
// first Read.
func (t *ListType) New(tr scalers.Trigger) (scalers.Scaler, error) {
	p, err := parseList(tr)
	if err != nil {
		return nil, err
	}
	return t.sh.newScaler(tr, p)
}

// OpenConnections reports how many clients the two types hold open, one per
// (server, database, credentials, TLS settings) in use. Each client holds at
// most maxConns TCP connections.
func (t *ListType) OpenConnections() int { return t.sh.openClients() }

// Name is "redis-streams".
func (t *StreamType) Name() string { return "redis-streams" }

// Config returns a zero StreamConfig.
func (t *StreamType) Config() any { return &StreamConfig{} }

// Validate parses a trigger's metadata without I/O.
func (t *StreamType) Validate(tr scalers.Trigger) error {
	_, err := parseStream(tr)
	return err
}

// New builds a trigger's Scaler. It does no I/O: the client connects on the
// first Read.
func (t *StreamType) New(tr scalers.Trigger) (scalers.Scaler, error) {
	p, err := parseStream(tr)
	if err != nil {
		return nil, err
	}
	return t.sh.newScaler(tr, p)
}

// OpenConnections reports how many clients the two types hold open, the
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
	return scalers.Deferred(tr, "address", "host", "port") // these may also be TriggerAuthentication parameters
}

func parseList(tr scalers.Trigger) (plan, error) {
	var c ListConfig
	if err := scalers.ParseMetadata(tr, &c); err != nil {
		return plan{}, err
	}
	p, err := c.resolve(deferredFor(tr))
	return p, scalers.TriggerError(tr, err)
}

func parseStream(tr scalers.Trigger) (plan, error) {
	var c StreamConfig
	if err := scalers.ParseMetadata(tr, &c); err != nil {
		return plan{}, err
	}
	p, err := c.resolve(func(key string) bool { return inMetadata(tr, key) }, deferredFor(tr))
	return p, scalers.TriggerError(tr, err)
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
