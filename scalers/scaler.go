// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"context"
	"fmt"
	"strings"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// Scaler reads one trigger's event source.
//
// The scale loop calls Read once per polling interval (more often while the
// target is idle and being probed for activation), and the metrics adapter
// calls it when its stored value is stale; calls come from many goroutines at
// once, so implementations must be safe for concurrent use. Read must honour
// ctx: when it is cancelled or its deadline passes, Read returns promptly with
// an error.
//
// An error is never a zero: when the source cannot be read, Read returns an
// error, and the caller treats the trigger as unknown. Error text must never
// contain a credential (see Redact).
type Scaler interface {
	// Metric describes the metric the trigger serves. It does not change
	// during the Scaler's life and does no I/O.
	Metric() MetricSpec
	// Read returns the source's current value and whether it activates the
	// trigger.
	Read(ctx context.Context) (Reading, error)
	// Close releases what the Scaler holds, such as its lease on a pooled
	// connection. Close is called once, possibly while a Read is in flight
	// (the ScaledObject was updated or deleted): that Read and any later one
	// must fail without opening anything again, as Lease.Get does after
	// Release.
	Close() error
}

// MetricSpec describes the metric a trigger serves.
type MetricSpec struct {
	// Name is the external metric's name, unique within the ScaledObject:
	// "s<index>-<type>-<detail>" (see MetricName).
	Name string
	// Target is the value one replica handles (AverageValue) or the value to
	// hold (Value).
	Target float64
	// ActivationTarget is the activation threshold: the trigger is active
	// when its value is above it.
	ActivationTarget float64
	// Type is AverageValue or Value (Utilization or AverageValue for a
	// resource metric).
	Type v1alpha1.MetricType
	// Resource, when set, makes the metric a resource metric (cpu, memory)
	// that the HPA reads from metrics.k8s.io by itself: Ebb never reads it,
	// serves it or counts it for activation, and Name and Target are unused.
	Resource *ResourceMetric
}

// ResourceMetric is a pod resource metric passed to the HPA as it is.
type ResourceMetric struct {
	// Name is the resource: "cpu" or "memory".
	Name string
	// Container, when set, limits the metric to one container of each pod
	// (a ContainerResource metric).
	Container string
	// Utilization is the target use in percent of the pods' requests, for
	// the metric type Utilization.
	Utilization int32
	// AverageValue is the target use per pod as a Kubernetes quantity
	// ("500m", "512Mi"), for the metric type AverageValue.
	AverageValue string
}

// ResourceType is implemented by the Types of resource triggers (cpu,
// memory): their Scalers' metrics carry a ResourceMetric and are read by the
// HPA, not by Ebb, so such a trigger neither activates a target nor keeps
// one from zero.
type ResourceType interface {
	Type
	// Resource is the resource the Type's triggers scale on.
	Resource() string
}

// Reading is one read of a trigger's source.
type Reading struct {
	Value  float64
	Active bool
}

// IsActive is the activation rule shared by every scaler: a value above the
// activation threshold.
func IsActive(value, activationTarget float64) bool { return value > activationTarget }

// Trigger is one trigger of one ScaledObject with its parameters resolved: the
// input from which a Type validates metadata and builds a Scaler.
type Trigger struct {
	// Namespace and ScaledObject name the owner.
	Namespace    string
	ScaledObject string
	// Index is the trigger's position in spec.triggers.
	Index int
	// Name is the trigger's name (its own, or "<type>-<index>").
	Name string
	// Type is the trigger type, e.g. "rabbitmq".
	Type string
	// Metadata is the trigger's metadata, as written by the user.
	Metadata map[string]string
	// AuthParams are the parameters its TriggerAuthentication resolved to.
	// The values are secrets: they never appear in logs or errors.
	AuthParams map[string]string
	// Env is the environment of the scale target's container, read by keys
	// given as "<key>FromEnv".
	Env map[string]string
	// MetricType is the trigger's metric type (AverageValue by default).
	MetricType v1alpha1.MetricType
	// AuthPending says that the authentication parameters and environment
	// could not be resolved yet (at admission): a required key that may come
	// from them is then taken as present.
	AuthPending bool
	// Pin, when set, limits the endpoints the trigger's credentials may be
	// sent to (a ClusterTriggerAuthentication's allowedEndpoints):
	// ParseMetadata refuses an endpoint key's value it does not allow.
	Pin *EndpointPin
}

// String names the trigger in errors: `trigger 0 "orders" (rabbitmq)`.
func (t Trigger) String() string {
	return fmt.Sprintf("trigger %d %q (%s)", t.Index, t.Name, t.Type)
}

// MetricTypeOrDefault is the trigger's metric type, AverageValue when unset.
func (t Trigger) MetricTypeOrDefault() v1alpha1.MetricType {
	if t.MetricType == "" {
		return v1alpha1.MetricTypeAverageValue
	}
	return t.MetricType
}

// MetricName builds a trigger's external metric name from its index, type and
// a detail (a queue, a topic...): lowercase, only [a-z0-9-], at most 200
// characters, e.g. "s0-rabbitmq-orders".
func MetricName(t Trigger, detail string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "s%d-%s", t.Index, t.Type)
	if detail != "" {
		b.WriteByte('-')
		b.WriteString(detail)
	}
	return sanitizeMetricName(b.String())
}

func sanitizeMetricName(s string) string {
	out := make([]byte, 0, len(s))
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			out = append(out, byte(r))
			dash = false
		default:
			if !dash {
				out = append(out, '-')
				dash = true
			}
		}
	}
	name := strings.Trim(string(out), "-")
	if len(name) > 200 {
		name = strings.TrimRight(name[:200], "-")
	}
	return name
}

// Prober is implemented by Scalers whose activation check can be batched
// with other triggers on the same source (one management-API call for every
// idle queue of a broker, one offsets request per Kafka cluster).
//
// While a target rests at zero replicas, the scale loop calls Probe every
// activation probe interval (1 s by default) instead of waiting a whole
// polling interval, and Read once per polling interval as usual. Probe has
// Read's contract: safe for concurrent use, honours ctx, an error is never a
// zero. A Type merges the Probes that arrive together into one request and
// may serve a result younger than the probe interval.
type Prober interface {
	Probe(ctx context.Context) (Reading, error)
}

// Notifier is implemented by Scalers whose source can say at once that the
// trigger may have turned active (an HTTP request waiting for the first
// replica), so that activation need not wait for the next probe.
//
// The scale loop calls Notify once after it takes the Scaler over, and the
// returned stop when it lets it go, before Close. The source calls wake,
// from any goroutine, each time it signals, until stop returns; wake must
// be cheap and must not block (the scale loop only reschedules the target's
// poll). A wake is a hint, not a reading: the loop answers it with a Probe
// (or a Read), so a spurious wake costs one probe, and a missed one costs
// the wait until the next probe. Implementations share one connection to a
// source among all the Notifiers on it. stop is safe to call more than once.
type Notifier interface {
	Notify(wake func()) (stop func())
}
