// SPDX-License-Identifier: Apache-2.0

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
	MetricScalerPanics        = "ebb_scaler_panics_total"

	MetricJobTriggerValue        = "ebb_scaledjob_trigger_value"
	MetricJobTriggerTarget       = "ebb_scaledjob_trigger_target"
	MetricJobTriggerActive       = "ebb_scaledjob_trigger_active"
	MetricJobTriggerReadDuration = "ebb_scaledjob_trigger_read_duration_seconds"
	MetricJobTriggerReadErrors   = "ebb_scaledjob_trigger_read_errors_total"
	MetricJobsRunning            = "ebb_scaledjob_running_jobs"
	MetricJobsPending            = "ebb_scaledjob_pending_jobs"
	MetricJobsCreated            = "ebb_scaledjob_jobs_created_total"
	MetricJobsDeleted            = "ebb_scaledjob_jobs_deleted_total"
)

// Reasons of ebb_scaledjob_jobs_deleted_total: a finished Job past the
// history limits, or a running Job of an older generation (rollout
// strategy default).
const (
	JobDeletedHistory = "history"
	JobDeletedRollout = "rollout"
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

// jobTriggerLabels label a ScaledJob's per-trigger series: separate series,
// so that those of ScaledObjects keep their labels.
var jobTriggerLabels = []string{"namespace", "scaledjob", "trigger", "type"}

// triggerVecs are one kind of object's per-trigger series.
type triggerVecs struct {
	value, target, active *prometheus.GaugeVec
	readDuration          *prometheus.HistogramVec
	readErrors            *prometheus.CounterVec
}

func newTriggerVecs(subject, prefix string, labels []string) triggerVecs {
	return triggerVecs{
		value: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: prefix + "trigger_value",
			Help: "The " + subject + "'s last metric value read from its source. Kept at the last good value while reads fail.",
		}, labels),
		target: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: prefix + "trigger_target",
			Help: "The " + subject + "'s target value (per replica for AverageValue).",
		}, labels),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: prefix + "trigger_active",
			Help: "1 when the " + subject + "'s last successful read was above its activation threshold, else 0.",
		}, labels),
		readDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    prefix + "trigger_read_duration_seconds",
			Help:    "Time a read (or batched activation probe) of the " + subject + "'s source took, failed ones included.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, labels),
		readErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: prefix + "trigger_read_errors_total",
			Help: "Failed reads of the " + subject + "'s source.",
		}, labels),
	}
}

func (v triggerVecs) collectors() []prometheus.Collector {
	return []prometheus.Collector{v.value, v.target, v.active, v.readDuration, v.readErrors}
}

// Metrics are the controller's Prometheus metrics. The scale loop feeds the
// per-trigger series and the scale decisions, the job loop the ScaledJob
// series (ebb_scaledjob_*); the ScaledObject counts and
// replica gauges are read from the manager's cache at scrape time, so they
// are right on every replica and vanish with the object. A nil *Metrics
// records nothing.
type Metrics struct {
	value, target, active *prometheus.GaugeVec
	readDuration          *prometheus.HistogramVec
	readErrors            *prometheus.CounterVec
	decisions             *prometheus.CounterVec
	scaleErrors           *prometheus.CounterVec
	panics                *prometheus.CounterVec

	// ScaledJobs' series, fed by the job loop.
	job                      triggerVecs
	running, pending         *prometheus.GaugeVec
	jobsCreated, jobsDeleted *prometheus.CounterVec

	mu          sync.Mutex
	triggers    map[types.NamespacedName]map[triggerID]*triggerMetrics // the triggers with series
	jobTriggers map[types.NamespacedName]map[triggerID]*triggerMetrics // the ScaledJob triggers with series
}

type triggerID struct{ name, typ string }

// NewMetrics makes the controller's metrics and registers them on reg (not
// the global registry). objects, when set, is the cache the ScaledObject
// counts and replica gauges are read from at scrape time. version is the
// operator's version for ebb_build_info.
func NewMetrics(reg prometheus.Registerer, objects client.Reader, version string) (*Metrics, error) {
	so := newTriggerVecs("trigger", "ebb_", triggerLabels)
	sjLabels := []string{"namespace", "scaledjob"}
	m := &Metrics{
		triggers:    map[types.NamespacedName]map[triggerID]*triggerMetrics{},
		jobTriggers: map[types.NamespacedName]map[triggerID]*triggerMetrics{},
		value:       so.value, target: so.target, active: so.active,
		readDuration: so.readDuration, readErrors: so.readErrors,
		job: newTriggerVecs("ScaledJob trigger", "ebb_scaledjob_", jobTriggerLabels),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricJobsRunning,
			Help: "The ScaledJob's Jobs not finished, as of its last poll (the Jobs it created included).",
		}, sjLabels),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricJobsPending,
			Help: "The ScaledJob's running Jobs whose pods do not run yet, as of its last poll (the Jobs it created included).",
		}, sjLabels),
		jobsCreated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricJobsCreated,
			Help: "Jobs the job loop created for the ScaledJob.",
		}, sjLabels),
		jobsDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricJobsDeleted,
			Help: "Jobs the job loop deleted, by reason: history (finished, past the history limits) or rollout (running, of an older generation).",
		}, []string{"namespace", "scaledjob", "reason"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricScaleDecisions,
			Help: "Replica changes the scale loop made (0↔1, idle, fallback, paused), by direction (up, down) and reason (the Event's reason).",
		}, []string{"namespace", "scaledobject", "direction", "reason"}),
		scaleErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricScaleErrors,
			Help: "Replica changes the scale loop decided that the target's /scale subresource refused.",
		}, []string{"namespace", "scaledobject"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricScalerPanics,
			Help: "Reads (and probes) of ScaledObject and ScaledJob triggers that failed because their scaler panicked, by trigger type. The panics were recovered.",
		}, []string{"type"}),
	}
	cs := []prometheus.Collector{m.value, m.target, m.active, m.readDuration, m.readErrors, m.decisions, m.scaleErrors, m.panics, newBuildInfo(version)}
	cs = append(cs, m.job.collectors()...)
	cs = append(cs, m.running, m.pending, m.jobsCreated, m.jobsDeleted)
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
	v  triggerVecs
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
	return m.resolve(m.objectVecs(), m.triggers, key, name, typ, spec)
}

// jobTrigger is trigger for a ScaledJob's trigger.
func (m *Metrics) jobTrigger(key types.NamespacedName, name, typ string, spec scalers.MetricSpec) *triggerMetrics {
	if m == nil {
		return nil
	}
	return m.resolve(m.job, m.jobTriggers, key, name, typ, spec)
}

func (m *Metrics) objectVecs() triggerVecs {
	return triggerVecs{value: m.value, target: m.target, active: m.active, readDuration: m.readDuration, readErrors: m.readErrors}
}

func (m *Metrics) resolve(v triggerVecs, all map[types.NamespacedName]map[triggerID]*triggerMetrics, key types.NamespacedName, name, typ string, spec scalers.MetricSpec) *triggerMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if all[key] == nil {
		all[key] = map[triggerID]*triggerMetrics{}
	}
	id := triggerID{name, typ}
	tm := all[key][id]
	if tm == nil {
		lv := []string{key.Namespace, key.Name, name, typ}
		tm = &triggerMetrics{
			v: v, lv: lv,
			target:       v.target.WithLabelValues(lv...),
			readDuration: v.readDuration.WithLabelValues(lv...),
			readErrors:   v.readErrors.WithLabelValues(lv...),
		}
		all[key][id] = tm
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
		tm.value = tm.v.value.WithLabelValues(tm.lv...)
		tm.active = tm.v.active.WithLabelValues(tm.lv...)
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
	m.forgetTriggers(m.triggers, key, keep)
	if keep == nil {
		sel := prometheus.Labels{"namespace": key.Namespace, "scaledobject": key.Name}
		m.decisions.DeletePartialMatch(sel)
		m.scaleErrors.DeletePartialMatch(sel)
	}
}

// forgetJob is forget for a ScaledJob: with keep nil its Job gauges and
// counters go too.
func (m *Metrics) forgetJob(key types.NamespacedName, keep []LoopTrigger) {
	if m == nil {
		return
	}
	m.forgetTriggers(m.jobTriggers, key, keep)
	if keep == nil {
		sel := prometheus.Labels{"namespace": key.Namespace, "scaledjob": key.Name}
		m.running.DeletePartialMatch(sel)
		m.pending.DeletePartialMatch(sel)
		m.jobsCreated.DeletePartialMatch(sel)
		m.jobsDeleted.DeletePartialMatch(sel)
	}
}

func (m *Metrics) forgetTriggers(all map[types.NamespacedName]map[triggerID]*triggerMetrics, key types.NamespacedName, keep []LoopTrigger) {
	kept := map[triggerID]bool{}
	for _, t := range keep {
		kept[triggerID{t.Name, t.Type}] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, tm := range all[key] {
		if kept[id] {
			continue
		}
		tm.mu.Lock()
		tm.dead = true
		tm.v.value.DeleteLabelValues(tm.lv...)
		tm.v.target.DeleteLabelValues(tm.lv...)
		tm.v.active.DeleteLabelValues(tm.lv...)
		tm.v.readDuration.DeleteLabelValues(tm.lv...)
		tm.v.readErrors.DeleteLabelValues(tm.lv...)
		tm.mu.Unlock()
		delete(all[key], id)
	}
	if len(all[key]) == 0 {
		delete(all, key)
	}
}

// jobs records how a ScaledJob's Jobs stood after a poll and the Jobs it
// created.
func (m *Metrics) jobs(key types.NamespacedName, running, pending, created int32) {
	if m == nil {
		return
	}
	m.running.WithLabelValues(key.Namespace, key.Name).Set(float64(running))
	m.pending.WithLabelValues(key.Namespace, key.Name).Set(float64(pending))
	c := m.jobsCreated.WithLabelValues(key.Namespace, key.Name)
	c.Add(float64(created))
}

// jobDeleted counts a Job the job loop deleted, for reason
// (JobDeletedHistory or JobDeletedRollout).
func (m *Metrics) jobDeleted(key types.NamespacedName, reason string) {
	if m == nil {
		return
	}
	m.jobsDeleted.WithLabelValues(key.Namespace, key.Name, reason).Inc()
}

// panicked counts a read that failed because the scaler of a trigger of
// type typ panicked.
func (m *Metrics) panicked(typ string) {
	if m == nil {
		return
	}
	m.panics.WithLabelValues(typ).Inc()
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
