// SPDX-License-Identifier: Apache-2.0

package external

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ebbscale/ebb/scalers"
	pb "github.com/ebbscale/ebb/scalers/external/externalscalerpb"
)

// Bounds on what a server may answer, beyond maxReply's bytes.
const (
	// maxSpecs bounds the metrics of one GetMetricSpec answer (each costs a
	// GetMetrics call per read).
	maxSpecs = 16
	// maxValues bounds the values of one GetMetrics answer.
	maxValues = 1000
	// specTTL is how long a GetMetricSpec answer is used before it is asked
	// again (and it is asked again after any failed read).
	specTTL = 5 * time.Minute
)

// Type is the external or external-push trigger type. The two share (see
// NewTypesWithEgress) the gRPC connections of their Scalers, one per server
// and TLS material; they merge identical reads in flight and, for
// external-push, run one StreamIsActive stream per server and
// scaled-object reference. A Type is safe for concurrent use.
type Type struct {
	name string
	push bool
	*shared
}

// shared is what the two Types share.
type shared struct {
	egress *scalers.Egress
	conns  *scalers.Pool[connKey, *conn]
	reads  scalers.Coalescer[scalers.Reading]

	// dials counts TCP connections attempted, for tests.
	dials atomic.Int64

	watchMu  sync.Mutex
	watchers map[watchKey]*watcher
	// retryMin is the first back-off after a stream fails (doubling up to
	// maxRetry); tests shorten it.
	retryMin time.Duration
}

var (
	_ scalers.Type     = (*Type)(nil)
	_ scalers.Scaler   = (*scaler)(nil)
	_ scalers.Notifier = (*pushScaler)(nil)
)

// NewTypesWithEgress returns the external and external-push Types, which
// share one pool of connections, under the operator's egress policy.
func NewTypesWithEgress(egress *scalers.Egress) (external, push *Type) {
	sh := &shared{egress: egress, retryMin: time.Second, watchers: map[watchKey]*watcher{}}
	sh.conns = scalers.NewPool(sh.openConn, closeConn)
	return &Type{name: "external", shared: sh}, &Type{name: "external-push", push: true, shared: sh}
}

// NewTypes returns both Types under the default egress policy (tests).
func NewTypes() (external, push *Type) { return NewTypesWithEgress(scalers.DefaultEgress()) }

// Name is "external" or "external-push".
func (t *Type) Name() string { return t.name }

// Config returns a zero Config.
func (t *Type) Config() any { return &Config{} }

// OpenMetadata says that metadata keys Config does not claim are the
// server's, passed to it in scalerMetadata, not errors: ebb convert keeps
// them.
func (t *Type) OpenMetadata() bool { return true }

// Validate parses a trigger's metadata without I/O.
func (t *Type) Validate(tr scalers.Trigger) error {
	_, err := parse(tr)
	return err
}

// New builds a trigger's Scaler. It does no I/O.
func (t *Type) New(tr scalers.Trigger) (scalers.Scaler, error) {
	p, err := parse(tr)
	if err != nil {
		return nil, err
	}
	if p.conn.addr == "" {
		return nil, fmt.Errorf("%s: key %q is required; set it in metadata or scalerAddressFromEnv", tr, "scalerAddress")
	}
	ref := &pb.ScaledObjectRef{Name: tr.ScaledObject, Namespace: tr.Namespace, ScalerMetadata: p.metadata}
	s := &scaler{
		typ:  t,
		plan: p,
		ref:  ref,
		metric: scalers.MetricSpec{
			Name:   scalers.MetricName(tr, ""),
			Target: servedTarget,
			Type:   tr.MetricTypeOrDefault(),
		},
		refKey: refKey(ref),
	}
	s.readKey = scalers.CoalesceKey(poolKeyFields(p.conn, s.refKey, p.timeout.String())...)
	s.lease = t.conns.Acquire(p.conn)
	if t.push {
		return &pushScaler{scaler: s}, nil
	}
	return s, nil
}

// OpenConnections reports how many gRPC connections the Type holds (shared
// with its sibling Type).
func (t *Type) OpenConnections() int {
	_, n := t.conns.Stats()
	return n
}

// servedTarget is the target every external trigger's metric has: the
// value served is the server's value over the server's target (see
// normalize), so that the HPA's arithmetic is KEDA's.
const servedTarget = 1

// scaler reads one trigger through its pooled connection.
type scaler struct {
	typ     *Type
	plan    plan
	ref     *pb.ScaledObjectRef
	refKey  string
	readKey string
	metric  scalers.MetricSpec
	lease   *scalers.Lease[connKey, *conn]
	closed  atomic.Bool

	mu      sync.Mutex
	specs   []*pb.MetricSpec
	specsAt time.Time
}

func (s *scaler) Metric() scalers.MetricSpec { return s.metric }

// Read asks the server for each metric's value (GetMetrics) and for
// activation (IsActive), and returns the largest value over its target (see
// normalize). Triggers reading the same thing at the same time share one
// read. Each call gives up after the trigger's timeout.
func (s *scaler) Read(ctx context.Context) (scalers.Reading, error) {
	if s.closed.Load() {
		return scalers.Reading{}, fmt.Errorf("external scaler %s: %w", s.plan.conn.addr, scalers.ErrLeaseReleased)
	}
	r, err := s.typ.reads.Do(ctx, s.readKey, s.query)
	if err != nil {
		s.forgetSpecs()
		return scalers.Reading{}, err
	}
	return r, nil
}

func (s *scaler) query(ctx context.Context) (scalers.Reading, error) {
	c, err := s.lease.Get(ctx)
	if err != nil {
		return scalers.Reading{}, fmt.Errorf("external scaler %s: %w", s.plan.conn.addr, err)
	}
	specs, err := s.metricSpecs(ctx, c)
	if err != nil {
		return scalers.Reading{}, err
	}
	value := 0.0
	for _, spec := range specs {
		v, err := s.metricValue(ctx, c, spec.GetMetricName())
		if err != nil {
			return scalers.Reading{}, err
		}
		value = max(value, normalize(v, target(spec)))
	}
	cctx, cancel := context.WithTimeout(ctx, s.plan.timeout)
	defer cancel()
	active, err := c.client.IsActive(cctx, s.ref)
	if err != nil {
		return scalers.Reading{}, c.callError(cctx, "IsActive", err, s.plan.timeout)
	}
	return scalers.Reading{Value: value, Active: active.GetResult()}, nil
}

// metricSpecs returns the server's metric specs, asked again when older
// than specTTL.
func (s *scaler) metricSpecs(ctx context.Context, c *conn) ([]*pb.MetricSpec, error) {
	s.mu.Lock()
	specs, at := s.specs, s.specsAt
	s.mu.Unlock()
	if specs != nil && time.Since(at) < specTTL {
		return specs, nil
	}
	cctx, cancel := context.WithTimeout(ctx, s.plan.timeout)
	defer cancel()
	resp, err := c.client.GetMetricSpec(cctx, s.ref)
	if err != nil {
		return nil, c.callError(cctx, "GetMetricSpec", err, s.plan.timeout)
	}
	specs = resp.GetMetricSpecs()
	if len(specs) > maxSpecs {
		return nil, fmt.Errorf("external scaler %s: GetMetricSpec: %w", c.addr, &scalers.TooLargeError{What: "metric specs", Limit: maxSpecs})
	}
	for i, spec := range specs {
		if t := target(spec); !(t >= 0.001) || math.IsInf(t, 0) {
			return nil, fmt.Errorf("external scaler %s: GetMetricSpec: metric spec %d has a target of %s; expected a number of at least 0.001 in targetSizeFloat or targetSize", c.addr, i, strconv.FormatFloat(t, 'g', 6, 64))
		}
	}
	if specs == nil {
		specs = []*pb.MetricSpec{}
	}
	s.mu.Lock()
	s.specs, s.specsAt = specs, time.Now()
	s.mu.Unlock()
	return specs, nil
}

func (s *scaler) forgetSpecs() {
	s.mu.Lock()
	s.specs = nil
	s.mu.Unlock()
}

// metricValue asks for one metric and sums its values, as the HPA sums the
// values of an external metric.
func (s *scaler) metricValue(ctx context.Context, c *conn, name string) (float64, error) {
	cctx, cancel := context.WithTimeout(ctx, s.plan.timeout)
	defer cancel()
	resp, err := c.client.GetMetrics(cctx, &pb.GetMetricsRequest{ScaledObjectRef: s.ref, MetricName: name})
	if err != nil {
		return 0, c.callError(cctx, "GetMetrics", err, s.plan.timeout)
	}
	values := resp.GetMetricValues()
	if len(values) > maxValues {
		return 0, fmt.Errorf("external scaler %s: GetMetrics: %w", c.addr, &scalers.TooLargeError{What: "metric values", Limit: maxValues})
	}
	sum := 0.0
	for i, mv := range values {
		v := float64(mv.GetMetricValue())
		if f := mv.GetMetricValueFloat(); f > 0 {
			v = f
		}
		if v < 0 || math.IsInf(v, 0) {
			return 0, fmt.Errorf("external scaler %s: GetMetrics: metric value %d is %s; expected a finite number of at least 0", c.addr, i, strconv.FormatFloat(v, 'g', 6, 64))
		}
		sum += v
	}
	if math.IsInf(sum, 0) {
		return 0, fmt.Errorf("external scaler %s: GetMetrics: the values add up past the largest number", c.addr)
	}
	return sum, nil
}

// target is a spec's target, KEDA's way: targetSizeFloat when it is above
// 0, else targetSize.
func target(spec *pb.MetricSpec) float64 {
	if f := spec.GetTargetSizeFloat(); f > 0 {
		return f
	}
	return float64(spec.GetTargetSize())
}

// normalize serves value v of a metric whose target is t against a target
// of 1, so that the HPA computes what it computes in KEDA, which serves v
// against t: both are rounded to thousandths as the HPA reads them (vm and
// tm), and the result is vm/tm rounded up to the next thousandth, so that
// ceil(served) = ceil(vm/tm) exactly, the AverageValue replica count.
func normalize(v, t float64) float64 {
	vm, tm := math.Round(v*1000), math.Round(t*1000)
	if tm <= 0 {
		return math.Inf(1)
	}
	if vm < 1<<50 && tm < 1<<50 {
		a, b := int64(vm), int64(tm)
		return float64((a*1000+b-1)/b) / 1000
	}
	return vm / tm
}

// Close gives back the scaler's lease; the last one closes the connection.
func (s *scaler) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.lease.Release()
	return nil
}

// refKey identifies a scaled-object reference: the name, the namespace and
// the metadata.
func refKey(ref *pb.ScaledObjectRef) string {
	fields := []string{ref.GetName(), ref.GetNamespace()}
	md := ref.GetScalerMetadata()
	for _, k := range slices.Sorted(maps.Keys(md)) {
		fields = append(fields, k, md[k])
	}
	return scalers.CoalesceKey(fields...)
}

// poolKeyFields lists a connection key's fields, and more, for a digest.
func poolKeyFields(k connKey, more ...string) []string {
	return append([]string{k.addr, strconv.FormatBool(k.tls), strconv.FormatBool(k.unsafe), k.ca, k.cert, k.key}, more...)
}
