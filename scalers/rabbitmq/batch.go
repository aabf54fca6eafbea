// SPDX-License-Identifier: Apache-2.0

package rabbitmq

import (
	"context"
	"fmt"

	"github.com/ebbscale/ebb/scalers"
)

// Batched probing: while many targets sit at zero replicas the scale loop
// probes their triggers often, to activate fast. Triggers that read single
// queues of one vhost through one management API can all be answered by one
// request listing the vhost's queues, instead of one request per trigger.
//
// The Scalers do this themselves: they implement scalers.Prober, and their
// Probes share batches per vhost (probe.go). For callers that group triggers
// on their own:
//
//	probe, ok, err := typ.ProbeOf(trigger)  // no I/O; ok=false: read it alone
//	depths, err := typ.QueueDepths(ctx, probe.Vhost)  // once per distinct Vhost
//	value, err := probe.Value(depths)

// Vhost names one vhost behind one management API with one set of
// credentials. It is comparable: equal Vhosts are answered by the same
// QueueDepths call, so callers group triggers by it. Its String shows no
// credentials.
type Vhost struct {
	key   httpKey
	vhost string
	where string
}

// String is the endpoint and vhost, without credentials.
func (v Vhost) String() string { return fmt.Sprintf("vhost %q at %s", v.vhost, v.where) }

// Probe is what a trigger's batched read needs: its vhost, its queue and
// which count it uses.
type Probe struct {
	Vhost                 Vhost
	Queue                 string
	ExcludeUnacknowledged bool
}

// QueueDepth is one queue's message counts. Messages counts ready and
// unacknowledged messages; Ready only those ready for delivery. Reported is
// false while the broker has not reported the queue's counts yet (for a few
// seconds after it is declared); the counts are then unknown, not zero.
type QueueDepth struct {
	Messages float64
	Ready    float64
	Reported bool
}

// ProbeOf parses a trigger (no I/O) and says how to read it in a batch. ok is
// false when the trigger cannot be batched: it reads over AMQP, uses a
// regular expression or reads the message rate; such triggers are read with
// their Scaler.
func (t *Type) ProbeOf(tr scalers.Trigger) (p Probe, ok bool, err error) {
	pl, err := parse(tr)
	if err != nil {
		return Probe{}, false, err
	}
	p, ok = probeOf(pl)
	return p, ok, nil
}

func probeOf(pl plan) (Probe, bool) {
	if pl.protocol != protocolHTTP || pl.useRegex || pl.mode != modeQueueLength {
		return Probe{}, false
	}
	return Probe{
		Vhost:                 Vhost{key: pl.http, vhost: pl.vhost, where: pl.where},
		Queue:                 pl.queue,
		ExcludeUnacknowledged: pl.excludeUnacked,
	}, true
}

// Value is the probe's queue's value in depths (from QueueDepths of its
// Vhost), with the same meaning as its Scaler's Read. A queue missing from
// depths is ErrQueueNotFound, and one without statistics yet ErrNoStatistics:
// never a zero.
func (p Probe) Value(depths map[string]QueueDepth) (float64, error) {
	d, ok := depths[p.Queue]
	if !ok {
		return 0, fmt.Errorf("queue %q in %s: %w", p.Queue, p.Vhost, ErrQueueNotFound)
	}
	if !d.Reported {
		return 0, fmt.Errorf("queue %q in %s: %w", p.Queue, p.Vhost, ErrNoStatistics)
	}
	if p.ExcludeUnacknowledged {
		return d.Ready, nil
	}
	return d.Messages, nil
}

// QueueDepths lists the message counts of every queue in the vhost with one
// management API request (GET /api/queues/<vhost>?columns=...), through the
// Type's pooled client for that API. Concurrent calls for the same Vhost share
// one request, and then the same map: callers must not change it. The request
// ends with ctx; give it a deadline.
func (t *Type) QueueDepths(ctx context.Context, v Vhost) (map[string]QueueDepth, error) {
	key := queryKey(plan{protocol: "batch", http: v.key, vhost: v.vhost})
	depths, err := t.depths.Do(ctx, key, func(ctx context.Context) (map[string]QueueDepth, error) {
		lease := t.httpPool.Acquire(v.key)
		defer lease.Release()
		c, err := lease.Get(ctx)
		if err != nil {
			return nil, err
		}
		t.queries.Add(1)
		depths, err := listQueues(ctx, c, v)
		if err != nil {
			return nil, fmt.Errorf("listing the queues of %s: %w", v, err)
		}
		return depths, nil
	})
	if err != nil {
		return nil, scalers.Redact(err, v.key.password)
	}
	return depths, nil
}
