// SPDX-License-Identifier: Apache-2.0

package metricsadapter

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/metrics/pkg/apis/external_metrics"
	"k8s.io/utils/clock"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
)

// Source is what the adapter reads: the operator's scale loop.
type Source interface {
	// ExternalMetric returns the value the HPA should see for one metric of
	// one ScaledObject: the stored value while fresh, else a new read
	// through the trigger's scaler (merged with concurrent reads), or the
	// fallback value. Errors wrap controller.ErrMetricNotFound or
	// controller.ErrMetricUnavailable. Called once per HPA read, from many
	// goroutines at once.
	ExternalMetric(ctx context.Context, ref controller.MetricRef) (float64, error)
	// ListMetrics returns every metric served, sorted. Called for discovery
	// and for reads whose selector names no single ScaledObject.
	ListMetrics() []controller.MetricRef
}

var _ Source = (*controller.ScaleLoop)(nil)

// Provider serves external metrics from a Source.
//
// A read names the metric, the namespace and a label selector. The HPAs Ebb
// makes select {ebb.dev/scaledobject: <name>}: that read is served from the
// named ScaledObject alone. A selector that names no single ScaledObject (or
// none at all) is matched against the label set {ebb.dev/scaledobject:
// <name>} of every ScaledObject in the namespace that serves the metric, and
// the answer lists one value per match.
type Provider struct {
	src      Source
	delegate Delegator // nil: no delegation
	clock    clock.PassiveClock
	metrics  *requestMetrics
	log      logr.Logger
}

// Delegator answers the reads no ScaledObject serves: another metrics
// adapter (Delegate). Called from many goroutines at once.
type Delegator interface {
	// GetExternalMetric reads one metric for the caller in ctx; errors are
	// API errors.
	GetExternalMetric(ctx context.Context, namespace string, selector labels.Selector, metric string) (*external_metrics.ExternalMetricValueList, error)
	// ListExternalMetrics lists the metric names it serves, from memory:
	// called on every discovery request.
	ListExternalMetrics() []string
}

var _ Delegator = (*Delegate)(nil)

// SetDelegate sends the reads that no ScaledObject serves (those Ebb would
// answer NotFound) to d, and adds its metrics to the list; call before
// serving.
func (p *Provider) SetDelegate(d Delegator) { p.delegate = d }

var _ provider.ExternalMetricsProvider = (*Provider)(nil)

// NewProvider returns a Provider reading src. Its request latency histogram
// (RequestDurationName) is registered on reg when reg is not nil.
func NewProvider(src Source, reg prometheus.Registerer, log logr.Logger) (*Provider, error) {
	m, err := newRequestMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("metrics adapter metrics: %w", err)
	}
	return &Provider{src: src, clock: clock.RealClock{}, metrics: m, log: log}, nil
}

// GetExternalMetric answers one read of external.metrics.k8s.io. Errors are
// API errors: NotFound when no ScaledObject in the namespace serves the
// metric for the selector, ServiceUnavailable when a matching trigger cannot
// be read now and is not in fallback. They name the namespace, the
// ScaledObject and the metric, never the source's own error. With a
// delegate, a read no ScaledObject serves is the delegate's answer or error.
func (p *Provider) GetExternalMetric(ctx context.Context, namespace string, selector labels.Selector, info provider.ExternalMetricInfo) (*external_metrics.ExternalMetricValueList, error) {
	start := p.clock.Now()
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	list, err := p.get(ctx, namespace, selector, info.Metric)
	result := resultOf(err)
	if p.delegate != nil && errors.Is(err, errNotOurs) {
		list, err = p.delegate.GetExternalMetric(ctx, namespace, selector, info.Metric)
		result = ResultDelegated
		if err != nil {
			result = ResultDelegateError
		}
	}
	p.metrics.observe(result, p.clock.Since(start))
	return list, err
}

// errNotOurs marks the NotFound of a read that no ScaledObject serves.
var errNotOurs = errors.New("no ScaledObject serves this read")

// notOursError is that NotFound: an API error that is also errNotOurs.
type notOursError struct{ *apierrors.StatusError }

func (notOursError) Is(target error) bool { return target == errNotOurs }
func (e notOursError) Unwrap() error      { return e.StatusError }

func (p *Provider) get(ctx context.Context, namespace string, selector labels.Selector, metric string) (*external_metrics.ExternalMetricValueList, error) {
	if selector == nil {
		selector = labels.Everything()
	}
	var refs []controller.MetricRef
	if name, ok := selector.RequiresExactMatch(v1alpha1.LabelScaledObject); ok {
		// The HPA's own read: one ScaledObject, no listing.
		if selector.Matches(objectLabels(name)) {
			refs = []controller.MetricRef{{Namespace: namespace, ScaledObject: name, Metric: metric}}
		}
	} else {
		for _, r := range p.src.ListMetrics() {
			if r.Namespace == namespace && r.Metric == metric && selector.Matches(objectLabels(r.ScaledObject)) {
				refs = append(refs, r)
			}
		}
	}
	now := metav1.NewTime(p.clock.Now())
	out := &external_metrics.ExternalMetricValueList{Items: make([]external_metrics.ExternalMetricValue, 0, len(refs))}
	for _, ref := range refs {
		v, err := p.src.ExternalMetric(ctx, ref)
		if errors.Is(err, controller.ErrMetricNotFound) && len(refs) > 1 {
			continue // deleted since it was listed
		}
		if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
			err = fmt.Errorf("%w: not a finite number", controller.ErrMetricUnavailable)
		}
		if errors.Is(err, controller.ErrMetricNotFound) {
			return nil, notOursError{notFoundStatus(fmt.Sprintf("no ScaledObject %s/%s serves external metric %q", ref.Namespace, ref.ScaledObject, ref.Metric))}
		}
		if err != nil {
			return nil, p.apiError(ctx, err, ref)
		}
		out.Items = append(out.Items, external_metrics.ExternalMetricValue{
			MetricName:   metric,
			MetricLabels: objectLabels(ref.ScaledObject),
			Timestamp:    now,
			Value:        quantity(v),
		})
	}
	if len(out.Items) == 0 {
		return nil, notOursError{notFound(namespace, metric, selector)}
	}
	return out, nil
}

// ListAllExternalMetrics lists the names of the metrics served now, each
// once, sorted: the ScaledObjects' and, with a delegate, the delegate's.
func (p *Provider) ListAllExternalMetrics() []provider.ExternalMetricInfo {
	refs := p.src.ListMetrics()
	var delegated []string
	if p.delegate != nil {
		delegated = p.delegate.ListExternalMetrics()
	}
	names := make([]string, 0, len(refs)+len(delegated))
	for _, r := range refs {
		names = append(names, r.Metric)
	}
	names = append(names, delegated...)
	slices.Sort(names)
	names = slices.Compact(names)
	out := make([]provider.ExternalMetricInfo, len(names))
	for i, n := range names {
		out[i] = provider.ExternalMetricInfo{Metric: n}
	}
	return out
}

func objectLabels(scaledObject string) labels.Set {
	return labels.Set{v1alpha1.LabelScaledObject: scaledObject}
}

// apiError turns a Source error into an API error without its detail, which
// may describe the source (addresses, queue names, driver messages). The
// detail is logged at V(1): the ScaledObject's status carries it too.
func (p *Provider) apiError(ctx context.Context, err error, ref controller.MetricRef) error {
	what := fmt.Sprintf("external metric %q of ScaledObject %s/%s", ref.Metric, ref.Namespace, ref.ScaledObject)
	switch {
	case errors.Is(err, controller.ErrMetricUnavailable):
		p.log.V(1).Info("Serving an external metric failed", "scaledObject", ref.Namespace+"/"+ref.ScaledObject, "metric", ref.Metric, "error", err.Error())
		return apierrors.NewServiceUnavailable(what + " cannot be read now and is not in fallback; see the ScaledObject's status")
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return apierrors.NewServiceUnavailable(what + ": the read did not finish in time")
	default:
		p.log.Error(err, "Serving an external metric failed", "scaledObject", ref.Namespace+"/"+ref.ScaledObject, "metric", ref.Metric)
		return apierrors.NewInternalError(errors.New(what + " could not be served"))
	}
}

func notFound(namespace, metric string, selector labels.Selector) *apierrors.StatusError {
	msg := fmt.Sprintf("no ScaledObject in namespace %q serves external metric %q", namespace, metric)
	if !selector.Empty() {
		msg += fmt.Sprintf(" for selector %q", selector.String())
	}
	return notFoundStatus(msg)
}

func notFoundStatus(msg string) *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusNotFound,
		Reason:  metav1.StatusReasonNotFound,
		Message: msg,
		Details: &metav1.StatusDetails{Group: external_metrics.GroupName},
	}}
}

func resultOf(err error) string {
	switch {
	case err == nil:
		return ResultOK
	case apierrors.IsNotFound(err):
		return ResultNotFound
	case apierrors.IsServiceUnavailable(err):
		return ResultUnavailable
	default:
		return ResultError
	}
}

// quantity renders a value with milli precision, as the HPA reads it.
func quantity(v float64) resource.Quantity {
	const limit = math.MaxInt64 / 1000
	m := math.Round(v * 1000)
	switch {
	case v >= limit:
		return *resource.NewQuantity(limit, resource.DecimalSI)
	case v <= -limit:
		return *resource.NewQuantity(-limit, resource.DecimalSI)
	}
	return *resource.NewMilliQuantity(int64(m), resource.DecimalSI)
}

// requestTimeout bounds one read through the Source, so a hung source gives
// ServiceUnavailable before the aggregator's own timeout.
const requestTimeout = 25 * time.Second
