// SPDX-License-Identifier: Apache-2.0

package natsjetstream

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/ebbscale/ebb/scalers"
)

// Errors a read can wrap; test them with errors.Is.
var (
	// ErrStreamNotFound: the stream does not exist (in the account the
	// credentials log in to, or the account the monitoring endpoint was
	// asked about).
	ErrStreamNotFound = errors.New("stream not found")
	// ErrConsumerNotFound: the stream exists but has no such consumer.
	ErrConsumerNotFound = errors.New("consumer not found")
	// ErrAccountNotFound: the monitoring endpoint reports no JetStream
	// account by that name.
	ErrAccountNotFound = errors.New("account not found or JetStream not enabled for it")
	// ErrNotLeader: in a cluster, the server behind the monitoring endpoint
	// holds a replica of the consumer but is not its leader, so its counts
	// may be stale.
	ErrNotLeader = errors.New("the server behind the monitoring endpoint is not the consumer's leader")
	// ErrJetStreamNotEnabled: the server (or, over natsServerURL, the
	// credentials' account) has no JetStream.
	ErrJetStreamNotEnabled = errors.New("JetStream is not enabled")
)

// Type is the nats-jetstream trigger type. It owns the NATS connections and
// monitoring endpoint clients its Scalers share — one per (servers,
// credentials) and one per endpoint — and merges identical reads in flight.
// Build it with NewType; it is safe for concurrent use.
type Type struct {
	conns    *scalers.Pool[connKey, *natsConn]
	monitors *scalers.Pool[monitorKey, *monitorClient]
	// consumerReads merges reads of one consumer over one connection;
	// accountReads merges reads of one account's /jsz on one endpoint, so
	// triggers on different consumers of the account share it too.
	consumerReads scalers.Coalescer[counts]
	accountReads  scalers.Coalescer[*accountView]

	// dials counts NATS connections and monitoring TCP connections opened,
	// and requests counts reads that reached a server, for tests and
	// benchmarks.
	dials    atomic.Int64
	requests atomic.Int64
	// tlsRoots, when set (by tests), replace the system's roots for tls://
	// servers.
	tlsRoots *x509.CertPool
	// egress is the operator's policy on the destinations dialled.
	egress *scalers.Egress
}

var (
	_ scalers.Type   = (*Type)(nil)
	_ scalers.Scaler = (*scaler)(nil)
)

// NewType returns the nats-jetstream Type with empty pools, under the
// default egress policy (tests).
func NewType() *Type { return NewTypeWithEgress(scalers.DefaultEgress()) }

// NewTypeWithEgress returns the nats-jetstream Type with empty pools, whose
// connections and monitoring requests go only where egress allows.
func NewTypeWithEgress(egress *scalers.Egress) *Type {
	t := &Type{egress: egress}
	t.conns = scalers.NewPool(t.openConn, closeConn)
	t.monitors = scalers.NewPool(t.openMonitor, closeMonitor)
	return t
}

// Name is "nats-jetstream".
func (t *Type) Name() string { return "nats-jetstream" }

// Config returns a zero Config.
func (t *Type) Config() any { return &Config{} }

// Validate parses a trigger's metadata without I/O.
func (t *Type) Validate(tr scalers.Trigger) error {
	_, err := parse(tr)
	return err
}

func parse(tr scalers.Trigger) (plan, error) {
	var c Config
	if err := scalers.ParseMetadata(tr, &c); err != nil {
		return plan{}, err
	}
	// The two sources may also come from the TriggerAuthentication.
	p, err := c.resolve(scalers.Deferred(tr, "natsServerURL", "natsServerMonitoringEndpoint"))
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
	if p.source == "" { // only when AuthPending, which New is never given
		return nil, fmt.Errorf(`%s: key "natsServerMonitoringEndpoint" or key "natsServerURL" is required`, tr)
	}
	s := &scaler{
		typ:  t,
		plan: p,
		metric: scalers.MetricSpec{
			Name:             scalers.MetricName(tr, p.stream+"-"+p.consumer),
			Target:           p.target,
			ActivationTarget: p.activation,
			Type:             tr.MetricTypeOrDefault(),
		},
		secrets: p.secrets(),
	}
	// The coalescing key is the endpoint, the credentials, the query and the
	// timeout (a coalesced read runs with the context of the trigger that
	// started it, so only triggers with the same timeout share one).
	switch p.source {
	case sourceProtocol:
		s.key = scalers.CoalesceKey(p.source, p.conn.servers, p.conn.username, p.conn.password, p.conn.token, p.conn.nkeySeed,
			p.stream, p.consumer, p.timeout.String())
		s.connLease = t.conns.Acquire(p.conn)
	case sourceMonitoring:
		s.key = scalers.CoalesceKey(p.source, p.http.base, p.account, p.timeout.String())
		s.monitorLease = t.monitors.Acquire(p.http)
	}
	return s, nil
}

// OpenConnections reports how many NATS connections and monitoring endpoint
// clients the Type holds open.
func (t *Type) OpenConnections() int {
	_, c := t.conns.Stats()
	_, m := t.monitors.Stats()
	return c + m
}

// counts is what a consumer reports: messages not yet delivered to it and
// messages delivered but not yet acknowledged.
type counts struct {
	pending    uint64
	ackPending uint64
}

// value is the trigger's value: the messages the consumer has not finished
// with, waiting or in flight.
func (c counts) value() float64 { return float64(c.pending) + float64(c.ackPending) }

// scaler reads one trigger's consumer through the Type's pools.
type scaler struct {
	typ          *Type
	plan         plan
	metric       scalers.MetricSpec
	key          string // coalescing key: endpoint, credentials and query
	secrets      []string
	connLease    *scalers.Lease[connKey, *natsConn]
	monitorLease *scalers.Lease[monitorKey, *monitorClient]
	closed       atomic.Bool
}

func (s *scaler) Metric() scalers.MetricSpec { return s.metric }

// Read returns the consumer's pending plus ack-pending messages and whether
// they are above the activation threshold. Triggers reading the same thing at
// the same time share one request. Read gives up at ctx's deadline or after
// the trigger's timeout, whichever comes first.
func (s *scaler) Read(ctx context.Context) (scalers.Reading, error) {
	if s.closed.Load() {
		return scalers.Reading{}, errors.New("nats-jetstream scaler is closed")
	}
	ctx, cancel := context.WithTimeout(ctx, s.plan.timeout)
	defer cancel()
	var c counts
	var err error
	switch s.plan.source {
	case sourceProtocol:
		c, err = s.typ.consumerReads.Do(ctx, s.key, s.readProtocol)
	default:
		var v *accountView
		v, err = s.typ.accountReads.Do(ctx, s.key, s.readMonitoring)
		if err == nil {
			c, err = v.consumer(s.plan)
		}
	}
	if err != nil {
		return scalers.Reading{}, scalers.Redact(err, s.secrets...)
	}
	v := c.value()
	return scalers.Reading{Value: v, Active: scalers.IsActive(v, s.plan.activation)}, nil
}

// Close gives back the scaler's lease; the last lease on a connection closes
// it.
func (s *scaler) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.connLease != nil {
		s.connLease.Release()
	}
	if s.monitorLease != nil {
		s.monitorLease.Release()
	}
	return nil
}
