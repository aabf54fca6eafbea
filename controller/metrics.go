package controller

import (
	"context"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

// Names of Ebb's controller metrics; docs/metrics.md lists them all.
const (
	MetricTriggerValue        = "ebb_trigger_value"
	MetricTriggerTarget       = "ebb_trigger_target"
	MetricTriggerActive       = "ebb_trigger_active"
	MetricTriggerReadDuration = "ebb_trigger_read_duration_seconds"
	MetricTriggerReadErrors   = "ebb_trigger_read_errors_total"
	MetricScaleDecisions      = "ebb_scale_decisions_total"
	MetricScaleErrors         = "ebb_scale_errors_total"
	MetricScaledObjects       = "ebb_scaledobjects"
	MetricCurrentReplicas     = "ebb_scaledobject_current_replicas"
	MetricDesiredReplicas     = "ebb_scaledobject_desired_replicas"
	MetricBuildInfo           = "ebb_build_info"
)

// States counted by ebb_scaledobjects, the values of its "state" label: a
// ScaledObject is counted in each state whose condition is True.
var objectStates = []struct{ state, condition string }{
	{"ready", v1alpha1.ConditionReady},
	{"active", v1alpha1.ConditionActive},
	{"fallback", v1alpha1.ConditionFallback},
	{"paused", v1alpha1.ConditionPaused},
}

// triggerLabels label every per-trigger series. All are bounded by the
// ScaledObjects in the cluster; none carries a credential or a value.
var triggerLabels = []string{"namespace", "scaledobject", "trigger", "type"}

// Metrics are the controller's Prometheus metrics. The scale loop feeds the
// per-trigger series and the scale decisions; the ScaledObject counts and
// replica gauges are read from the manager's cache at scrape time, so they
// are right on every replica and vanish with the object. A nil *Metrics
// records nothing.
type Metrics struct {
	value, target, active *prometheus.GaugeVec
	readDuration          *prometheus.HistogramVec
	readErrors            *prometheus.CounterVec
	decisions             *prometheus.CounterVec
	scaleErrors           *prometheus.CounterVec

	mu       sync.Mutex
	triggers map[types.NamespacedName]map[triggerID]*triggerMetrics // the triggers with series
}

type triggerID struct{ name, typ string }

// NewMetrics makes the controller's metrics and registers them on reg (not
// the global registry). objects, when set, is the cache the ScaledObject
// counts and replica gauges are read from at scrape time. version is the
// operator's version for ebb_build_info.
func NewMetrics(reg prometheus.Registerer, objects client.Reader, version string) (*Metrics, error) {
	m := &Metrics{
		triggers: map[types.NamespacedName]map[triggerID]*triggerMetrics{},
		value: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricTriggerValue,
			Help: "The trigger's last metric value read from its source. Kept at the last good value while reads fail.",
		}, triggerLabels),
		target: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricTriggerTarget,
			Help: "The trigger's target value (per replica for AverageValue).",
		}, triggerLabels),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricTriggerActive,
			Help: "1 when the trigger's last successful read was above its activation threshold, else 0.",
		}, triggerLabels),
		readDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricTriggerReadDuration,
			Help:    "Time a read (or batched activation probe) of the trigger's source took, failed ones included.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, triggerLabels),
		readErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricTriggerReadErrors,
			Help: "Failed reads of the trigger's source.",
		}, triggerLabels),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricScaleDecisions,
			Help: "Replica changes the scale loop made (0↔1, idle, fallback, paused), by direction (up, down) and reason (the Event's reason).",
		}, []string{"namespace", "scaledobject", "direction", "reason"}),
		scaleErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricScaleErrors,
			Help: "Replica changes the scale loop decided that the target's /scale subresource refused.",
		}, []string{"namespace", "scaledobject"}),
	}
	cs := []prometheus.Collector{m.value, m.target, m.active, m.readDuration, m.readErrors, m.decisions, m.scaleErrors, newBuildInfo(version)}
	if objects != nil {
		cs = append(cs, &objectCollector{reader: objects})
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// triggerMetrics are one trigger's series. The target, latency and error
// series exist from the moment the loop takes the trigger; the value and
// active series only from the first successful read, so that a trigger
// never read (on a follower, say) does not show a zero.
type triggerMetrics struct {
	m  *Metrics
	lv []string

	target       prometheus.Gauge
	readDuration prometheus.Observer
	readErrors   prometheus.Counter

	mu            sync.Mutex
	value, active prometheus.Gauge // nil until the first good read
	dead          bool             // the series were deleted: record nothing
}

// trigger resolves (and creates) the series of one trigger and sets its
// target; a trigger the loop already had keeps its series. Nil when m is
// nil.
func (m *Metrics) trigger(key types.NamespacedName, name, typ string, spec scalers.MetricSpec) *triggerMetrics {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.triggers[key] == nil {
		m.triggers[key] = map[triggerID]*triggerMetrics{}
	}
	id := triggerID{name, typ}
	tm := m.triggers[key][id]
	if tm == nil {
		lv := []string{key.Namespace, key.Name, name, typ}
		tm = &triggerMetrics{
			m: m, lv: lv,
			target:       m.target.WithLabelValues(lv...),
			readDuration: m.readDuration.WithLabelValues(lv...),
			readErrors:   m.readErrors.WithLabelValues(lv...),
		}
		m.triggers[key][id] = tm
	}
	tm.target.Set(spec.Target)
	return tm
}

// read records one read of the trigger's source.
func (tm *triggerMetrics) read(took time.Duration, value float64, active bool, err error) {
	if tm == nil {
		return
	}
	tm.readDuration.Observe(took.Seconds())
	if err != nil {
		tm.readErrors.Inc()
		return
	}
	tm.set(value, active, nil)
}

// set records a good value: one read, or the composite metric's.
func (tm *triggerMetrics) set(value float64, active bool, err error) {
	if tm == nil || err != nil {
		return
	}
	tm.mu.Lock()
	defer tm.mu.Unlock()
	if tm.dead {
		return
	}
	if tm.value == nil {
		tm.value = tm.m.value.WithLabelValues(tm.lv...)
		tm.active = tm.m.active.WithLabelValues(tm.lv...)
	}
	tm.value.Set(value)
	tm.active.Set(boolGauge(active))
}

// forget deletes the series of a ScaledObject's triggers that are not in
// keep (all of them, and its scale counters, when keep is nil): those of a
// deleted ScaledObject or a removed trigger.
func (m *Metrics) forget(key types.NamespacedName, keep []LoopTrigger) {
	if m == nil {
		return
	}
	kept := map[triggerID]bool{}
	for _, t := range keep {
		kept[triggerID{t.Name, t.Type}] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, tm := range m.triggers[key] {
		if kept[id] {
			continue
		}
		tm.mu.Lock()
		tm.dead = true
		m.value.DeleteLabelValues(tm.lv...)
		m.target.DeleteLabelValues(tm.lv...)
		m.active.DeleteLabelValues(tm.lv...)
		m.readDuration.DeleteLabelValues(tm.lv...)
		m.readErrors.DeleteLabelValues(tm.lv...)
		tm.mu.Unlock()
		delete(m.triggers[key], id)
	}
	if len(m.triggers[key]) == 0 {
		delete(m.triggers, key)
	}
	if keep == nil {
		sel := prometheus.Labels{"namespace": key.Namespace, "scaledobject": key.Name}
		m.decisions.DeletePartialMatch(sel)
		m.scaleErrors.DeletePartialMatch(sel)
	}
}

// decision records a replica change the loop made or failed to make.
func (m *Metrics) decision(key types.NamespacedName, from, to int32, reason string, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.scaleErrors.WithLabelValues(key.Namespace, key.Name).Inc()
		return
	}
	direction := "up"
	if to < from {
		direction = "down"
	}
	m.decisions.WithLabelValues(key.Namespace, key.Name, direction, reason).Inc()
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// objectCollector reports ScaledObjects by state and their replica counts
// from the manager's cache at scrape time.
type objectCollector struct {
	reader client.Reader
}

var (
	descObjects = prometheus.NewDesc(MetricScaledObjects,
		"ScaledObjects whose condition of the state (ready, active, fallback, paused) is True.", []string{"state"}, nil)
	descCurrent = prometheus.NewDesc(MetricCurrentReplicas,
		"The target's replica count as Ebb last saw it (status.currentReplicas).", []string{"namespace", "scaledobject"}, nil)
	descDesired = prometheus.NewDesc(MetricDesiredReplicas,
		"The replica count Ebb or its HPA last asked for (status.desiredReplicas).", []string{"namespace", "scaledobject"}, nil)
)

func (c *objectCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descObjects
	ch <- descCurrent
	ch <- descDesired
}

func (c *objectCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var list v1alpha1.ScaledObjectList
	if err := c.reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		// The cache is not ready (the operator is starting): leave these
		// series out of this scrape rather than fail the whole scrape.
		return
	}
	counts := make([]int, len(objectStates))
	for i := range list.Items {
		so := &list.Items[i]
		for j, s := range objectStates {
			if apimeta.IsStatusConditionTrue(so.Status.Conditions, s.condition) {
				counts[j]++
			}
		}
		ch <- prometheus.MustNewConstMetric(descCurrent, prometheus.GaugeValue, float64(so.Status.CurrentReplicas), so.Namespace, so.Name)
		ch <- prometheus.MustNewConstMetric(descDesired, prometheus.GaugeValue, float64(so.Status.DesiredReplicas), so.Namespace, so.Name)
	}
	for j, s := range objectStates {
		ch <- prometheus.MustNewConstMetric(descObjects, prometheus.GaugeValue, float64(counts[j]), s.state)
	}
}

// newBuildInfo is ebb_build_info: 1, labelled with the version, the VCS
// revision and the Go version the binary was built with.
func newBuildInfo(version string) prometheus.Collector {
	revision, goVersion := "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	if version == "" {
		version = "unknown"
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        MetricBuildInfo,
		Help:        "Always 1; the labels say which build of Ebb runs.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": goVersion},
	})
	g.Set(1)
	return g
}
