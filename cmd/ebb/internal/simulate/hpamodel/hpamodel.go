// SPDX-License-Identifier: Apache-2.0

package hpamodel

import (
	"errors"
	"fmt"
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// Defaults of kube-controller-manager's HPA flags.
const (
	DefaultSyncPeriod             = 15 * time.Second
	DefaultTolerance              = 0.1
	DefaultDownscaleStabilization = 5 * time.Minute
)

// Target types of an External metric.
const (
	AverageValue = autoscalingv2.AverageValueMetricType
	Value        = autoscalingv2.ValueMetricType
)

// Metric is one External metric of the HPA.
type Metric struct {
	Name   string
	Type   autoscalingv2.MetricTargetType // AverageValue or Value
	Target float64
}

// Config is the HPA's spec and the controller's flags that shape it.
type Config struct {
	// Min and Max are spec.minReplicas and spec.maxReplicas.
	Min, Max int32
	Metrics  []Metric
	// Behavior is spec.behavior as written (nil: none); New fills in the
	// API server's defaults.
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior
	// Tolerance is --horizontal-pod-autoscaler-tolerance (0 means 0.1; a
	// tolerance of zero is given as a negative number).
	Tolerance float64
	// DownscaleStabilization is
	// --horizontal-pod-autoscaler-downscale-stabilization (0: 5 min).
	DownscaleStabilization time.Duration
}

// Reading is a metric's value as the HPA reads it from the metrics API;
// OK false means the read failed.
type Reading struct {
	Value float64
	OK    bool
}

// Result is what one sync did.
type Result struct {
	// From and To are the replica counts before and after the sync; they
	// differ when the HPA scaled.
	From, To int32
	// Proposed is the largest per-metric proposal and Metric the metric that
	// gave it (when metrics were computed).
	Proposed int32
	Metric   string
	// Why says, in a few words, why To is what it is.
	Why string
	// Err is set when the metrics could not be used (nothing moved).
	Err error
}

// Scaled says the sync changed the replica count.
func (r Result) Scaled() bool { return r.From != r.To }

type recommendation struct {
	replicas int32
	at       time.Time
}

type scaleEvent struct {
	change   int32
	at       time.Time
	outdated bool
}

// HPA is one HPA and the controller's memory of it (its recommendations
// and scale events). It is not safe for concurrent use.
type HPA struct {
	cfg       Config
	tol       tolerances
	recs      []recommendation
	haveRecs  bool
	ups       []scaleEvent
	downs     []scaleEvent
	upRules   *autoscalingv2.HPAScalingRules
	downRules *autoscalingv2.HPAScalingRules
}

type tolerances struct{ down, up float64 }

func (t tolerances) within(ratio float64) bool {
	return 1-t.down <= ratio && ratio <= 1+t.up
}

// New returns the model of an HPA with cfg, its behavior defaulted as the
// API server and the controller default it.
func New(cfg Config) (*HPA, error) {
	if cfg.Min < 1 {
		return nil, fmt.Errorf("minReplicas %d: want 1 or more", cfg.Min)
	}
	if cfg.Max < cfg.Min {
		return nil, fmt.Errorf("maxReplicas %d: want at least minReplicas (%d)", cfg.Max, cfg.Min)
	}
	if len(cfg.Metrics) == 0 {
		return nil, errors.New("no metrics")
	}
	for _, m := range cfg.Metrics {
		if m.Type != AverageValue && m.Type != Value {
			return nil, fmt.Errorf("metric %q: target type %q: want AverageValue or Value", m.Name, m.Type)
		}
		if milli(m.Target) <= 0 {
			return nil, fmt.Errorf("metric %q: target %g: want a value of at least 0.001", m.Name, m.Target)
		}
	}
	switch {
	case cfg.Tolerance == 0:
		cfg.Tolerance = DefaultTolerance
	case cfg.Tolerance < 0:
		cfg.Tolerance = 0
	}
	if cfg.DownscaleStabilization == 0 {
		cfg.DownscaleStabilization = DefaultDownscaleStabilization
	}
	h := &HPA{cfg: cfg, tol: tolerances{cfg.Tolerance, cfg.Tolerance}}
	if b := cfg.Behavior; b != nil {
		h.upRules = defaultRules(b.ScaleUp, upDefaults())
		h.downRules = defaultRules(b.ScaleDown, downDefaults())
		if h.downRules.StabilizationWindowSeconds == nil {
			w := int32(cfg.DownscaleStabilization.Seconds())
			h.downRules.StabilizationWindowSeconds = &w
		}
		if t := h.upRules.Tolerance; t != nil {
			h.tol.up = t.AsApproximateFloat64()
		}
		if t := h.downRules.Tolerance; t != nil {
			h.tol.down = t.AsApproximateFloat64()
		}
	}
	return h, nil
}

func upDefaults() *autoscalingv2.HPAScalingRules {
	zero := int32(0)
	sel := autoscalingv2.MaxChangePolicySelect
	return &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: &zero,
		SelectPolicy:               &sel,
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		},
	}
}

func downDefaults() *autoscalingv2.HPAScalingRules {
	sel := autoscalingv2.MaxChangePolicySelect
	return &autoscalingv2.HPAScalingRules{
		SelectPolicy: &sel,
		Policies:     []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}},
	}
}

// defaultRules fills the unset fields of r from def, as the API server does.
func defaultRules(r, def *autoscalingv2.HPAScalingRules) *autoscalingv2.HPAScalingRules {
	if r == nil {
		return def
	}
	if r.SelectPolicy != nil {
		def.SelectPolicy = r.SelectPolicy
	}
	if r.StabilizationWindowSeconds != nil {
		def.StabilizationWindowSeconds = r.StabilizationWindowSeconds
	}
	if r.Policies != nil {
		def.Policies = r.Policies
	}
	if r.Tolerance != nil {
		def.Tolerance = r.Tolerance
	}
	return def
}

// milli is v in milli-units, as the metrics API and the HPA's targets carry it.
func milli(v float64) int64 {
	const limit = math.MaxInt64 / 1000
	switch {
	case v >= limit:
		return math.MaxInt64
	case v <= -limit:
		return math.MinInt64
	}
	return int64(math.Round(v * 1000))
}

// Sync runs one sync of the HPA at now with the target at current replicas
// and one reading per metric (in Config.Metrics order).
func (h *HPA) Sync(now time.Time, current int32, readings []Reading) Result {
	r := Result{From: current, To: current}
	if !h.haveRecs {
		h.recs = append(h.recs, recommendation{current, now})
		h.haveRecs = true
	}
	var desired int32
	switch {
	case current == 0:
		r.Why = "scaling is disabled while the target is at zero"
		return r
	case current > h.cfg.Max:
		desired = h.cfg.Max
		r.Why = "above maxReplicas"
	case current < h.cfg.Min:
		desired = h.cfg.Min
		r.Why = "below minReplicas"
	default:
		proposed, metric, err := h.proposals(current, readings)
		if err != nil {
			r.Err = err
			r.Why = err.Error()
			return r
		}
		r.Proposed, r.Metric = proposed, metric
		desired = proposed
		switch {
		case desired > current:
			r.Why = fmt.Sprintf("%s above target", metric)
		case desired < current:
			r.Why = "all metrics below target"
		default:
			r.Why = "within tolerance"
		}
		var limit string
		if h.cfg.Behavior == nil {
			desired, limit = h.normalize(now, current, desired)
		} else {
			desired, limit = h.normalizeWithBehavior(now, current, desired)
		}
		if limit != "" && desired != current {
			r.Why += "; " + limit
		} else if limit != "" {
			r.Why = limit
		}
	}
	if desired != current {
		h.storeScaleEvent(now, current, desired)
	}
	r.To = desired
	return r
}

// proposals is the largest replica count the metrics propose.
func (h *HPA) proposals(current int32, readings []Reading) (int32, string, error) {
	var replicas int32
	var metric string
	invalid := 0
	var firstErr error
	for i, m := range h.cfg.Metrics {
		if i >= len(readings) || !readings[i].OK {
			if invalid == 0 {
				firstErr = fmt.Errorf("metric %q could not be read", m.Name)
			}
			invalid++
			continue
		}
		p := h.proposal(m, current, readings[i].Value)
		if replicas == 0 || p > replicas {
			replicas, metric = p, m.Name
		}
	}
	if invalid >= len(h.cfg.Metrics) || (invalid > 0 && replicas < current) {
		return 0, "", fmt.Errorf("%d of %d metrics could not be read, first: %w", invalid, len(h.cfg.Metrics), firstErr)
	}
	return replicas, metric, nil
}

// proposal is one metric's replica count.
func (h *HPA) proposal(m Metric, current int32, value float64) int32 {
	usage, target := float64(milli(value)), float64(milli(m.Target))
	if m.Type == AverageValue {
		if h.tol.within(usage / (target * float64(current))) {
			return current
		}
		return ceilInt32(usage / target)
	}
	ratio := usage / target
	if h.tol.within(ratio) {
		return current
	}
	// The controller multiplies by the ready pods; every replica is ready here.
	return ceilInt32(ratio * float64(current))
}

func ceilInt32(f float64) int32 {
	if f > math.MaxInt32 {
		return math.MaxInt32
	}
	if f < 0 || math.IsNaN(f) {
		return 0
	}
	return int32(math.Ceil(f))
}

// normalize is the controller's path for an HPA without behavior.
func (h *HPA) normalize(now time.Time, current, desired int32) (int32, string) {
	stabilized := desired
	cutoff := now.Add(-h.cfg.DownscaleStabilization)
	old := -1
	for i, rec := range h.recs {
		if rec.at.Before(cutoff) {
			old = i
		} else if rec.replicas > stabilized {
			stabilized = rec.replicas
		}
	}
	h.record(old, desired, now)
	why := ""
	if stabilized != desired {
		why = fmt.Sprintf("held at %d by the scale-down stabilization window", stabilized)
	}
	upLimit := max(2*current, 4)
	maxAllowed, limitWhy := h.cfg.Max, "maxReplicas"
	if h.cfg.Max > upLimit {
		maxAllowed, limitWhy = upLimit, "the scale-up limit of max(2 × current, 4)"
	}
	switch {
	case stabilized < h.cfg.Min:
		return h.cfg.Min, "limited by minReplicas"
	case stabilized > maxAllowed:
		return maxAllowed, "limited by " + limitWhy
	}
	return stabilized, why
}

// record replaces the old recommendation at index old (if ≥ 0) or appends.
func (h *HPA) record(old int, replicas int32, now time.Time) {
	if old >= 0 {
		h.recs[old] = recommendation{replicas, now}
		return
	}
	h.recs = append(h.recs, recommendation{replicas, now})
}

// normalizeWithBehavior is the controller's path for an HPA with behavior.
func (h *HPA) normalizeWithBehavior(now time.Time, current, desired int32) (int32, string) {
	upCutoff := now.Add(-time.Duration(*h.upRules.StabilizationWindowSeconds) * time.Second)
	downCutoff := now.Add(-time.Duration(*h.downRules.StabilizationWindowSeconds) * time.Second)
	upRec, downRec := desired, desired
	old := -1
	for i, rec := range h.recs {
		if rec.at.After(upCutoff) {
			upRec = min(upRec, rec.replicas)
		}
		if rec.at.After(downCutoff) {
			downRec = max(downRec, rec.replicas)
		}
		if rec.at.Before(upCutoff) && rec.at.Before(downCutoff) {
			old = i
		}
	}
	stabilized := max(current, upRec)
	stabilized = min(stabilized, downRec)
	h.record(old, desired, now)
	why := ""
	switch {
	case stabilized != desired && desired > current:
		why = fmt.Sprintf("held at %d by the scale-up stabilization window", stabilized)
	case stabilized != desired:
		why = fmt.Sprintf("held at %d by the scale-down stabilization window", stabilized)
	}

	switch {
	case stabilized > current:
		limit := scaleLimit(now, current, h.ups, h.downs, h.upRules, true)
		limit = max(limit, current)
		maxAllowed, limitWhy := h.cfg.Max, "limited by maxReplicas"
		if maxAllowed > limit {
			maxAllowed, limitWhy = limit, "limited by the scale-up policies"
		}
		if stabilized > maxAllowed {
			return maxAllowed, limitWhy
		}
	case stabilized < current:
		limit := scaleLimit(now, current, h.ups, h.downs, h.downRules, false)
		limit = min(limit, current)
		minAllowed, limitWhy := h.cfg.Min, "limited by minReplicas"
		if minAllowed < limit {
			minAllowed, limitWhy = limit, "limited by the scale-down policies"
		}
		if stabilized < minAllowed {
			return minAllowed, limitWhy
		}
	}
	return stabilized, why
}

// changeInPeriod sums the replicas changed by the events within the period.
func changeInPeriod(now time.Time, periodSeconds int32, events []scaleEvent) int32 {
	cutoff := now.Add(-time.Duration(periodSeconds) * time.Second)
	var n int32
	for _, e := range events {
		if e.at.After(cutoff) {
			n += e.change
		}
	}
	return n
}

// scaleLimit is how far the policies of rules let the HPA go from current
// (up, or down when up is false), given the scale events of their periods:
// each policy proposes a limit from the count at the start of its period,
// and selectPolicy Max takes the one allowing the most change (the highest
// limit up, the lowest down), Min the least; Disabled keeps current.
func scaleLimit(now time.Time, current int32, ups, downs []scaleEvent, rules *autoscalingv2.HPAScalingRules, up bool) int32 {
	if *rules.SelectPolicy == autoscalingv2.DisabledPolicySelect {
		return current
	}
	pick, result := func(a, b int32) int32 { return max(a, b) }, int32(math.MinInt32)
	if up != (*rules.SelectPolicy == autoscalingv2.MaxChangePolicySelect) {
		pick, result = func(a, b int32) int32 { return min(a, b) }, int32(math.MaxInt32)
	}
	for _, p := range rules.Policies {
		start := current - changeInPeriod(now, p.PeriodSeconds, ups) + changeInPeriod(now, p.PeriodSeconds, downs)
		var proposed int32
		switch {
		case p.Type == autoscalingv2.PodsScalingPolicy && up:
			proposed = start + p.Value
		case p.Type == autoscalingv2.PodsScalingPolicy:
			proposed = start - p.Value
		case p.Type == autoscalingv2.PercentScalingPolicy && up:
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		case p.Type == autoscalingv2.PercentScalingPolicy:
			proposed = int32(float64(start) * (1 - float64(p.Value)/100))
		}
		result = pick(result, proposed)
	}
	return result
}

// storeScaleEvent remembers a scale the HPA made, reusing the slot of an
// event older than the longest policy period. Only an HPA with behavior
// keeps them.
func (h *HPA) storeScaleEvent(now time.Time, from, to int32) {
	if h.cfg.Behavior == nil {
		return
	}
	events, rules, change := &h.ups, h.upRules, to-from
	if to < from {
		events, rules, change = &h.downs, h.downRules, from-to
	}
	var longest int32
	for _, p := range rules.Policies {
		longest = max(longest, p.PeriodSeconds)
	}
	cutoff := now.Add(-time.Duration(longest) * time.Second)
	old := -1
	for i := range *events {
		if (*events)[i].at.Before(cutoff) {
			(*events)[i].outdated = true
		}
		if (*events)[i].outdated {
			old = i
		}
	}
	e := scaleEvent{change: change, at: now}
	if old >= 0 {
		(*events)[old] = e
		return
	}
	*events = append(*events, e)
}
