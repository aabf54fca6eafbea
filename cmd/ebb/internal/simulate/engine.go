// SPDX-License-Identifier: Apache-2.0

package simulate

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/cmd/ebb/internal/simulate/hpamodel"
	"github.com/ebbscale/ebb/controller"
	"github.com/ebbscale/ebb/scalers"
)

// Cluster holds the settings of the cluster the ScaledObject runs in: its
// HPA controller's flags and where the target starts.
type Cluster struct {
	// SyncPeriod is --horizontal-pod-autoscaler-sync-period (15 s).
	SyncPeriod time.Duration
	// SyncOffset is when the HPA's first sync happens after the start
	// (0: at the start, right after Ebb's first poll).
	SyncOffset time.Duration
	// Tolerance is --horizontal-pod-autoscaler-tolerance (0.1).
	Tolerance float64
	// DownscaleStabilization is
	// --horizontal-pod-autoscaler-downscale-stabilization (5 min).
	DownscaleStabilization time.Duration
	// InitialReplicas is the target's replica count at the start.
	InitialReplicas int32
}

// DefaultCluster is kube-controller-manager's defaults and a target at zero.
func DefaultCluster() Cluster {
	return Cluster{
		SyncPeriod:             hpamodel.DefaultSyncPeriod,
		Tolerance:              hpamodel.DefaultTolerance,
		DownscaleStabilization: hpamodel.DefaultDownscaleStabilization,
	}
}

// Trigger is one trigger of the ScaledObject as the simulation sees it.
type Trigger struct {
	Name   string
	Metric scalers.MetricSpec
	Series *Series
}

// Scenario is one ScaledObject with a series for each trigger.
type Scenario struct {
	// Name labels the run in the output (usually the YAML file).
	Name     string
	Object   *v1alpha1.ScaledObject
	Triggers []Trigger
	// Composite is the compiled spec.advanced.scalingModifiers, if any.
	Composite *controller.Composite
}

// MetricSpecs builds each trigger's metric (target, activation threshold,
// type) as the operator would, through the registry's scaler types: no
// connection is made and no credential is needed.
func MetricSpecs(reg *scalers.Registry, so *v1alpha1.ScaledObject) ([]scalers.MetricSpec, *controller.Composite, error) {
	if errs := controller.ValidateSpec(reg, so); len(errs) > 0 {
		return nil, nil, fmt.Errorf("ScaledObject %q: %w", so.Name, errs.ToAggregate())
	}
	specs := make([]scalers.MetricSpec, len(so.Spec.Triggers))
	names := make([]string, len(so.Spec.Triggers))
	for i, t := range so.Spec.Triggers {
		names[i] = so.Spec.TriggerName(i)
		sc, err := reg.New(scalers.Trigger{
			Namespace: so.Namespace, ScaledObject: so.Name, Index: i, Name: names[i], Type: t.Type,
			Metadata: t.Metadata, MetricType: t.MetricType, AuthPending: true,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("ScaledObject %q: %w", so.Name, err)
		}
		specs[i] = sc.Metric()
		_ = sc.Close()
	}
	var comp *controller.Composite
	if a := so.Spec.Advanced; a != nil && a.ScalingModifiers != nil {
		c, err := controller.CompileTriggersComposite(reg, a.ScalingModifiers, so.Spec.Triggers, names)
		if err != nil {
			return nil, nil, fmt.Errorf("ScaledObject %q: spec.advanced.%w", so.Name, err)
		}
		comp = c
	}
	return specs, comp, nil
}

// Who moved the target.
const (
	ByEbb = "Ebb"
	ByHPA = "HPA"
)

// Change is one change of the target's replica count.
type Change struct {
	At       time.Duration
	From, To int32
	By       string // ByEbb or ByHPA
	Reason   string
}

// Summary holds the figures of a run.
type Summary struct {
	Duration        time.Duration
	ScaleEvents     int
	EbbEvents       int
	HPAEvents       int
	ReplicaSeconds  float64
	Peak            int32
	PeakAt          time.Duration
	TimeAtZero      time.Duration
	AverageReplicas float64
}

// Result is the outcome of one run.
type Result struct {
	Scenario *Scenario
	Initial  int32
	Changes  []Change
	Summary  Summary
	Polls    int
	Syncs    int
}

// ErrNoTime is returned for a run that would cover no time.
var ErrNoTime = errors.New("the run covers no time: give series with more than one row or a duration")

type triggerState struct {
	name    string
	spec    scalers.MetricSpec
	cur     *cursor
	value   float64
	ok      bool
	read    bool
	active  bool
	fails   int32
	readAt  time.Duration
	hasRead bool
}

// Run replays sc over [0, until] (until 0: the end of the longest series)
// in the given cluster. Time is discrete: Ebb's scale loop polls at t = 0
// and then as it would schedule itself (every pollingInterval, every
// activation probe interval at zero, never past the end of a cooldown),
// the HPA syncs at SyncOffset + k × SyncPeriod; when both fall at the same
// instant, Ebb polls first. Replica changes take effect at once.
func Run(sc *Scenario, cl Cluster, until time.Duration) (*Result, error) {
	so := sc.Object
	spec := &so.Spec
	if len(sc.Triggers) != len(spec.Triggers) {
		return nil, fmt.Errorf("scenario %s: %d triggers for a ScaledObject with %d", sc.Name, len(sc.Triggers), len(spec.Triggers))
	}
	if until <= 0 {
		for _, t := range sc.Triggers {
			until = max(until, t.Series.End())
		}
	}
	if until <= 0 {
		return nil, ErrNoTime
	}
	if cl.SyncPeriod <= 0 {
		return nil, fmt.Errorf("HPA sync period %s: expected more than 0", cl.SyncPeriod)
	}

	ts := make([]*triggerState, len(sc.Triggers))
	for i, t := range sc.Triggers {
		ts[i] = &triggerState{name: t.Name, spec: t.Metric, cur: newCursor(t.Series)}
	}
	// The HPA's metrics: one per trigger, or the composite one.
	metrics := make([]hpamodel.Metric, 0, len(ts))
	addMetric := func(name string, m scalers.MetricSpec) {
		typ := hpamodel.AverageValue
		if m.Type == v1alpha1.MetricTypeValue {
			typ = hpamodel.Value
		}
		metrics = append(metrics, hpamodel.Metric{Name: name, Type: typ, Target: m.Target})
	}
	var comp *triggerState
	if sc.Composite != nil {
		comp = &triggerState{name: controller.CompositeMetricName, spec: sc.Composite.Spec}
		addMetric("the scaling formula", comp.spec)
	} else {
		for _, t := range ts {
			addMetric(fmt.Sprintf("trigger %q", t.name), t.spec)
		}
	}
	hpaMin := max(spec.MinReplicas(), 1)
	// The behavior Ebb writes into the HPA: the user's, with a direction
	// held by a directional pause annotation disabled.
	behavior := controller.HPABehavior(so)
	hpa, err := hpamodel.New(hpamodel.Config{
		Min: hpaMin, Max: max(spec.MaxReplicas(), hpaMin), Metrics: metrics, Behavior: behavior,
		Tolerance: tolerance(cl.Tolerance), DownscaleStabilization: cl.DownscaleStabilization,
	})
	if err != nil {
		return nil, fmt.Errorf("ScaledObject %q: its HPA: %w", so.Name, err)
	}

	paused, pausedReplicas := controller.PauseOf(so)
	base := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	interval := spec.PollingIntervalDuration()
	probe := spec.ActivationProbeInterval()
	in := controller.Inputs{
		Created: base,
		Min:     spec.MinReplicas(), Max: spec.MaxReplicas(), Idle: spec.IdleReplicaCount,
		Cooldown: spec.CooldownPeriodDuration(), InitialCooldown: spec.InitialCooldownPeriodDuration(),
		Fallback: spec.Fallback, Paused: paused, PausedReplicas: pausedReplicas,
		Controls: controller.ControlsOf(so),
	}
	if spec.Advanced != nil {
		in.ScaleToZero = spec.Advanced.ScaleToZero
	}
	res := &Result{Scenario: sc, Initial: cl.InitialReplicas}
	current := cl.InitialReplicas
	health := make([]controller.TriggerHealth, 0, len(ts)+1)
	values := make(map[string]float64, len(ts))
	readings := make([]hpamodel.Reading, len(metrics))

	read := func(t *triggerState, at time.Duration) {
		v, ok := t.cur.at(at)
		t.readAt, t.hasRead = at, true
		if ok {
			t.value, t.ok, t.fails = v, true, 0
			t.active = scalers.IsActive(v, t.spec.ActivationTarget)
		} else {
			t.ok, t.active = false, false
			t.fails++
		}
	}
	evalComposite := func() {
		for _, t := range ts {
			if !t.ok {
				comp.ok, comp.active = false, false
				return
			}
			values[t.name] = t.value
		}
		v, err := sc.Composite.Eval(values)
		comp.ok = err == nil
		comp.value = v
		comp.active = comp.ok && scalers.IsActive(v, comp.spec.ActivationTarget)
	}
	inFallback := func() bool {
		fb := spec.Fallback
		if fb == nil {
			return false
		}
		for _, t := range ts {
			if t.fails >= fb.FailureThreshold {
				return true
			}
		}
		return false
	}

	poll := func(at time.Duration) time.Duration {
		res.Polls++
		for _, t := range ts {
			read(t, at)
		}
		health = health[:0]
		for _, t := range ts {
			health = append(health, controller.TriggerHealth{Name: t.name, Value: t.value, Known: t.ok, Active: t.active, Failures: t.fails})
		}
		if comp != nil {
			evalComposite()
			comp.readAt, comp.hasRead = at, true
			for i := range health {
				health[i].Active = false
			}
			health = append(health, controller.TriggerHealth{Name: comp.name, Value: comp.value, Known: comp.ok, Active: comp.active})
		}
		in.Now = base.Add(at)
		in.Current = current
		in.Triggers = health
		d := controller.Decide(in)
		in.LastActive = d.LastActive
		if d.Replicas != nil && *d.Replicas != current {
			msg := strings.TrimSuffix(d.Message, fmt.Sprintf(": scaling from %d to %d", current, *d.Replicas))
			res.Changes = append(res.Changes, Change{At: at, From: current, To: *d.Replicas, By: ByEbb, Reason: d.Reason + ": " + msg})
			current = *d.Replicas
		}
		next := interval
		if current == 0 && !d.Paused {
			next = min(next, probe)
		}
		if d.CooldownRemaining > 0 && d.CooldownRemaining < next {
			next = d.CooldownRemaining
		}
		return next
	}

	sync := func(at time.Duration) {
		res.Syncs++
		if paused {
			return // the paused HPA has minReplicas = maxReplicas = the frozen count
		}
		fallback := inFallback()
		var fbReplicas int32
		if fallback {
			fbReplicas = controller.FallbackReplicas(spec.Fallback, current)
		}
		if comp != nil {
			readings[0] = hpaReading(comp, fallback, fbReplicas, current)
		} else {
			for i, t := range ts {
				// The adapter serves the stored value while it is younger
				// than the polling interval, and reads the source again
				// otherwise.
				if !t.hasRead || at-t.readAt >= interval {
					read(t, at)
				}
				readings[i] = hpaReading(t, fallback, fbReplicas, current)
			}
		}
		r := hpa.Sync(base.Add(at), current, readings)
		if r.Scaled() {
			why := r.Why
			if r.Proposed != 0 && r.Proposed != r.To {
				why = fmt.Sprintf("%s (proposed %d)", why, r.Proposed)
			}
			if fallback {
				why += fmt.Sprintf(" — in fallback, the adapter serves the value of %d replicas", fbReplicas)
			}
			res.Changes = append(res.Changes, Change{At: at, From: current, To: r.To, By: ByHPA, Reason: why})
			current = r.To
		}
	}

	nextPoll, nextSync := time.Duration(0), max(cl.SyncOffset, 0)
	for {
		if nextPoll <= nextSync {
			if nextPoll > until {
				break
			}
			nextPoll += poll(nextPoll)
			continue
		}
		if nextSync > until {
			break
		}
		sync(nextSync)
		nextSync += cl.SyncPeriod
	}
	res.Summary = summarize(res.Initial, res.Changes, until)
	return res, nil
}

// tolerance maps the flag's value onto hpamodel's convention (0 is 0).
func tolerance(t float64) float64 {
	if t == 0 {
		return -1
	}
	return t
}

// hpaReading is what the metrics adapter serves the HPA for a trigger.
func hpaReading(t *triggerState, fallback bool, fbReplicas, current int32) hpamodel.Reading {
	if fallback {
		return hpamodel.Reading{Value: controller.FallbackValue(t.spec, fbReplicas, current), OK: true}
	}
	return hpamodel.Reading{Value: t.value, OK: t.ok && t.hasRead}
}

func summarize(initial int32, changes []Change, until time.Duration) Summary {
	s := Summary{Duration: until, ScaleEvents: len(changes), Peak: initial}
	cur, from := initial, time.Duration(0)
	account := func(to time.Duration) {
		d := to - from
		s.ReplicaSeconds += float64(cur) * d.Seconds()
		if cur == 0 {
			s.TimeAtZero += d
		}
	}
	for _, c := range changes {
		account(c.At)
		if c.By == ByEbb {
			s.EbbEvents++
		} else {
			s.HPAEvents++
		}
		cur, from = c.To, c.At
		if cur > s.Peak {
			s.Peak, s.PeakAt = cur, c.At
		}
	}
	account(until)
	if until > 0 {
		s.AverageReplicas = s.ReplicaSeconds / until.Seconds()
	}
	return s
}
