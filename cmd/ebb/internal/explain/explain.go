// SPDX-License-Identifier: Apache-2.0

package explain

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
)

// Facts is what Gather read from the cluster, uninterpreted.
type Facts struct {
	ScaledObject *v1alpha1.ScaledObject
	// Replicas is spec.replicas of the target's /scale subresource; nil
	// when it could not be read, and ScaleError says why.
	Replicas   *int32
	ScaleError string
	// HPA is the HPA Ebb owns (status.hpaName); nil when it does not exist
	// or could not be read (HPAError says why).
	HPA      *autoscalingv2.HorizontalPodAutoscaler
	HPAError string
	// Events of the ScaledObject and of its HPA, in any order; EventsError
	// says why some could not be listed.
	Events      []corev1.Event
	EventsError string
}

// The HPA's defaults, as kube-controller-manager applies them: the
// tolerance (its --horizontal-pod-autoscaler-tolerance flag) and the
// stabilization windows of an HPA without a behavior.
const (
	DefaultTolerance              = 0.1
	DefaultScaleUpWindowSeconds   = int32(0)
	DefaultScaleDownWindowSeconds = int32(300)
	maxEvents                     = 20
	activationPrefix              = "activation"
	reasonScaleDownStabilized     = "ScaleDownStabilized"
	reasonTooManyReplicas         = "TooManyReplicas"
	reasonTooFewReplicas          = "TooFewReplicas"
	reasonScaleUpLimit            = "ScaleUpLimit"
	reasonScaleDownLimit          = "ScaleDownLimit"
)

// Explain turns facts into a report at time now. It does no I/O; the
// scale-to-zero state comes from controller.Decide, the function the scale
// loop decides with, fed from the ScaledObject's status.
func Explain(f Facts, now time.Time) Report {
	so := f.ScaledObject
	spec := &so.Spec
	r := Report{Now: now, Namespace: so.Namespace, Name: so.Name}
	r.Target = Target{
		APIVersion: orDefault(spec.ScaleTargetRef.APIVersion, "apps/v1"),
		Kind:       orDefault(spec.ScaleTargetRef.Kind, "Deployment"),
		Name:       spec.ScaleTargetRef.Name,
		Replicas:   f.Replicas,
		Error:      f.ScaleError,
	}
	r.Spec = Spec{
		MinReplicas:            spec.MinReplicas(),
		MaxReplicas:            spec.MaxReplicas(),
		IdleReplicas:           spec.IdleReplicaCount,
		PollingIntervalSeconds: spec.PollingIntervalDuration().Seconds(),
		CooldownSeconds:        spec.CooldownPeriodDuration().Seconds(),
		InitialCooldownSeconds: spec.InitialCooldownPeriodDuration().Seconds(),
		ScaleToZero:            string(v1alpha1.ScaleToZeroStepwise),
	}
	if a := spec.Advanced; a != nil && a.ScaleToZero != "" {
		r.Spec.ScaleToZero = string(a.ScaleToZero)
	}
	r.Conditions = conditions(so.Status.Conditions)

	var current int32
	if f.Replicas != nil {
		current = *f.Replicas
	}
	r.HPA = hpaFacts(so, f)
	r.Triggers = triggers(so, current, f.Replicas != nil, r.HPA)
	r.HPA.Wants = hpaWants(r.Triggers, r.HPA)

	d := controller.Decide(inputs(so, current, now))
	r.Pause.Paused, r.Pause.Replicas = controller.PauseOf(so)
	if fb := spec.Fallback; fb != nil {
		r.Fallback = Fallback{Configured: true, FailureThreshold: fb.FailureThreshold, Replicas: fb.Replicas, Behavior: orDefault(string(fb.Behavior), string(v1alpha1.FallbackStatic))}
	}
	if d.InFallback {
		r.Fallback.Active, r.Fallback.HoldReplicas, r.Fallback.Message = true, d.FallbackReplicas, d.Message
	}
	r.ToZero = toZero(so, d, current, now)
	r.Events, r.EventsError = events(f.Events), f.EventsError
	r.Verdict = verdict(&r, so, d)
	return r
}

// inputs builds the scale loop's decision inputs from the status, as the
// loop builds them from its own memory of the last reads.
func inputs(so *v1alpha1.ScaledObject, current int32, now time.Time) controller.Inputs {
	spec := &so.Spec
	in := controller.Inputs{
		Now: now, Created: so.CreationTimestamp.Time,
		Min: spec.MinReplicas(), Max: spec.MaxReplicas(), Idle: spec.IdleReplicaCount,
		Cooldown: spec.CooldownPeriodDuration(), InitialCooldown: spec.InitialCooldownPeriodDuration(),
		Fallback: spec.Fallback, Current: current,
	}
	if spec.Advanced != nil {
		in.ScaleToZero = spec.Advanced.ScaleToZero
	}
	in.Paused, in.PausedReplicas = controller.PauseOf(so)
	in.Controls = controller.ControlsOf(so)
	if la := so.Status.LastActiveTime; la != nil {
		t := la.Time
		in.LastActive = &t
	}
	composite := hasComposite(so)
	for _, ts := range so.Status.Triggers {
		v, _ := strconv.ParseFloat(ts.Value, 64)
		h := controller.TriggerHealth{
			Name: ts.Name, Value: v, Known: known(ts), Active: ts.Active, Failures: ts.ConsecutiveFailures,
		}
		if composite && ts.Name != controller.CompositeMetricName {
			// The composite metric alone activates, as in the scale loop.
			h.Active = false
		}
		in.Triggers = append(in.Triggers, h)
	}
	return in
}

func known(ts v1alpha1.TriggerStatus) bool {
	return ts.LastReadTime != nil && ts.ConsecutiveFailures == 0 && ts.LastError == ""
}

func hasComposite(so *v1alpha1.ScaledObject) bool {
	a := so.Spec.Advanced
	return a != nil && a.ScalingModifiers != nil && a.ScalingModifiers.Formula != ""
}

func conditions(in []metav1.Condition) []Condition {
	out := make([]Condition, 0, len(in))
	for _, c := range in {
		out = append(out, Condition{Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message, Since: c.LastTransitionTime.Time})
	}
	return out
}

func findCondition(cs []Condition, typ string) (Condition, bool) {
	for _, c := range cs {
		if c.Type == typ {
			return c, true
		}
	}
	return Condition{}, false
}

// triggers lists the spec's triggers (and the composite metric) with their
// status and the count each asks the HPA for.
func triggers(so *v1alpha1.ScaledObject, current int32, currentKnown bool, hpa HPA) []Trigger {
	byName := make(map[string]v1alpha1.TriggerStatus, len(so.Status.Triggers))
	for _, ts := range so.Status.Triggers {
		byName[ts.Name] = ts
	}
	composite := hasComposite(so)
	var out []Trigger
	add := func(t Trigger, ts v1alpha1.TriggerStatus, ok bool) {
		if ok {
			t.MetricName, t.Value, t.Target, t.Active = ts.MetricName, ts.Value, ts.Target, ts.Active
			t.Known, t.ConsecutiveFailures, t.LastError = known(ts), ts.ConsecutiveFailures, ts.LastError
			if ts.LastReadTime != nil {
				lt := ts.LastReadTime.Time
				t.LastReadTime = &lt
			}
		}
		if t.Known && currentKnown && (composite == t.Composite) && hpa.Found {
			t.Wants, t.Arithmetic, t.WithinTolerance = wants(t.MetricType, t.Value, t.Target, current, hpa.ToleranceUp, hpa.ToleranceDown)
		}
		out = append(out, t)
	}
	for i, st := range so.Spec.Triggers {
		name := so.Spec.TriggerName(i)
		t := Trigger{Name: name, Type: st.Type, MetricType: orDefault(string(st.MetricType), string(v1alpha1.MetricTypeAverageValue))}
		t.Activation, t.ActivationFrom = activation(st.Metadata)
		ts, ok := byName[name]
		add(t, ts, ok)
	}
	if composite {
		sm := so.Spec.Advanced.ScalingModifiers
		t := Trigger{Name: controller.CompositeMetricName, Type: "composite", Composite: true,
			MetricType: orDefault(string(sm.MetricType), string(v1alpha1.MetricTypeAverageValue)),
			Activation: orDefault(sm.ActivationTarget, "0"), ActivationFrom: "scalingModifiers.activationTarget"}
		if sm.ActivationTarget == "" {
			t.ActivationFrom = "default"
		}
		ts, ok := byName[controller.CompositeMetricName]
		add(t, ts, ok)
	}
	return out
}

// activation finds a trigger's activation threshold among its metadata
// keys: every trigger type names it activation<Something>
// (activationValue, activationLagThreshold, ...); unset, it is 0. Only
// metadata is read — never what a TriggerAuthentication supplies.
func activation(meta map[string]string) (value, from string) {
	var keys []string
	for k := range meta {
		if strings.HasPrefix(k, activationPrefix) && !strings.HasSuffix(k, "FromEnv") {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "0", "default"
	}
	sort.Strings(keys)
	var vals []string
	for _, k := range keys {
		vals = append(vals, meta[k])
	}
	return strings.Join(vals, ", "), strings.Join(keys, ", ")
}

// wants is the HPA's arithmetic for one External metric: AverageValue
// asks for ceil(value / target); Value for ceil(current × value / target);
// either way the HPA keeps the current count while the usage ratio is
// within its tolerance of 1.
func wants(metricType, value, target string, current int32, tolUp, tolDown float64) (n *int32, arithmetic string, withinTolerance bool) {
	v, err1 := strconv.ParseFloat(value, 64)
	t, err2 := strconv.ParseFloat(target, 64)
	if err1 != nil || err2 != nil || t <= 0 {
		return nil, "", false
	}
	if current == 0 {
		return nil, "the HPA does not act at 0 replicas: Ebb's scale loop moves 0 ↔ 1", false
	}
	within := func(ratio float64) bool { return ratio >= 1-tolDown && ratio <= 1+tolUp }
	tol := formatTolerance(tolUp, tolDown)
	if metricType == string(v1alpha1.MetricTypeValue) {
		ratio := v / t
		if within(ratio) && ceilCount(float64(current)*ratio) != current {
			return ptr(current), fmt.Sprintf("ratio %s / %s = %.2f is within the %s tolerance of 1: keeps %d", value, target, ratio, tol, current), true
		}
		c := ceilCount(float64(current) * ratio)
		return ptr(c), fmt.Sprintf("ceil(%d × %s / %s) = %d (ratio %.2f, outside the %s tolerance)", current, value, target, c, ratio, tol), false
	}
	c := ceilCount(v / t)
	ratio := v / (t * float64(current))
	if within(ratio) && c != current {
		return ptr(current), fmt.Sprintf("ceil(%s / %s) = %d, but %s / (%s × %d) = %.2f is within the %s tolerance of 1: keeps %d", value, target, c, value, target, current, ratio, tol, current), true
	}
	side := "outside"
	if within(ratio) {
		side = "within"
	}
	return ptr(c), fmt.Sprintf("ceil(%s / %s) = %d (ratio %s / (%s × %d) = %.2f, %s the %s tolerance)", value, target, c, value, target, current, ratio, side, tol), false
}

func ceilCount(x float64) int32 {
	c := math.Ceil(x)
	if c > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(c)
}

func formatTolerance(up, down float64) string {
	if up == down {
		return strconv.FormatFloat(up, 'g', -1, 64)
	}
	return fmt.Sprintf("+%g/-%g", up, down)
}

// hpaWants is the highest count the HPA's triggers ask for, within its
// range.
func hpaWants(ts []Trigger, h HPA) *int32 {
	if !h.Found {
		return nil
	}
	var best *int32
	for _, t := range ts {
		if t.Wants != nil && (best == nil || *t.Wants > *best) {
			best = ptr(*t.Wants)
		}
	}
	if best == nil {
		return nil
	}
	n := min(max(*best, h.MinReplicas), h.MaxReplicas)
	return &n
}

func hpaFacts(so *v1alpha1.ScaledObject, f Facts) HPA {
	h := HPA{Name: so.Status.HPAName, Error: f.HPAError, ToleranceUp: DefaultTolerance, ToleranceDown: DefaultTolerance,
		ScaleUpWindowSeconds: DefaultScaleUpWindowSeconds, ScaleDownWindowSeconds: DefaultScaleDownWindowSeconds, BehaviorDefault: true}
	if h.Name == "" {
		h.Name = so.HPAName()
	}
	hpa := f.HPA
	if hpa == nil {
		return h
	}
	h.Name, h.Found = hpa.Name, true
	h.MinReplicas = 1
	if hpa.Spec.MinReplicas != nil {
		h.MinReplicas = *hpa.Spec.MinReplicas
	}
	h.MaxReplicas = hpa.Spec.MaxReplicas
	h.CurrentReplicas, h.DesiredReplicas = hpa.Status.CurrentReplicas, hpa.Status.DesiredReplicas
	if lt := hpa.Status.LastScaleTime; lt != nil {
		t := lt.Time
		h.LastScaleTime = &t
	}
	if b := hpa.Spec.Behavior; b != nil {
		h.BehaviorDefault = false
		if up := b.ScaleUp; up != nil {
			if up.StabilizationWindowSeconds != nil {
				h.ScaleUpWindowSeconds = *up.StabilizationWindowSeconds
			}
			if up.Tolerance != nil {
				h.ToleranceUp = up.Tolerance.AsApproximateFloat64()
			}
		}
		if down := b.ScaleDown; down != nil {
			if down.StabilizationWindowSeconds != nil {
				h.ScaleDownWindowSeconds = *down.StabilizationWindowSeconds
			}
			if down.Tolerance != nil {
				h.ToleranceDown = down.Tolerance.AsApproximateFloat64()
			}
		}
	}
	currents := map[string]string{}
	for _, m := range hpa.Status.CurrentMetrics {
		name, c, ok := metricStatus(m)
		if !ok {
			continue
		}
		switch {
		case c.AverageUtilization != nil:
			currents[name] = fmt.Sprintf("%d%% of requests", *c.AverageUtilization)
		case c.AverageValue != nil:
			currents[name] = decimal(c.AverageValue) + " per pod"
		case c.Value != nil:
			currents[name] = decimal(c.Value)
		}
	}
	for _, m := range hpa.Spec.Metrics {
		name, t, ok := metricTarget(m)
		if !ok {
			continue
		}
		hm := HPAMetric{Name: name, TargetType: string(t.Type), Current: currents[name]}
		switch {
		case t.AverageUtilization != nil:
			hm.Target = fmt.Sprintf("%d%% of requests", *t.AverageUtilization)
		case t.AverageValue != nil:
			hm.Target = decimal(t.AverageValue) + " per pod"
		case t.Value != nil:
			hm.Target = decimal(t.Value)
		}
		h.Metrics = append(h.Metrics, hm)
	}
	for _, c := range hpa.Status.Conditions {
		h.Conditions = append(h.Conditions, Condition{Type: string(c.Type), Status: string(c.Status), Reason: c.Reason, Message: c.Message, Since: c.LastTransitionTime.Time})
	}
	return h
}

// metricTarget names one of the HPA's metrics and gives its target: an
// External metric by its name, a cpu or memory one as "cpu" or
// "cpu (container app)".
func metricTarget(m autoscalingv2.MetricSpec) (string, autoscalingv2.MetricTarget, bool) {
	switch {
	case m.Type == autoscalingv2.ExternalMetricSourceType && m.External != nil:
		return m.External.Metric.Name, m.External.Target, true
	case m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil:
		return string(m.Resource.Name), m.Resource.Target, true
	case m.Type == autoscalingv2.ContainerResourceMetricSourceType && m.ContainerResource != nil:
		return resourceName(string(m.ContainerResource.Name), m.ContainerResource.Container), m.ContainerResource.Target, true
	}
	return "", autoscalingv2.MetricTarget{}, false
}

// metricStatus is metricTarget for the HPA's status.
func metricStatus(m autoscalingv2.MetricStatus) (string, autoscalingv2.MetricValueStatus, bool) {
	switch {
	case m.Type == autoscalingv2.ExternalMetricSourceType && m.External != nil:
		return m.External.Metric.Name, m.External.Current, true
	case m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil:
		return string(m.Resource.Name), m.Resource.Current, true
	case m.Type == autoscalingv2.ContainerResourceMetricSourceType && m.ContainerResource != nil:
		return resourceName(string(m.ContainerResource.Name), m.ContainerResource.Container), m.ContainerResource.Current, true
	}
	return "", autoscalingv2.MetricValueStatus{}, false
}

func resourceName(resource, container string) string {
	return fmt.Sprintf("%s (container %s)", resource, container)
}

func toZero(so *v1alpha1.ScaledObject, d controller.Decision, current int32, now time.Time) ToZero {
	spec := &so.Spec
	z := ToZero{
		CooldownSeconds:          spec.CooldownPeriodDuration().Seconds(),
		CooldownRemainingSeconds: d.CooldownRemaining.Seconds(),
		Rest:                     spec.MinReplicas(),
		NextReplicas:             d.Replicas,
	}
	if spec.IdleReplicaCount != nil {
		z.Rest = *spec.IdleReplicaCount
	}
	if la := so.Status.LastActiveTime; la != nil {
		t := la.Time
		z.LastActiveTime = &t
	}
	working := max(spec.MinReplicas(), 1)
	switch {
	case d.Paused:
		z.State = "paused: Ebb does not move the target"
	case d.Replicas != nil:
		z.State = fmt.Sprintf("Ebb scales it from %d to %d at its next check: %s", current, *d.Replicas, d.Message)
	case d.InFallback:
		z.State = "in fallback: " + d.Message
	case d.Message != "":
		z.State = d.Message
	case spec.IdleReplicaCount == nil && spec.MinReplicas() > 0:
		z.State = fmt.Sprintf("minReplicaCount is %d and no idleReplicaCount is set: it never goes to zero", spec.MinReplicas())
	case d.Active:
		z.State = fmt.Sprintf("a trigger is active: it stays up; the %s cooldown counts from the last active read", spec.CooldownPeriodDuration())
	case current <= z.Rest:
		z.State = fmt.Sprintf("at rest (%d); any active trigger scales it to %d within about %s (the activation probe interval)", z.Rest, working, spec.ActivationProbeInterval())
	default:
		z.State = "no trigger active"
	}
	return z
}

func events(in []corev1.Event) []Event {
	out := make([]Event, 0, len(in))
	for _, e := range in {
		t := e.LastTimestamp.Time
		if t.IsZero() {
			t = e.EventTime.Time
		}
		if t.IsZero() {
			t = e.FirstTimestamp.Time
		}
		if t.IsZero() {
			t = e.CreationTimestamp.Time
		}
		out = append(out, Event{Time: t, Type: e.Type, Reason: e.Reason, Object: e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name, Message: e.Message, Count: e.Count})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	if len(out) > maxEvents {
		out = out[len(out)-maxEvents:]
	}
	return out
}

// verdict is the one sentence that comes first.
func verdict(r *Report, so *v1alpha1.ScaledObject, d controller.Decision) string {
	target := strings.ToLower(r.Target.Kind) + "/" + r.Target.Name
	if r.Target.Replicas == nil {
		return fmt.Sprintf("%s: its replica count could not be read from /scale (%s)", target, r.Target.Error)
	}
	n := *r.Target.Replicas
	has := fmt.Sprintf("%s has %d %s", target, n, plural(n, "replica", "replicas"))
	if c, ok := findCondition(r.Conditions, v1alpha1.ConditionReady); ok && c.Status == string(metav1.ConditionFalse) {
		return fmt.Sprintf("%s, not set by Ebb: the ScaledObject is not Ready (%s: %s)", has, c.Reason, c.Message)
	}
	if p := r.Pause; p.Paused {
		if p.Replicas != nil {
			if *p.Replicas != n {
				return fmt.Sprintf("%s: paused at %d by annotation %s; Ebb is scaling it to %d", has, *p.Replicas, v1alpha1.AnnotationPausedReplicas, *p.Replicas)
			}
			return fmt.Sprintf("%s: held there by annotation %s=%q (the HPA is held too)", has, v1alpha1.AnnotationPausedReplicas, strconv.Itoa(int(*p.Replicas)))
		}
		return fmt.Sprintf("%s: frozen by annotation %s=\"true\" (the HPA is held at the same count)", has, v1alpha1.AnnotationPaused)
	}
	if fb := r.Fallback; fb.Active {
		why := failingTriggers(r.Triggers, fb.FailureThreshold)
		return fmt.Sprintf("%s: %s; the fallback of %d %s holds until it reads again", has, why, fb.HoldReplicas, plural(fb.HoldReplicas, "replica", "replicas"))
	}
	if d.Held {
		// A directional pause annotation withholds the move Ebb would make.
		return has + ": " + d.Message
	}
	if n == 0 {
		return has + ": " + atRest(r, d)
	}
	return has + hpaReason(r) + cooldownClause(r, so, d)
}

func failingTriggers(ts []Trigger, threshold int32) string {
	var parts []string
	for _, t := range ts {
		if t.ConsecutiveFailures >= threshold && t.ConsecutiveFailures > 0 {
			p := fmt.Sprintf("trigger %q failed %d times in a row", t.Name, t.ConsecutiveFailures)
			if t.LastError != "" {
				p += fmt.Sprintf(" (last error: %s)", t.LastError)
			}
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return "a trigger reached the fallback failure threshold"
	}
	return strings.Join(parts, "; ")
}

// atRest explains a target at its resting count (0, or idle).
func atRest(r *Report, d controller.Decision) string {
	if d.Replicas != nil && d.Active {
		t := firstActive(r.Triggers)
		return fmt.Sprintf("trigger %q is active (value %s above activation %s); Ebb is scaling it to %d now", t.Name, t.Value, t.Activation, *d.Replicas)
	}
	if d.Replicas != nil {
		return d.Message
	}
	if u := unknownTriggers(r.Triggers); u != "" {
		return u + "; it stays here until a trigger reads active (an unknown trigger never counts as active)"
	}
	rest := "scaled to zero"
	if r.Spec.IdleReplicas != nil {
		rest = fmt.Sprintf("scaled to idle (%d)", r.ToZero.Rest)
	}
	if la := r.ToZero.LastActiveTime; la != nil {
		return fmt.Sprintf("no trigger active since %s (%s ago); %s after the %s cooldown", clock(*la, r.Now), age(*la, r.Now), rest, seconds(r.Spec.CooldownSeconds))
	}
	return "no trigger has been active since Ebb started watching it"
}

func firstActive(ts []Trigger) Trigger {
	for _, t := range ts {
		if t.Active && t.Composite {
			return t
		}
	}
	for _, t := range ts {
		if t.Active {
			return t
		}
	}
	return Trigger{Name: "?"}
}

// hpaReason explains a count between 1 and N: the HPA's doing.
func hpaReason(r *Report) string {
	h := r.HPA
	n := *r.Target.Replicas
	if !h.Found {
		if h.Error != "" {
			return fmt.Sprintf("; the HPA %s could not be read (%s)", h.Name, h.Error)
		}
		return fmt.Sprintf("; the HPA %s that should move it between 1 and %d does not exist (see the ScaledObject's Ready condition and events)", h.Name, r.Spec.MaxReplicas)
	}
	best := biggestAsk(r.Triggers)
	unknown := unknownTriggers(r.Triggers)
	if best == nil {
		if unknown != "" {
			return fmt.Sprintf("; %s, so the HPA has nothing to compute from: the count holds (with no fallback) until it reads again", unknown)
		}
		if c, ok := findCondition(h.Conditions, string(autoscalingv2.ScalingActive)); ok && c.Status == string(metav1.ConditionFalse) {
			return fmt.Sprintf("; the HPA %s is not scaling (%s: %s)", h.Name, c.Reason, c.Message)
		}
		return fmt.Sprintf("; the HPA %s wants %d, and no trigger has a value it can compute from yet", h.Name, h.DesiredReplicas)
	}
	if unknown != "" {
		unknown = "; " + unknown
	}
	w := *best.Wants
	ask := fmt.Sprintf("trigger %q (%s) asks for %d", best.Name, valueTarget(*best), w)
	limited, _ := findCondition(h.Conditions, string(autoscalingv2.ScalingLimited))
	able, _ := findCondition(h.Conditions, string(autoscalingv2.AbleToScale))
	switch {
	case w > h.MaxReplicas && n == h.MaxReplicas:
		return fmt.Sprintf(", its maximum: %s, capped at maxReplicaCount %d%s", ask, h.MaxReplicas, unknown)
	case w < h.MinReplicas && n == h.MinReplicas:
		return fmt.Sprintf(", the HPA's minimum: %s, raised to its minReplicas %d%s", ask, h.MinReplicas, unknown)
	case w == n && best.WithinTolerance:
		return fmt.Sprintf(" because trigger %q (%s) is within the HPA's %s tolerance of %d%s", best.Name, valueTarget(*best), formatTolerance(h.ToleranceUp, h.ToleranceDown), n, unknown)
	case w == n:
		return " because " + ask + unknown
	case able.Reason == reasonScaleDownStabilized && w < n:
		return fmt.Sprintf(": %s, but the HPA's %d s scale-down stabilization window holds the highest count it computed in that window%s", ask, h.ScaleDownWindowSeconds, unknown)
	case limited.Status == string(metav1.ConditionTrue) && (limited.Reason == reasonScaleUpLimit || limited.Reason == reasonScaleDownLimit):
		return fmt.Sprintf(": %s, but the HPA's behavior limits the rate of change (%s: %s)%s", ask, limited.Reason, limited.Message, unknown)
	default:
		if c, ok := findCondition(h.Conditions, string(autoscalingv2.ScalingActive)); ok && c.Status == string(metav1.ConditionFalse) {
			return fmt.Sprintf(": %s, but the HPA is not scaling (%s: %s)%s", ask, c.Reason, c.Message, unknown)
		}
		return fmt.Sprintf(": %s; the HPA (desired %d) has not acted on it yet%s", ask, h.DesiredReplicas, unknown)
	}
}

func unknownTriggers(ts []Trigger) string {
	var parts []string
	for _, t := range ts {
		if t.Known || t.Composite {
			continue
		}
		switch {
		case t.LastError != "":
			parts = append(parts, fmt.Sprintf("trigger %q cannot be read (%s)", t.Name, t.LastError))
		case t.LastReadTime == nil:
			parts = append(parts, fmt.Sprintf("trigger %q has not been read yet", t.Name))
		default:
			parts = append(parts, fmt.Sprintf("trigger %q cannot be read", t.Name))
		}
	}
	return strings.Join(parts, "; ")
}

func biggestAsk(ts []Trigger) *Trigger {
	var best *Trigger
	for i := range ts {
		if ts[i].Wants != nil && (best == nil || *ts[i].Wants > *best.Wants) {
			best = &ts[i]
		}
	}
	return best
}

func valueTarget(t Trigger) string {
	if t.MetricType == string(v1alpha1.MetricTypeValue) {
		return fmt.Sprintf("value %s, target %s in total", t.Value, t.Target)
	}
	return fmt.Sprintf("value %s, target %s per replica", t.Value, t.Target)
}

// cooldownClause adds the way to zero to a verdict above the resting count.
func cooldownClause(r *Report, so *v1alpha1.ScaledObject, d controller.Decision) string {
	n := *r.Target.Replicas
	if d.Active || r.ToZero.Rest >= n {
		return ""
	}
	if r.Spec.MinReplicas > 0 && r.Spec.IdleReplicas == nil {
		return ""
	}
	since := ""
	if la := r.ToZero.LastActiveTime; la != nil {
		since = " since " + clock(*la, r.Now)
	}
	allKnown := true
	for _, t := range r.Triggers {
		allKnown = allKnown && t.Known
	}
	if !allKnown {
		return "" // the verdict names the unknown triggers already
	}
	working := max(r.Spec.MinReplicas, 1)
	initial := so.CreationTimestamp.Add(so.Spec.InitialCooldownPeriodDuration()).After(r.Now)
	switch {
	case d.CooldownRemaining > 0 && initial:
		return fmt.Sprintf("; no trigger active%s, but the initial cooldown keeps it up for %s more", since, d.CooldownRemaining.Round(time.Second))
	case d.CooldownRemaining > 0:
		return fmt.Sprintf("; no trigger active%s: %s of the %s cooldown left before it may go to %d", since, d.CooldownRemaining.Round(time.Second), seconds(r.Spec.CooldownSeconds), r.ToZero.Rest)
	case d.Replicas != nil:
		return fmt.Sprintf("; no trigger active%s, cooldown over: Ebb scales it to %d at its next check", since, *d.Replicas)
	case r.Spec.ScaleToZero != string(v1alpha1.ScaleToZeroDirect) && n > working:
		return fmt.Sprintf("; no trigger active%s, cooldown over: it goes to %d once the HPA has brought it to %d", since, r.ToZero.Rest, working)
	case d.Message != "":
		return "; " + d.Message
	}
	return ""
}

func ptr[T any](v T) *T { return &v }

// decimal writes a quantity as a plain decimal number: 83.334, not 83334m.
func decimal(q *resource.Quantity) string {
	return strconv.FormatFloat(q.AsApproximateFloat64(), 'f', -1, 64)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func plural(n int32, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// clock is a time of day in now's time zone, with the date when it is not
// today's.
func clock(t, now time.Time) string {
	t = t.In(now.Location())
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04:05")
}

// age is how long before now t was, to the second.
func age(t, now time.Time) string {
	d := now.Sub(t).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return d.String()
}

func seconds(s float64) string { return strconv.FormatFloat(s, 'f', -1, 64) + " s" }
