// SPDX-License-Identifier: Apache-2.0

package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/ebbscale/ebb/scalers"
)

// Errors a read can wrap; test them with errors.Is.
var (
	// ErrQueueNotFound: the queue does not exist in the vhost (or no queue
	// matches the regular expression).
	ErrQueueNotFound = errors.New("queue not found")
	// ErrVhostNotFound: the vhost does not exist, or the user may not use it.
	ErrVhostNotFound = errors.New("vhost not found or not accessible")
	// ErrNoStatistics: the management API has not reported the queue's
	// message counts yet (it does so every few seconds after a queue is
	// declared).
	ErrNoStatistics = errors.New("no statistics reported for the queue yet")
)

// Type is the rabbitmq trigger type. It owns the AMQP connections and
// management API clients its Scalers share — one per (endpoint, vhost,
// credentials) for AMQP, one per (endpoint, credentials) for HTTP — merges
// identical reads in flight, and batches the activation probes of queues in
// one vhost (see Probe). Build it with NewType; it is safe for
// concurrent use.
type Type struct {
	amqpPool *scalers.Pool[amqpKey, *amqpConn]
	httpPool *scalers.Pool[httpKey, *httpClient]
	reads    scalers.Coalescer[float64]
	depths   scalers.Coalescer[map[string]QueueDepth]
	probes   *batcher

	// dials counts connections opened (AMQP connections, and TCP
	// connections of the management API clients) and queries counts reads
	// that reached the broker, for tests and benchmarks.
	dials   atomic.Int64
	queries atomic.Int64

	// egress is the operator's policy on the destinations dialled.
	egress *scalers.Egress
}

var (
	_ scalers.Type   = (*Type)(nil)
	_ scalers.Scaler = (*scaler)(nil)
	_ scalers.Prober = (*scaler)(nil)
)

// NewType returns the rabbitmq Type with empty pools, under the default
// egress policy (tests).
func NewType() *Type { return NewTypeWithEgress(scalers.DefaultEgress()) }

// NewTypeWithEgress returns the rabbitmq Type with empty pools, whose AMQP
// connections and management API requests go only where egress allows.
func NewTypeWithEgress(egress *scalers.Egress) *Type {
	t := &Type{egress: egress}
	t.amqpPool = scalers.NewPool(t.openAMQP, closeAMQP)
	t.httpPool = scalers.NewPool(t.openHTTP, closeHTTP)
	t.probes = newBatcher(t)
	return t
}

// Name is "rabbitmq".
func (t *Type) Name() string { return "rabbitmq" }

// Config returns a zero Config.
func (t *Type) Config() any { return &Config{} }

// Validate parses a trigger's metadata without I/O.
func (t *Type) Validate(tr scalers.Trigger) error {
	_, err := parse(tr)
	return err
}

func parse(tr scalers.Trigger) (plan, error) {
	// The parser claims auth-only keys (and their FromEnv forms) without
	// reading them from metadata or the environment when the
	// TriggerAuthentication has them; a credential written there would be
	// ignored silently.
	for _, k := range []string{"username", "password"} {
		for _, mk := range []string{k, k + "FromEnv"} {
			if _, ok := tr.Metadata[mk]; ok {
				return plan{}, &scalers.FieldError{Trigger: tr.String(), Key: k, Msg: "may only come from a TriggerAuthentication, not from metadata or " + k + "FromEnv"}
			}
		}
	}
	var c Config
	if err := scalers.ParseMetadata(tr, &c); err != nil {
		return plan{}, err
	}
	p, err := c.resolve(scalers.Deferred(tr, "host")) // host may also come from the TriggerAuthentication
	if err != nil {
		return plan{}, scalers.TriggerError(tr, err)
	}
	return p, nil
}

// New builds a trigger's Scaler. It does no I/O: the connection opens on the
// first Read.
func (t *Type) New(tr scalers.Trigger) (scalers.Scaler, error) {
	p, err := parse(tr)
	if err != nil {
		return nil, err
	}
	if p.protocol == "" {
		return nil, fmt.Errorf("%s: key %q is required; set it in metadata, the TriggerAuthentication or hostFromEnv", tr, "host")
	}
	s := &scaler{
		typ:  t,
		plan: p,
		metric: scalers.MetricSpec{
			Name:             scalers.MetricName(tr, p.queue),
			Target:           p.target,
			ActivationTarget: p.activation,
			Type:             tr.MetricTypeOrDefault(),
		},
		key: queryKey(p),
	}
	if pr, ok := probeOf(p); ok {
		s.batch = &pr
	}
	switch p.protocol {
	case protocolAMQP:
		s.secrets = []string{p.amqp.password, p.amqp.tlsOpts.key, p.amqp.tlsOpts.keyPassword}
		s.amqpLease = t.amqpPool.Acquire(p.amqp)
	case protocolHTTP:
		s.secrets = []string{p.http.password, p.http.tlsOpts.key, p.http.tlsOpts.keyPassword}
		s.httpLease = t.httpPool.Acquire(p.http)
	}
	return s, nil
}

// OpenConnections reports how many AMQP connections and management API
// clients the Type holds open.
func (t *Type) OpenConnections() int {
	_, a := t.amqpPool.Stats()
	_, h := t.httpPool.Stats()
	return a + h
}

// scaler reads one trigger's queue (or queues) through the Type's pools.
type scaler struct {
	typ       *Type
	plan      plan
	metric    scalers.MetricSpec
	key       string // coalescing key: endpoint, credentials and query
	batch     *Probe // how Probe reads it in a batch; nil: Probe reads
	secrets   []string
	amqpLease *scalers.Lease[amqpKey, *amqpConn]
	httpLease *scalers.Lease[httpKey, *httpClient]
	closed    atomic.Bool
}

func (s *scaler) Metric() scalers.MetricSpec { return s.metric }

// Read returns the queue length (or publish rate) and whether it is above the
// activation value. Triggers reading the same thing at the same time share
// one query. Read gives up at ctx's deadline or after the trigger's timeout,
// whichever comes first.
func (s *scaler) Read(ctx context.Context) (scalers.Reading, error) {
	if s.closed.Load() {
		return scalers.Reading{}, errors.New("rabbitmq scaler is closed")
	}
	ctx, cancel := context.WithTimeout(ctx, s.plan.timeout)
	defer cancel()
	v, err := s.typ.reads.Do(ctx, s.key, s.query)
	if err != nil {
		return scalers.Reading{}, scalers.Redact(err, s.secrets...)
	}
	return scalers.Reading{Value: v, Active: scalers.IsActive(v, s.plan.activation)}, nil
}

func (s *scaler) query(ctx context.Context) (float64, error) {
	s.typ.queries.Add(1)
	if s.plan.protocol == protocolAMQP {
		return s.readAMQP(ctx)
	}
	return s.readHTTP(ctx)
}

// Close gives back the scaler's lease; the last lease on a connection closes
// it.
func (s *scaler) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.amqpLease != nil {
		s.amqpLease.Release()
	}
	if s.httpLease != nil {
		s.httpLease.Release()
	}
	return nil
}

// queryKey identifies a read: endpoint, credentials, query and timeout (a
// coalesced read runs with the context of the trigger that started it, so
// only triggers with the same timeout share one).
func queryKey(p plan) string {
	return scalers.CoalesceKey(
		p.protocol,
		strconv.FormatBool(p.amqp.tls), p.amqp.addr, p.amqp.vhost, p.amqp.username, p.amqp.password,
		p.http.base, p.http.username, p.http.password, p.amqp.tlsOpts.id(),
		p.vhost, p.queue, p.mode, strconv.FormatBool(p.useRegex), p.operation,
		strconv.FormatBool(p.excludeUnacked), strconv.Itoa(p.pageSize), p.timeout.String(),
	)
}
